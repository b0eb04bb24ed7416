//! [`VersionStore`] on SQLite: register, list and promote application versions.

use async_trait::async_trait;
use dbos_storage_core::versions::{validate_new_version, validate_version_lookup};
use dbos_storage_core::{
    new_token, ApplicationVersion, EpochMs, Error, ErrorKind, Result, VersionStore,
};
use rusqlite::{OptionalExtension, Row, Transaction};

use super::{get_i64, now_ms, Cached, SqliteStore};
use crate::error::{classify, BACKEND};
use crate::sql::versions as v;

/// Reads an `ApplicationVersion` from a row of `version_columns!()`.
fn read_version(row: &Row<'_>) -> rusqlite::Result<ApplicationVersion> {
    Ok(ApplicationVersion::new(
        row.get::<_, String>(0)?,
        row.get::<_, String>(1)?,
        get_i64(row, 2)?.unwrap_or(0),
        get_i64(row, 3)?.unwrap_or(0),
        row.get(4)?,
    ))
}

/// The latest version (largest timestamp) of an application plus unclaimed ones, every version
/// when `application_name` is `None`; `None` when none is registered. Claims use it to decide
/// whether version-less workflows are theirs.
pub(super) fn latest_version(
    tx: &Transaction<'_>,
    application_name: Option<&str>,
) -> Result<Option<ApplicationVersion>> {
    tx.query_row_cached(v::LATEST_VERSION, [application_name], read_version)
        .optional()
        .map_err(classify)
}

/// `for application "x"`, or nothing for an unscoped caller, for messages.
fn for_application(application_name: Option<&str>) -> String {
    application_name.map_or_else(String::new, |app| format!(" for application {app:?}"))
}

/// Registers (or claims) a version inside `tx` and returns its row.
fn create_version(
    tx: &Transaction<'_>,
    version_name: &str,
    application_name: Option<&str>,
) -> Result<ApplicationVersion> {
    if let Some(app) = application_name {
        tx.execute_cached(v::CLAIM_VERSION, rusqlite::params![version_name, app])
            .map_err(classify)?;
    }
    let own = |tx: &Transaction<'_>| {
        tx.query_row_cached(
            v::SELECT_OWN_VERSION,
            rusqlite::params![version_name, application_name],
            read_version,
        )
        .optional()
        .map_err(classify)
    };
    if let Some(row) = own(tx)? {
        return Ok(row);
    }
    // Registered after every earlier version, so the newest registration is the latest even
    // when two launches fall in the same millisecond.
    let now = now_ms(tx)?;
    let newest: Option<i64> = tx
        .query_row_cached(v::MAX_VERSION_CREATED_AT, [], |r| get_i64(r, 0))
        .map_err(classify)?;
    let timestamp = newest.map_or(now, |n| now.max(n.saturating_add(1)));
    tx.execute_cached(
        v::INSERT_VERSION,
        rusqlite::params![new_token(), version_name, timestamp, application_name],
    )
    .map_err(classify)?;
    if let Some(row) = own(tx)? {
        return Ok(row);
    }
    // Another application holds the name (the global uniqueness left the insert undone).
    let rows = {
        let mut stmt = tx
            .prepare_cached(v::SELECT_VERSIONS_BY_NAME)
            .map_err(classify)?;
        let rows = stmt
            .query_map([version_name], read_version)
            .map_err(classify)?;
        rows.map(|r| r.map_err(classify))
            .collect::<Result<Vec<_>>>()?
    };
    let Some(application) = application_name else {
        // A caller without an application collides with nobody: it gets the registered row.
        return rows.into_iter().next().ok_or_else(|| {
            Error::corrupt(format!(
                "application version {version_name:?} was neither registered nor found"
            ))
            .with_backend(BACKEND)
        });
    };
    let owner = rows
        .iter()
        .find_map(|r| r.application_name.as_deref())
        .unwrap_or_default();
    Err(Error::new(
        ErrorKind::WorkflowConflict,
        format!(
            "application version {version_name:?} belongs to application {owner:?}; application \
             {application:?} cannot register it (version names are global)"
        ),
    )
    .with_backend(BACKEND))
}

#[async_trait]
impl VersionStore for SqliteStore {
    async fn create_application_version(
        &self,
        version_name: &str,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        validate_new_version(version_name, application_name)?;
        let name = version_name.to_owned();
        let app = application_name.map(str::to_owned);
        self.conns()
            .write(move |tx| create_version(tx, &name, app.as_deref()))
            .await
    }

    async fn list_application_versions(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<ApplicationVersion>> {
        validate_version_lookup(None, application_name)?;
        let app = application_name.map(str::to_owned);
        self.conns()
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(v::LIST_VERSIONS).map_err(classify)?;
                let rows = stmt.query_map([app], read_version).map_err(classify)?;
                rows.map(|r| r.map_err(classify)).collect()
            })
            .await
    }

    async fn latest_application_version(
        &self,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        validate_version_lookup(None, application_name)?;
        let app = application_name.map(str::to_owned);
        self.conns()
            .read(move |tx| {
                latest_version(tx, app.as_deref())?.ok_or_else(|| {
                    Error::not_found(format!(
                        "no application version is registered{}; every launch registers its \
                         version with create_application_version",
                        for_application(app.as_deref())
                    ))
                    .with_backend(BACKEND)
                })
            })
            .await
    }

    async fn set_application_version_timestamp(
        &self,
        version_name: &str,
        timestamp: EpochMs,
        application_name: Option<&str>,
    ) -> Result<()> {
        validate_version_lookup(Some(version_name), application_name)?;
        let name = version_name.to_owned();
        let app = application_name.map(str::to_owned);
        self.conns()
            .write(move |tx| {
                let changed = tx
                    .execute_cached(
                        v::SET_VERSION_TIMESTAMP,
                        rusqlite::params![name, timestamp, app],
                    )
                    .map_err(classify)?;
                if changed == 0 {
                    return Err(Error::not_found(format!(
                        "application version {name:?} is not registered{}; register it with \
                         create_application_version first",
                        for_application(app.as_deref())
                    ))
                    .with_backend(BACKEND));
                }
                Ok(())
            })
            .await
    }
}
