//! [`LifecycleStore`] on PostgreSQL: migrate, version, check, capabilities and close.

use async_trait::async_trait;
use dbos_storage_core::{Capabilities, LifecycleStore, Result, SchemaVersion};

use super::{col, PostgresStore};
use crate::config::Dialect;
use crate::error::{classify, BACKEND};
use crate::migrate;

#[async_trait]
impl LifecycleStore for PostgresStore {
    fn backend(&self) -> &'static str {
        match self.config().dialect() {
            Dialect::Postgres => BACKEND,
            Dialect::Cockroach => "cockroach",
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.listen_notify = self.config().use_listen_notify();
        caps.skip_locked = true;
        caps.schemas = true;
        caps.attribute_filter = true;
        caps.multi_process = true;
        caps.durable = true;
        caps
    }

    async fn migrate(&self) -> Result<SchemaVersion> {
        self.ensure_open()?;
        migrate::migrate(self.pool()).await
    }

    async fn schema_version(&self) -> Result<SchemaVersion> {
        self.ensure_open()?;
        migrate::schema_version(self.pool()).await
    }

    async fn check_connection(&self) -> Result<()> {
        let client = self.client().await?;
        let row = client
            .query_one(self.queries().select_one.as_str(), &[])
            .await
            .map_err(classify)?;
        col::<i32>(&row, 0)?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.shut_down().await;
        Ok(())
    }
}
