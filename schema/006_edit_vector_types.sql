-- mledit ledger schema, migration 6: the element type of each edit-vector blob.
--
-- Keys and target values were always f64. A commit now stores each of its two matrices in the
-- narrowest storage that holds every element exactly (the decoded numbers, and so the sha256 of
-- 001_init.sql, are the same whatever the storage): 'q8_0' (keys only: each column in blocks of 32
-- rows, per block an f16 scale s, little-endian, then 32 signed bytes q with element = q·s; a last
-- short block is padded with zero bytes; the whole one zstd frame, not shuffled), 'f16', 'f32' or
-- 'f64' (the blob encoding of 001_init.sql). Keys are rounded to q8_0 when the commit is made, so
-- every solve that later reads them sees what the commit saw; a commit whose replay goes through
-- its stored targets (edit_targets) or its facts (UltraEdit) stores no target values at all
-- (value_rows = 0). Rows written before this migration are f64.
ALTER TABLE edit_vectors ADD COLUMN key_dtype TEXT NOT NULL DEFAULT 'f64' CHECK (key_dtype IN ('q8_0', 'f16', 'f32', 'f64'));
ALTER TABLE edit_vectors ADD COLUMN value_dtype TEXT NOT NULL DEFAULT 'f64' CHECK (value_dtype IN ('f16', 'f32', 'f64'));
