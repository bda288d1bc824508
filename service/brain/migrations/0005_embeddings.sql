-- Recall by meaning (pgvector >= 0.8: iterative index scans keep filtered searches full).
-- `embedding` has no fixed dimension: each row records the embedding space that made it
-- ("<model>/<dimensions>"), and each space gets its own partial HNSW index over
-- `embedding::vector(<dimensions>)` (`brain migrate`, kit.embeddings.index_statement), so that
-- vectors of two models are never compared and a model change is seen, never mixed.
-- CREATE EXTENSION needs a superuser unless the extension exists already (the chart creates it
-- in postInitApplicationSQL; the embedded PostgreSQL migrates as its superuser).
CREATE EXTENSION IF NOT EXISTS vector;

ALTER TABLE memories
    ADD COLUMN embedding vector,
    ADD COLUMN embedding_space text,
    ADD CONSTRAINT memories_embedding_space
        CHECK ((embedding IS NULL) = (embedding_space IS NULL)
               AND (embedding_space IS NULL OR embedding_space ~ '^.{1,200}/[0-9]{1,5}$'));
