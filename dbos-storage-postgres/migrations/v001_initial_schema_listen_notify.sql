-- Migration 1, with LISTEN/NOTIFY: every new message and event notifies its channel at commit.

CREATE OR REPLACE FUNCTION {schema}.notifications_function() RETURNS trigger
LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM pg_notify('dbos_notifications_channel', NEW.destination_uuid || '::' || NEW.topic);
    RETURN NEW;
END;
$body$;

CREATE TRIGGER dbos_notifications_trigger
    AFTER INSERT ON {schema}.notifications
    FOR EACH ROW EXECUTE FUNCTION {schema}.notifications_function();

CREATE OR REPLACE FUNCTION {schema}.workflow_events_function() RETURNS trigger
LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM pg_notify('dbos_workflow_events_channel', NEW.workflow_uuid || '::' || NEW.key);
    RETURN NEW;
END;
$body$;

CREATE TRIGGER dbos_workflow_events_trigger
    AFTER INSERT ON {schema}.workflow_events
    FOR EACH ROW EXECUTE FUNCTION {schema}.workflow_events_function();
