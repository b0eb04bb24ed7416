//! [`PostgresDriver`]: how `dbos_storage::connect` opens PostgreSQL URLs.

use std::sync::Arc;

use async_trait::async_trait;
use dbos_storage_core::{AppStore, DatabaseUrl, DbosConfig, Driver, Result, SystemStore};

use crate::app::PostgresAppStore;
use crate::config::PostgresConfig;
use crate::dialect::ServerSession;
use crate::error::{is_unknown_database_error, BACKEND};
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
/// one the configuration's dialect serves.
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

/// Checks that the server is one the configuration's dialect serves
/// ([`Dialect::check_server`](crate::Dialect::check_server)).
async fn check_server(pool: &Pool) -> Result<()> {
    let conn = pool.get().await?;
    let config = pool.config();
    config
        .dialect()
        .check_server(&ServerSession::new(&conn, config))
        .await
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
