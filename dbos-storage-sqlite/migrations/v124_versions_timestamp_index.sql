-- 124: the latest application version is the one with the greatest timestamp.
CREATE INDEX IF NOT EXISTS idx_application_versions_timestamp
    ON application_versions (version_timestamp DESC);
