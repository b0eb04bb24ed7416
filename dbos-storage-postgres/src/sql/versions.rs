//! Statements of the application versions (`application_versions`).
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. The
//! newest timestamp is the latest version; ties go to the newest row, then the name.

use super::queues::app_scope;

/// The `application_versions` columns read into an `ApplicationVersion`.
macro_rules! version_columns {
    () => {
        "v.version_id, v.version_name, v.version_timestamp, v.created_at, v.application_name"
    };
}

// language=SQL
/// Claims the unclaimed row named `$1` for application `$2`, unless the application already has
/// a row of that name.
pub(crate) const CLAIM_UNCLAIMED_VERSION: &str = "\
UPDATE {schema}.application_versions v SET application_name = $2::text
WHERE v.version_name = $1 AND v.application_name IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM {schema}.application_versions o
    WHERE o.application_name = $2::text AND o.version_name = $1)";

// language=SQL
/// Registers version `$2` with id `$1` for application `$3` (NULL = unclaimed); the timestamps
/// default to now. `ON CONFLICT DO NOTHING` without a target, as DBOS writes it: any unique
/// index (the global `version_name` one while it exists, or the per-owner ones) makes it a
/// no-op, and no constraint is named.
pub(crate) const INSERT_VERSION: &str = "\
INSERT INTO {schema}.application_versions (version_id, version_name, application_name)
VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING";

// language=SQL
/// The row of version `$1`, preferring the one of application `$2`, then an unclaimed one.
pub(crate) const SELECT_VERSION_BY_NAME: &str = concat!(
    "SELECT ",
    version_columns!(),
    " FROM {schema}.application_versions v
WHERE v.version_name = $1
ORDER BY (v.application_name IS NOT DISTINCT FROM $2::text) DESC,
         (v.application_name IS NULL) DESC
LIMIT 1"
);

/// The versions of application `$1` plus unclaimed ones, latest first.
macro_rules! versions_latest_first {
    () => {
        concat!(
            "SELECT ",
            version_columns!(),
            " FROM {schema}.application_versions v
WHERE ",
            app_scope!("v", "$1"),
            "
ORDER BY v.version_timestamp DESC, v.created_at DESC, v.version_name DESC"
        )
    };
}

// language=SQL
/// The versions of application `$1` plus unclaimed ones, latest first.
pub(crate) const LIST_VERSIONS: &str = versions_latest_first!();

// language=SQL
/// The latest version of application `$1` (own plus unclaimed rows).
pub(crate) const LATEST_VERSION: &str = concat!(versions_latest_first!(), "\nLIMIT 1");

// language=SQL
/// Sets the timestamp (`$2`) of version `$1` of application `$3` (or unclaimed); returns a row
/// per version changed.
pub(crate) const SET_VERSION_TIMESTAMP: &str = concat!(
    "UPDATE {schema}.application_versions v SET version_timestamp = $2
WHERE v.version_name = $1 AND ",
    app_scope!("v", "$3"),
    "
RETURNING v.version_id"
);
