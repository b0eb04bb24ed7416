//! [`CockroachStore`] and [`CockroachAppStore`]: the PostgreSQL stores in the CockroachDB
//! dialect.

use std::sync::Arc;

use dbos_storage_core::{Result, RetryingStore};
use dbos_storage_postgres::{PostgresAppStore, PostgresStore};

use crate::config::CockroachConfig;

/// The DBOS system database (schema v125) on CockroachDB: a [`PostgresStore`] in the
/// [`CockroachDialect`](crate::CockroachDialect) inside a [`RetryingStore`].
///
/// Every method is one transaction, re-run as a whole on a serialization failure (40001,
/// 40P01) or a lost connection, with bounded, jittered exponential backoff (attempt and time
/// limits from [`CockroachConfig::retry_policy`]). An ambiguous commit (40003, or a connection
/// lost during `COMMIT`) is retried only for operations documented idempotent;
/// [`claim_workflows`](dbos_storage_core::QueueStore::claim_workflows) is never re-run.
///
/// Open one with [`open_system`] or [`connect`], then call
/// [`migrate`](dbos_storage_core::LifecycleStore::migrate).
pub type CockroachStore = RetryingStore<PostgresStore>;

/// The application database on CockroachDB: the [`PostgresAppStore`] in the CockroachDB
/// dialect. Its transactions already re-run the body after a serialization failure, so the
/// body must be re-executable.
pub type CockroachAppStore = PostgresAppStore;

/// Opens the system database described by `config`, creating the database when it does not
/// exist (but not migrating), and checks that the server is CockroachDB.
///
/// # Errors
/// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for bad credentials or
/// certificates; [`ConnectionLost`](dbos_storage_core::ErrorKind::ConnectionLost) when the
/// server cannot be reached; [`Unsupported`](dbos_storage_core::ErrorKind::Unsupported) when it
/// is PostgreSQL (unless the database is marked CockroachDB-compatible:
/// [`COMPATIBLE_MODE_SETTING`](crate::COMPATIBLE_MODE_SETTING)).
pub async fn open_system(config: CockroachConfig) -> Result<CockroachStore> {
    let (pg, policy) = config.into_parts();
    let store = PostgresStore::open(pg).await?;
    Ok(RetryingStore::new(Arc::new(store), policy))
}

/// Opens the system database of a `cockroachdb://` URL with every other setting at its DBOS
/// default (schema `dbos`, a pool of 20 connections, [`RetryPolicy`](dbos_storage_core::RetryPolicy)
/// defaults).
///
/// # Errors
/// As [`open_system`], and [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for a
/// malformed URL.
pub async fn connect(url: &str) -> Result<CockroachStore> {
    open_system(url.parse()?).await
}

/// Opens the application database described by `config` (built with
/// [`CockroachConfig::application`]); the retry policy does not apply (the application store
/// retries its transactions itself).
///
/// # Errors
/// As [`open_system`].
pub async fn open_app(config: CockroachConfig) -> Result<CockroachAppStore> {
    let (pg, _) = config.into_parts();
    PostgresAppStore::open(pg).await
}
