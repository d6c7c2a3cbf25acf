-- Bulk imports and full-text search.

-- An import looks up the org's active documents by filename (to skip, report or update
-- them); without this index every batch would read all of the org's active documents.
CREATE INDEX IF NOT EXISTS knowledge_base_active_org_id_filename_idx
    ON knowledge_base (org_id, filename) WHERE active;

-- The words of a document, kept by PostgreSQL itself. The 'simple' configuration
-- lower-cases words and neither stems them nor drops stop words: tenants write in many
-- languages, and English stemming would mangle the others (and match surprisingly in
-- English too). The filename's dots, dashes and underscores become spaces, so that
-- "pricing" finds pricing-plans.md, and its words weigh more (A) than the content's (D).
-- Every function here is immutable, as a generated column requires; the regconfig is a
-- constant. Adding the column rewrites the table once, on a host's existing rows too.
ALTER TABLE knowledge_base ADD COLUMN IF NOT EXISTS search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(
            to_tsvector('simple'::regconfig, translate(coalesce(filename, ''), '._-', '   ')),
            'A'
        )
        || setweight(to_tsvector('simple'::regconfig, coalesce(content, '')), 'D')
    ) STORED;

-- Only active documents are searched, so only they are indexed.
CREATE INDEX IF NOT EXISTS knowledge_base_search_vector_idx
    ON knowledge_base USING gin (search_vector) WHERE active;
