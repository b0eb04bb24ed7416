//! The dialect seam: what a PostgreSQL-family server decides on top of this driver.
//!
//! The driver's statements, pool, TLS, URL reading, error classification and stores are shared
//! by every server that speaks the PostgreSQL protocol and most of its SQL. What differs is
//! collected in the [`Dialect`] trait; its provided methods are PostgreSQL's own behaviour, which
//! [`PostgresDialect`] uses unchanged. Another dialect (CockroachDB in `dbos-storage-cockroach`,
//! or a third party's) overrides only what its server does differently, and opens the stores
//! with [`PostgresConfig::system_in`] or [`PostgresConfig::application_in`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use dbos_storage_core::{Error, Result, ServerInfo};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::config::PostgresConfig;
use crate::error::{classify, BACKEND};
use crate::migrate::{split_statements, Migration};
use crate::sql;

/// A URL scheme a dialect opens, and the port used when such a URL names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlScheme {
    /// The scheme, lowercase, without `://` (`postgresql`).
    pub name: &'static str,
    /// The port of a URL of this scheme that names none.
    pub default_port: u16,
}

/// PostgreSQL's URL schemes: `postgresql://` and `postgres://`, port 5432.
pub const POSTGRES_URL_SCHEMES: &[UrlScheme] = &[
    UrlScheme {
        name: "postgresql",
        default_port: 5432,
    },
    UrlScheme {
        name: "postgres",
        default_port: 5432,
    },
];

/// A migration rendered for one schema by a [`Dialect`]: an optional probe, then a script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationScript {
    /// A query answering one boolean; when it answers true the script is skipped (the version
    /// still advances). For a dialect that replaces a PostgreSQL `DO` block by a probe.
    pub skip_if: Option<String>,
    /// The SQL, `;`-separated (empty when the migration does nothing in this dialect; its
    /// number is still used up).
    pub sql: String,
}

impl MigrationScript {
    /// A script run unconditionally.
    pub fn new(sql: impl Into<String>) -> MigrationScript {
        MigrationScript {
            skip_if: None,
            sql: sql.into(),
        }
    }

    /// The statements of [`sql`](Self::sql), split on `;` outside quotes, dollar quotes and
    /// `--` comments, without the comments: what a migrator without transactional DDL runs one
    /// by one.
    pub fn statements(&self) -> Vec<String> {
        split_statements(&self.sql)
    }
}

/// What a PostgreSQL-family dialect decides; the provided methods are PostgreSQL's behaviour.
///
/// A dialect is chosen when a [`PostgresConfig`] is built ([`PostgresConfig::system_in`],
/// [`PostgresConfig::application_in`]) and travels with it into the stores it opens. An
/// implementation overrides only what its server does differently, like a Go struct that
/// embeds the PostgreSQL dialect: for example a server without LISTEN/NOTIFY returns `false`
/// from [`supports_listen_notify`](Self::supports_listen_notify), and one whose DDL is not
/// transactional returns `false` from [`transactional_ddl`](Self::transactional_ddl) and
/// renders the migrations it cannot run as they are in
/// [`render_migration`](Self::render_migration).
#[async_trait]
pub trait Dialect: fmt::Debug + Send + Sync + 'static {
    /// The backend name the stores report
    /// ([`LifecycleStore::backend`](dbos_storage_core::LifecycleStore::backend),
    /// [`AppStore::backend`](dbos_storage_core::AppStore::backend)): `postgres`, `cockroach`.
    fn name(&self) -> &'static str;

    /// The server's product name, for messages: `PostgreSQL`, `CockroachDB`.
    fn product(&self) -> &'static str;

    /// The URL schemes a configuration in this dialect accepts, with their default ports.
    fn url_schemes(&self) -> &'static [UrlScheme] {
        POSTGRES_URL_SCHEMES
    }

    /// Whether the server has LISTEN/NOTIFY. When `false`, `use_listen_notify` is turned off
    /// whatever the configuration says: no listener connection, no `pg_notify`, waits poll, and
    /// the migrations that create the notification triggers render without them.
    fn supports_listen_notify(&self) -> bool {
        true
    }

    /// Statements run on every new connection of the pool, after the driver's own
    /// `idle_in_transaction_session_timeout` and [`default_settings`](Self::default_settings)
    /// (for example pinning an isolation level).
    fn session_settings(&self) -> &'static [&'static str] {
        &[]
    }

    /// Server settings every new connection gets unless the user's `options` set them, as
    /// `(name, value)`. PostgreSQL's: `jit = off`. The store's statements are short, and the
    /// server JIT-compiles any statement whose estimated cost passes `jit_above_cost`, which the
    /// estimates of a never-analyzed or stale table do: on a new database one 500-row batch
    /// enqueue spent 2.6 s compiling and milliseconds running. A dialect whose server has no
    /// such setting returns none.
    fn default_settings(&self) -> &'static [(&'static str, &'static str)] {
        &[("jit", "off")]
    }

    /// Server settings the system database's connections get on top of
    /// [`default_settings`](Self::default_settings), unless the user's `options` set them; the
    /// application database's sessions, which run the user's own queries, do not get them.
    /// PostgreSQL's: `random_page_cost = 1.1`, PostgreSQL's documented value for solid-state
    /// storage (the default, 4, models spinning disks). Every statement of the system store is an
    /// index lookup or an index walk; at 4 the planner prefers walking the creation-time index
    /// back through every newer workflow to reading a partial index that holds only the rows
    /// asked for (the first page of failed workflows on a table of a million read 200,000 rows in
    /// 90 ms, and 51 rows in 0.1 ms at 1.1). A dialect whose server has no such setting returns
    /// none.
    fn system_settings(&self) -> &'static [(&'static str, &'static str)] {
        &[("random_page_cost", "1.1")]
    }

    /// Whether the server's advisory locks work. When `true`, the system-database migrator
    /// polls `pg_try_advisory_lock(1234567890)` (as DBOS does) and the application store's
    /// migrations take a transaction- or session-level advisory lock; when `false`, no advisory
    /// lock is taken and every migration step must be idempotent.
    fn uses_advisory_locks(&self) -> bool {
        true
    }

    /// Whether DDL is transactional. When `true`, each migration runs in one transaction with
    /// its version bump under `LOCK TABLE dbos_migrations` (online index builds in autocommit,
    /// after a sweep of invalid indexes). When `false`, each statement of a migration runs
    /// alone in autocommit, an "already exists" error counts as a concurrent migrator's work,
    /// and the version is then bumped in a SERIALIZABLE transaction that never lowers it.
    fn transactional_ddl(&self) -> bool {
        true
    }

    /// The migration `migration` rendered for `schema` (`listen_notify` is the configuration's
    /// setting, already `false` when the dialect does not support it). PostgreSQL's rendering
    /// is [`Migration::render`]; a dialect starts from it or replaces it.
    fn render_migration(
        &self,
        migration: &Migration,
        schema: &str,
        listen_notify: bool,
    ) -> MigrationScript {
        MigrationScript::new(migration.render(schema, listen_notify))
    }

    /// Whether concurrent step checkpoints of the system store may be combined into one
    /// statement (see the crate docs on checkpoint batching). A dialect whose transactions are
    /// SERIALIZABLE returns `false`: a combined statement would conflict as a whole.
    fn combines_step_checkpoints(&self) -> bool {
        true
    }

    /// Whether the collector's transactions (the batches of
    /// [`delete_collected`](dbos_storage_core::ManagementStore::delete_collected) and the orphan
    /// sweep's windows) commit without waiting for their WAL to reach the disk
    /// (`SET LOCAL synchronous_commit = off`), so that no collector transaction holds its row
    /// locks for a disk flush. A crash may then undo the last fraction of a second of
    /// collection; the rows are collected again by the next run, and every other transaction
    /// still commits durably. A dialect without the setting returns `false`.
    fn collector_skips_commit_flush(&self) -> bool {
        true
    }

    /// Whether workflow ids sort by code point on this database, so that a prefix filter may
    /// add the prefix's range for the primary key to read; `None` asks the server (the column's
    /// collation), which is what PostgreSQL needs.
    fn ids_sort_by_code_point(&self) -> Option<bool> {
        None
    }

    /// Whether a claim hides its row limit from the planner (`LIMIT (SELECT $4::bigint)`), so
    /// that PostgreSQL's plan cache keeps the claim's generic plan instead of planning every
    /// claim of an analyzed queue again. A dialect whose optimizer bounds a locking scan only
    /// with a constant or placeholder limit returns `false`, and its claims say `LIMIT $4`.
    fn hides_claim_limit(&self) -> bool {
        true
    }

    /// The statements of [`PostgresStore::grant_app_role`](crate::PostgresStore::grant_app_role),
    /// with the placeholders `{schema}` and `{role}` (both rendered quoted). PostgreSQL's grant
    /// use of the schema and its tables, sequences and functions, now and by default.
    fn app_role_grants(&self) -> &'static [&'static str] {
        sql::lifecycle::GRANT_APP_ROLE
    }

    /// Checks, on the first connection of a new pool, that the server is one this dialect
    /// serves. PostgreSQL's check refuses a server whose `version()` names CockroachDB (which
    /// needs its own dialect, so the error names the `cockroach` feature).
    ///
    /// # Errors
    /// [`Unsupported`](dbos_storage_core::ErrorKind::Unsupported) for a server of another
    /// dialect; the transient kinds when the server cannot be asked.
    async fn check_server(&self, server: &ServerSession<'_>) -> Result<()> {
        if names_cockroachdb(&server.version().await?) {
            return Err(Error::unsupported(
                "this server is CockroachDB, which the PostgreSQL driver does not serve: use a \
                 cockroachdb:// URL and enable the `cockroach` feature of dbos-storage (the \
                 dbos-storage-cockroach driver)",
            )
            .with_backend(BACKEND));
        }
        Ok(())
    }

    /// What [`PostgresStore::server_info`](crate::PostgresStore::server_info) reports about the
    /// server and this session before the pool's own settings are added: the product and
    /// version, TLS, the database and user. PostgreSQL reads the session's TLS state from
    /// `pg_stat_ssl`.
    ///
    /// # Errors
    /// The transient kinds.
    async fn describe_server(&self, server: &ServerSession<'_>) -> Result<ServerInfo> {
        describe_postgres(server.client, self.name()).await
    }
}

/// `template` with every `{schema}` placeholder replaced by the quoted schema name, as the
/// driver renders its own statements and migrations: for a dialect's SQL templates.
pub fn render_schema(template: &str, schema: &str) -> String {
    sql::render(template, schema)
}

/// PostgreSQL itself: every provided method of [`Dialect`] as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PostgresDialect;

impl PostgresDialect {
    /// The dialect as the shared handle configurations hold.
    pub fn shared() -> Arc<dyn Dialect> {
        Arc::new(PostgresDialect)
    }
}

impl Dialect for PostgresDialect {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn product(&self) -> &'static str {
        "PostgreSQL"
    }
}

/// Whether a `SELECT version()` answer names CockroachDB (compared case-insensitively).
pub(crate) fn names_cockroachdb(version: &str) -> bool {
    version.to_ascii_lowercase().contains("cockroachdb")
}

/// A connection to the server a pool is being opened on (or a store describes), for a
/// dialect's [`check_server`](Dialect::check_server) and
/// [`describe_server`](Dialect::describe_server).
pub struct ServerSession<'a> {
    client: &'a Client,
    config: &'a PostgresConfig,
}

impl fmt::Debug for ServerSession<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSession")
            .field("database", &self.config.database())
            .finish_non_exhaustive()
    }
}

impl<'a> ServerSession<'a> {
    pub(crate) fn new(client: &'a Client, config: &'a PostgresConfig) -> ServerSession<'a> {
        ServerSession { client, config }
    }

    /// The settings the pool was opened with (its `sslmode`, database, schema).
    pub fn config(&self) -> &PostgresConfig {
        self.config
    }

    /// The server's `SELECT version()`.
    ///
    /// # Errors
    /// The transient kinds.
    pub async fn version(&self) -> Result<String> {
        let row = self
            .query_row(sql::lifecycle::SELECT_SERVER_VERSION)
            .await?;
        Ok(row.into_iter().next().flatten().unwrap_or_default())
    }

    /// The value of the setting `name` in this session (`current_setting(name, true)`), `None`
    /// when the server does not know it (a custom `prefix.name` setting nobody set).
    ///
    /// # Errors
    /// The transient kinds.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let rows = self
            .client
            .query_typed(sql::lifecycle::SELECT_SETTING, &[(&name, Type::TEXT)])
            .await
            .map_err(classify)?;
        match rows.first() {
            Some(row) => row.try_get(0).map_err(classify),
            None => Ok(None),
        }
    }

    /// Runs `sql` (one statement of the dialect's own, without parameters, through the simple
    /// query protocol) and returns its first row as text columns (`None` for NULL); an empty
    /// vector when there is no row.
    ///
    /// # Errors
    /// The server's error, classified.
    pub async fn query_row(&self, sql: &str) -> Result<Vec<Option<String>>> {
        let messages = self.client.simple_query(sql).await.map_err(classify)?;
        Ok(messages
            .into_iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default())
    }
}

/// PostgreSQL's [`Dialect::describe_server`]: `version()`, `server_version`, the database, the
/// user and the session's TLS state from `pg_stat_ssl`.
async fn describe_postgres(client: &Client, name: &'static str) -> Result<ServerInfo> {
    let row = client
        .query_one(sql::lifecycle::SELECT_SERVER_INFO, &[])
        .await
        .map_err(classify)?;
    let get = |i: usize| row.try_get::<_, Option<String>>(i).map_err(classify);
    let version = get(1)?.unwrap_or_default();
    let ssl: Option<bool> = row.try_get(4).map_err(classify)?;
    let detail = match (get(5)?, get(6)?) {
        (Some(v), Some(c)) => Some(format!("{v} {c}")),
        (v, c) => v.or(c),
    };
    Ok(ServerInfo::new(name, format!("PostgreSQL {version}"))
        .with_tls(ssl.unwrap_or(false), detail)
        .with_setting("database", get(2)?.unwrap_or_default())
        .with_setting("user", get(3)?.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cockroachdb_is_recognized_by_its_version() {
        assert!(names_cockroachdb(
            "CockroachDB CCL v24.1.0 (x86_64-pc-linux-gnu, built 2024/05/15 21:28:29, go1.22.2)"
        ));
        assert!(!names_cockroachdb(
            "PostgreSQL 15.8 on x86_64-pc-linux-gnu, compiled by gcc"
        ));
    }

    #[test]
    fn the_postgres_dialect_is_every_default() {
        let d = PostgresDialect;
        assert_eq!((d.name(), d.product()), ("postgres", "PostgreSQL"));
        assert_eq!(d.url_schemes(), POSTGRES_URL_SCHEMES);
        assert!(d.supports_listen_notify() && d.uses_advisory_locks() && d.transactional_ddl());
        assert!(d.combines_step_checkpoints() && d.hides_claim_limit());
        assert!(d.collector_skips_commit_flush());
        assert!(d.session_settings().is_empty());
        assert_eq!(d.default_settings(), &[("jit", "off")]);
        assert_eq!(d.system_settings(), &[("random_page_cost", "1.1")]);
        assert_eq!(d.app_role_grants(), sql::lifecycle::GRANT_APP_ROLE);
    }

    #[test]
    fn a_script_splits_into_statements() {
        let script = MigrationScript::new("-- note\nCREATE TABLE a (x TEXT);\nDROP TABLE b;");
        assert_eq!(
            script.statements(),
            ["CREATE TABLE a (x TEXT)", "DROP TABLE b"]
        );
        assert_eq!(script.skip_if, None);
    }
}
