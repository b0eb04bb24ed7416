//! [`PostgresConfig`]: the settings of one PostgreSQL pool, from a [`DbosConfig`] and a URL.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::url::validate_schema_name;
use dbos_storage_core::{DatabaseUrl, DbosConfig, Error, Result};
use tokio_postgres::config::{
    ChannelBinding, LoadBalanceHosts, SslNegotiation, TargetSessionAttrs,
};

use crate::dialect::{Dialect, PostgresDialect, UrlScheme};
use crate::tls::TlsSettings;

/// The user name used when the URL names none (libpq would use the operating-system user).
pub(crate) const DEFAULT_USER: &str = "postgres";

/// How often waits re-check the database while a proven listener delivers wake-ups, by
/// default (DBOS's fallback re-check).
pub(crate) const DEFAULT_LISTENER_RECHECK: Duration = Duration::from_secs(60);

/// How long after a connection went back to the pool healthy it is handed out without a
/// `pool_pre_ping` health check, by default (HikariCP's `aliveBypassWindowMs`).
pub(crate) const DEFAULT_PRE_PING_WINDOW: Duration = Duration::from_millis(500);

/// The URL keys of this driver's own (not libpq's).
const DRIVER_KEYS: &[&str] = &["pool_pre_ping_window"];

/// The server setting the driver sets on every new connection unless the user's `options` set it:
/// a session idle inside a transaction for a minute is ended by the server.
pub(crate) const IDLE_IN_TRANSACTION_SETTING: &str = "idle_in_transaction_session_timeout";

/// The `idle_in_transaction_session_timeout` set on every connection unless the configuration's
/// `sys_db_idle_transaction_timeout` (system database) or `options` say otherwise.
const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest `idle_in_transaction_session_timeout` PostgreSQL accepts, in milliseconds
/// (`i32::MAX`, about 24.8 days); a longer configured timeout is set as this.
const MAX_IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = i32::MAX as u64;

/// The libpq keys passed on to tokio-postgres (besides the TLS keys, handled by
/// [`TlsSettings`]).
const PASSED_KEYS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "options",
    "application_name",
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "tcp_user_timeout",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "sslnegotiation",
];

/// Which database a pool serves: the sizes and names in messages differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The DBOS system database (`sys_db_pool_size`).
    System,
    /// The application database (`pool_size`).
    Application,
}

/// The settings of one PostgreSQL connection pool.
///
/// Built from a [`DbosConfig`] and the database's URL with [`PostgresConfig::system`] (the
/// system database) or [`PostgresConfig::application`], or from a URL alone with
/// [`str::parse`]. `Debug` never shows the password.
///
/// The URL accepts libpq's keys: `sslmode`, `sslrootcert`, `sslcert`, `sslkey` (see the crate
/// documentation for what each `sslmode` verifies), `connect_timeout`, `keepalives`,
/// `keepalives_idle`, `keepalives_interval`, `keepalives_retries`, `tcp_user_timeout`,
/// `target_session_attrs`, `channel_binding`, `load_balance_hosts`, `sslnegotiation`,
/// `options`, `application_name`, `host`, `hostaddr`, `port`, `user`, `password` and `dbname`;
/// and the driver's own `pool_pre_ping_window` (milliseconds, see
/// [`pool_pre_ping_window`](Self::pool_pre_ping_window)). Any other key is refused.
///
/// Unless the URL sets `tcp_user_timeout`, the connections carry one equal to
/// `connect_timeout` (none when `connect_timeout` is zero): on Linux, data the server has not
/// acknowledged for that long ends the connection, so a statement sent to a server that went
/// silent fails as a lost connection instead of waiting for the operating system's
/// retransmission limit (about 15 minutes).
#[derive(Clone)]
pub struct PostgresConfig {
    /// The URL, for messages (prints redacted).
    pub(crate) url: DatabaseUrl,
    /// The connection settings given to tokio-postgres (without any TLS key of ours).
    pub(crate) pg: tokio_postgres::Config,
    /// `sslmode` and the certificates.
    pub(crate) tls: TlsSettings,
    /// The role of the pool.
    pub(crate) role: Role,
    /// The schema of the system tables, validated (unquoted).
    pub(crate) schema: String,
    /// The pool's base size (`pool_size` or `sys_db_pool_size`), for messages.
    pub(crate) pool_size: u32,
    /// `max_overflow`.
    pub(crate) max_overflow: u32,
    /// How long `get` waits for a connection.
    pub(crate) pool_timeout: Duration,
    /// Check a connection with a round trip before handing it out.
    pub(crate) pool_pre_ping: bool,
    /// Skip that check for a connection returned healthy less than this long ago (zero:
    /// always check).
    pub(crate) pool_pre_ping_window: Duration,
    /// How long to wait for a new connection.
    pub(crate) connect_timeout: Duration,
    /// Log every statement.
    pub(crate) echo: bool,
    /// Whether the system database uses LISTEN/NOTIFY (and has the notification trigger).
    pub(crate) use_listen_notify: bool,
    /// How often waits re-check the database while a proven listener delivers wake-ups (at
    /// least their own poll interval).
    pub(crate) listener_recheck: Duration,
    /// The `idle_in_transaction_session_timeout` the driver sets on new connections, in
    /// milliseconds (0: no limit): `sys_db_idle_transaction_timeout` for the system database,
    /// else 60 s; `None` when the user's `options` set it.
    pub(crate) idle_in_transaction_timeout_ms: Option<u64>,
    /// How many polling reads of waits may run at once: `sys_db_polling_concurrency` for the
    /// system database (0: the whole pool), else half the pool, at least 1.
    pub(crate) polling_concurrency: usize,
    /// The dialect's [`Dialect::default_settings`] (and, for the system database,
    /// [`Dialect::system_settings`]) that the user's `options` do not set.
    pub(crate) session_defaults: Vec<(&'static str, &'static str)>,
    /// What the server's dialect decides (PostgreSQL unless built with another).
    pub(crate) dialect: Arc<dyn Dialect>,
    /// Whether opening creates the database when it does not exist: always for the application
    /// database, and for the system database unless `run_migrations` is off (verify mode only
    /// reads, so a missing database is reported instead of created empty).
    pub(crate) create_database: bool,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.url.to_string())
            .field("role", &self.role)
            .field("schema", &self.schema)
            .field("sslmode", &self.tls.mode_name())
            .field("max_connections", &self.max_size())
            .field("pool_timeout", &self.pool_timeout)
            .field("pool_pre_ping", &self.pool_pre_ping)
            .field("pool_pre_ping_window", &self.pool_pre_ping_window)
            .field("connect_timeout", &self.connect_timeout)
            .field("application_name", &self.pg.get_application_name())
            .field("echo", &self.echo)
            .field("use_listen_notify", &self.use_listen_notify)
            .field("listener_recheck", &self.listener_recheck)
            .field("dialect", &self.dialect.name())
            .field("create_database", &self.create_database)
            .finish_non_exhaustive()
    }
}

impl PostgresConfig {
    /// The settings of the system database pool: `sys_db_pool_size` (else `pool_size`) plus
    /// `max_overflow` connections, the schema `dbos_system_schema`.
    ///
    /// # Errors
    /// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for a URL that is not a
    /// PostgreSQL URL, an unknown or malformed query key, an invalid schema name or pool size;
    /// [`Unsupported`](dbos_storage_core::ErrorKind::Unsupported) for `sslpassword` and
    /// `sslcrl`.
    pub fn system(config: &DbosConfig, url: &DatabaseUrl) -> Result<PostgresConfig> {
        Self::build(config, url, Role::System)
    }

    /// The settings of the application database pool: `pool_size` plus `max_overflow`
    /// connections.
    ///
    /// # Errors
    /// As [`PostgresConfig::system`].
    pub fn application(config: &DbosConfig, url: &DatabaseUrl) -> Result<PostgresConfig> {
        Self::build(config, url, Role::Application)
    }

    /// The settings of a URL with every other setting at its DBOS default (for the system
    /// database).
    ///
    /// # Errors
    /// As [`PostgresConfig::system`].
    pub fn from_url(url: &DatabaseUrl) -> Result<PostgresConfig> {
        Self::system(&DbosConfig::new("dbos"), url)
    }

    /// The settings of the system database pool in `dialect` (see [`Dialect`]): as
    /// [`PostgresConfig::system`], reading the URL schemes of the dialect, and with
    /// LISTEN/NOTIFY off when the dialect has none.
    ///
    /// # Errors
    /// As [`PostgresConfig::system`]; [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig)
    /// for a URL scheme the dialect does not list.
    pub fn system_in(
        dialect: Arc<dyn Dialect>,
        config: &DbosConfig,
        url: &DatabaseUrl,
    ) -> Result<PostgresConfig> {
        Self::build_in(config, url, Role::System, dialect)
    }

    /// The settings of the application database pool in `dialect`; see
    /// [`PostgresConfig::system_in`].
    ///
    /// # Errors
    /// As [`PostgresConfig::system_in`].
    pub fn application_in(
        dialect: Arc<dyn Dialect>,
        config: &DbosConfig,
        url: &DatabaseUrl,
    ) -> Result<PostgresConfig> {
        Self::build_in(config, url, Role::Application, dialect)
    }

    /// The connection settings handed to tokio-postgres: user, database, hosts, ports,
    /// timeouts, keepalives, `application_name`, `options` and the `sslmode` it attempts, as
    /// read from the URL and the [`DbosConfig`] (the TLS verification policy is not in it).
    pub fn connection_settings(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    /// The dialect the stores opened with these settings speak ([`PostgresDialect`] unless
    /// built with [`PostgresConfig::system_in`] or [`PostgresConfig::application_in`]).
    pub fn dialect(&self) -> &dyn Dialect {
        self.dialect.as_ref()
    }

    fn build(config: &DbosConfig, url: &DatabaseUrl, role: Role) -> Result<PostgresConfig> {
        Self::build_in(config, url, role, PostgresDialect::shared())
    }

    fn build_in(
        config: &DbosConfig,
        url: &DatabaseUrl,
        role: Role,
        dialect: Arc<dyn Dialect>,
    ) -> Result<PostgresConfig> {
        let scheme = accepted_scheme(dialect.as_ref(), url)?;
        validate_schema_name(&config.dbos_system_schema)?;
        let pool_size = match role {
            Role::System => config.system_pool_size(),
            Role::Application => config.pool_size,
        };
        if pool_size == 0 {
            return Err(Error::invalid_config(
                "the pool size must be at least 1 (pool_size, sys_db_pool_size)",
            ));
        }

        let mut pg = tokio_postgres::Config::new();
        pg.user(url.username().unwrap_or(DEFAULT_USER));
        if let Some(password) = url.password() {
            pg.password(password);
        }
        if let Some(db) = url.database() {
            pg.dbname(db);
        }
        let mut hosts_from_query = Vec::new();
        let mut port_from_query = None;
        let mut connect_timeout = config.connect_timeout;
        let mut application_name = config.application_name.clone();
        let mut options: Vec<String> = config.options.iter().cloned().collect();
        let mut tls = TlsSettings::default();
        let mut pre_ping_window = DEFAULT_PRE_PING_WINDOW;
        pg.keepalives(true);

        for (key, value) in url.query_pairs() {
            if tls.take(&key, &value)? {
                continue;
            }
            let bad = |what: &str| {
                Error::invalid_config(format!("invalid {key}={value:?} in {url}: {what}"))
            };
            match key.as_str() {
                "user" => {
                    pg.user(value.as_str());
                }
                "password" => {
                    pg.password(value.as_str());
                }
                "dbname" => {
                    pg.dbname(value.as_str());
                }
                "host" => hosts_from_query.extend(value.split(',').map(str::to_owned)),
                "hostaddr" => {
                    let ip: IpAddr = value.parse().map_err(|_| bad("not an IP address"))?;
                    pg.hostaddr(ip);
                }
                "port" => {
                    port_from_query = Some(value.parse::<u16>().map_err(|_| bad("not a port"))?);
                }
                "options" => options.push(value.clone()),
                "application_name" => application_name = value.clone(),
                "connect_timeout" => {
                    let secs: i64 = value.trim().parse().map_err(|_| bad("not seconds"))?;
                    // libpq: zero or negative means wait indefinitely; 1 is raised to 2.
                    if secs > 0 {
                        connect_timeout = Duration::from_secs(secs.max(2).unsigned_abs());
                    }
                }
                "keepalives" => match value.as_str() {
                    "1" => {
                        pg.keepalives(true);
                    }
                    "0" => {
                        pg.keepalives(false);
                    }
                    _ => return Err(bad("use 0 or 1")),
                },
                "keepalives_idle" => {
                    pg.keepalives_idle(seconds(&value).ok_or_else(|| bad("not seconds"))?);
                }
                "keepalives_interval" => {
                    pg.keepalives_interval(seconds(&value).ok_or_else(|| bad("not seconds"))?);
                }
                "keepalives_retries" => {
                    pg.keepalives_retries(value.parse().map_err(|_| bad("not a count"))?);
                }
                "tcp_user_timeout" => {
                    let ms: u64 = value.parse().map_err(|_| bad("not milliseconds"))?;
                    pg.tcp_user_timeout(Duration::from_millis(ms));
                }
                "pool_pre_ping_window" => {
                    let ms: u64 = value.trim().parse().map_err(|_| bad("not milliseconds"))?;
                    pre_ping_window = Duration::from_millis(ms);
                }
                "target_session_attrs" => {
                    pg.target_session_attrs(match value.as_str() {
                        "any" => TargetSessionAttrs::Any,
                        "read-write" => TargetSessionAttrs::ReadWrite,
                        "read-only" => TargetSessionAttrs::ReadOnly,
                        _ => return Err(bad("use any, read-write or read-only")),
                    });
                }
                "channel_binding" => {
                    pg.channel_binding(match value.as_str() {
                        "disable" => ChannelBinding::Disable,
                        "prefer" => ChannelBinding::Prefer,
                        "require" => ChannelBinding::Require,
                        _ => return Err(bad("use disable, prefer or require")),
                    });
                }
                "load_balance_hosts" => {
                    pg.load_balance_hosts(match value.as_str() {
                        "disable" => LoadBalanceHosts::Disable,
                        "random" => LoadBalanceHosts::Random,
                        _ => return Err(bad("use disable or random")),
                    });
                }
                "sslnegotiation" => {
                    pg.ssl_negotiation(match value.as_str() {
                        "postgres" => SslNegotiation::Postgres,
                        "direct" => SslNegotiation::Direct,
                        _ => return Err(bad("use postgres or direct")),
                    });
                }
                other => {
                    return Err(Error::invalid_config(format!(
                        "unknown parameter {other:?} in the PostgreSQL URL {url}; known keys: {}, {}, {}",
                        PASSED_KEYS.join(", "),
                        crate::tls::TLS_KEYS.join(", "),
                        DRIVER_KEYS.join(", ")
                    )));
                }
            }
        }
        tls.finish()?;
        pg.ssl_mode(tls.pg_mode());

        // Hosts: the URL's host, else the `host` query key, else localhost.
        let hosts = match url.explicit_host() {
            Some(h) => vec![h.to_owned()],
            None if !hosts_from_query.is_empty() => hosts_from_query,
            None => vec!["localhost".to_owned()],
        };
        for host in &hosts {
            pg.host(host.as_str());
        }
        pg.port(
            url.explicit_port()
                .or(port_from_query)
                .unwrap_or(scheme.default_port),
        );
        if !connect_timeout.is_zero() {
            pg.connect_timeout(connect_timeout);
            // A statement on a connection that went silent (within the pre-ping window, or
            // mid-call) is bounded like a connection startup. tcp_user_timeout=0 in the URL
            // keeps the operating system's default.
            if pg.get_tcp_user_timeout().is_none() {
                pg.tcp_user_timeout(connect_timeout);
            }
        }
        if !application_name.is_empty() {
            pg.application_name(application_name.as_str());
        }
        let options = options.join(" ");
        let idle_in_transaction_timeout = match role {
            Role::System => config.sys_db_idle_transaction_timeout,
            Role::Application => None,
        }
        .unwrap_or(DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT);
        // PostgreSQL takes at most i32::MAX ms (about 24.8 days); a longer timeout is that.
        let idle_in_transaction_timeout_ms =
            (!options.contains(IDLE_IN_TRANSACTION_SETTING)).then(|| {
                u64::try_from(idle_in_transaction_timeout.as_millis())
                    .unwrap_or(u64::MAX)
                    .min(MAX_IDLE_IN_TRANSACTION_TIMEOUT_MS)
            });
        let max_connections =
            usize::try_from(pool_size.saturating_add(config.max_overflow)).unwrap_or(usize::MAX);
        let polling_concurrency = match (role, config.sys_db_polling_concurrency) {
            (Role::System, Some(0)) => max_connections,
            (Role::System, Some(reads)) => usize::try_from(reads).unwrap_or(usize::MAX),
            _ => max_connections / 2,
        }
        .max(1);
        let system_settings = match role {
            Role::System => dialect.system_settings(),
            Role::Application => &[],
        };
        let session_defaults = dialect
            .default_settings()
            .iter()
            .chain(system_settings)
            .filter(|(name, _)| !options.contains(name))
            .copied()
            .collect();
        if !options.trim().is_empty() {
            pg.options(options.as_str());
        }

        Ok(PostgresConfig {
            url: url.clone(),
            pg,
            tls,
            role,
            schema: config.dbos_system_schema.clone(),
            pool_size,
            max_overflow: config.max_overflow,
            pool_timeout: config.pool_timeout,
            pool_pre_ping: config.pool_pre_ping,
            pool_pre_ping_window: pre_ping_window,
            connect_timeout,
            echo: config.echo,
            use_listen_notify: config.use_listen_notify && dialect.supports_listen_notify(),
            listener_recheck: DEFAULT_LISTENER_RECHECK,
            idle_in_transaction_timeout_ms,
            polling_concurrency,
            session_defaults,
            dialect,
            create_database: role == Role::Application || config.run_migrations,
        })
    }

    /// The schema of the system tables (unquoted; it has been validated).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The database name.
    pub fn database(&self) -> &str {
        self.pg.get_dbname().unwrap_or_default()
    }

    /// The URL (its `Display` redacts the password).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The most connections the pool holds: the pool size plus `max_overflow`.
    pub fn max_size(&self) -> u32 {
        self.pool_size.saturating_add(self.max_overflow)
    }

    /// Whether waiters are woken with LISTEN/NOTIFY (and migrations create the notification
    /// trigger).
    pub fn use_listen_notify(&self) -> bool {
        self.use_listen_notify
    }

    /// How often a wait for a message or an event re-checks the database while a proven
    /// listener delivers wake-ups: the larger of this and the wait's own poll interval.
    /// Defaults to 60 s, as DBOS.
    pub fn listener_recheck_interval(&self) -> Duration {
        self.listener_recheck
    }

    /// Sets [`listener_recheck_interval`](Self::listener_recheck_interval). Without LISTEN/NOTIFY
    /// (or while the listener is unproven or away) waits re-check at their poll interval
    /// whatever this says.
    #[must_use]
    pub fn with_listener_recheck_interval(mut self, interval: Duration) -> Self {
        self.listener_recheck = interval;
        self
    }

    /// How long after a connection went back to the pool healthy (or was opened) the pool hands
    /// it out again without the `pool_pre_ping` health check, a round trip as long as a step
    /// checkpoint itself. A connection whose session is known closed is always checked. Zero
    /// checks every checkout; without `pool_pre_ping` nothing is checked. Set by the URL key
    /// `pool_pre_ping_window` (milliseconds). Defaults to 500 ms, as HikariCP's
    /// `aliveBypassWindowMs`.
    pub fn pool_pre_ping_window(&self) -> Duration {
        self.pool_pre_ping_window
    }

    /// Sets [`pool_pre_ping_window`](Self::pool_pre_ping_window).
    #[must_use]
    pub fn with_pool_pre_ping_window(mut self, window: Duration) -> Self {
        self.pool_pre_ping_window = window;
        self
    }

    /// The libpq `sslmode` in effect (`prefer` when the URL names none).
    pub fn sslmode(&self) -> &'static str {
        self.tls.mode_name()
    }

    /// The same settings for another database on the same server (the maintenance database
    /// `postgres` when creating a missing database).
    pub(crate) fn for_database(&self, name: &str) -> PostgresConfig {
        let mut other = self.clone();
        other.url = self.url.with_database(name);
        other.pg.dbname(name);
        other
    }

    /// Logs `sql` when `echo` is on.
    pub(crate) fn log_statement(&self, sql: &str) {
        if self.echo {
            tracing::info!(target: "dbos_storage_postgres::sql", database = self.database(), "{sql}");
        }
    }
}

impl FromStr for PostgresConfig {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::from_url(&DatabaseUrl::parse(s)?)
    }
}

/// The scheme of `url` among the dialect's, or the error naming the ones it opens.
fn accepted_scheme(dialect: &dyn Dialect, url: &DatabaseUrl) -> Result<UrlScheme> {
    let schemes = dialect.url_schemes();
    if let Some(scheme) = schemes.iter().find(|s| s.name == url.scheme()) {
        return Ok(*scheme);
    }
    let names: Vec<String> = schemes.iter().map(|s| format!("{}://", s.name)).collect();
    let listed = match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "another".to_owned(),
    };
    Err(Error::invalid_config(format!(
        "the {} driver cannot open {url}: use a {listed} URL",
        dialect.product()
    )))
}

/// A whole number of seconds.
fn seconds(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::ErrorKind;
    use tokio_postgres::config::{Host, SslMode};

    fn parse(url: &str) -> Result<PostgresConfig> {
        url.parse()
    }

    #[test]
    fn fields_from_url_and_config() {
        let c = parse("postgresql://app:s3cret@db.example.com:6543/orders?sslmode=require&application_name=x&connect_timeout=7&options=-c%20statement_timeout%3D5000").unwrap();
        assert_eq!(c.pg.get_user(), Some("app"));
        assert_eq!(c.pg.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(c.pg.get_dbname(), Some("orders"));
        assert_eq!(c.pg.get_hosts(), &[Host::Tcp("db.example.com".into())]);
        assert_eq!(c.pg.get_ports(), &[6543]);
        assert_eq!(c.pg.get_ssl_mode(), SslMode::Require);
        assert_eq!(c.pg.get_application_name(), Some("x"));
        assert_eq!(c.pg.get_options(), Some("-c statement_timeout=5000"));
        assert_eq!(c.connect_timeout, Duration::from_secs(7));
        assert!(c.pg.get_keepalives());
        assert_eq!(c.idle_in_transaction_timeout_ms, Some(60_000));
        assert_eq!(c.polling_concurrency, 10);
        assert_eq!(
            c.session_defaults,
            [("jit", "off"), ("random_page_cost", "1.1")]
        );
        assert_eq!(c.schema(), "dbos");
        assert_eq!(c.max_size(), 20);

        let dbos = DbosConfig::new("orders")
            .with_pool_size(5)
            .with_max_overflow(2)
            .with_sys_db_pool_size(3)
            .with_options("-c idle_in_transaction_session_timeout=1000")
            .with_dbos_system_schema("my_dbos");
        let url = DatabaseUrl::parse("postgres://localhost/x").unwrap();
        let sys = PostgresConfig::system(&dbos, &url).unwrap();
        assert_eq!((sys.pool_size, sys.max_size()), (3, 5));
        assert_eq!(sys.schema(), "my_dbos");
        assert_eq!(sys.idle_in_transaction_timeout_ms, None);
        assert_eq!(sys.polling_concurrency, 2);
        assert_eq!(
            sys.session_defaults,
            [("jit", "off"), ("random_page_cost", "1.1")]
        );
        let jit_on = DbosConfig::new("orders").with_options("-c jit=on");
        let sys = PostgresConfig::system(&jit_on, &url).unwrap();
        assert_eq!(
            sys.session_defaults,
            [("random_page_cost", "1.1")],
            "the user's jit setting wins"
        );
        assert_eq!(sys.pg.get_application_name(), Some("dbos_transact"));
        assert_eq!(sys.pg.get_user(), Some(DEFAULT_USER));
        let app = PostgresConfig::application(&dbos, &url).unwrap();
        assert_eq!(app.max_size(), 7);
        assert_eq!(
            app.session_defaults,
            [("jit", "off")],
            "the user's own queries keep the server's planner costs"
        );
    }

    #[test]
    fn system_polling_concurrency_and_idle_transaction_timeout() {
        let url = DatabaseUrl::parse("postgres://localhost/x").unwrap();
        let dbos = DbosConfig::new("orders")
            .with_sys_db_pool_size(6)
            .with_sys_db_polling_concurrency(4)
            .with_sys_db_idle_transaction_timeout(Duration::from_millis(2500));
        let sys = PostgresConfig::system(&dbos, &url).unwrap();
        assert_eq!(sys.polling_concurrency, 4);
        assert_eq!(sys.idle_in_transaction_timeout_ms, Some(2500));
        let forever = DbosConfig::new("orders")
            .with_sys_db_idle_transaction_timeout(Duration::from_secs(30 * 24 * 3600));
        let sys = PostgresConfig::system(&forever, &url).unwrap();
        assert_eq!(
            sys.idle_in_transaction_timeout_ms,
            Some(2_147_483_647),
            "PostgreSQL's largest timeout"
        );
        // The application database keeps the defaults: these settings are the system pool's.
        let app = PostgresConfig::application(&dbos, &url).unwrap();
        assert_eq!(app.polling_concurrency, 10);
        assert_eq!(app.idle_in_transaction_timeout_ms, Some(60_000));
        // Zero lifts the limit on polling reads and sets no idle limit.
        let dbos = dbos
            .with_sys_db_polling_concurrency(0)
            .with_sys_db_idle_transaction_timeout(Duration::ZERO);
        let sys = PostgresConfig::system(&dbos, &url).unwrap();
        assert_eq!(sys.polling_concurrency, 6);
        assert_eq!(sys.idle_in_transaction_timeout_ms, Some(0));
        // The user's options still win over every default.
        let dbos = dbos.with_options("-c idle_in_transaction_session_timeout=9s");
        let sys = PostgresConfig::system(&dbos, &url).unwrap();
        assert_eq!(sys.idle_in_transaction_timeout_ms, None);
    }

    #[test]
    fn pre_ping_window_and_tcp_user_timeout() {
        let c = parse("postgresql://localhost/db").unwrap();
        assert_eq!(c.pool_pre_ping_window(), Duration::from_millis(500));
        // The default tcp_user_timeout follows connect_timeout (DbosConfig's 10 s, or the URL's).
        assert_eq!(c.pg.get_tcp_user_timeout(), Some(&Duration::from_secs(10)));
        let c =
            parse("postgresql://localhost/db?connect_timeout=4&pool_pre_ping_window=0").unwrap();
        assert_eq!(c.pool_pre_ping_window(), Duration::ZERO);
        assert_eq!(c.pg.get_tcp_user_timeout(), Some(&Duration::from_secs(4)));
        // The URL's own tcp_user_timeout wins, in any order; 0 is the system's default.
        for url in [
            "postgresql://localhost/db?tcp_user_timeout=2500&pool_pre_ping_window=1500",
            "postgresql://localhost/db?pool_pre_ping_window=1500&tcp_user_timeout=2500",
        ] {
            let c = parse(url).unwrap();
            assert_eq!(c.pool_pre_ping_window(), Duration::from_millis(1500));
            assert_eq!(
                c.pg.get_tcp_user_timeout(),
                Some(&Duration::from_millis(2500))
            );
        }
        let c = parse("postgresql://localhost/db?tcp_user_timeout=0").unwrap();
        assert_eq!(c.pg.get_tcp_user_timeout(), Some(&Duration::ZERO));
        // No connect_timeout: no bound of ours either.
        let dbos = DbosConfig::new("orders").with_connect_timeout(Duration::ZERO);
        let url = DatabaseUrl::parse("postgres://localhost/x").unwrap();
        let c = PostgresConfig::system(&dbos, &url).unwrap();
        assert_eq!(c.pg.get_tcp_user_timeout(), None);
        let c = c.with_pool_pre_ping_window(Duration::from_secs(2));
        assert_eq!(c.pool_pre_ping_window(), Duration::from_secs(2));
        let e = parse("postgresql://localhost/db?pool_pre_ping_window=soon").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("pool_pre_ping_window"), "{e}");
    }

    #[test]
    fn socket_host() {
        let c = parse("postgresql://u@%2Ftmp%2Fpg/db").unwrap();
        assert_eq!(c.pg.get_hosts(), &[Host::Unix("/tmp/pg".into())]);
        let c = parse("postgresql://u@/db?host=/var/run/postgresql&port=5433").unwrap();
        assert_eq!(
            c.pg.get_hosts(),
            &[Host::Unix("/var/run/postgresql".into())]
        );
        assert_eq!(c.pg.get_ports(), &[5433]);
    }

    #[test]
    fn refusals() {
        let e = parse("postgresql://localhost/db?bogus=1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("\"bogus\""), "{e}");
        let e = parse("postgresql://localhost/db?keepalives=yes").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let e = parse("postgresql://localhost/db?sslmode=verify-full").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let dbos = DbosConfig::new("orders").with_dbos_system_schema("dbos\"; DROP TABLE x; --");
        let url = DatabaseUrl::parse("postgres://localhost/x").unwrap();
        let e = PostgresConfig::system(&dbos, &url).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("invalid schema name"), "{e}");
        let url = DatabaseUrl::parse("sqlite:///x.sqlite").unwrap();
        assert!(PostgresConfig::system(&dbos, &url).is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let c = parse("postgresql://app:s3cret@localhost/orders?password=other").unwrap();
        let text = format!("{c:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("other"),
            "{text}"
        );
    }
}
