-- Migration 44, with LISTEN/NOTIFY: event writes no longer notify from a trigger.
DROP TRIGGER IF EXISTS dbos_workflow_events_trigger ON {schema}.workflow_events;
DROP FUNCTION IF EXISTS {schema}.workflow_events_function();
