-- Auto-sync: one pending sync request per org and tool name, marked by every document
-- write in its own transaction, so that no edit is lost when a process dies right after
-- its commit. Workers claim due requests with FOR UPDATE SKIP LOCKED. Times are the
-- database's.
CREATE TABLE IF NOT EXISTS kb_sync_requests (
    org_id uuid NOT NULL,
    tool_name text NOT NULL,
    -- When a worker may run it: the later of the last edit plus the debounce (capped at
    -- the first waiting edit plus the maximum wait) and the end of the rate-limit window;
    -- moved by rate limits and back-offs too.
    due_at timestamptz NOT NULL,
    -- Edits not yet carried by a finished sync.
    edits integer NOT NULL DEFAULT 1,
    -- The oldest of those edits.
    first_edit_at timestamptz NOT NULL DEFAULT now(),
    last_edit_at timestamptz NOT NULL DEFAULT now(),
    -- The first edit since the claim: the oldest waiting edit once the claimed sync succeeds.
    first_newer_edit_at timestamptz,
    -- Failed attempts in a row: the exponent of the back-off.
    attempts integer NOT NULL DEFAULT 0,
    last_failure_at timestamptz,
    last_error text,
    -- Set when a failure needs a person (no key, no agents, key rejected): no worker
    -- claims the request until an edit, a change of set-up or `kbcore resume` clears it.
    parked_reason text,
    claimed_by text,
    claimed_until timestamptz,
    -- The edits the claiming worker's sync carries: a success removes the request only
    -- if no edit arrived since the claim.
    claimed_edits integer,
    PRIMARY KEY (org_id, tool_name)
);
CREATE INDEX IF NOT EXISTS kb_sync_requests_due_idx
    ON kb_sync_requests (due_at) WHERE parked_reason IS NULL;

-- Wake the workers (LISTEN kbcore_sync_requests) when a request appears, comes due
-- sooner, or is resumed; the payload is its due time in seconds since the epoch.
CREATE OR REPLACE FUNCTION kbcore_notify_sync_request() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parked_reason IS NULL AND (
        TG_OP = 'INSERT' OR NEW.due_at < OLD.due_at OR OLD.parked_reason IS NOT NULL
    ) THEN
        PERFORM pg_notify('kbcore_sync_requests', extract(epoch FROM NEW.due_at)::text);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS kb_sync_requests_notify ON kb_sync_requests;
CREATE TRIGGER kb_sync_requests_notify
    AFTER INSERT OR UPDATE OF due_at, parked_reason ON kb_sync_requests
    FOR EACH ROW EXECUTE FUNCTION kbcore_notify_sync_request();
