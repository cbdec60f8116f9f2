-- mledit ledger schema, migration 4: the accumulated memory of the facts in force.
--
-- MEMIT and AlphaEdit preserve the facts in force through G = Σ k kᵀ over their keys at each edit
-- layer. Rebuilding G from the stored keys costs time in proportion to the length of the history,
-- so G is kept here for the latest commits a commit was solved on. It is derived data: the sum is
-- defined in one order (commit by commit along the lineage, each commit's keys in ordinal order),
-- so a cached G extended by the newer commits' keys has the same bits as G rebuilt from scratch,
-- and fsck rebuilds each entry to check it. Entries can be dropped at any time.
CREATE TABLE memory_grams (
    commit_id  TEXT    NOT NULL REFERENCES commits(id),
    layer      INTEGER NOT NULL CHECK (layer >= 0),
    fact_count INTEGER NOT NULL CHECK (fact_count > 0),
    dimension  INTEGER NOT NULL CHECK (dimension > 0),
    sha256     TEXT    NOT NULL,
    blob       BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (commit_id, layer)
);
