-- What an owner was at a revision (verdict, diagnostics, manifest files) is stored once, by
-- content: the revisions at which an owner did not change share one row of owner_states, so a
-- commit that changes one team adds that team's files and one small row per owner, not the
-- whole repository again. `digest` is the SHA-256 of the row's content (computed by gwsync);
-- rows from before this migration keep a unique `legacy:` key and are shared by nothing.
CREATE TABLE owner_states (
    id          INTEGER PRIMARY KEY,
    digest      TEXT NOT NULL UNIQUE,
    verdict     TEXT NOT NULL,
    diagnostics TEXT NOT NULL,
    files       TEXT NOT NULL
);

INSERT INTO owner_states (digest, verdict, diagnostics, files)
SELECT 'legacy:' || "commit" || ':' || owner, verdict, diagnostics, files FROM team_snapshots;

-- One row per (revision, owner): the table is its own primary-key index (WITHOUT ROWID).
CREATE TABLE snapshots (
    "commit" TEXT NOT NULL REFERENCES revisions ("commit") ON DELETE CASCADE,
    owner    TEXT NOT NULL,
    state    INTEGER NOT NULL REFERENCES owner_states (id),
    PRIMARY KEY ("commit", owner)
) WITHOUT ROWID;

INSERT INTO snapshots ("commit", owner, state)
SELECT t."commit", t.owner, s.id
FROM team_snapshots t JOIN owner_states s ON s.digest = 'legacy:' || t."commit" || ':' || t.owner;

DROP TABLE team_snapshots;

-- Route ages were never kept here (they come from Git history).
DROP TABLE route_ages;
