-- Safe retries and history in the order of writes.

-- The idempotency keys of creates, one per org and key, each naming the document it
-- created; written by the same statement as the document. fingerprint is the SHA-256 of
-- the request, so a key brought back with a different request is told apart. A key lives
-- as long as its document.
CREATE TABLE IF NOT EXISTS kb_idempotency_keys (
    org_id uuid NOT NULL,
    key text NOT NULL,
    document_id uuid NOT NULL REFERENCES knowledge_base (id) ON DELETE CASCADE,
    fingerprint text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
-- For the cascade when a host deletes a document outright.
CREATE INDEX IF NOT EXISTS kb_idempotency_keys_document_id_idx
    ON kb_idempotency_keys (document_id);

-- A document's history is read in the order of seq, the order in which its rows were
-- written. created_at is now() at the start of the writing transaction, and writers
-- that queue on the document's row lock write in another order than they started.
CREATE INDEX IF NOT EXISTS knowledge_base_changelog_document_seq_idx
    ON knowledge_base_changelog (knowledge_base_id, seq);
DROP INDEX IF EXISTS knowledge_base_changelog_document_idx;
