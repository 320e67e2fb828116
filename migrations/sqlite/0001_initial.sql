-- gwsync state, schema 1. Timestamps are Unix seconds. JSON columns hold serde_json output.

-- Every revision of the tracked branch gwsync has read.
CREATE TABLE revisions (
    "commit"      TEXT PRIMARY KEY NOT NULL,
    author        TEXT NOT NULL,
    summary       TEXT NOT NULL,
    committed_at  INTEGER NOT NULL,
    first_seen_at INTEGER NOT NULL
);

-- The verdict of each owner ('platform' or a team name) at a revision, with the diagnostics
-- that decided it and the owner's manifest files as read (JSON: [{"path", "text"}]), so that
-- an admitted snapshot can be reused when the owner's next change is refused.
CREATE TABLE team_snapshots (
    "commit"    TEXT NOT NULL REFERENCES revisions ("commit") ON DELETE CASCADE,
    owner       TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    diagnostics TEXT NOT NULL,
    files       TEXT NOT NULL,
    PRIMARY KEY ("commit", owner)
);

-- Every attempt to change AWS: kind is 'sync', 'rollback' or 'heal'; outcome is 'succeeded'
-- or 'failed', NULL while running (or if gwsync died during it).
CREATE TABLE applies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    "commit"    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NULL,
    plan        TEXT NOT NULL,
    report      TEXT NULL,
    outcome     TEXT NULL
);

CREATE INDEX applies_commit ON applies ("commit");

-- At most one pin: sync holds the whole revision (team NULL) or one team at a commit.
CREATE TABLE pins (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    "commit"  TEXT NOT NULL,
    team      TEXT NULL,
    pinned_at INTEGER NOT NULL,
    actor     TEXT NOT NULL
);

-- When each route (namespace/name) was first seen, for rule ordering ties.
CREATE TABLE route_ages (
    route      TEXT PRIMARY KEY NOT NULL,
    first_seen INTEGER NOT NULL
);

-- At most one apply at a time, across processes.
CREATE TABLE apply_lock (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    holder      TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL
);
