-- mledit ledger schema, migration 3: what the commit's verification found.
--
-- After solving, every fact's rewrite prompt (and its paraphrases) is decoded greedily on the new
-- weights. The result — per fact whether it landed at once, after the stronger second round, or
-- not at all (then it is left out, with --allow-partial), with p(new), p(true) and the greedy
-- first token — is stored with the commit as one JSON object. It is derived data, like efficacy:
-- not part of the commit id. Commits written before this migration have none.
ALTER TABLE commits ADD COLUMN verification TEXT
    CHECK (verification IS NULL OR (json_valid(verification) AND json_type(verification) = 'object'));
