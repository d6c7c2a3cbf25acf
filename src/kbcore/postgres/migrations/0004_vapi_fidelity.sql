-- What a sync knows of Vapi as it is since 2026-08: warnings in the audit log, and the
-- tools it set out to create, so that a copy Vapi made behind a lost answer is known.

-- Plain sentences about what a sync could not fix itself (an assistant whose prompt never
-- mentions the knowledge base, a pinned tool version, files Vapi failed to process).
-- NULL on rows written before this column existed; the runbook's queries do not read it.
ALTER TABLE kb_sync_log ADD COLUMN IF NOT EXISTS warnings text[];

-- One row per knowledge-base layout a sync was about to create a query tool with, written
-- before the create is sent. Vapi's query tools carry no name, so a tool nobody recorded
-- (its create's answer was lost) is known as kbcore's by this fingerprint alone.
CREATE TABLE IF NOT EXISTS kb_vapi_tool_intents (
    org_id uuid NOT NULL,
    tool_name text NOT NULL,
    fingerprint text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, tool_name, fingerprint)
);
