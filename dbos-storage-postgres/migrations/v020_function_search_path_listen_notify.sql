-- Migration 20, with LISTEN/NOTIFY: the trigger functions too.
ALTER FUNCTION {schema}.notifications_function() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION {schema}.workflow_events_function() SET search_path = pg_catalog, pg_temp;
