-- mledit ledger schema, migration 5: UltraEdit's lifelong normalisation statistics.
--
-- UltraEdit (arXiv 2505.14679) standardises each edit layer's features [k ‖ g] — the MLP
-- down-projection input and the gradient of the edit loss with respect to the MLP output, at the
-- answer tokens — with a running count, mean and variance over every edit made so far, updated
-- with each commit's features before they are used. An UltraEdit commit's delta therefore depends
-- on the statistics of the commits before it. Each commit that changes them stores the state after
-- it here, one row per edit layer, so that revert and rebase re-solve a commit from the statistics
-- its new parent stores, exactly as a fresh commit would. A commit without a row for a layer leaves
-- that layer's statistics as its parent has them (the nearest ancestor with a row is in force); a
-- revert stores the statistics of the history it leaves in force, a row with count 0 for a layer
-- whose statistics it empties. Rows are part of the commit's content: their checksums are in the
-- canonical document its id hashes (001_init.sql, table commits), under "lifelong_statistics".
CREATE TABLE ultraedit_statistics (
    commit_id     TEXT    NOT NULL REFERENCES commits(id),
    tensor        TEXT    NOT NULL,                      -- the edited weight, as in deltas.tensor
    layer         INTEGER NOT NULL CHECK (layer >= 0),
    count         INTEGER NOT NULL CHECK (count >= 0),   -- feature rows (answer tokens) seen so far
    key_dimension INTEGER NOT NULL CHECK (key_dimension > 0),  -- d_in: the first part of each row
    dimension     INTEGER NOT NULL CHECK (dimension > key_dimension),  -- d_in + d_out
    sha256        TEXT    NOT NULL CHECK (length(sha256) = 64),  -- over both blobs (tag mledit-lifelong-1)
    mean          BLOB    NOT NULL,   -- f64 × dimension, blob encoding as in 001_init.sql
    variance      BLOB    NOT NULL,   -- f64 × dimension: Σ (x − mean)² / count (0 when count is 0)
    PRIMARY KEY (commit_id, tensor)
) STRICT;

CREATE TRIGGER ultraedit_statistics_are_immutable BEFORE UPDATE ON ultraedit_statistics
BEGIN SELECT RAISE(ABORT, 'ultraedit statistics are immutable'); END;
CREATE TRIGGER ultraedit_statistics_are_permanent BEFORE DELETE ON ultraedit_statistics
BEGIN SELECT RAISE(ABORT, 'ultraedit statistics are never deleted'); END;
