//! The versions area: [`VersionStore`] and [`ApplicationVersion`], the rows that say which
//! application version is latest.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{EpochMs, Result};

/// Checks a version being created: a name (non-empty, at most
/// [`MAX_NAME_BYTES`](crate::validate::MAX_NAME_BYTES), no NUL byte; it shares an index entry
/// with the application name) and the application's name.
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the offending field.
pub fn validate_new_version(version_name: &str, application_name: Option<&str>) -> Result<()> {
    crate::validate::name("application version name", version_name)?;
    if let Some(app) = application_name {
        crate::validate::short_name("application name", app)?;
    }
    Ok(())
}

/// Checks the text of a version lookup before any backend sees it: the version name to promote
/// (when given) must be non-empty and hold no NUL byte, and the application name (when given)
/// no NUL byte. No length limit: a version stored by another build or SDK under a longer name
/// can still be found.
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the offending field.
pub fn validate_version_lookup(
    version_name: Option<&str>,
    application_name: Option<&str>,
) -> Result<()> {
    if let Some(version) = version_name {
        if version.is_empty() {
            return Err(crate::Error::invalid_input(
                "application version name is empty",
            ));
        }
        crate::validate::filter("application version name", version)?;
    }
    if let Some(app) = application_name {
        crate::validate::filter("application name", app)?;
    }
    Ok(())
}

/// Application versions: which version is latest decides who may run version-less workflows.
#[async_trait]
pub trait VersionStore: Debug + Send + Sync + 'static {
    /// Registers (or claims) a version for an application, as every launch does.
    ///
    /// # Behavior
    /// Claims an unclaimed row with the same name for the application; otherwise inserts a new
    /// row (`ON CONFLICT DO NOTHING`); then returns the row. A new row's timestamp is now, so the
    /// newest registered version is the latest.
    ///
    /// # Errors
    /// [`WorkflowConflict`](crate::ErrorKind::WorkflowConflict) when another application owns the
    /// version name.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn create_application_version(
        &self,
        version_name: &str,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion>;

    /// Lists versions (own application plus unclaimed), newest timestamp first.
    ///
    /// # Errors
    /// Only the transient kinds, and [`InvalidInput`](crate::ErrorKind::InvalidInput) for an
    /// application name with a NUL byte.
    async fn list_application_versions(
        &self,
        application_name: Option<&str>,
    ) -> Result<Vec<ApplicationVersion>>;

    /// The latest version (largest timestamp, own application plus unclaimed).
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) when no version is registered;
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an application name with a NUL
    /// byte.
    async fn latest_application_version(
        &self,
        application_name: Option<&str>,
    ) -> Result<ApplicationVersion>;

    /// Makes a registered version the latest by setting its timestamp to `timestamp`.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown version of the application;
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an empty version name or a NUL byte
    /// in either name ([`validate_version_lookup`]).
    ///
    /// # Idempotency
    /// Idempotent.
    async fn set_application_version_timestamp(
        &self,
        version_name: &str,
        timestamp: EpochMs,
        application_name: Option<&str>,
    ) -> Result<()>;
}

/// A row of `application_versions`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplicationVersion {
    /// The row id (a UUID).
    pub version_id: String,
    /// The version string.
    pub version_name: String,
    /// Promotion time; the latest version has the largest.
    pub version_timestamp: EpochMs,
    /// Creation time.
    pub created_at: EpochMs,
    /// The owning application.
    pub application_name: Option<String>,
}

impl ApplicationVersion {
    /// A version row.
    pub fn new(
        version_id: impl Into<String>,
        version_name: impl Into<String>,
        version_timestamp: EpochMs,
        created_at: EpochMs,
        application_name: Option<String>,
    ) -> Self {
        ApplicationVersion {
            version_id: version_id.into(),
            version_name: version_name.into(),
            version_timestamp,
            created_at,
            application_name,
        }
    }
}
