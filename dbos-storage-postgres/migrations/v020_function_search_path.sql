-- Migration 20: pin the search_path of the SQL entry points, so that objects created by other
-- roles cannot shadow what they call.
ALTER FUNCTION {schema}.enqueue_workflow(
    TEXT, TEXT, JSON[], JSON, TEXT, TEXT, TEXT, TEXT, BIGINT, BIGINT, TEXT, INT4, TEXT
) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION {schema}.send_message(TEXT, JSON, TEXT, TEXT) SET search_path = pg_catalog, pg_temp;
