//! How a backend plugs into `dbos_storage::connect`: a [`Driver`] opens stores for the URL
//! schemes it declares. The facade registers the built-in drivers; third parties register theirs
//! explicitly (no registration before `main`).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::app::AppStore;
use crate::config::DbosConfig;
use crate::error::Result;
use crate::url::DatabaseUrl;
use crate::SystemStore;

/// A backend that can open system and application stores.
#[async_trait]
pub trait Driver: Debug + Send + Sync + 'static {
    /// The backend's short name (`"sqlite"`, …).
    fn name(&self) -> &'static str;

    /// The URL schemes this driver serves (without `://`).
    fn schemes(&self) -> &'static [&'static str];

    /// Opens the system database at `url` with the settings of `config`. The store is ready to
    /// use; migrating (or verifying, when `config.run_migrations` is false) is the caller's call.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidConfig`] for settings the driver rejects,
    /// [`crate::ErrorKind::ConnectionLost`] with the real cause when the database cannot be
    /// reached.
    async fn open_system(
        &self,
        config: &DbosConfig,
        url: &DatabaseUrl,
    ) -> Result<Arc<dyn SystemStore>>;

    /// Opens the application database at `url`.
    ///
    /// # Errors
    /// As [`Driver::open_system`].
    async fn open_app(&self, config: &DbosConfig, url: &DatabaseUrl) -> Result<Arc<dyn AppStore>>;
}
