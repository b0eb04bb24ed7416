-- Migration 10: a primary key on notifications, for databases created by an early release whose
-- first migration left it out; skipped when the table has one.
DO $body$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_constraint
        WHERE conrelid = '{schema}.notifications'::regclass AND contype = 'p'
    ) THEN
        ALTER TABLE {schema}.notifications ADD PRIMARY KEY (message_uuid);
    END IF;
END;
$body$;
