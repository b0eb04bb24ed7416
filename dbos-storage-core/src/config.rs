//! [`DbosConfig`]: the application's database configuration, mirroring DBOS's `DBOSConfig`.
//!
//! A configuration is built in code ([`DbosConfig::new`] and the `with_*` setters), loaded from
//! YAML ([`DbosConfig::from_yaml_file`], with `${VAR}` substitution), and overridden from the
//! environment ([`DbosConfig::apply_env`]). Call [`DbosConfig::validate`] once it is complete.
//! Printing a configuration never shows a password.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::url::{validate_schema_name, BackendKind, DatabaseUrl};

mod variables;
mod yaml;

/// The configuration of a DBOS application's databases.
///
/// Field defaults follow DBOS Python 3.4; two rules follow this project's database guide instead:
/// names are 3–30 characters, and the derived system database is `{app_db}_dbos`.
///
/// ```
/// # use dbos_storage_core::DbosConfig;
/// let config = DbosConfig::new("orders")
///     .with_application_database_url("postgresql://app:s3cret@localhost:5432/orders")
///     .with_pool_size(10);
/// config.validate()?;
/// assert_eq!(
///     config.system_database_url()?.to_string(),
///     "postgresql://app:***@localhost:5432/orders_dbos"
/// );
/// # Ok::<(), dbos_storage_core::Error>(())
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct DbosConfig {
    /// The application name: 3–30 characters of lowercase letters, digits, `-` and `_`.
    /// Required.
    pub name: String,
    /// The system database URL. Defaults to `None`, which derives one (see
    /// [`DbosConfig::system_database_url`]).
    pub system_database_url: Option<String>,
    /// The application database URL, for transactions. Defaults to `None` (no application
    /// database).
    pub application_database_url: Option<String>,
    /// Connections kept in each pool. Defaults to 20.
    pub pool_size: u32,
    /// Connections a pool may open beyond `pool_size` under load. Defaults to 0.
    pub max_overflow: u32,
    /// How long to wait for a free pooled connection before failing. Defaults to 30 s.
    pub pool_timeout: Duration,
    /// Whether to check a pooled connection with a round trip before handing it out. Defaults to
    /// `true`.
    pub pool_pre_ping: bool,
    /// How long to wait for a new connection to be established. Defaults to 10 s.
    pub connect_timeout: Duration,
    /// The `application_name` reported to the database server. Defaults to `"dbos_transact"`.
    pub application_name: String,
    /// Server options sent at connection start, e.g. `-c statement_timeout=30000`. Defaults to
    /// `None`.
    pub options: Option<String>,
    /// Whether to log every SQL statement. Defaults to `false`.
    pub echo: bool,
    /// Connections kept in the system database pool. Defaults to `None`, which uses `pool_size`.
    pub sys_db_pool_size: Option<u32>,
    /// How many polling reads of waits (awaiting a result, receiving, reading an event or a
    /// stream) may run at once on the system database pool, so that waiters never take every
    /// connection (PostgreSQL and CockroachDB; SQLite gates its readers at half). `Some(0)`
    /// lifts the limit. Defaults to `None`: half the system pool's connections, at least 1.
    pub sys_db_polling_concurrency: Option<u32>,
    /// How long a system database connection may sit idle inside a transaction before the
    /// server ends its session (`idle_in_transaction_session_timeout`; PostgreSQL and
    /// CockroachDB). `Some(Duration::ZERO)` sets no limit. Defaults to `None`: the driver's 60 s,
    /// unless `options` sets the server setting.
    pub sys_db_idle_transaction_timeout: Option<Duration>,
    /// The schema of the system tables (PostgreSQL and CockroachDB). Defaults to `"dbos"`.
    pub dbos_system_schema: String,
    /// Whether to wake waiters with LISTEN/NOTIFY instead of polling only. Must be `false` on
    /// CockroachDB. Defaults to `true`.
    pub use_listen_notify: bool,
    /// Whether to migrate the system database at launch. Defaults to `true`.
    pub run_migrations: bool,
    /// The id of this executor, recorded on the workflows it runs. Defaults to `"local"`;
    /// [`DbosConfig::apply_env`] reads `DBOS__VMID`.
    pub executor_id: String,
    /// The application version recorded on workflows. Defaults to `None` (computed by the
    /// runtime); [`DbosConfig::apply_env`] reads `DBOS__APPVERSION`.
    pub application_version: Option<String>,
    /// The values a config file built from unset or empty `${VAR}`s, for error messages.
    unset_variables: Vec<UnsetVariables>,
}

/// A field whose config-file value used unset or empty variables.
#[derive(Debug, Clone, PartialEq)]
struct UnsetVariables {
    /// The field.
    field: &'static str,
    /// The key path in the file.
    key: String,
    /// The variables.
    variables: Vec<String>,
    /// The value after substitution: the note applies while the field still holds it.
    value: String,
}

impl DbosConfig {
    /// A configuration named `name` with every other field at its default.
    pub fn new(name: impl Into<String>) -> Self {
        DbosConfig {
            name: name.into(),
            system_database_url: None,
            application_database_url: None,
            pool_size: 20,
            max_overflow: 0,
            pool_timeout: Duration::from_secs(30),
            pool_pre_ping: true,
            connect_timeout: Duration::from_secs(10),
            application_name: "dbos_transact".to_owned(),
            options: None,
            echo: false,
            sys_db_pool_size: None,
            sys_db_polling_concurrency: None,
            sys_db_idle_transaction_timeout: None,
            dbos_system_schema: "dbos".to_owned(),
            use_listen_notify: true,
            run_migrations: true,
            executor_id: "local".to_owned(),
            application_version: None,
            unset_variables: Vec::new(),
        }
    }

    /// Sets [`name`](Self::name).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets [`system_database_url`](Self::system_database_url).
    #[must_use]
    pub fn with_system_database_url(mut self, url: impl Into<String>) -> Self {
        self.system_database_url = Some(url.into());
        self
    }

    /// Sets [`application_database_url`](Self::application_database_url).
    #[must_use]
    pub fn with_application_database_url(mut self, url: impl Into<String>) -> Self {
        self.application_database_url = Some(url.into());
        self
    }

    /// Sets [`pool_size`](Self::pool_size).
    #[must_use]
    pub fn with_pool_size(mut self, pool_size: u32) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// Sets [`max_overflow`](Self::max_overflow).
    #[must_use]
    pub fn with_max_overflow(mut self, max_overflow: u32) -> Self {
        self.max_overflow = max_overflow;
        self
    }

    /// Sets [`pool_timeout`](Self::pool_timeout).
    #[must_use]
    pub fn with_pool_timeout(mut self, pool_timeout: Duration) -> Self {
        self.pool_timeout = pool_timeout;
        self
    }

    /// Sets [`pool_pre_ping`](Self::pool_pre_ping).
    #[must_use]
    pub fn with_pool_pre_ping(mut self, pool_pre_ping: bool) -> Self {
        self.pool_pre_ping = pool_pre_ping;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets [`application_name`](Self::application_name).
    #[must_use]
    pub fn with_application_name(mut self, application_name: impl Into<String>) -> Self {
        self.application_name = application_name.into();
        self
    }

    /// Sets [`options`](Self::options).
    #[must_use]
    pub fn with_options(mut self, options: impl Into<String>) -> Self {
        self.options = Some(options.into());
        self
    }

    /// Sets [`echo`](Self::echo).
    #[must_use]
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    /// Sets [`sys_db_pool_size`](Self::sys_db_pool_size).
    #[must_use]
    pub fn with_sys_db_pool_size(mut self, sys_db_pool_size: u32) -> Self {
        self.sys_db_pool_size = Some(sys_db_pool_size);
        self
    }

    /// Sets [`sys_db_polling_concurrency`](Self::sys_db_polling_concurrency).
    #[must_use]
    pub fn with_sys_db_polling_concurrency(mut self, polling_reads: u32) -> Self {
        self.sys_db_polling_concurrency = Some(polling_reads);
        self
    }

    /// Sets [`sys_db_idle_transaction_timeout`](Self::sys_db_idle_transaction_timeout).
    #[must_use]
    pub fn with_sys_db_idle_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.sys_db_idle_transaction_timeout = Some(timeout);
        self
    }

    /// Sets [`dbos_system_schema`](Self::dbos_system_schema).
    #[must_use]
    pub fn with_dbos_system_schema(mut self, schema: impl Into<String>) -> Self {
        self.dbos_system_schema = schema.into();
        self
    }

    /// Sets [`use_listen_notify`](Self::use_listen_notify).
    #[must_use]
    pub fn with_use_listen_notify(mut self, use_listen_notify: bool) -> Self {
        self.use_listen_notify = use_listen_notify;
        self
    }

    /// Sets [`run_migrations`](Self::run_migrations).
    #[must_use]
    pub fn with_run_migrations(mut self, run_migrations: bool) -> Self {
        self.run_migrations = run_migrations;
        self
    }

    /// Sets [`executor_id`](Self::executor_id).
    #[must_use]
    pub fn with_executor_id(mut self, executor_id: impl Into<String>) -> Self {
        self.executor_id = executor_id.into();
        self
    }

    /// Sets [`application_version`](Self::application_version).
    #[must_use]
    pub fn with_application_version(mut self, version: impl Into<String>) -> Self {
        self.application_version = Some(version.into());
        self
    }

    /// Checks the whole configuration.
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidConfig`] naming the first rule broken: the name is not
    /// 3–30 characters of `a-z 0-9 - _`; a pool size is 0; the schema name is invalid; a URL does
    /// not parse; or the system and application databases are of different types (PostgreSQL
    /// and CockroachDB count as different types).
    pub fn validate(&self) -> Result<()> {
        validate_app_name(&self.name)
            .map_err(|e| self.note_unset_variables("name", &self.name, e))?;
        if self.pool_size == 0 {
            return Err(Error::invalid_config(
                "pool_size must be at least 1 (it defaults to 20)",
            ));
        }
        if self.sys_db_pool_size == Some(0) {
            return Err(Error::invalid_config(
                "sys_db_pool_size must be at least 1 (leave it unset to use pool_size)",
            ));
        }
        validate_schema_name(&self.dbos_system_schema)?;
        let app = self.application_database_url()?;
        let sys = self.system_database_url()?;
        if let Some(app) = app {
            if !same_database_type(&sys, &app) {
                return Err(Error::invalid_config(format!(
                    "the system database ({}) and the application database ({}) must be the \
                     same database type",
                    type_name(&sys),
                    type_name(&app)
                )));
            }
        }
        Ok(())
    }

    /// The system database URL: the explicit one if set and not blank (DBOS reads an empty URL
    /// as unset); otherwise, with a PostgreSQL or
    /// CockroachDB application database `…/app`, the same server with database `app_dbos`;
    /// otherwise the application database's own URL if it is SQLite (or of an unknown scheme
    /// and without a database name); otherwise `sqlite:///{name}.sqlite`, where the name is
    /// lowercased, `-` and spaces become `_`, and a leading digit gets a `_` prefix.
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidConfig`] if a URL does not parse.
    pub fn system_database_url(&self) -> Result<DatabaseUrl> {
        if let Some(url) = non_blank(&self.system_database_url) {
            return DatabaseUrl::parse(url).map_err(|e| {
                let e = with_context("system_database_url", e);
                self.note_unset_variables("system_database_url", url, e)
            });
        }
        if let Some(app) = self.application_database_url()? {
            return Ok(match app.database() {
                Some(db) if app.backend() != BackendKind::Sqlite => {
                    app.with_database(&format!("{db}_dbos"))
                }
                _ => app,
            });
        }
        DatabaseUrl::parse(&format!(
            "sqlite:///{}.sqlite",
            sqlite_file_stem(&self.name)
        ))
    }

    /// The application database URL, if one is set and not blank.
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidConfig`] if it does not parse.
    pub fn application_database_url(&self) -> Result<Option<DatabaseUrl>> {
        non_blank(&self.application_database_url)
            .map(|url| {
                DatabaseUrl::parse(url).map_err(|e| {
                    let e = with_context("application_database_url", e);
                    self.note_unset_variables("application_database_url", url, e)
                })
            })
            .transpose()
    }

    /// Adds to `e`, an error about `field`, the unset variables the config file built its
    /// value from, while the field still holds that value.
    fn note_unset_variables(&self, field: &str, value: &str, e: Error) -> Error {
        match self
            .unset_variables
            .iter()
            .find(|u| u.field == field && u.value == value)
        {
            Some(u) => Error::new(
                e.kind(),
                format!(
                    "{} (the config file's {} uses {})",
                    e.message(),
                    u.key,
                    yaml::describe_variables(&u.variables)
                ),
            ),
            None => e,
        }
    }

    /// The size of the system database pool: `sys_db_pool_size`, else `pool_size`.
    pub fn system_pool_size(&self) -> u32 {
        self.sys_db_pool_size.unwrap_or(self.pool_size)
    }

    /// The most connections one pool may hold: `pool_size + max_overflow`.
    pub fn max_connections(&self) -> u32 {
        self.pool_size.saturating_add(self.max_overflow)
    }

    /// Loads a configuration from a YAML file; see [`from_yaml_str`](Self::from_yaml_str).
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidConfig`] if the file cannot be read or is not UTF-8
    /// (the message gives the offset of the first bad byte, never the file's content), or as
    /// [`from_yaml_str`](Self::from_yaml_str).
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<DbosConfig> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::invalid_config(format!("cannot read the config file {}", path.display()))
                .with_source(e)
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let offset = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            Error::invalid_config(format!(
                "the config file {} is not valid UTF-8 (invalid byte at offset {offset}, line \
                 {line}); save it as UTF-8",
                path.display()
            ))
        })?;
        DbosConfig::from_yaml_str(&text)
            .map_err(|e| Error::invalid_config(format!("{} ({})", e.message(), path.display())))
    }

    /// Loads a configuration from YAML text, substituting `${VAR}` from the process environment.
    ///
    /// Two key sets are understood, and may be mixed:
    ///
    /// - this crate's: the field names at the top level, except `sys_db_polling_concurrency` and
    ///   `sys_db_idle_transaction_timeout`, which only DBOS's `database` section sets; durations
    ///   are seconds (`pool_timeout: 30`, `connect_timeout: 2.5`);
    /// - DBOS Python 3.4's `dbos-config.yaml`, as its project templates write it:
    ///   `database_url` is the application database URL; `database.sys_db_pool_size`,
    ///   `database.sys_db_polling_concurrency`, `database.sys_db_idle_transaction_timeout_sec`
    ///   (zero or less: no limit, as in DBOS) and `database.db_engine_kwargs` (`pool_size`,
    ///   `max_overflow`, `pool_timeout`, `pool_pre_ping`, `echo`, and `connect_args`
    ///   `connect_timeout`, `application_name`, `options`) are read; `language`,
    ///   `runtimeConfig`, `telemetry`, `env`, `sharding`, `database.migrate`,
    ///   `database.sys_db_engine_kwargs`, `database.app_db_name`, SQLAlchemy's other engine
    ///   arguments and the driver's other
    ///   `connect_args` configure DBOS's runtime and are accepted and ignored (a debug log names
    ///   each). The keys of `database`, `runtimeConfig`, `telemetry`, `telemetry.logs` and
    ///   `telemetry.OTLPExporter` are checked.
    ///
    /// `name` is required. A null value leaves the default, and so does an empty string (DBOS
    /// reads an empty URL as unset). As in DBOS, an unset `${VAR}` reads as an empty value, with
    /// a warning log: `system_database_url: ${DBOS_SYSTEM_DATABASE_URL}` without the variable
    /// falls back to the derived URL. An error about a value built from such a variable names
    /// the key and the variable. `${DOCKER_SECRET:NAME}` reads the file `/run/secrets/NAME`
    /// without surrounding whitespace (missing: empty), as in DBOS. `$${X}` stands for a literal
    /// `${X}`; lines that are only a
    /// comment are not substituted. The result is not validated: apply overrides, then call
    /// [`validate`](Self::validate).
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidConfig`] for invalid YAML (reported by line and column,
    /// without quoting the text, which may hold a substituted password), an unknown key (named
    /// with its path, e.g. `database.pool_size`), a setting given under two keys (e.g.
    /// `pool_size` and `database.db_engine_kwargs.pool_size`), a missing or empty `name`, a
    /// malformed `${`, or a value of the wrong type.
    pub fn from_yaml_str(text: &str) -> Result<DbosConfig> {
        DbosConfig::from_yaml_str_with_env(text, |var| std::env::var(var).ok())
    }

    /// As [`from_yaml_str`](Self::from_yaml_str), looking variables up with `lookup` instead of
    /// the process environment.
    ///
    /// # Errors
    /// As [`from_yaml_str`](Self::from_yaml_str).
    pub fn from_yaml_str_with_env(
        text: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<DbosConfig> {
        yaml::load(text, &lookup)
    }

    /// Overrides fields from the process environment; see [`apply_env_with`](Self::apply_env_with).
    ///
    /// # Errors
    /// As [`apply_env_with`](Self::apply_env_with).
    pub fn apply_env(self) -> Result<Self> {
        self.apply_env_with(|var| std::env::var(var).ok())
    }

    /// Overrides fields from environment variables found by `lookup`. Unset and empty variables
    /// change nothing.
    ///
    /// | variable | field |
    /// |---|---|
    /// | `DBOS_APP_NAME` | `name` |
    /// | `DBOS_SYSTEM_DATABASE_URL` | `system_database_url` |
    /// | `DBOS_APPLICATION_DATABASE_URL` (else `DBOS_DATABASE_URL`) | `application_database_url` |
    /// | `DBOS_POOL_SIZE` | `pool_size` |
    /// | `DBOS_SYS_DB_POOL_SIZE` | `sys_db_pool_size` |
    /// | `DBOS_SYSTEM_SCHEMA` | `dbos_system_schema` |
    /// | `DBOS_USE_LISTEN_NOTIFY` (`true`/`false`/`1`/`0`) | `use_listen_notify` |
    /// | `DBOS__VMID` | `executor_id` |
    /// | `DBOS__APPVERSION` | `application_version` |
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidConfig`] naming the variable when a number or boolean
    /// does not parse.
    pub fn apply_env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |var: &str| lookup(var).filter(|v| !v.is_empty());
        if let Some(v) = get("DBOS_APP_NAME") {
            self.name = v;
        }
        if let Some(v) = get("DBOS_SYSTEM_DATABASE_URL") {
            self.system_database_url = Some(v);
        }
        if let Some(v) = get("DBOS_APPLICATION_DATABASE_URL").or_else(|| get("DBOS_DATABASE_URL")) {
            self.application_database_url = Some(v);
        }
        if let Some(v) = get("DBOS_POOL_SIZE") {
            self.pool_size = env_u32("DBOS_POOL_SIZE", &v)?;
        }
        if let Some(v) = get("DBOS_SYS_DB_POOL_SIZE") {
            self.sys_db_pool_size = Some(env_u32("DBOS_SYS_DB_POOL_SIZE", &v)?);
        }
        if let Some(v) = get("DBOS_SYSTEM_SCHEMA") {
            self.dbos_system_schema = v;
        }
        if let Some(v) = get("DBOS_USE_LISTEN_NOTIFY") {
            self.use_listen_notify = env_bool("DBOS_USE_LISTEN_NOTIFY", &v)?;
        }
        if let Some(v) = get("DBOS__VMID") {
            self.executor_id = v;
        }
        if let Some(v) = get("DBOS__APPVERSION") {
            self.application_version = Some(v);
        }
        Ok(self)
    }
}

impl fmt::Debug for DbosConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbosConfig")
            .field("name", &self.name)
            .field(
                "system_database_url",
                &self.system_database_url.as_deref().map(RedactedUrl),
            )
            .field(
                "application_database_url",
                &self.application_database_url.as_deref().map(RedactedUrl),
            )
            .field("pool_size", &self.pool_size)
            .field("max_overflow", &self.max_overflow)
            .field("pool_timeout", &self.pool_timeout)
            .field("pool_pre_ping", &self.pool_pre_ping)
            .field("connect_timeout", &self.connect_timeout)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("echo", &self.echo)
            .field("sys_db_pool_size", &self.sys_db_pool_size)
            .field(
                "sys_db_polling_concurrency",
                &self.sys_db_polling_concurrency,
            )
            .field(
                "sys_db_idle_transaction_timeout",
                &self.sys_db_idle_transaction_timeout,
            )
            .field("dbos_system_schema", &self.dbos_system_schema)
            .field("use_listen_notify", &self.use_listen_notify)
            .field("run_migrations", &self.run_migrations)
            .field("executor_id", &self.executor_id)
            .field("application_version", &self.application_version)
            .finish()
    }
}

/// Prints a URL string redacted, or `<invalid url>` if it does not parse.
struct RedactedUrl<'a>(&'a str);

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DatabaseUrl::parse(self.0) {
            Ok(url) => fmt::Debug::fmt(url.redacted(), f),
            Err(_) => f.write_str("<invalid url>"),
        }
    }
}

/// Checks an application name: 3–30 characters of `a-z 0-9 - _`.
fn validate_app_name(name: &str) -> Result<()> {
    let ok = (3..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_config(format!(
            "invalid application name {name:?}: use 3-30 characters of lowercase letters, \
             digits, - and _"
        )))
    }
}

/// The file stem of the default SQLite system database: lowercased, `-` and spaces as `_`, and a
/// `_` prefix before a leading digit.
fn sqlite_file_stem(name: &str) -> String {
    let stem: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect();
    if stem.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{stem}")
    } else {
        stem
    }
}

fn same_database_type(a: &DatabaseUrl, b: &DatabaseUrl) -> bool {
    match (a.backend(), b.backend()) {
        (BackendKind::Other, BackendKind::Other) => a.scheme() == b.scheme(),
        (x, y) => x == y,
    }
}

/// The name of a URL's database type in messages: the backend name, or the scheme when unknown.
fn type_name(url: &DatabaseUrl) -> &str {
    match url.backend() {
        BackendKind::Other => url.scheme(),
        kind => kind.name(),
    }
}

/// The URL in `field` unless it is unset or blank: DBOS reads an empty URL as "not set".
fn non_blank(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|url| !url.trim().is_empty())
}

/// Prefixes a URL error with the field it came from, keeping its kind.
fn with_context(field: &str, e: Error) -> Error {
    Error::new(e.kind(), format!("{field}: {}", e.message()))
}

fn env_u32(var: &str, value: &str) -> Result<u32> {
    value.trim().parse::<u32>().map_err(|_| {
        Error::invalid_config(format!(
            "environment variable {var} must be a whole number from 0 to {} (its value is not \
             shown: it may hold a secret set in the wrong variable)",
            u32::MAX
        ))
    })
}

fn env_bool(var: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid_config(format!(
            "environment variable {var} must be true, false, 1 or 0 (its value is not shown: \
             it may hold a secret set in the wrong variable)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::url::SqliteLocation;
    use std::collections::HashMap;
    use std::path::PathBuf;

    const PASSWORD: &str = "hunter2";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn err<T: fmt::Debug>(r: Result<T>) -> Error {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    fn ok<T>(r: Result<T>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults() {
        let c = DbosConfig::new("my-app");
        assert_eq!(c.name, "my-app");
        assert_eq!(c.pool_size, 20);
        assert_eq!(c.max_overflow, 0);
        assert_eq!(c.pool_timeout, Duration::from_secs(30));
        assert!(c.pool_pre_ping);
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.application_name, "dbos_transact");
        assert_eq!(c.options, None);
        assert!(!c.echo);
        assert_eq!(c.sys_db_pool_size, None);
        assert_eq!(c.dbos_system_schema, "dbos");
        assert!(c.use_listen_notify);
        assert!(c.run_migrations);
        assert_eq!(c.executor_id, "local");
        assert_eq!(c.application_version, None);
        assert_eq!(c.system_pool_size(), 20);
        assert_eq!(c.max_connections(), 20);
        ok(c.validate());
    }

    #[test]
    fn setters() {
        let c = DbosConfig::new("x")
            .with_name("app")
            .with_system_database_url("sqlite:///s.sqlite")
            .with_application_database_url("sqlite:///a.sqlite")
            .with_pool_size(5)
            .with_max_overflow(3)
            .with_pool_timeout(Duration::from_secs(1))
            .with_pool_pre_ping(false)
            .with_connect_timeout(Duration::from_secs(2))
            .with_application_name("n")
            .with_options("-c statement_timeout=30000")
            .with_echo(true)
            .with_sys_db_pool_size(7)
            .with_dbos_system_schema("s")
            .with_use_listen_notify(false)
            .with_run_migrations(false)
            .with_executor_id("e")
            .with_application_version("v");
        assert_eq!(c.name, "app");
        assert_eq!(c.system_database_url.as_deref(), Some("sqlite:///s.sqlite"));
        assert_eq!(
            c.application_database_url.as_deref(),
            Some("sqlite:///a.sqlite")
        );
        assert_eq!((c.pool_size, c.max_overflow), (5, 3));
        assert_eq!(c.pool_timeout, Duration::from_secs(1));
        assert!(!c.pool_pre_ping);
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.application_name, "n");
        assert_eq!(c.options.as_deref(), Some("-c statement_timeout=30000"));
        assert!(c.echo);
        assert_eq!(c.system_pool_size(), 7);
        assert_eq!(c.max_connections(), 8);
        assert_eq!(c.dbos_system_schema, "s");
        assert!(!c.use_listen_notify);
        assert!(!c.run_migrations);
        assert_eq!(c.executor_id, "e");
        assert_eq!(c.application_version.as_deref(), Some("v"));
        ok(c.validate());
    }

    #[test]
    fn name_rules() {
        for good in ["abc", "my-app_2", "0ab", &"a".repeat(30)] {
            ok(DbosConfig::new(good).validate());
        }
        for bad in [
            "ab",
            "",
            "MyApp",
            "my app",
            "app!",
            "é-app",
            &"a".repeat(31),
        ] {
            let e = err(DbosConfig::new(bad).validate());
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert_eq!(
                e.message(),
                format!(
                    "invalid application name {bad:?}: use 3-30 characters of lowercase \
                     letters, digits, - and _"
                )
            );
        }
    }

    #[test]
    fn pool_and_schema_rules() {
        let e = err(DbosConfig::new("app").with_pool_size(0).validate());
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("pool_size"), "{e}");
        let e = err(DbosConfig::new("app").with_sys_db_pool_size(0).validate());
        assert!(e.message().contains("sys_db_pool_size"), "{e}");
        let e = err(DbosConfig::new("app")
            .with_dbos_system_schema("dbos; DROP TABLE x")
            .validate());
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().starts_with("invalid schema name"), "{e}");
    }

    #[test]
    fn urls_must_parse() {
        let e = err(DbosConfig::new("app")
            .with_system_database_url("postgres://u:hunter2@h:bad/db")
            .validate());
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().starts_with("system_database_url: "), "{e}");
        assert!(!e.to_string().contains(PASSWORD), "{e}");
        let e = err(DbosConfig::new("app")
            .with_application_database_url("nonsense")
            .validate());
        assert!(e.message().starts_with("application_database_url: "), "{e}");
    }

    #[test]
    fn same_database_type_required() {
        let e = err(DbosConfig::new("app")
            .with_system_database_url("sqlite:///s.sqlite")
            .with_application_database_url("postgres://localhost/app")
            .validate());
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert_eq!(
            e.message(),
            "the system database (sqlite) and the application database (postgres) must be the \
             same database type"
        );
        let e = err(DbosConfig::new("app")
            .with_system_database_url("cockroachdb://localhost/s")
            .with_application_database_url("postgresql://localhost/app")
            .validate());
        assert!(e.message().contains("(cockroach)"), "{e}");
        ok(DbosConfig::new("app")
            .with_system_database_url("postgres://other/s")
            .with_application_database_url("postgresql://localhost/app")
            .validate());
    }

    #[test]
    fn system_url_derivation() {
        let sys = ok(DbosConfig::new("My-App 1").system_database_url());
        assert_eq!(sys.expose_secret(), "sqlite:///my_app_1.sqlite");
        let sys = ok(DbosConfig::new("1app").system_database_url());
        assert_eq!(sys.expose_secret(), "sqlite:///_1app.sqlite");
        assert_eq!(
            sys.sqlite_location(),
            Some(SqliteLocation::File(PathBuf::from("_1app.sqlite")))
        );

        let c = DbosConfig::new("app")
            .with_application_database_url("postgresql://u:hunter2@db:5433/orders?sslmode=require");
        let sys = ok(c.system_database_url());
        assert_eq!(
            sys.expose_secret(),
            "postgresql://u:hunter2@db:5433/orders_dbos?sslmode=require"
        );
        ok(c.validate());

        let c = DbosConfig::new("app").with_application_database_url("cockroachdb://root@h/app");
        assert_eq!(
            ok(c.system_database_url()).expose_secret(),
            "cockroachdb://root@h/app_dbos"
        );

        let c = DbosConfig::new("app").with_application_database_url("sqlite:///app.sqlite");
        assert_eq!(
            ok(c.system_database_url()).expose_secret(),
            "sqlite:///app.sqlite"
        );

        let c = DbosConfig::new("app")
            .with_application_database_url("postgres://h/app")
            .with_system_database_url("postgres://h/explicit");
        assert_eq!(ok(c.system_database_url()).database(), Some("explicit"));
        assert_eq!(
            ok(c.application_database_url()).map(|u| u.port()),
            Some(5432)
        );
        assert!(ok(DbosConfig::new("app").application_database_url()).is_none());
    }

    #[test]
    fn debug_never_shows_passwords() {
        let c = DbosConfig::new("app")
            .with_system_database_url("postgresql://u:hunter2@db/sys?password=hunter2")
            .with_application_database_url("postgresql://u:hunter2@db/app");
        let shown = format!("{c:?}");
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(shown.contains("postgresql://u:***@db/app"), "{shown}");

        let c = DbosConfig::new("app")
            .with_system_database_url("postgres://u:hunter2@h:bad/db")
            .with_application_database_url("u:hunter2");
        let shown = format!("{c:#?}");
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(shown.contains("<invalid url>"), "{shown}");
    }

    #[test]
    fn yaml_full() {
        let yaml = "\
# a comment with ${NOT_SET}
name: my-app
system_database_url: postgresql://postgres:${DB_PASSWORD}@localhost:5432/my_app_dbos
application_database_url: postgresql://postgres:${DB_PASSWORD}@localhost:5432/my_app
pool_size: 7
max_overflow: 2
pool_timeout: 2.5
pool_pre_ping: false
connect_timeout: 3
application_name: custom
options: -c statement_timeout=30000
echo: true
sys_db_pool_size: 4
dbos_system_schema: dbos_sys
use_listen_notify: false
run_migrations: false
executor_id: exec-1
application_version: \"1.0\"
";
        let c = ok(DbosConfig::from_yaml_str_with_env(
            yaml,
            env(&[("DB_PASSWORD", PASSWORD)]),
        ));
        assert_eq!(c.name, "my-app");
        let sys = ok(c.system_database_url());
        assert_eq!(sys.password(), Some(PASSWORD));
        assert_eq!(sys.database(), Some("my_app_dbos"));
        assert_eq!(
            ok(c.application_database_url()).and_then(|u| u.database().map(str::to_owned)),
            Some("my_app".to_owned())
        );
        assert_eq!((c.pool_size, c.max_overflow), (7, 2));
        assert_eq!(c.pool_timeout, Duration::from_millis(2500));
        assert!(!c.pool_pre_ping);
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.application_name, "custom");
        assert_eq!(c.options.as_deref(), Some("-c statement_timeout=30000"));
        assert!(c.echo);
        assert_eq!(c.sys_db_pool_size, Some(4));
        assert_eq!(c.dbos_system_schema, "dbos_sys");
        assert!(!c.use_listen_notify);
        assert!(!c.run_migrations);
        assert_eq!(c.executor_id, "exec-1");
        assert_eq!(c.application_version.as_deref(), Some("1.0"));
        ok(c.validate());
        assert!(!format!("{c:?}").contains(PASSWORD));
    }

    #[test]
    fn yaml_minimal_and_nulls() {
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: app\nsystem_database_url:\noptions: ~\n",
            env(&[]),
        ));
        assert_eq!(c, DbosConfig::new("app"));
    }

    #[test]
    fn yaml_unset_variable_reads_as_empty() {
        // As in DBOS: the unset URL is "not set", so the system database is derived.
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: my-app\nsystem_database_url: ${DBOS_SYSTEM_DATABASE_URL}\n",
            env(&[]),
        ));
        assert_eq!(c.system_database_url, None);
        assert_eq!(
            ok(c.system_database_url()).expose_secret(),
            "sqlite:///my_app.sqlite"
        );
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: my-app\nsystem_database_url: \"${DBOS_SYSTEM_DATABASE_URL}\"\n",
            env(&[("DBOS_SYSTEM_DATABASE_URL", "")]),
        ));
        assert_eq!(
            ok(c.system_database_url()).expose_secret(),
            "sqlite:///my_app.sqlite"
        );

        // A value that stays a URL is used as it reads; where it breaks, the error names the
        // key and the variable.
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: app\nsystem_database_url: postgres://u:${DB_PASSWORD}@h/db\n",
            env(&[]),
        ));
        assert_eq!(ok(c.system_database_url()).password(), None);
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: app\ndatabase_url: postgresql://u:hunter2@${DB_HOST}/${DB_NAME}\n",
            env(&[]),
        ));
        let e = err(c.validate());
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().starts_with("application_database_url: "), "{e}");
        assert!(
            e.message().ends_with(
                "(the config file's database_url uses ${DB_HOST} and ${DB_NAME}, which are not \
                 set or empty)"
            ),
            "{e}"
        );
        assert!(!e.to_string().contains(PASSWORD), "{e}");
        // Once the field is set otherwise, the note no longer applies.
        let e = err(c
            .clone()
            .with_application_database_url("postgresql://h:bad/app")
            .validate());
        assert!(!e.message().contains("DB_HOST"), "{e}");

        // The name is required: empty, it is an error naming the variable.
        let e = err(DbosConfig::from_yaml_str_with_env(
            "name: ${APP_NAME}\n",
            env(&[]),
        ));
        assert_eq!(
            e.message(),
            "the config file's name is empty: it is set from ${APP_NAME}, which is not set or \
             empty"
        );
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: a${SUFFIX}\n",
            env(&[]),
        ));
        let e = err(c.validate());
        assert!(e.message().starts_with("invalid application name"), "{e}");
        assert!(
            e.message()
                .ends_with("(the config file's name uses ${SUFFIX}, which is not set or empty)"),
            "{e}"
        );

        // Numbers, booleans and strings left empty keep their defaults.
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: app\npool_size: ${POOL}\necho: ${ECHO}\ndbos_system_schema: ${SCHEMA}\n\
             database:\n  sys_db_pool_size: ${SYS_POOL}\n",
            env(&[]),
        ));
        assert_eq!(c, DbosConfig::new("app"));
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: app\npool_size: ${POOL}\n",
            env(&[("POOL", "7")]),
        ));
        assert_eq!(c.pool_size, 7);
    }

    #[test]
    fn yaml_escape_and_dollars() {
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: app\noptions: \"$${X} $5 $ ${Y}\"\n",
            env(&[("Y", "y"), ("X", "no")]),
        ));
        assert_eq!(c.options.as_deref(), Some("${X} $5 $ y"));
        let e = err(DbosConfig::from_yaml_str_with_env(
            "name: app\noptions: ${X\n",
            env(&[]),
        ));
        assert!(e.message().contains("unterminated"), "{e}");
        assert!(e.message().contains("line 2"), "{e}");
        let e = err(DbosConfig::from_yaml_str_with_env(
            "name: app\noptions: ${A B}\n",
            env(&[]),
        ));
        assert!(e.message().contains("invalid environment variable"), "{e}");
    }

    #[test]
    fn yaml_unknown_key() {
        let e = err(DbosConfig::from_yaml_str_with_env(
            "name: app\ndatabase_urll: x\n",
            env(&[]),
        ));
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(
            e.message().starts_with("unknown key \"database_urll\""),
            "{e}"
        );
        // Even with an empty value.
        let e = err(DbosConfig::from_yaml_str_with_env(
            "name: app\nbogus:\n",
            env(&[]),
        ));
        assert!(e.message().starts_with("unknown key \"bogus\""), "{e}");
        // Inside DBOS's sections, the full path is named.
        for (yaml, path) in [
            (
                "database:\n  sys_db_pool_sise: 3\n",
                "database.sys_db_pool_sise",
            ),
            ("runtimeConfig:\n  strat: [x]\n", "runtimeConfig.strat"),
            (
                "telemetry:\n  logs:\n    level: DEBUG\n",
                "telemetry.logs.level",
            ),
            (
                "telemetry:\n  OTLPExporter:\n    endpoint: x\n",
                "telemetry.OTLPExporter.endpoint",
            ),
        ] {
            let e = err(DbosConfig::from_yaml_str_with_env(
                &format!("name: app\n{yaml}"),
                env(&[]),
            ));
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(
                e.message().starts_with(&format!("unknown key \"{path}\"")),
                "{yaml}: {e}"
            );
        }
        let e = err(DbosConfig::from_yaml_str_with_env(
            "name: app\ndatabase: [1]\n",
            env(&[]),
        ));
        assert_eq!(
            e.message(),
            "config key database must be a mapping of keys to values"
        );
    }

    #[test]
    fn yaml_dbos_system_pool_tuning() {
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: app\ndatabase:\n  sys_db_polling_concurrency: 3\n  \
             sys_db_idle_transaction_timeout_sec: 2.5\n",
            env(&[]),
        ));
        assert_eq!(c.sys_db_polling_concurrency, Some(3));
        assert_eq!(
            c.sys_db_idle_transaction_timeout,
            Some(Duration::from_millis(2500))
        );
        // As in DBOS, zero or less means no limit.
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: app\ndatabase:\n  sys_db_polling_concurrency: -1\n  \
             sys_db_idle_transaction_timeout_sec: -5\n",
            env(&[]),
        ));
        assert_eq!(c.sys_db_polling_concurrency, Some(0));
        assert_eq!(c.sys_db_idle_transaction_timeout, Some(Duration::ZERO));
        for (yaml, needle) in [
            (
                "database:\n  sys_db_idle_transaction_timeout_sec: .nan\n",
                "config key database.sys_db_idle_transaction_timeout_sec must be a finite number",
            ),
            (
                "database:\n  sys_db_idle_transaction_timeout_sec: .inf\n",
                "config key database.sys_db_idle_transaction_timeout_sec must be a finite number",
            ),
            (
                "database:\n  sys_db_polling_concurrency: 1.5\n",
                "config key database.sys_db_polling_concurrency must be a whole number",
            ),
            (
                "database:\n  sys_db_pool_size: many\n",
                "config key database.sys_db_pool_size must be a whole number",
            ),
            (
                "database:\n  db_engine_kwargs:\n    pool_timeout: soon\n",
                "config key database.db_engine_kwargs.pool_timeout must be a number of seconds",
            ),
            (
                "database:\n  db_engine_kwargs:\n    connect_args:\n      connect_timeout: x\n",
                "config key database.db_engine_kwargs.connect_args.connect_timeout must be",
            ),
            (
                "database:\n  db_engine_kwargs: 3\n",
                "config key database.db_engine_kwargs must be a mapping",
            ),
            (
                "sys_db_pool_size: 2\ndatabase:\n  sys_db_pool_size: 3\n",
                "sets sys_db_pool_size twice, with sys_db_pool_size and database.sys_db_pool_size",
            ),
            (
                "application_database_url: sqlite:///a.sqlite\ndatabase_url: sqlite:///b.sqlite\n",
                "sets application_database_url twice, with application_database_url and \
                 database_url",
            ),
        ] {
            let e = err(DbosConfig::from_yaml_str_with_env(
                &format!("name: app\n{yaml}"),
                env(&[]),
            ));
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(e.message().contains(needle), "{yaml}: {e}");
        }
    }

    #[test]
    fn yaml_dbos_engine_kwargs_and_ignored_sections() {
        let c = ok(DbosConfig::from_yaml_str_with_env(
            "name: app\nlanguage: node\ndatabase_url: postgresql+psycopg://h/app\n\
             database:\n  db_engine_kwargs:\n    pool_size: 4\n    max_overflow: 1\n    \
             pool_timeout: 9\n    pool_pre_ping: false\n    echo: true\n    poolclass: x\n    \
             connect_args:\n      connect_timeout: 3\n      application_name: svc\n      \
             options: -c statement_timeout=100\n      sslmode: require\n  \
             sys_db_engine_kwargs: {pool_size: 1}\n  migrate: [a]\n  app_db_name: x\n\
             runtimeConfig: ~\ntelemetry:\n  logs: ~\nenv: {A: b}\nsharding: [1, 2]\n",
            env(&[]),
        ));
        assert_eq!((c.pool_size, c.max_overflow), (4, 1));
        assert_eq!(c.pool_timeout, Duration::from_secs(9));
        assert!(!c.pool_pre_ping);
        assert!(c.echo);
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.application_name, "svc");
        assert_eq!(c.options.as_deref(), Some("-c statement_timeout=100"));
        assert_eq!(
            c.application_database_url.as_deref(),
            Some("postgresql+psycopg://h/app")
        );
        assert_eq!(
            ok(c.system_database_url()).expose_secret(),
            "postgresql+psycopg://h/app_dbos"
        );
        ok(c.validate());
    }

    #[test]
    fn yaml_errors_do_not_echo_values() {
        let lookup = env(&[("P", PASSWORD)]);
        for yaml in [
            "name: app\npool_size: ${P}\n",
            "name: app\npool_timeout: ${P}\n",
            "name: app\necho: ${P}\n",
            "name: [${P}\n",
            "name: app\n  bad: - ${P}: [\n",
            "name: app\nsystem_database_url: \"${P}\n",
            "name: app\napplication_name: [${P}]\n",
            "- ${P}\n",
        ] {
            let e = err(DbosConfig::from_yaml_str_with_env(yaml, &lookup));
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(PASSWORD), "{yaml}: {shown}");
        }
        let e = err(DbosConfig::from_yaml_str_with_env("name: [${P}\n", &lookup));
        assert!(e.message().contains("not valid YAML at line"), "{e}");
        let e = err(DbosConfig::from_yaml_str_with_env(
            "name: app\npool_size: ${P}\n",
            &lookup,
        ));
        assert!(e.message().contains("pool_size"), "{e}");
    }

    #[test]
    fn yaml_type_errors() {
        let cases = [
            ("name: app\npool_size: -1\n", "pool_size"),
            ("name: app\npool_size: 1.5\n", "pool_size"),
            ("name: app\npool_timeout: -1\n", "pool_timeout"),
            ("name: app\necho: yes\n", "echo"),
            ("name: 12\n", "name"),
            ("pool_size: 3\n", "must set name"),
            ("", "empty"),
            ("[1, 2]\n", "mapping"),
        ];
        for (yaml, needle) in cases {
            let e = err(DbosConfig::from_yaml_str_with_env(yaml, env(&[])));
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(e.message().contains(needle), "{yaml}: {e}");
        }
    }

    #[test]
    fn yaml_file() {
        let dir = std::env::temp_dir().join(format!("dbos-config-test-{}", std::process::id()));
        ok(std::fs::create_dir_all(&dir).map_err(|e| Error::invalid_config(e.to_string())));
        let path = dir.join("dbos-config.yaml");
        ok(std::fs::write(&path, "name: app\npool_size: 3\n")
            .map_err(|e| Error::invalid_config(e.to_string())));
        let c = ok(DbosConfig::from_yaml_file(&path));
        assert_eq!(c.pool_size, 3);
        let e = err(DbosConfig::from_yaml_file(dir.join("missing.yaml")));
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("missing.yaml"), "{e}");
        let latin1 = dir.join("latin1.yaml");
        ok(std::fs::write(&latin1, b"name: app\noptions: caf\xe9\n")
            .map_err(|e| Error::invalid_config(e.to_string())));
        let e = err(DbosConfig::from_yaml_file(&latin1));
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(
            e.message().ends_with(
                "latin1.yaml is not valid UTF-8 (invalid byte at offset 22, line 2); save it as \
                 UTF-8"
            ),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn env_overrides() {
        let c = ok(DbosConfig::new("app").apply_env_with(env(&[
            ("DBOS_APP_NAME", "cloud-app"),
            ("DBOS_SYSTEM_DATABASE_URL", "postgres://h/sys"),
            ("DBOS_DATABASE_URL", "postgres://h/alias"),
            ("DBOS_POOL_SIZE", "9"),
            ("DBOS_SYS_DB_POOL_SIZE", "4"),
            ("DBOS_SYSTEM_SCHEMA", "other"),
            ("DBOS_USE_LISTEN_NOTIFY", "0"),
            ("DBOS__VMID", "vm-7"),
            ("DBOS__APPVERSION", "abc123"),
        ])));
        assert_eq!(c.name, "cloud-app");
        assert_eq!(c.system_database_url.as_deref(), Some("postgres://h/sys"));
        assert_eq!(
            c.application_database_url.as_deref(),
            Some("postgres://h/alias")
        );
        assert_eq!(c.pool_size, 9);
        assert_eq!(c.sys_db_pool_size, Some(4));
        assert_eq!(c.dbos_system_schema, "other");
        assert!(!c.use_listen_notify);
        assert_eq!(c.executor_id, "vm-7");
        assert_eq!(c.application_version.as_deref(), Some("abc123"));

        let c = ok(DbosConfig::new("app").apply_env_with(env(&[
            ("DBOS_APPLICATION_DATABASE_URL", "postgres://h/main"),
            ("DBOS_DATABASE_URL", "postgres://h/alias"),
            ("DBOS_USE_LISTEN_NOTIFY", "TRUE"),
            ("DBOS__VMID", ""),
        ])));
        assert_eq!(
            c.application_database_url.as_deref(),
            Some("postgres://h/main")
        );
        assert!(c.use_listen_notify);
        assert_eq!(c.executor_id, "local");

        let unchanged = ok(DbosConfig::new("app").apply_env_with(env(&[])));
        assert_eq!(unchanged, DbosConfig::new("app"));
    }

    #[test]
    fn env_override_errors_name_the_variable() {
        for (var, value) in [
            ("DBOS_POOL_SIZE", "twenty"),
            ("DBOS_POOL_SIZE", "-1"),
            ("DBOS_SYS_DB_POOL_SIZE", "1.5"),
            ("DBOS_USE_LISTEN_NOTIFY", "maybe"),
        ] {
            let e = err(DbosConfig::new("app").apply_env_with(env(&[(var, value)])));
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(e.message().contains(var), "{e}");
            assert!(!e.to_string().contains(value), "values are not echoed: {e}");
        }
    }
}
