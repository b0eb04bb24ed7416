//! [`CockroachDriver`]: how `dbos_storage::connect` opens `cockroachdb://` URLs.

use std::sync::Arc;

use async_trait::async_trait;
use dbos_storage_core::{AppStore, DatabaseUrl, DbosConfig, Driver, Result, SystemStore};
use dbos_storage_postgres::PostgresStore;

use crate::config::CockroachConfig;
use crate::dialect::NAME;
use crate::store::open_app;

/// The URL schemes the CockroachDB driver serves.
pub const SCHEMES: &[&str] = &["cockroachdb", "cockroach"];

/// The CockroachDB [`Driver`]: opens `cockroachdb://` and `cockroach://` URLs.
///
/// The system store it returns is the [`PostgresStore`] in the
/// [`CockroachDialect`](crate::CockroachDialect) *without* a retry wrapper:
/// `dbos_storage::connect` wraps every system store in a
/// [`RetryingStore`](dbos_storage_core::RetryingStore) with the registry's policy, and wrapping
/// twice would multiply the attempts. Use [`crate::open_system`] to get a store that retries on
/// its own ([`crate::CockroachStore`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct CockroachDriver;

impl CockroachDriver {
    /// The driver (it has no state; register one with the facade's driver registry).
    pub const fn new() -> Self {
        CockroachDriver
    }
}

#[async_trait]
impl Driver for CockroachDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schemes(&self) -> &'static [&'static str] {
        SCHEMES
    }

    async fn open_system(
        &self,
        config: &DbosConfig,
        url: &DatabaseUrl,
    ) -> Result<Arc<dyn SystemStore>> {
        let config = CockroachConfig::system(config, url)?;
        let store = PostgresStore::open(config.postgres().clone()).await?;
        Ok(Arc::new(store))
    }

    async fn open_app(&self, config: &DbosConfig, url: &DatabaseUrl) -> Result<Arc<dyn AppStore>> {
        let config = CockroachConfig::application(config, url)?;
        Ok(Arc::new(open_app(config).await?))
    }
}
