-- Conditions the daemon (or a manual `gwsync sync`) raises about the live state, one row per
-- kind: `stalled` (applies of a revision kept failing; retried only for a new commit or a
-- manual sync), `drift` (AWS differs from the last applied desired state), `guarded` (a plan
-- deletes more rules than apply.max_rule_deletions and waits for an operator).
CREATE TABLE conditions (
    kind      TEXT PRIMARY KEY NOT NULL,
    "commit"  TEXT NOT NULL,
    detail    TEXT NOT NULL,
    since     INTEGER NOT NULL,
    updated   INTEGER NOT NULL
);
