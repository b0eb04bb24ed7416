-- 100: the owning application of each workflow (NULL = unclaimed).
ALTER TABLE workflow_status ADD COLUMN application_name TEXT DEFAULT NULL;
