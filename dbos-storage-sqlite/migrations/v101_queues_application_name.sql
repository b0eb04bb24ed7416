-- 101: the owning application of each registered queue.
ALTER TABLE queues ADD COLUMN application_name TEXT DEFAULT NULL;
