//! [`CockroachConfig`]: the settings of one CockroachDB pool and its retry policy.

use std::str::FromStr;

use dbos_storage_core::{DatabaseUrl, DbosConfig, Error, Result, RetryPolicy};
use dbos_storage_postgres::PostgresConfig;

use crate::dialect::CockroachDialect;

/// The settings of one CockroachDB connection pool: the PostgreSQL driver's settings in the
/// [`CockroachDialect`], plus the [`RetryPolicy`] of the system store.
///
/// A `cockroachdb://` (or `cockroach://`) URL is read as the `postgresql://` URL it stands for,
/// with the default port 26257 instead of 5432. Every libpq key of the PostgreSQL driver is
/// accepted, with the same TLS handling (`sslmode=verify-full` with `sslrootcert` is
/// recommended; `sslcert`/`sslkey` for client certificates, PKCS#1 or PKCS#8), and
/// `options=--cluster=<routing-id>` (URL-encoded `options=--cluster%3D<routing-id>`) is passed
/// to the server for CockroachDB Cloud routing. `postgresql://` URLs are accepted too, for
/// configurations that point one at CockroachDB.
///
/// LISTEN/NOTIFY is always off, whatever `use_listen_notify` says. `Debug` never shows the
/// password.
#[derive(Debug, Clone)]
pub struct CockroachConfig {
    pg: PostgresConfig,
    retry: RetryPolicy,
}

impl CockroachConfig {
    /// The settings of the system database pool (`sys_db_pool_size` plus `max_overflow`, the
    /// schema `dbos_system_schema`), with [`RetryPolicy::default`].
    ///
    /// # Errors
    /// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for a URL of another
    /// backend, an unknown or malformed query key, an invalid schema name or pool size;
    /// [`Unsupported`](dbos_storage_core::ErrorKind::Unsupported) for `sslpassword` and `sslcrl`.
    pub fn system(config: &DbosConfig, url: &DatabaseUrl) -> Result<CockroachConfig> {
        Ok(Self::with_default_retries(PostgresConfig::system_in(
            CockroachDialect::shared(),
            config,
            url,
        )?))
    }

    /// The settings of the application database pool (`pool_size` plus `max_overflow`).
    ///
    /// # Errors
    /// As [`CockroachConfig::system`].
    pub fn application(config: &DbosConfig, url: &DatabaseUrl) -> Result<CockroachConfig> {
        Ok(Self::with_default_retries(PostgresConfig::application_in(
            CockroachDialect::shared(),
            config,
            url,
        )?))
    }

    /// The system-database settings of a URL with every other setting at its DBOS default.
    ///
    /// # Errors
    /// As [`CockroachConfig::system`].
    pub fn from_url(url: &DatabaseUrl) -> Result<CockroachConfig> {
        Self::system(&DbosConfig::new("dbos"), url)
    }

    fn with_default_retries(pg: PostgresConfig) -> CockroachConfig {
        CockroachConfig {
            pg,
            retry: RetryPolicy::default(),
        }
    }

    /// Uses `policy` for the system store's retries (attempt and time limits per error class).
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The retry policy of the system store.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The underlying PostgreSQL driver settings (in the CockroachDB dialect).
    pub fn postgres(&self) -> &PostgresConfig {
        &self.pg
    }

    pub(crate) fn into_parts(self) -> (PostgresConfig, RetryPolicy) {
        (self.pg, self.retry)
    }
}

impl FromStr for CockroachConfig {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::from_url(&DatabaseUrl::parse(s)?)
    }
}
