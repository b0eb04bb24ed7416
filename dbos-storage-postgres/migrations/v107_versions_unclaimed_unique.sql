-- Migration 107 (online): version names are unique among unclaimed versions.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_application_versions_unclaimed_version
    ON {schema}.application_versions (version_name) WHERE application_name IS NULL;
