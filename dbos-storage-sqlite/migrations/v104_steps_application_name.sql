-- 104: step rows copy their workflow's application.
ALTER TABLE operation_outputs ADD COLUMN application_name TEXT DEFAULT NULL;
