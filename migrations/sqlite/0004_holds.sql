-- Teams held at what is live on AWS: their rules are left exactly as they are while the
-- other teams move on, until `gwsync release --team`.
CREATE TABLE holds (
    team TEXT PRIMARY KEY,
    reason TEXT,
    actor TEXT NOT NULL,
    since INTEGER NOT NULL
);
