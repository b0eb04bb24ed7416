//! [`PostgresDriver`]: how `dbos_storage::connect` opens PostgreSQL URLs.

use std::sync::Arc;

use async_trait::async_trait;
use dbos_storage_core::{AppStore, DatabaseUrl, DbosConfig, Driver, Error, Result, SystemStore};
use tokio_postgres::SimpleQueryMessage;

use crate::app::PostgresAppStore;
use crate::config::{Dialect, PostgresConfig};
use crate::error::{classify, is_unknown_database_error, BACKEND};
use crate::pool::{ensure_database, Pool};
use crate::store::PostgresStore;

/// The URL schemes the PostgreSQL driver serves.
pub const SCHEMES: &[&str] = &["postgresql", "postgres"];

/// The PostgreSQL [`Driver`]: opens `postgresql://` and `postgres://` URLs as system stores
/// ([`PostgresStore`]) and application stores ([`PostgresAppStore`]).
///
/// Opening creates the database when it does not exist (connecting to the maintenance database
/// `postgres`) — except a system database opened with `run_migrations = false`, which only
/// verifies and so reports a missing database instead of creating it empty — opens the pool with one connection made at once (so a wrong password or an
/// unreachable server fails immediately with its cause), and refuses a CockroachDB server.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresDriver;

impl PostgresDriver {
    /// The driver (it has no state; register one with the facade's driver registry).
    pub const fn new() -> Self {
        PostgresDriver
    }
}

/// Creates the database if needed (and allowed), opens the pool and checks that the server is
/// PostgreSQL.
pub(crate) async fn open_pool(config: &PostgresConfig) -> Result<Pool> {
    // The database usually exists: the pool's first connection proves it, and only an unknown
    // database (3D000) costs the detour through the maintenance database.
    let pool = match Pool::connect(config).await {
        Ok(pool) => pool,
        Err(e) if config.create_database && is_unknown_database_error(&e) => {
            ensure_database(config).await?;
            Pool::connect(config).await?
        }
        Err(e) => return Err(e),
    };
    if let Err(e) = check_server(&pool).await {
        pool.close().await;
        return Err(e);
    }
    Ok(pool)
}

/// Checks that the server matches the dialect: the PostgreSQL dialect refuses CockroachDB,
/// which speaks the PostgreSQL protocol but needs its own driver; the CockroachDB dialect refuses
/// PostgreSQL (unless a test allowed it), whose schema would lack the notification trigger.
async fn check_server(pool: &Pool) -> Result<()> {
    let conn = pool.get().await?;
    // A simple query: one round trip, nothing prepared.
    let version = conn
        .simple_query("SELECT version()")
        .await
        .map_err(classify)?
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default();
    drop(conn);
    let config = pool.config();
    match config.dialect {
        Dialect::Postgres if is_cockroach(&version) => Err(Error::unsupported(
            "this server is CockroachDB, which the PostgreSQL driver does not serve: use a \
             cockroachdb:// URL and enable the `cockroach` feature of dbos-storage (the \
             dbos-storage-cockroach driver)",
        )
        .with_backend(BACKEND)),
        Dialect::Cockroach if !is_cockroach(&version) && !config.allow_postgres_server => {
            Err(Error::unsupported(
                "a cockroachdb:// URL reached a PostgreSQL server; use postgresql:// (running \
                 the CockroachDB dialect on PostgreSQL would create the schema without its \
                 NOTIFY trigger, which cannot be undone)",
            )
            .with_backend(BACKEND))
        }
        _ => Ok(()),
    }
}

/// Whether a `SELECT version()` answer is CockroachDB's (compared case-insensitively).
#[doc(hidden)]
pub fn is_cockroach(version: &str) -> bool {
    version.to_ascii_lowercase().contains("cockroachdb")
}

#[async_trait]
impl Driver for PostgresDriver {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn schemes(&self) -> &'static [&'static str] {
        SCHEMES
    }

    async fn open_system(
        &self,
        config: &DbosConfig,
        url: &DatabaseUrl,
    ) -> Result<Arc<dyn SystemStore>> {
        let config = PostgresConfig::system(config, url)?;
        let pool = open_pool(&config).await?;
        Ok(Arc::new(PostgresStore::new(pool, config)))
    }

    async fn open_app(&self, config: &DbosConfig, url: &DatabaseUrl) -> Result<Arc<dyn AppStore>> {
        let config = PostgresConfig::application(config, url)?;
        let pool = open_pool(&config).await?;
        Ok(Arc::new(PostgresAppStore::new(pool, config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cockroachdb_is_recognized_by_its_version() {
        assert!(is_cockroach(
            "CockroachDB CCL v24.1.0 (x86_64-pc-linux-gnu, built 2024/05/15 21:28:29, go1.22.2)"
        ));
        assert!(!is_cockroach(
            "PostgreSQL 15.8 on x86_64-pc-linux-gnu, compiled by gcc"
        ));
    }
}
