-- 114: idx_notifications duplicated idx_workflow_topic.
DROP INDEX IF EXISTS idx_notifications;
