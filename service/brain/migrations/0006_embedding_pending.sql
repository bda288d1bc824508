-- Memories waiting for their vector: stored while the embedding model could not answer (the
-- `openai` endpoint down or too slow). The service's backfill fills them in as soon as the model
-- answers again (MemoryService.backfill); `brain reembed` fills them too. A memory without text
-- (no string or number values) never has a vector and never waits for one.
ALTER TABLE memories
    ADD COLUMN embedding_pending boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT memories_embedding_pending CHECK (NOT (embedding_pending AND embedding IS NOT NULL));
CREATE INDEX memories_embedding_waiting ON memories (created_at) WHERE embedding_pending;
-- The backfill and `brain reembed` read and update memories across workspaces (as the relay does
-- the outbox): the value '*' of brain.workspace, which no request can set, sees them all.
CREATE POLICY embedder ON memories USING (current_setting('brain.workspace', true) = '*');
