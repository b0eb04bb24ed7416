//! [`LifecycleStore`] of [`MemoryStore`]: migration (the version only moves up), connection
//! checks, the declared capabilities and closing.

use async_trait::async_trait;
use dbos_storage_core::LifecycleStore;
use dbos_storage_core::{Capabilities, Result, SchemaVersion, DBOS_SCHEMA_VERSION};

use super::{MemoryStore, BACKEND};

#[async_trait]
impl LifecycleStore for MemoryStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> Capabilities {
        self.own_capabilities()
    }

    async fn migrate(&self) -> Result<SchemaVersion> {
        let mut state = self.open()?;
        state.schema_version = state.schema_version.max(DBOS_SCHEMA_VERSION);
        Ok(SchemaVersion::new(
            state.schema_version,
            DBOS_SCHEMA_VERSION,
        ))
    }

    async fn schema_version(&self) -> Result<SchemaVersion> {
        let state = self.open()?;
        Ok(SchemaVersion::new(
            state.schema_version,
            DBOS_SCHEMA_VERSION,
        ))
    }

    async fn check_connection(&self) -> Result<()> {
        self.open().map(drop)
    }

    async fn close(&self) -> Result<()> {
        self.lock().closed = true;
        self.bell.ring();
        Ok(())
    }
}
