-- Migration 6: the per-step history of events, and the step that wrote each stream value.
CREATE TABLE {schema}.workflow_events_history (
    workflow_uuid TEXT NOT NULL,
    function_id INT4 NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (workflow_uuid, function_id, key),
    FOREIGN KEY (workflow_uuid) REFERENCES {schema}.workflow_status (workflow_uuid)
        ON UPDATE CASCADE ON DELETE CASCADE
);
ALTER TABLE {schema}.streams ADD COLUMN function_id INT4 NOT NULL DEFAULT 0;
