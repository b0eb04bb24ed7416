//! [`LifecycleStore`] on SQLite: migrate, version, check, capabilities and close.

use async_trait::async_trait;
use dbos_storage_core::{Capabilities, LifecycleStore, Result, SchemaVersion, DBOS_SCHEMA_VERSION};

use super::SqliteStore;
use crate::error::{classify, BACKEND};
use crate::{migrate, sql};

#[async_trait]
impl LifecycleStore for SqliteStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> Capabilities {
        let file = !self.config().is_memory();
        let mut caps = Capabilities::default();
        caps.listen_notify = false;
        caps.skip_locked = false;
        caps.schemas = false;
        caps.attribute_filter = false;
        caps.multi_process = file;
        caps.durable = file;
        caps
    }

    async fn migrate(&self) -> Result<SchemaVersion> {
        let location = self.location_text();
        self.conns()
            .write(move |tx| migrate::migrate(tx, &location))
            .await
    }

    async fn schema_version(&self) -> Result<SchemaVersion> {
        self.conns()
            .read(|tx| {
                let (recorded, _) = migrate::recorded_version(tx)?;
                Ok(SchemaVersion::new(recorded, DBOS_SCHEMA_VERSION))
            })
            .await
    }

    async fn check_connection(&self) -> Result<()> {
        self.conns()
            .read(|tx| {
                tx.query_row(sql::SELECT_ONE, [], |r| r.get::<_, i64>(0))
                    .map_err(classify)?;
                Ok(())
            })
            .await
    }

    async fn close(&self) -> Result<()> {
        self.conns().close().await?;
        // Wake waiters so they notice the closed store at once.
        self.wake().notify();
        self.waiters().wake_all();
        Ok(())
    }
}
