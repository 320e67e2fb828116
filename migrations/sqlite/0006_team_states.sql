-- Per team: the revision of its files that is live on AWS (applied successfully), the one
-- gwsync wants there (the tracked revision), and why they differ. One row per team, replaced
-- after every apply; `since` is when the team entered `state`.
--   state: in-sync, refused, failed, stalled, held, pinned
--   files_digest: SHA-256 of the team's files at wanted_commit; a commit that changes them
--   lifts a stall
--   failures: consecutive applies in which a change of the team failed, for these files
CREATE TABLE team_states (
    team          TEXT PRIMARY KEY NOT NULL,
    state         TEXT NOT NULL,
    live_commit   TEXT NULL,
    live_at       INTEGER NULL,
    wanted_commit TEXT NOT NULL,
    files_digest  TEXT NOT NULL,
    reason        TEXT NULL,
    failures      INTEGER NOT NULL DEFAULT 0,
    since         INTEGER NOT NULL,
    updated       INTEGER NOT NULL
);

-- What operators did besides applies, for `gwsync history`: hold, release, resume, unstall,
-- and a sync or apply made over a freeze window, with who and why.
CREATE TABLE operator_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    action   TEXT NOT NULL,
    team     TEXT NULL,
    actor    TEXT NOT NULL,
    reason   TEXT NULL,
    "commit" TEXT NULL
);
