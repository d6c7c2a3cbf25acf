-- What an incremental, race-free sync needs: a content hash per document, a claim per org,
-- and a ledger of what kbcore has put on Vapi. kb_sync_log gains kbcore's extra counters.

-- The SHA-256 of the UTF-8 bytes a sync uploads, kept by a trigger so a sync can tell
-- changed documents without reading any content.
ALTER TABLE knowledge_base ADD COLUMN IF NOT EXISTS content_sha256 text;

CREATE OR REPLACE FUNCTION kbcore_hash_content() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.content_sha256 := encode(sha256(convert_to(NEW.content, 'UTF8')), 'hex');
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS knowledge_base_hash_content ON knowledge_base;
CREATE TRIGGER knowledge_base_hash_content
    BEFORE INSERT OR UPDATE OF content ON knowledge_base
    FOR EACH ROW EXECUTE FUNCTION kbcore_hash_content();

-- Backfill rows a host had before kbcore, without touching their updated_at.
ALTER TABLE knowledge_base DISABLE TRIGGER knowledge_base_touch_updated_at;
UPDATE knowledge_base SET content = content WHERE content_sha256 IS NULL AND content IS NOT NULL;
ALTER TABLE knowledge_base ENABLE TRIGGER knowledge_base_touch_updated_at;

ALTER TABLE kb_sync_log
    ADD COLUMN IF NOT EXISTS files_uploaded integer,
    ADD COLUMN IF NOT EXISTS files_reused integer,
    ADD COLUMN IF NOT EXISTS files_deleted integer,
    ADD COLUMN IF NOT EXISTS triggered_by text,
    ADD COLUMN IF NOT EXISTS finished_at timestamptz;

-- One row per org that ever synced. A sync claims the org by setting run_id under the
-- row's lock, so two claims serialise on it; lease_expires_at lets a crashed run's claim
-- lapse; last_success_at starts the rate-limit window. Times are the database's.
CREATE TABLE IF NOT EXISTS kb_sync_claims (
    org_id uuid PRIMARY KEY,
    run_id uuid,
    lease_expires_at timestamptz,
    last_success_at timestamptz
);

-- Files kbcore uploaded and has not deleted yet, per org and tool name. No foreign key to
-- knowledge_base: a file outlives its document until a sync deletes it from Vapi.
CREATE TABLE IF NOT EXISTS kb_vapi_files (
    file_id text PRIMARY KEY,
    org_id uuid NOT NULL,
    tool_name text NOT NULL,
    knowledge_base_id uuid NOT NULL,
    content_sha256 text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS kb_vapi_files_org_id_tool_name_idx
    ON kb_vapi_files (org_id, tool_name);

-- Query tools kbcore created; exactly one current per org and tool name.
CREATE TABLE IF NOT EXISTS kb_vapi_tools (
    tool_id text PRIMARY KEY,
    org_id uuid NOT NULL,
    tool_name text NOT NULL,
    current boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS kb_vapi_tools_current_idx
    ON kb_vapi_tools (org_id, tool_name) WHERE current;
CREATE INDEX IF NOT EXISTS kb_vapi_tools_org_id_idx ON kb_vapi_tools (org_id);
