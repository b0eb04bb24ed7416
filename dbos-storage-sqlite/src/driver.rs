//! [`SqliteDriver`]: how `dbos_storage::connect` opens SQLite URLs.

use std::sync::Arc;

use async_trait::async_trait;
use dbos_storage_core::{AppStore, DatabaseUrl, DbosConfig, Driver, Result, SystemStore};

use crate::app::SqliteAppStore;
use crate::config::SqliteConfig;
use crate::error::BACKEND;
use crate::store::SqliteStore;

/// The URL schemes the SQLite driver serves.
pub const SCHEMES: &[&str] = &["sqlite"];

/// The SQLite [`Driver`]: opens `sqlite:` URLs as system stores ([`SqliteStore`]) and
/// application stores ([`SqliteAppStore`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDriver;

impl SqliteDriver {
    /// The driver (it has no state; register one with the facade's driver registry).
    pub const fn new() -> Self {
        SqliteDriver
    }
}

#[async_trait]
impl Driver for SqliteDriver {
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
        let config = SqliteConfig::from_config(config, url)?;
        Ok(Arc::new(SqliteStore::open(config).await?))
    }

    async fn open_app(&self, config: &DbosConfig, url: &DatabaseUrl) -> Result<Arc<dyn AppStore>> {
        let config = SqliteConfig::from_config(config, url)?;
        Ok(Arc::new(SqliteAppStore::open_config(&config).await?))
    }
}
