-- Migration 106: version names are unique per owning application (with 107, the replacement of
-- the table-wide uniqueness, which stays until every SDK is past 107).
CREATE UNIQUE INDEX IF NOT EXISTS uq_application_versions_owner_version
    ON {schema}.application_versions (application_name, version_name)
    WHERE application_name IS NOT NULL;
