-- Live knowledge: the passages of every active document, ranked for callers' questions.
--
-- One row per passage (see kbcore.retrieval): its document, its place in it, its org
-- (copied from the document so that a search reads this table alone), its context
-- ("filename > heading > subheading") and its text. Rows are replaced in the same
-- transaction as every write of their document (kbcore.postgres._ranking); an inactive
-- document has none. The passages of the documents already stored are written right
-- after this file, in the same transaction, by the splitter in Python (_migrate.py).

CREATE TABLE IF NOT EXISTS knowledge_passages (
    document_id uuid NOT NULL REFERENCES knowledge_base (id) ON DELETE CASCADE,
    position integer NOT NULL,
    org_id uuid NOT NULL,
    context text NOT NULL,
    content text NOT NULL,
    -- English stemming, so that "recorded" finds "recording" and "plans" finds "plan".
    -- The context weighs more (A) than the text (D): a passage under "Refunds" is about
    -- refunds. Dots, dashes and underscores of the filename become spaces ("free-trial.md"
    -- says "free trial"). Every function here is immutable, as a generated column requires.
    --
    -- Both vectors also hold the org as one lexeme, 'org:<org id>', which no text can
    -- produce (the parser splits at the colon): the search ANDs it to its words, so the
    -- GIN index itself keeps to one org and no other org's row is read and thrown away.
    -- With 21 orgs in the table that halves the p99; org_id = $1 still decides.
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(
            to_tsvector('english'::regconfig, translate(context, '._-', '   ')), 'A'
        )
        || setweight(to_tsvector('english'::regconfig, content), 'D')
        || array_to_tsvector(ARRAY['org:' || org_id::text])
    ) STORED,
    -- The context's words alone: a common word ("plan", "call") is a candidate only
    -- where a heading or the filename says it, and this is what finds those passages.
    context_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, translate(context, '._-', '   '))
        || array_to_tsvector(ARRAY['org:' || org_id::text])
    ) STORED,
    PRIMARY KEY (document_id, position)
);

-- The search reads the GIN index, then the rows of the org's matching passages.
-- fastupdate off: a pending list would be scanned in full by every search until the
-- next vacuum, a latency spike after each large import; writes pay instead.
CREATE INDEX IF NOT EXISTS knowledge_passages_search_vector_idx
    ON knowledge_passages USING gin (search_vector) WITH (fastupdate = off);

CREATE INDEX IF NOT EXISTS knowledge_passages_context_vector_idx
    ON knowledge_passages USING gin (context_vector) WITH (fastupdate = off);

-- How many of an org's passages contain each of its common lexemes (those in at least
-- one passage in a thousand), and how many passages the org had, when last counted.
-- The search reads them to weigh rare words above common ones and to find candidates
-- through rare words first. Counted by kbcore.postgres._ranking.refresh_term_counts (under a
-- second for 70,000 passages); a stale count costs speed or a little precision, never
-- a wrong org's rows. An org never counted is searched as if every word were rare.
CREATE TABLE IF NOT EXISTS knowledge_passage_orgs (
    org_id uuid PRIMARY KEY,
    passages integer NOT NULL,
    counted_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS knowledge_passage_terms (
    org_id uuid NOT NULL REFERENCES knowledge_passage_orgs (org_id) ON DELETE CASCADE,
    lexeme text NOT NULL,
    passages integer NOT NULL,
    in_context integer NOT NULL,
    PRIMARY KEY (org_id, lexeme)
);
