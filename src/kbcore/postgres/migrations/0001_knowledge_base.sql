-- kbcore's first schema: the existing system's three tables, plus what kbcore needs on top.
--
-- Every table is created only when absent, so that a host that already has these tables
-- (with the existing system's columns and rows) adopts kbcore without losing anything;
-- kbcore's own columns are added with ADD COLUMN IF NOT EXISTS for the same reason.
-- No CHECK on category: hosts configure their own categories.

CREATE TABLE IF NOT EXISTS knowledge_base (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    filename text NOT NULL,
    content text NOT NULL,
    category text NOT NULL DEFAULT 'general',
    version integer NOT NULL DEFAULT 1,
    active boolean NOT NULL DEFAULT true,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Newest-first keyset listing per org. Soft-deleted rows are never purged, so the default
-- (active only) listings get partial indexes that do not wade through them.
CREATE INDEX IF NOT EXISTS knowledge_base_org_id_created_at_idx
    ON knowledge_base (org_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS knowledge_base_active_org_id_created_at_idx
    ON knowledge_base (org_id, created_at DESC, id DESC) WHERE active;
CREATE INDEX IF NOT EXISTS knowledge_base_active_org_id_category_created_at_idx
    ON knowledge_base (org_id, category, created_at DESC, id DESC) WHERE active;

CREATE OR REPLACE FUNCTION kbcore_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS knowledge_base_touch_updated_at ON knowledge_base;
CREATE TRIGGER knowledge_base_touch_updated_at
    BEFORE UPDATE ON knowledge_base
    FOR EACH ROW EXECUTE FUNCTION kbcore_touch_updated_at();

CREATE TABLE IF NOT EXISTS knowledge_base_changelog (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    knowledge_base_id uuid NOT NULL REFERENCES knowledge_base (id) ON DELETE CASCADE,
    org_id uuid NOT NULL,
    version_from integer,
    version_to integer,
    change_type text NOT NULL,
    changed_by text,
    change_summary text,
    previous_content text,
    new_content text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One transaction writes several changelog rows with the same now() and random ids:
-- seq keeps them in the order they were written.
ALTER TABLE knowledge_base_changelog
    ADD COLUMN IF NOT EXISTS seq bigint GENERATED ALWAYS AS IDENTITY;

CREATE INDEX IF NOT EXISTS knowledge_base_changelog_document_idx
    ON knowledge_base_changelog (knowledge_base_id, created_at, seq);

CREATE TABLE IF NOT EXISTS kb_sync_log (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    tool_id text,
    status text NOT NULL,
    error_message text,
    duration_ms integer,
    docs_synced integer,
    assistants_updated integer
);

CREATE INDEX IF NOT EXISTS kb_sync_log_org_id_idx ON kb_sync_log (org_id);
CREATE INDEX IF NOT EXISTS kb_sync_log_org_id_created_at_idx ON kb_sync_log (org_id, created_at DESC);

-- agents and integrations belong to the host. Minimal versions are created only on a
-- database that has none, so kbcore runs standalone; a host's own tables are left untouched.
DO $$
BEGIN
    IF to_regclass('agents') IS NULL THEN
        CREATE TABLE agents (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            role text NOT NULL,
            vapi_assistant_id text
        );
        CREATE INDEX agents_org_id_idx ON agents (org_id);
    END IF;
    IF to_regclass('integrations') IS NULL THEN
        CREATE TABLE integrations (
            org_id uuid NOT NULL,
            provider text NOT NULL,
            config jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (org_id, provider)
        );
    END IF;
END;
$$;
