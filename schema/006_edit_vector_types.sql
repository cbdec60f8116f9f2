-- mledit ledger schema, migration 6: the element type of each edit-vector blob.
--
-- Keys and target values were always f64. A commit now stores each of its two matrices in the
-- narrowest of f16, f32 and f64 that holds every element exactly (the decoded numbers, and so the
-- sha256 of 001_init.sql, are the same whatever the type): keys are kept at f16 precision when they
-- fit its range, and a commit whose replay goes through its stored targets (edit_targets) or its
-- facts (UltraEdit) stores no target values at all (value_rows = 0). Rows written before this
-- migration are f64.
ALTER TABLE edit_vectors ADD COLUMN key_dtype TEXT NOT NULL DEFAULT 'f64' CHECK (key_dtype IN ('f16', 'f32', 'f64'));
ALTER TABLE edit_vectors ADD COLUMN value_dtype TEXT NOT NULL DEFAULT 'f64' CHECK (value_dtype IN ('f16', 'f32', 'f64'));
