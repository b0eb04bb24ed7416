-- 121: the recv step that consumed a message.
ALTER TABLE notifications ADD COLUMN consumed_by_function_id INTEGER;
