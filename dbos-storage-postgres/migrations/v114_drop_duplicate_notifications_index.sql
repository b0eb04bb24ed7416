-- Migration 114 (online): drop idx_notifications, a duplicate of idx_workflow_topic.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.idx_notifications;
