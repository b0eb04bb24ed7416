-- 115: the in-flight index also covers application_name (a trailing key column on SQLite,
-- INCLUDE on PostgreSQL).
CREATE INDEX IF NOT EXISTS idx_workflow_status_in_flight_v2
    ON workflow_status (queue_name, status, priority, created_at, application_name)
    WHERE status IN ('ENQUEUED', 'PENDING');
