-- A counter that CLI actions the daemon must see at once (hold, release, resume, rollback)
-- raise; the running daemon reads it every half second and reconciles when it moved.
CREATE TABLE operator_actions (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO operator_actions (id, generation) VALUES (1, 0);
