-- Leases replace the apply lock. A lease is held until `expires_at` (milliseconds, on the
-- database's clock) and renewed by its holder; `epoch` grows by one at every take, so a write
-- that checks the epoch it was issued under (in its own transaction) cannot be recorded by a
-- holder that lost the lease, however long it was paused. Two leases:
--   leader: which daemon runs the reconcile loop (the others are standby);
--   apply:  who changes AWS right now (the leader for each apply, or a CLI apply/rollback/sync).
-- An empty holder with expires_at 0 is a free lease.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    epoch       INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
INSERT INTO leases (name, holder, host, pid, epoch, acquired_at, expires_at)
VALUES ('leader', '', '', 0, 0, 0, 0), ('apply', '', '', 0, 0, 0, 0);

DROP TABLE apply_lock;

-- The epoch of the apply lease an apply was recorded under.
ALTER TABLE applies ADD COLUMN epoch INTEGER NULL;

-- The daemons that share this store, for `gwsync status`: each refreshes its row while it
-- runs (`seen_at`, milliseconds on the database's clock) and says whether it leads.
CREATE TABLE instances (
    holder     TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    version    TEXT NOT NULL,
    role       TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    PRIMARY KEY (host, pid)
);
