-- Migration 43, with LISTEN/NOTIFY: stream writes no longer notify from a trigger.
DROP TRIGGER IF EXISTS dbos_streams_trigger ON {schema}.streams;
DROP FUNCTION IF EXISTS {schema}.streams_function();
