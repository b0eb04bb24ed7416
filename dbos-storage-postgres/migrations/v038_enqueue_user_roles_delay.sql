-- Migration 38: enqueue_workflow gains the authenticated user and roles and a delay (16
-- arguments); the 13-argument form is dropped so only one signature remains.

DROP FUNCTION IF EXISTS {schema}.enqueue_workflow(
    TEXT, TEXT, JSON[], JSON, TEXT, TEXT, TEXT, TEXT, BIGINT, BIGINT, TEXT, INT4, TEXT
);

CREATE OR REPLACE FUNCTION {schema}.enqueue_workflow(
    workflow_name TEXT,
    queue_name TEXT,
    positional_args JSON[] DEFAULT ARRAY[]::JSON[],
    named_args JSON DEFAULT '{}'::JSON,
    class_name TEXT DEFAULT NULL,
    config_name TEXT DEFAULT NULL,
    workflow_id TEXT DEFAULT NULL,
    app_version TEXT DEFAULT NULL,
    timeout_ms BIGINT DEFAULT NULL,
    deadline_epoch_ms BIGINT DEFAULT NULL,
    deduplication_id TEXT DEFAULT NULL,
    priority INT4 DEFAULT NULL,
    queue_partition_key TEXT DEFAULT NULL,
    authenticated_user TEXT DEFAULT NULL,
    authenticated_roles TEXT DEFAULT NULL,
    delay_until_epoch_ms BIGINT DEFAULT NULL
) RETURNS TEXT
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    new_id TEXT;
    now_ms BIGINT := (EXTRACT(epoch FROM now()) * 1000)::BIGINT;
BEGIN
    IF workflow_name IS NULL OR workflow_name = '' THEN
        RAISE EXCEPTION 'Workflow name cannot be null or empty';
    END IF;
    IF queue_name IS NULL OR queue_name = '' THEN
        RAISE EXCEPTION 'Queue name cannot be null or empty';
    END IF;
    IF named_args IS NOT NULL AND jsonb_typeof(named_args::JSONB) <> 'object' THEN
        RAISE EXCEPTION 'Named args must be a JSON object';
    END IF;
    IF workflow_id = '' THEN
        RAISE EXCEPTION 'Workflow ID cannot be an empty string if provided.';
    END IF;
    IF delay_until_epoch_ms < 0 THEN
        RAISE EXCEPTION 'delay_until_epoch_ms must be >= 0';
    END IF;
    new_id := COALESCE(workflow_id, gen_random_uuid()::TEXT);

    INSERT INTO {schema}.workflow_status (
        workflow_uuid, status, inputs, name, class_name, config_name,
        queue_name, deduplication_id, priority, queue_partition_key, application_version,
        created_at, updated_at, recovery_attempts, workflow_timeout_ms,
        workflow_deadline_epoch_ms, parent_workflow_id, owner_xid, serialization,
        authenticated_user, authenticated_roles, delay_until_epoch_ms
    ) VALUES (
        new_id,
        CASE WHEN delay_until_epoch_ms IS NULL THEN 'ENQUEUED' ELSE 'DELAYED' END,
        json_build_object('positionalArgs', positional_args, 'namedArgs', named_args)::TEXT,
        workflow_name, class_name, config_name,
        queue_name, deduplication_id, COALESCE(priority, 0), queue_partition_key, app_version,
        now_ms, now_ms, 0, timeout_ms,
        deadline_epoch_ms, NULL, gen_random_uuid()::TEXT, 'portable_json',
        authenticated_user, authenticated_roles, delay_until_epoch_ms
    )
    ON CONFLICT (workflow_uuid) DO UPDATE SET updated_at = EXCLUDED.updated_at;

    RETURN new_id;
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'DBOS queue duplicated'
            USING DETAIL = format(
                'Workflow %s with queue %s and deduplication ID %s already exists',
                new_id, queue_name, deduplication_id),
            ERRCODE = 'unique_violation';
END;
$body$;
