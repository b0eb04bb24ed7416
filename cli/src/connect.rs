//! Where the command connects, and opening the system database there.
//!
//! The configuration comes from `DbosConfig` (YAML with `${VAR}` substitution, environment
//! overrides, URL parsing and validation all live in the core); this module only decides which
//! source wins and opens the driver's own store type, so that backend-specific operations
//! (`server_info`, `grant_app_role`, raw baselines) are reachable without a downcast.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dbos_storage::cockroach::CockroachConfig;
use dbos_storage::postgres::{PostgresConfig, PostgresStore};
use dbos_storage::sqlite::{SqliteConfig, SqliteStore};
use dbos_storage::{
    schema, AppStore, BackendKind, DatabaseUrl, DbosConfig, Error, Registry, RetryPolicy,
    RetryingStore, SchemaVersion, ServerInfo, SqliteLocation, SystemStore,
};

use crate::cli::Global;
use crate::error::{CliError, Secrets};

/// The application name used when no config file or `DBOS_APP_NAME` names one; the embedded
/// default database is then `sqlite:///dbos_storage.sqlite`.
pub(crate) const DEFAULT_APP_NAME: &str = "dbos-storage";

/// The config file read from the current directory when `--config` is not given.
pub(crate) const DEFAULT_CONFIG_FILE: &str = "dbos-config.yaml";

/// Builds the configuration: the config file (or defaults), then the environment, then the
/// flags. Every URL's password is registered in `secrets` before anything can fail on it.
pub(crate) fn resolve(global: &Global, secrets: &mut Secrets) -> Result<DbosConfig, CliError> {
    for url in [&global.url, &global.app_url].into_iter().flatten() {
        secrets.add_url(url);
    }
    for var in [
        "DBOS_SYSTEM_DATABASE_URL",
        "DBOS_APPLICATION_DATABASE_URL",
        "DBOS_DATABASE_URL",
    ] {
        if let Ok(url) = std::env::var(var) {
            secrets.add_url(&url);
        }
    }
    let file = config_file(global);
    let config = match &file {
        Some(path) => DbosConfig::from_yaml_file(path)?,
        None => DbosConfig::new(DEFAULT_APP_NAME),
    };
    for url in [
        &config.system_database_url,
        &config.application_database_url,
    ]
    .into_iter()
    .flatten()
    {
        secrets.add_url(url);
    }
    let mut config = config.apply_env()?;
    if let Some(url) = &global.url {
        config.system_database_url = Some(url.clone());
    }
    if let Some(url) = &global.app_url {
        config.application_database_url = Some(url.clone());
        if global.url.is_none() {
            // An explicit application URL on the command line beats a system URL from the
            // environment or the file: the system database is derived from it.
            config.system_database_url = None;
        }
    }
    if let Some(schema) = &global.schema {
        config.dbos_system_schema = schema.clone();
    }
    // The command line is short-lived: a small pool is plenty.
    if config.sys_db_pool_size.is_none() {
        config.sys_db_pool_size = Some(config.pool_size.min(8));
    }
    config.validate()?;
    Ok(config)
}

/// The config file to read: `--config`; otherwise `./dbos-config.yaml` if it exists, unless
/// `--url` or `--app-url` names the database. As with DBOS's own CLI, a URL given on the
/// command line means the project's file is not read at all, so that a file this build cannot
/// read (or whose `${VAR}`s are unset) never stops a command pointed at a database.
fn config_file(global: &Global) -> Option<PathBuf> {
    if let Some(path) = &global.config {
        return Some(path.clone());
    }
    let default = PathBuf::from(DEFAULT_CONFIG_FILE);
    if !default.is_file() {
        return None;
    }
    let named_on_command_line = global.url.is_some() || global.app_url.is_some();
    (!named_on_command_line).then_some(default)
}

/// What opening does besides connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Create the database if needed and migrate it.
    Migrate,
    /// Create the database if needed; leave the schema alone (`migrate` reads the version
    /// first, then migrates).
    Create,
    /// Require an existing database whose schema this build reads (from
    /// [`MIN_READ_SCHEMA_VERSION`](schema::MIN_READ_SCHEMA_VERSION) on; behind this build, a
    /// warning on stderr).
    Verify,
    /// Require an existing database; leave the schema alone (for `check` and `migrate`, which
    /// read the version themselves).
    Inspect,
}

/// The driver's own store, for backend-specific operations.
#[derive(Debug, Clone)]
pub(crate) enum Native {
    /// SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL, or CockroachDB (the PostgreSQL store in the CockroachDB dialect).
    Postgres(PostgresStore),
}

impl Native {
    /// What the driver knows about the server and connection.
    pub(crate) async fn server_info(&self) -> dbos_storage::Result<ServerInfo> {
        match self {
            Native::Sqlite(s) => s.server_info().await,
            Native::Postgres(s) => s.server_info().await,
        }
    }
}

/// An open system database.
#[derive(Debug)]
pub(crate) struct Db {
    /// Its URL (prints redacted).
    pub(crate) url: DatabaseUrl,
    /// The driver's store.
    pub(crate) native: Native,
    /// The same store behind the retry policy, as `dbos_storage::connect` hands it out.
    pub(crate) store: Arc<dyn SystemStore>,
}

impl Db {
    /// Closes the store.
    pub(crate) async fn close(&self) {
        let _ = self.store.close().await;
    }
}

/// Opens the system database of `config`.
pub(crate) async fn open(config: &DbosConfig, mode: Mode) -> Result<Db, CliError> {
    let url = config.system_database_url()?;
    // The facade's registry names the feature or lists the schemes for a URL it cannot serve.
    Registry::with_default_drivers().driver_for(&url)?;
    let mut config = config.clone();
    let create = matches!(mode, Mode::Migrate | Mode::Create);
    config.run_migrations = create;
    let native = match url.backend() {
        BackendKind::Sqlite => {
            let sqlite = SqliteConfig::from_config(&config, &url)?;
            if !create {
                require_file(&sqlite.location)?;
            }
            Native::Sqlite(SqliteStore::open(sqlite).await?)
        }
        BackendKind::Postgres => {
            Native::Postgres(PostgresStore::open(PostgresConfig::system(&config, &url)?).await?)
        }
        BackendKind::Cockroach => {
            let crdb = CockroachConfig::system(&config, &url)?;
            Native::Postgres(PostgresStore::open(crdb.postgres().clone()).await?)
        }
        _ => {
            return Err(Error::unsupported(format!(
                "{url}: the dbos-storage command serves only its built-in drivers"
            ))
            .into())
        }
    };
    let inner: Arc<dyn SystemStore> = match &native {
        Native::Sqlite(s) => Arc::new(s.clone()),
        Native::Postgres(s) => Arc::new(s.clone()),
    };
    let store: Arc<dyn SystemStore> = Arc::new(RetryingStore::new(inner, RetryPolicy::default()));
    let db = Db { url, native, store };
    let ready = match mode {
        Mode::Migrate => db.store.migrate().await.map(drop),
        Mode::Verify => db.store.schema_version().await.and_then(|v| verify(&db, v)),
        Mode::Create | Mode::Inspect => Ok(()),
    };
    if let Err(e) = ready {
        db.close().await;
        return Err(e.into());
    }
    Ok(db)
}

/// Opens the application database of `config`, if one is configured (`--app-url` or the config
/// file). Maintenance commands use it to clear the recorded transactions of the workflows they
/// delete, rewind or collect. Nothing is created or migrated: a SQLite file must exist, and a
/// database without `transaction_outputs` fails the command when it is first used.
pub(crate) async fn open_app(config: &DbosConfig) -> Result<Option<Arc<dyn AppStore>>, CliError> {
    let Some(url) = config.application_database_url()? else {
        return Ok(None);
    };
    if url.backend() == BackendKind::Sqlite {
        require_file(&SqliteConfig::from_config(config, &url)?.location)?;
    }
    let registry = Registry::with_default_drivers();
    let app = registry.driver_for(&url)?.open_app(config, &url).await?;
    Ok(Some(app))
}

/// Fails unless this build reads the schema: at or ahead of this build's, or behind it but at
/// or above the lowest version read (a database another DBOS SDK left at its own version,
/// such as TypeScript 5.3's 123), which is read as it is after a `warning:` line on stderr that
/// names the version and what writes lack.
fn verify(db: &Db, version: SchemaVersion) -> dbos_storage::Result<()> {
    let database = db.url.to_string();
    if let Some(refusal) = schema::read_refusal(&database, version) {
        return Err(refusal);
    }
    if let Some(warning) = schema::behind_warning(&database, version) {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// Fails when a SQLite database file does not exist (opening would create it).
fn require_file(location: &SqliteLocation) -> Result<(), CliError> {
    match location {
        SqliteLocation::File(path) if !path.exists() => Err(CliError::new(format!(
            "the SQLite database file {} does not exist: create it with `dbos-storage migrate` \
             (or pass --url)",
            show(path)
        ))),
        _ => Ok(()),
    }
}

/// A path for messages, absolute when it can be.
pub(crate) fn show(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}
