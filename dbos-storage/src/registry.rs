//! Picking a driver by URL scheme and opening the stores a [`DbosConfig`] describes.

use std::fmt;
use std::sync::Arc;

use dbos_storage_core::{
    schema, AppStore, DatabaseUrl, DbosConfig, Driver, Error, Result, RetryPolicy, RetryingStore,
    SystemStore,
};

/// The stores of one application: the system database and, when configured, the application
/// database.
#[derive(Clone)]
#[non_exhaustive]
pub struct Stores {
    /// The DBOS system database, migrated (or verified) and wrapped in the retry policy.
    pub system: Arc<dyn SystemStore>,
    /// The application database, when `application_database_url` is set.
    pub app: Option<Arc<dyn AppStore>>,
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("system", &self.system)
            .field("app", &self.app)
            .finish()
    }
}

/// Schemes of the drivers this project ships, with the feature that builds each in.
const BUILT_IN: &[(&str, &str, &str)] = &[
    ("sqlite", "sqlite", "SQLite"),
    ("postgresql", "postgres", "PostgreSQL"),
    ("postgres", "postgres", "PostgreSQL"),
    ("cockroachdb", "cockroach", "CockroachDB"),
    ("cockroach", "cockroach", "CockroachDB"),
];

/// The drivers `connect` can use, by URL scheme.
///
/// [`Registry::with_default_drivers`] holds the drivers built in by Cargo features; a third party
/// adds its own with [`Registry::register`] and connects through the registry.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    drivers: Vec<Arc<dyn Driver>>,
    retry: Option<RetryPolicy>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The drivers enabled by this build's features (`sqlite` by default, `postgres`,
    /// `cockroach`).
    pub fn with_default_drivers() -> Self {
        #[allow(unused_mut)]
        let mut registry = Self::new();
        #[cfg(feature = "sqlite")]
        registry
            .register(Arc::new(dbos_storage_sqlite::SqliteDriver::new()))
            .expect("the built-in drivers have distinct schemes");
        #[cfg(feature = "postgres")]
        registry
            .register(Arc::new(dbos_storage_postgres::PostgresDriver::new()))
            .expect("the built-in drivers have distinct schemes");
        #[cfg(feature = "cockroach")]
        registry
            .register(Arc::new(dbos_storage_cockroach::CockroachDriver::new()))
            .expect("the built-in drivers have distinct schemes");
        registry
    }

    /// Adds a driver for the schemes it declares.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) when one of its schemes is
    /// already served by another driver.
    pub fn register(&mut self, driver: Arc<dyn Driver>) -> Result<&mut Self> {
        for scheme in driver.schemes() {
            if let Some(existing) = self.find(scheme) {
                return Err(Error::invalid_config(format!(
                    "URL scheme {scheme}:// is already served by the {} driver; \
                     use a new Registry to replace it",
                    existing.name()
                )));
            }
        }
        self.drivers.push(driver);
        Ok(self)
    }

    /// Uses `policy` instead of [`RetryPolicy::default`] for the system store.
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Every scheme a registered driver serves.
    pub fn schemes(&self) -> Vec<&'static str> {
        self.drivers
            .iter()
            .flat_map(|d| d.schemes().iter().copied())
            .collect()
    }

    fn find(&self, scheme: &str) -> Option<&Arc<dyn Driver>> {
        self.drivers
            .iter()
            .find(|d| d.schemes().iter().any(|s| s.eq_ignore_ascii_case(scheme)))
    }

    /// The driver for a URL.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) naming the Cargo feature to enable
    /// for a built-in backend that this build leaves out;
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) listing the available schemes
    /// for an unknown one.
    pub fn driver_for(&self, url: &DatabaseUrl) -> Result<&Arc<dyn Driver>> {
        if let Some(driver) = self.find(url.scheme()) {
            return Ok(driver);
        }
        if let Some((_, feature, backend)) = BUILT_IN
            .iter()
            .find(|(s, _, _)| s.eq_ignore_ascii_case(url.scheme()))
        {
            return Err(Error::unsupported(format!(
                "{}:// URLs need the {backend} driver, which this build does not include: \
                 enable the `{feature}` feature of the dbos-storage crate",
                url.scheme()
            )));
        }
        Err(Error::invalid_config(format!(
            "unknown database URL scheme {}:// in {url}; available schemes: {}",
            url.scheme(),
            self.schemes()
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// Opens the stores `config` describes.
    ///
    /// # Behavior
    /// Validates the config, derives the system database URL (see
    /// [`DbosConfig::system_database_url`]), opens it with the driver for its scheme, then
    /// migrates it. With `run_migrations = false` it only verifies the schema and changes
    /// nothing: a database this build reads is accepted (current, newer, or behind but at or
    /// above [`MIN_READ_SCHEMA_VERSION`](schema::MIN_READ_SCHEMA_VERSION), as other DBOS SDKs
    /// leave them; behind, a `tracing` warning names the version and what writes lack). The
    /// application database, when configured, is opened and its `transaction_outputs` table
    /// created. The system store is wrapped in a [`RetryingStore`].
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) for an invalid config or URL
    /// (including mixed database types), the errors of [`Registry::driver_for`],
    /// [`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch) when verification finds the
    /// schema below the lowest version read (naming the tables and columns it lacks and
    /// `dbos-storage migrate`), and the driver's connection errors.
    pub async fn connect(&self, config: &DbosConfig) -> Result<Stores> {
        config.validate()?;
        let system_url = config.system_database_url()?;
        let app_url = config.application_database_url()?;
        let system_driver = self.driver_for(&system_url)?;
        let app_driver = app_url.as_ref().map(|u| self.driver_for(u)).transpose()?;

        let system = system_driver.open_system(config, &system_url).await?;
        if config.run_migrations {
            system.migrate().await?;
        } else {
            verify_schema(system.as_ref()).await?;
        }
        let system: Arc<dyn SystemStore> =
            Arc::new(RetryingStore::new(system, self.retry.unwrap_or_default()));

        let app = match (app_driver, &app_url) {
            (Some(driver), Some(url)) => {
                let app = driver.open_app(config, url).await?;
                app.migrate().await?;
                Some(app)
            }
            _ => None,
        };
        tracing::info!(system = %system_url, backend = system.backend(), "connected");
        Ok(Stores { system, app })
    }

    /// Opens and migrates the system database at `url` with default settings.
    ///
    /// # Errors
    /// As [`Registry::connect`].
    pub async fn connect_url(&self, url: &str) -> Result<Arc<dyn SystemStore>> {
        let config = DbosConfig::new("dbos-storage").with_system_database_url(url);
        Ok(self.connect(&config).await?.system)
    }
}

/// Accepts a database this build reads
/// ([`is_readable`](crate::SchemaVersion::is_readable)): current, newer, or behind but from
/// [`MIN_READ_SCHEMA_VERSION`](schema::MIN_READ_SCHEMA_VERSION) on, with a warning that names
/// what writes lack; refuses an older one naming what it lacks.
async fn verify_schema(store: &dyn SystemStore) -> Result<()> {
    let version = store.schema_version().await?;
    let database = format!("the {} system database", store.backend());
    if let Some(refusal) = schema::read_refusal(&database, version) {
        return Err(refusal.with_backend(store.backend()));
    }
    if let Some(warning) = schema::behind_warning(&database, version) {
        tracing::warn!(
            recorded = version.recorded,
            latest = version.latest,
            "{warning}"
        );
    }
    Ok(())
}

/// Opens the stores `config` describes with the drivers built into this crate.
///
/// See [`Registry::connect`].
///
/// # Errors
/// As [`Registry::connect`].
pub async fn connect(config: &DbosConfig) -> Result<Stores> {
    Registry::with_default_drivers().connect(config).await
}

/// Opens and migrates the system database at `url` with default settings and the built-in
/// drivers.
///
/// # Errors
/// As [`Registry::connect`].
pub async fn connect_url(url: &str) -> Result<Arc<dyn SystemStore>> {
    Registry::with_default_drivers().connect_url(url).await
}
