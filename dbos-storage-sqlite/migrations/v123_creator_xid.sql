-- 123: the token of the insert that created a workflow row; it never changes.
ALTER TABLE workflow_status ADD COLUMN creator_xid TEXT DEFAULT NULL;
