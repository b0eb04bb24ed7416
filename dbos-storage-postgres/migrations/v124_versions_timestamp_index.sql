-- Migration 124 (online): application versions, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_application_versions_timestamp
    ON {schema}.application_versions (version_timestamp DESC);
