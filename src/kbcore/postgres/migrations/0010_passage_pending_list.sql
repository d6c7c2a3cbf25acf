-- Writes of passages through GIN's pending list, kept small.
--
-- With fastupdate off (0007) every passage written updates both GIN indexes entry by
-- entry: an import of 10,000 documents (20,000 passages, ~90 words each) spent three
-- quarters of its time there. With fastupdate on, a write appends its entries to the
-- pending list, and the write that fills the list past gin_pending_list_limit merges it
-- into the index sorted, in bulk: 4x cheaper per passage. A search reads the pending
-- list in full besides the index, so the list is kept at 1 MB: at most 128 pages.
-- Entries in the pending list are found by searches as soon as their transaction
-- commits, as before: the passages stay in their document's transaction.
ALTER INDEX knowledge_passages_search_vector_idx
    SET (fastupdate = on, gin_pending_list_limit = 1024);
ALTER INDEX knowledge_passages_context_vector_idx
    SET (fastupdate = on, gin_pending_list_limit = 1024);
