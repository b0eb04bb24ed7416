-- 102: the owning application of each schedule.
ALTER TABLE workflow_schedules ADD COLUMN application_name TEXT DEFAULT NULL;
