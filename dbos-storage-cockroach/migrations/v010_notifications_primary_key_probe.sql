-- Migration 10, CockroachDB variant: whether notifications has its primary key on message_uuid.
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_constraint
    WHERE conrelid = '{schema}.notifications'::regclass AND contype = 'p'
      AND pg_catalog.pg_get_constraintdef(oid) LIKE '%(message_uuid)%'
)
