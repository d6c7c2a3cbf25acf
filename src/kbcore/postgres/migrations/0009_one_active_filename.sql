-- At most one active document per org and filename; deleted ones keep their names, since
-- their history is kept. A partial unique index enforces it, so that no two writers can
-- break it however they interleave.
--
-- Active duplicates written before this rule are resolved first, the same way on every
-- database: of each org's active documents with one filename, the newest (by created_at,
-- then id: the one a listing shows first) stays active, and each older one is deleted,
-- with a changelog row that says why, and loses its passages (migration 0007), as every
-- inactive document has none. Nothing is lost: `kbcore docs undelete` (after a rename)
-- brings one back, passages and all. The org's word counts catch up at their next count.
WITH ranked AS (
    SELECT id,
           row_number() OVER (
               PARTITION BY org_id, filename ORDER BY created_at DESC, id DESC
           ) AS position
    FROM knowledge_base
    WHERE active
), retired AS (
    UPDATE knowledge_base AS k
    SET active = false
    FROM ranked
    WHERE k.id = ranked.id AND ranked.position > 1
    RETURNING k.id, k.org_id, k.filename
), unsplit AS (
    DELETE FROM knowledge_passages WHERE document_id IN (SELECT id FROM retired)
)
INSERT INTO knowledge_base_changelog
    (knowledge_base_id, org_id, change_type, changed_by, change_summary)
SELECT id, org_id, 'deleted', 'kbcore migrate',
       'Deleted: ' || filename || ' (a newer active document has this name; '
       || 'kbcore keeps one active document per filename)'
FROM retired
ORDER BY org_id, filename, id;

-- The unique index serves every lookup of active documents by name that the plain one
-- of migration 0003 served (imports), so that one goes.
CREATE UNIQUE INDEX IF NOT EXISTS knowledge_base_one_active_filename_idx
    ON knowledge_base (org_id, filename) WHERE active;
DROP INDEX IF EXISTS knowledge_base_active_org_id_filename_idx;
