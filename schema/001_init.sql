-- mledit ledger, migration 001: the initial schema.
--
-- One SQLite database per repository, `.mledit/ledger.sqlite`. The program opens it in WAL mode
-- with foreign keys on, applies the files of this folder in numeric order, and records the number
-- of applied files in `PRAGMA user_version`. This file is embedded into the binary when it is
-- built; it is never read from disk at run time. Never edit a released migration: add a new file.
--
-- Two kinds of tables:
--
--   Ground truth (immutable once written, cannot be recomputed):
--     base_models, commits, facts, deltas, edit_vectors, refs, reflog.
--     Rows of commits, facts, deltas and edit_vectors are never updated or deleted (triggers
--     below refuse it); refs are the only mutable state, and every move of a ref adds a row to
--     reflog in the same transaction.
--
--   Derived (caches; dropping every row loses nothing that cannot be rebuilt):
--     preservation_stats  recomputed from the base model and the corpus;
--     evaluations         recomputed by running the evaluation again on the same dataset;
--   Columns derived when written (checked by fsck against a recomputation):
--     facts.supersedes_*  from the parent's lineage (same subject and prompt, newest wins);
--     deltas.norm, deltas.stored_bytes  from the blobs.
--
-- Conventions: ids of content-addressed objects and digests are 64 lowercase hexadecimal digits
-- of a SHA-256; times are ISO 8601 UTC text ('2026-11-25T13:05:29.123Z'); JSON columns hold
-- canonical JSON (object keys sorted by their UTF-8 bytes, no insignificant whitespace). Every
-- table is STRICT, so a value of the wrong type is an error rather than a silent conversion.
--
-- Blob encoding (deltas, edit_vectors, preservation_stats): the matrix is written row-major as
-- little-endian elements of its dtype ('f16' IEEE binary16, 'bf16' bfloat16, 'f32', 'f64'), the
-- bytes are shuffled so that byte k of every element comes before byte k+1 of any element, and
-- the result is one zstd frame (content size in the frame header). The sha256 column of such a
-- row is the SHA-256 of the *decoded* content (see each table), so it does not depend on the
-- zstd version that compressed it.


-- A base model is the checkpoint a lineage of edits applies to. It is referenced by path and
-- identified by the SHA-256 of the file's bytes; the ledger never copies it.
CREATE TABLE base_models (
    id            INTEGER PRIMARY KEY,          -- local number, used by foreign keys only
    path          TEXT    NOT NULL,             -- where the file was found (may move; the digest decides)
    sha256        TEXT    NOT NULL UNIQUE
                  CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    format        TEXT    NOT NULL,             -- 'gguf' or 'safetensors'
    architecture  TEXT    NOT NULL,             -- e.g. 'llama', 'gpt2'
    configuration TEXT    NOT NULL CHECK (json_valid(configuration)),  -- the model's configuration
    added_at      TEXT    NOT NULL
) STRICT;


-- A commit is one version of the model: its parent's weights plus the deltas below.
--
-- id = SHA-256 of the canonical commit document, a canonical JSON object with exactly these
-- members:
--   format           "mledit-commit-1"
--   parent           parent_id or null
--   base_model       base_models.sha256 of base_model_id (the digest, not the local number)
--   kind             kind
--   method           method
--   hyperparameters  hyperparameters (canonical JSON)
--   context_prefixes context_prefixes
--   facts            this commit's facts in ordinal order, each
--                    {subject, prompt, target_new, target_true, paraphrases, neighborhood}
--   deltas           [{tensor, layer, sha256}] of this commit's deltas, sorted by tensor name
--   source_commit    source_commit_id or null
--   reverted_commit  reverted_commit_id or null
-- The time, the author, the message and the efficacy are stored but NOT hashed: the same inputs
-- on the same parent and base give the same id, whoever makes them and whenever (committing
-- identical content twice yields the one existing commit). Keys and target values (edit_vectors)
-- are not hashed either: they are full-precision working data of the solver, checked by their
-- own sha256, while the deltas they produced are what a version's weights consist of.
CREATE TABLE commits (
    id                 TEXT    PRIMARY KEY
                       CHECK (length(id) = 64 AND id NOT GLOB '*[^0-9a-f]*'),
    parent_id          TEXT    REFERENCES commits(id),       -- null for a root commit
    base_model_id      INTEGER NOT NULL REFERENCES base_models(id),  -- equals the parent's
    kind               TEXT    NOT NULL CHECK (kind IN ('edit', 'revert', 'rebase')),
    method             TEXT    NOT NULL,            -- 'ROME', 'MEMIT', 'EMMET', 'AlphaEdit', ...
    hyperparameters    TEXT    NOT NULL CHECK (json_valid(hyperparameters)),
    context_prefixes   TEXT    NOT NULL             -- JSON array of the exact prefix strings used
                       CHECK (json_valid(context_prefixes) AND json_type(context_prefixes) = 'array'),
    message            TEXT    NOT NULL,
    author             TEXT    NOT NULL,
    created_at         TEXT    NOT NULL,
    source_commit_id   TEXT    REFERENCES commits(id),   -- rebase: the commit this one replays
    reverted_commit_id TEXT    REFERENCES commits(id),   -- revert: the commit this one takes out
    efficacy           REAL,                         -- share of this commit's facts that were
                                                     -- top-1 right after the edit (0…1), if measured
    CHECK ((kind = 'rebase') = (source_commit_id IS NOT NULL)),
    CHECK ((kind = 'revert') = (reverted_commit_id IS NOT NULL)),
    CHECK (parent_id IS NULL OR parent_id <> id)
) STRICT;

CREATE INDEX commits_by_parent ON commits(parent_id);


-- The facts a commit writes into the model, in the order the solver used them (its columns).
-- A revert commit has none; a rebase commit repeats the facts of its source commit.
CREATE TABLE facts (
    commit_id            TEXT    NOT NULL REFERENCES commits(id),
    ordinal              INTEGER NOT NULL CHECK (ordinal >= 0),   -- 0, 1, 2, … within the commit
    subject              TEXT    NOT NULL,          -- 'The Eiffel Tower'
    prompt               TEXT    NOT NULL,          -- '{} is located in' ({} stands for the subject)
    target_new           TEXT    NOT NULL,          -- 'Rome'
    target_true          TEXT,                      -- 'Paris', when known
    paraphrases          TEXT    NOT NULL DEFAULT '[]'   -- JSON array of prompts meaning the same
                         CHECK (json_valid(paraphrases) AND json_type(paraphrases) = 'array'),
    neighborhood         TEXT    NOT NULL DEFAULT '[]'   -- JSON array of prompts that must not change
                         CHECK (json_valid(neighborhood) AND json_type(neighborhood) = 'array'),
    -- Derived: the fact with the same subject and prompt that was in force in the parent's
    -- lineage when this one was written, which this one replaces.
    supersedes_commit_id TEXT,
    supersedes_ordinal   INTEGER,
    PRIMARY KEY (commit_id, ordinal),
    FOREIGN KEY (supersedes_commit_id, supersedes_ordinal) REFERENCES facts(commit_id, ordinal),
    CHECK ((supersedes_commit_id IS NULL) = (supersedes_ordinal IS NULL))
) STRICT;

CREATE INDEX facts_by_subject_prompt ON facts(subject, prompt);


-- Per edited tensor, the commit's low-rank weight change Δ = U Vᵀ (U rows × rank, V cols × rank),
-- so that the tensor (rows × cols, row-major out × in) of this version is the parent's plus Δ.
-- sha256 = SHA-256 of the decoded delta:
--   "mledit-delta-1\0" ‖ dtype ‖ "\0" ‖ rows, cols, rank as UInt64 little-endian
--   ‖ U's elements ‖ V's elements   (row-major, little-endian, in dtype, before shuffling)
CREATE TABLE deltas (
    commit_id    TEXT    NOT NULL REFERENCES commits(id),
    tensor       TEXT    NOT NULL,          -- checkpoint tensor name, e.g. 'blk.7.ffn_down.weight'
    layer        INTEGER NOT NULL CHECK (layer >= 0),
    rows         INTEGER NOT NULL CHECK (rows > 0),     -- d_out
    cols         INTEGER NOT NULL CHECK (cols > 0),     -- d_in
    rank         INTEGER NOT NULL CHECK (rank > 0),
    dtype        TEXT    NOT NULL CHECK (dtype IN ('f16', 'bf16', 'f32')),
    norm         REAL    NOT NULL CHECK (norm >= 0),    -- Frobenius norm of the stored U Vᵀ
    sha256       TEXT    NOT NULL CHECK (length(sha256) = 64),
    u_blob       BLOB    NOT NULL,          -- U, rows × rank, encoded as described above
    v_blob       BLOB    NOT NULL,          -- V, cols × rank
    stored_bytes INTEGER NOT NULL,          -- length(u_blob) + length(v_blob)
    PRIMARY KEY (commit_id, tensor)
) STRICT;


-- The keys and target values a commit's solve used for one tensor: K (d_in × n, the inputs of the
-- tensor at the facts' subjects) and V* (d_out × n, the outputs the edit aimed at), in Float64,
-- lossless. Revert and rebase re-solve from these. Columns follow the facts' ordinals.
-- sha256 = SHA-256 of "mledit-vectors-1\0" ‖ key_rows, key_cols, value_rows, value_cols as
-- UInt64 little-endian ‖ K's elements ‖ V*'s elements (f64, row-major, little-endian).
CREATE TABLE edit_vectors (
    commit_id     TEXT    NOT NULL REFERENCES commits(id),
    tensor        TEXT    NOT NULL,
    layer         INTEGER NOT NULL CHECK (layer >= 0),
    key_rows      INTEGER NOT NULL CHECK (key_rows >= 0),
    key_cols      INTEGER NOT NULL CHECK (key_cols >= 0),
    value_rows    INTEGER NOT NULL CHECK (value_rows >= 0),
    value_cols    INTEGER NOT NULL CHECK (value_cols >= 0),
    sha256        TEXT    NOT NULL CHECK (length(sha256) = 64),
    keys          BLOB    NOT NULL,         -- f64
    target_values BLOB    NOT NULL,         -- f64
    PRIMARY KEY (commit_id, tensor)
) STRICT;


-- Named pointers: 'HEAD', branches 'refs/heads/<name>' and tags 'refs/tags/<name>'.
-- A direct ref names a commit; only HEAD may be symbolic, naming a branch that may not exist
-- yet (an unborn branch, as right after init). HEAD holding a commit id is a detached HEAD.
CREATE TABLE refs (
    name            TEXT PRIMARY KEY
                    CHECK (name = 'HEAD' OR name GLOB 'refs/heads/?*' OR name GLOB 'refs/tags/?*'),
    kind            TEXT NOT NULL CHECK (kind IN ('direct', 'symbolic')),
    commit_id       TEXT REFERENCES commits(id),    -- kind = 'direct'
    symbolic_target TEXT,                            -- kind = 'symbolic': 'refs/heads/<name>'
    CHECK ((kind = 'direct'   AND commit_id IS NOT NULL AND symbolic_target IS NULL) OR
           (kind = 'symbolic' AND commit_id IS NULL     AND symbolic_target GLOB 'refs/heads/?*')),
    CHECK (kind = 'direct' OR name = 'HEAD')
) STRICT;


-- Every move of a ref, oldest first. old/new are the commits the ref resolved to before and
-- after (null: did not exist or was unborn). Rows stay when a branch is deleted.
CREATE TABLE reflog (
    id            INTEGER PRIMARY KEY,
    ref           TEXT NOT NULL,
    old_commit_id TEXT REFERENCES commits(id),
    new_commit_id TEXT REFERENCES commits(id),
    message       TEXT NOT NULL,               -- 'commit: …', 'checkout: …', 'branch: created …'
    created_at    TEXT NOT NULL
) STRICT;

CREATE INDEX reflog_by_ref ON reflog(ref, id);


-- Derived. Preservation statistics of one tensor of a base model over a corpus: a square Float64
-- matrix (dimension × dimension, usually C0 = K0 K0ᵀ / N over d_in-wide keys), encoded as f64.
-- sha256 = SHA-256 of "mledit-matrix-1\0" ‖ dimension, dimension as UInt64 LE ‖ f64 elements.
CREATE TABLE preservation_stats (
    base_model_id INTEGER NOT NULL REFERENCES base_models(id),
    tensor        TEXT    NOT NULL,
    corpus_digest TEXT    NOT NULL,         -- SHA-256 naming the corpus text and its sampling
    token_count   INTEGER NOT NULL CHECK (token_count > 0),
    dimension     INTEGER NOT NULL CHECK (dimension > 0),
    sha256        TEXT    NOT NULL CHECK (length(sha256) = 64),
    blob          BLOB    NOT NULL,
    created_at    TEXT    NOT NULL,
    PRIMARY KEY (base_model_id, tensor, corpus_digest, token_count)
) STRICT;


-- Derived. Metrics of one version on one dataset (e.g. CounterFact efficacy, paraphrase and
-- neighborhood scores) as a JSON object; a new evaluation of the same pair replaces the old.
CREATE TABLE evaluations (
    commit_id      TEXT NOT NULL REFERENCES commits(id),
    dataset_digest TEXT NOT NULL,           -- SHA-256 of the dataset file
    metrics        TEXT NOT NULL CHECK (json_valid(metrics) AND json_type(metrics) = 'object'),
    created_at     TEXT NOT NULL,
    PRIMARY KEY (commit_id, dataset_digest)
) STRICT;


-- History cannot be rewritten in place.
CREATE TRIGGER commits_are_immutable BEFORE UPDATE ON commits
BEGIN SELECT RAISE(ABORT, 'commits are immutable'); END;
CREATE TRIGGER commits_are_permanent BEFORE DELETE ON commits
BEGIN SELECT RAISE(ABORT, 'commits are never deleted'); END;
CREATE TRIGGER facts_are_immutable BEFORE UPDATE ON facts
BEGIN SELECT RAISE(ABORT, 'facts are immutable'); END;
CREATE TRIGGER facts_are_permanent BEFORE DELETE ON facts
BEGIN SELECT RAISE(ABORT, 'facts are never deleted'); END;
CREATE TRIGGER deltas_are_immutable BEFORE UPDATE ON deltas
BEGIN SELECT RAISE(ABORT, 'deltas are immutable'); END;
CREATE TRIGGER deltas_are_permanent BEFORE DELETE ON deltas
BEGIN SELECT RAISE(ABORT, 'deltas are never deleted'); END;
CREATE TRIGGER edit_vectors_are_immutable BEFORE UPDATE ON edit_vectors
BEGIN SELECT RAISE(ABORT, 'edit vectors are immutable'); END;
CREATE TRIGGER edit_vectors_are_permanent BEFORE DELETE ON edit_vectors
BEGIN SELECT RAISE(ABORT, 'edit vectors are never deleted'); END;
