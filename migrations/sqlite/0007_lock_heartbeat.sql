-- The apply lock's holder renews `heartbeat_at` while it applies: the lock is taken over only
-- from a holder that is gone (its process has exited) or has stopped renewing, never because
-- an apply is long. An apply whose process died stays unfinished until the next holder of the
-- lock closes it as `interrupted`.
ALTER TABLE apply_lock ADD COLUMN heartbeat_at INTEGER NULL;
