-- Every query tool kbcore ever created for an org stays known, deleted ones included: a Vapi
-- write applied late (a full-model assistant PATCH sent before the tool was retired) can put
-- a deleted tool's id back on an assistant, and only a tool kbcore still knows is detached.
ALTER TABLE kb_vapi_tools ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
