//! [`VersionStore`] on PostgreSQL: registering, listing and promoting application versions.
//!
//! Version names are global: `application_versions_version_name_key` makes a name unique across
//! applications while DBOS keeps it, and the per-owner unique indexes take over once it is
//! retired. Registration never names a constraint (`ON CONFLICT DO NOTHING` without a target),
//! so it works under either.

use async_trait::async_trait;
use dbos_storage_core::versions::{validate_new_version, validate_version_lookup};
use dbos_storage_core::{
    new_token, ApplicationVersion, EpochMs, Error, ErrorKind, Result, VersionStore,
};
use tokio_postgres::Row;

use super::{col, PostgresStore};
use crate::error::{classify, BACKEND};

/// Reads an `ApplicationVersion` from a row of `version_columns!()`.
fn read_version(row: &Row) -> Result<ApplicationVersion> {
    Ok(ApplicationVersion::new(
        col::<String>(row, 0)?,
        col::<String>(row, 1)?,
        col(row, 2)?,
        col(row, 3)?,
        col(row, 4)?,
    ))
}

fn no_version(application_name: Option<&str>) -> Error {
    let scope = match application_name {
        Some(app) => format!(" for application {app:?}"),
        None => String::new(),
    };
    Error::not_found(format!(
        "no application version is registered{scope}; executors register theirs at launch"
    ))
    .with_backend(BACKEND)
}

#[async_trait]
impl VersionStore for PostgresStore {
    async fn create_application_version(
        &self,
        version_name: &str,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        validate_new_version(version_name, application_name)?;
        let name = version_name.to_owned();
        let app = application_name.map(str::to_owned);
        let version_id = new_token();
        self.write(move |tx, q| {
            Box::pin(async move {
                if app.is_some() {
                    tx.execute(q.claim_unclaimed_version.as_str(), &[&name, &app])
                        .await
                        .map_err(classify)?;
                }
                tx.execute(q.insert_version.as_str(), &[&version_id, &name, &app])
                    .await
                    .map_err(classify)?;
                let row = tx
                    .query_opt(q.select_version_by_name.as_str(), &[&name, &app])
                    .await
                    .map_err(classify)?
                    .ok_or_else(|| {
                        // Only a unique index other than the name's could swallow the insert.
                        Error::new(
                            ErrorKind::Corrupt,
                            format!(
                                "application version {name:?} could be neither inserted nor \
                                 found; check the unique indexes of application_versions"
                            ),
                        )
                        .with_backend(BACKEND)
                    })?;
                let version = read_version(&row)?;
                if let (Some(owner), Some(caller)) = (&version.application_name, &app) {
                    if owner != caller {
                        return Err(Error::new(
                            ErrorKind::WorkflowConflict,
                            format!(
                                "application version {name:?} belongs to application \
                                 {owner:?}; version names are global across applications, so \
                                 application {caller:?} needs another version name"
                            ),
                        )
                        .with_backend(BACKEND));
                    }
                }
                Ok(version)
            })
        })
        .await
    }

    async fn list_application_versions(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<ApplicationVersion>> {
        validate_version_lookup(None, application_name)?;
        let client = self.client().await?;
        let rows = client
            .query(self.queries().list_versions.as_str(), &[&application_name])
            .await
            .map_err(classify)?;
        rows.iter().map(read_version).collect()
    }

    async fn latest_application_version(
        &self,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion> {
        validate_version_lookup(None, application_name)?;
        let client = self.client().await?;
        let row = client
            .query_opt(self.queries().latest_version.as_str(), &[&application_name])
            .await
            .map_err(classify)?;
        match row {
            Some(row) => read_version(&row),
            None => Err(no_version(application_name)),
        }
    }

    async fn set_application_version_timestamp(
        &self,
        version_name: &str,
        timestamp: EpochMs,
        application_name: Option<&str>,
    ) -> Result<()> {
        validate_version_lookup(Some(version_name), application_name)?;
        let client = self.client().await?;
        let rows = client
            .query(
                self.queries().set_version_timestamp.as_str(),
                &[&version_name, &timestamp, &application_name],
            )
            .await
            .map_err(classify)?;
        if rows.is_empty() {
            let scope = match application_name {
                Some(app) => format!(" for application {app:?}"),
                None => String::new(),
            };
            return Err(Error::not_found(format!(
                "application version {version_name:?} is not registered{scope}"
            ))
            .with_backend(BACKEND));
        }
        Ok(())
    }
}
