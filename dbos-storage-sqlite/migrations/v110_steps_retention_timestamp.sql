-- 110: the retention sweep order of step rows. SQLite cannot add a column with an expression
-- default; migration 112 rebuilds the table with the default and fills missing values.
ALTER TABLE operation_outputs ADD COLUMN retention_timestamp INTEGER;
