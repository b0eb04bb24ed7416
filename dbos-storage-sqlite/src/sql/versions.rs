//! Application-version statements. No statement names the `version_name` uniqueness constraint
//! as a conflict target: its shape differs between schema generations (global, per owner,
//! unclaimed), so inserts use `ON CONFLICT DO NOTHING` without a target, as DBOS does.

/// The columns read into an `ApplicationVersion`, in the order `read_version` expects.
macro_rules! version_columns {
    () => {
        "version_id, version_name, version_timestamp, created_at, application_name"
    };
}

// language=SQL
/// Claims an unclaimed version row for an application (`?1` name, `?2` application), unless the
/// application already has a row of that name.
pub(crate) const CLAIM_VERSION: &str = "\
UPDATE application_versions SET application_name = ?2
WHERE version_name = ?1 AND application_name IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM application_versions WHERE version_name = ?1 AND application_name = ?2)";

// language=SQL
/// The newest registration time (`created_at`) of any version: a new row is registered after
/// it, so the newest registration has the greatest timestamp even within one millisecond.
pub(crate) const MAX_VERSION_CREATED_AT: &str = "SELECT max(created_at) FROM application_versions";

// language=SQL
/// Registers a version (`?1` id, `?2` name, `?3` timestamp and creation time, `?4`
/// application); any uniqueness conflict leaves the existing row.
pub(crate) const INSERT_VERSION: &str = "\
INSERT INTO application_versions (
    version_id, version_name, version_timestamp, created_at, application_name)
VALUES (?1, ?2, ?3, ?3, ?4)
ON CONFLICT DO NOTHING";

// language=SQL
/// The row of a version name owned by exactly this application, NULL matching unclaimed (`?1`
/// name, `?2` application).
pub(crate) const SELECT_OWN_VERSION: &str = concat!(
    "SELECT ",
    version_columns!(),
    " FROM application_versions WHERE version_name = ?1 AND application_name IS ?2"
);

// language=SQL
/// The rows of a version name (`?1`), whoever owns them: what an unscoped caller gets, and who
/// to name in a conflict.
pub(crate) const SELECT_VERSIONS_BY_NAME: &str = concat!(
    "SELECT ",
    version_columns!(),
    " FROM application_versions WHERE version_name = ?1 ORDER BY application_name"
);

// language=SQL
/// The versions of an application plus unclaimed ones (every version when `?1` is NULL), newest
/// timestamp first; the first row is the latest version.
pub(crate) const LIST_VERSIONS: &str = concat!(
    "SELECT ",
    version_columns!(),
    " FROM application_versions \
     WHERE (?1 IS NULL OR application_name = ?1 OR application_name IS NULL) \
     ORDER BY version_timestamp DESC, created_at DESC, version_name DESC"
);

// language=SQL
/// The latest version of an application plus unclaimed ones (`?1`), as [`LIST_VERSIONS`] orders
/// them.
pub(crate) const LATEST_VERSION: &str = concat!(
    "SELECT ",
    version_columns!(),
    " FROM application_versions \
     WHERE (?1 IS NULL OR application_name = ?1 OR application_name IS NULL) \
     ORDER BY version_timestamp DESC, created_at DESC, version_name DESC LIMIT 1"
);

// language=SQL
/// Sets the timestamp of a version of an application or unclaimed (`?1` name, `?2` timestamp,
/// `?3` application, NULL = any).
pub(crate) const SET_VERSION_TIMESTAMP: &str = "\
UPDATE application_versions SET version_timestamp = ?2
WHERE version_name = ?1 AND (?3 IS NULL OR application_name = ?3 OR application_name IS NULL)";
