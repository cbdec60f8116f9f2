-- mledit ledger schema, migration 2: the residual-stream targets of an edit.
--
-- An edit solves its layers towards one target per fact: z = h + δ, the residual stream after its
-- last edit layer at the subject's last token (DESIGN.md §3). With z, revert and rebase replay an
-- edit on other weights the way it was made — keys recomputed layer by layer on the weights as
-- they are then, each layer given its share of the residual still missing — instead of reusing
-- keys that a change of an earlier layer has made stale. Commits written before this migration
-- have no row here and are replayed from their stored keys and values.
CREATE TABLE edit_targets (
    commit_id  TEXT    PRIMARY KEY REFERENCES commits(id),
    layer      INTEGER NOT NULL CHECK (layer >= 0),   -- z is the residual stream after this block
    rows       INTEGER NOT NULL CHECK (rows > 0),     -- d_model
    cols       INTEGER NOT NULL CHECK (cols > 0),     -- facts, in ordinal order
    sha256     TEXT    NOT NULL CHECK (length(sha256) = 64),
    targets    BLOB    NOT NULL                       -- f64, blob encoding as in 001_init.sql
) STRICT;

CREATE TRIGGER edit_targets_are_immutable BEFORE UPDATE ON edit_targets
BEGIN SELECT RAISE(ABORT, 'edit targets are immutable'); END;
CREATE TRIGGER edit_targets_are_permanent BEFORE DELETE ON edit_targets
BEGIN SELECT RAISE(ABORT, 'edit targets are never deleted'); END;
