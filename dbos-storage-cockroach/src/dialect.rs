//! [`CockroachDialect`]: what CockroachDB changes in the PostgreSQL driver, plugged into its
//! [`Dialect`] seam.

use std::sync::Arc;

use async_trait::async_trait;
use dbos_storage_core::{Error, Result, ServerInfo};
use dbos_storage_postgres::{Dialect, Migration, MigrationScript, ServerSession, UrlScheme};

use crate::{migrations, sql};

/// The backend name of the CockroachDB stores and errors.
pub(crate) const NAME: &str = "cockroach";

/// The custom setting that marks a PostgreSQL database as CockroachDB-compatible: when a
/// session of the database reads it as `on`, the CockroachDB dialect accepts the PostgreSQL
/// server in place of CockroachDB. Tests set it on the databases they prepare
/// (`ALTER DATABASE … SET dbos_storage.cockroach_compatible = 'on'`) to run the dialect where no
/// CockroachDB server exists. Never set it on a database PostgreSQL applications share: the
/// schema the dialect creates has no notification trigger, which cannot be undone.
pub const COMPATIBLE_MODE_SETTING: &str = "dbos_storage.cockroach_compatible";

/// The URL schemes of the CockroachDB dialect: `cockroachdb://` and `cockroach://` (port 26257),
/// and `postgresql://` / `postgres://` (port 5432) for configurations that point one at
/// CockroachDB.
pub(crate) const URL_SCHEMES: &[UrlScheme] = &[
    UrlScheme {
        name: "cockroachdb",
        default_port: 26257,
    },
    UrlScheme {
        name: "cockroach",
        default_port: 26257,
    },
    UrlScheme {
        name: "postgresql",
        default_port: 5432,
    },
    UrlScheme {
        name: "postgres",
        default_port: 5432,
    },
];

/// The CockroachDB dialect of the PostgreSQL driver: its own migrations, SERIALIZABLE sessions,
/// no LISTEN/NOTIFY, no advisory locks, no transactional DDL, no combined checkpoints, its own
/// server check, server description and grants. Everything else is PostgreSQL's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CockroachDialect;

impl CockroachDialect {
    /// The dialect as the shared handle a [`PostgresConfig`](dbos_storage_postgres::PostgresConfig)
    /// holds.
    pub fn shared() -> Arc<dyn Dialect> {
        Arc::new(CockroachDialect)
    }
}

#[async_trait]
impl Dialect for CockroachDialect {
    fn name(&self) -> &'static str {
        NAME
    }

    fn product(&self) -> &'static str {
        "CockroachDB"
    }

    fn url_schemes(&self) -> &'static [UrlScheme] {
        URL_SCHEMES
    }

    /// CockroachDB has no LISTEN/NOTIFY: waits poll.
    fn supports_listen_notify(&self) -> bool {
        false
    }

    fn session_settings(&self) -> &'static [&'static str] {
        &[sql::SET_SERIALIZABLE]
    }

    /// CockroachDB has no JIT compiler, and no `jit` setting to turn off.
    fn default_settings(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// CockroachDB's cost-based optimizer has no `random_page_cost` setting.
    fn system_settings(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// CockroachDB only stubs advisory locks (some versions lack them).
    fn uses_advisory_locks(&self) -> bool {
        false
    }

    /// CockroachDB's DDL is not atomic within a transaction.
    fn transactional_ddl(&self) -> bool {
        false
    }

    fn render_migration(
        &self,
        migration: &Migration,
        schema: &str,
        _listen_notify: bool,
    ) -> MigrationScript {
        migrations::render(migration, schema)
    }

    /// Under SERIALIZABLE a combined statement would conflict as a whole: checkpoints run alone.
    fn combines_step_checkpoints(&self) -> bool {
        false
    }

    /// CockroachDB commits through consensus and has no `synchronous_commit` to relax.
    fn collector_skips_commit_flush(&self) -> bool {
        false
    }

    /// CockroachDB compares strings byte by byte (UTF-8), which is code point order.
    fn ids_sort_by_code_point(&self) -> Option<bool> {
        Some(true)
    }

    /// CockroachDB pushes a claim's limit into its locking scan only when it is a constant or a
    /// placeholder; behind a subquery the scan would lock past the rows it returns.
    fn hides_claim_limit(&self) -> bool {
        false
    }

    fn app_role_grants(&self) -> &'static [&'static str] {
        sql::GRANT_APP_ROLE
    }

    /// Accepts a server whose `version()` names CockroachDB, or a PostgreSQL database marked
    /// CockroachDB-compatible ([`COMPATIBLE_MODE_SETTING`]).
    async fn check_server(&self, server: &ServerSession<'_>) -> Result<()> {
        if is_cockroachdb(&server.version().await?)
            || server.setting(COMPATIBLE_MODE_SETTING).await?.as_deref() == Some("on")
        {
            return Ok(());
        }
        Err(Error::unsupported(
            "a cockroachdb:// URL reached a PostgreSQL server; use postgresql:// (running the \
             CockroachDB dialect on PostgreSQL would create the schema without its NOTIFY \
             trigger, which cannot be undone)",
        )
        .with_backend(NAME))
    }

    /// CockroachDB has no `pg_stat_ssl`: TLS is reported from `sslmode` (unknown for `allow`
    /// and `prefer`).
    async fn describe_server(&self, server: &ServerSession<'_>) -> Result<ServerInfo> {
        let row = server.query_row(sql::SELECT_SERVER_INFO).await?;
        let column = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let version = column(0);
        let product = version.split(" (").next().unwrap_or(&version).to_owned();
        let info = ServerInfo::new(NAME, product)
            .with_setting("database", column(1))
            .with_setting("user", column(2));
        Ok(match server.config().sslmode() {
            "disable" => info.with_tls(false, None),
            "require" | "verify-ca" | "verify-full" => info.with_tls(true, None),
            _ => info,
        })
    }
}

/// Whether a `SELECT version()` answer is CockroachDB's (compared case-insensitively, as every
/// DBOS SDK recognises it).
fn is_cockroachdb(version: &str) -> bool {
    version.to_ascii_lowercase().contains("cockroachdb")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cockroachdb_is_recognized_by_its_version() {
        assert!(is_cockroachdb(
            "CockroachDB CCL v24.1.0 (x86_64-pc-linux-gnu, built 2024/05/15 21:28:29, go1.22.2)"
        ));
        assert!(!is_cockroachdb(
            "PostgreSQL 15.8 on x86_64-pc-linux-gnu, compiled by gcc"
        ));
    }

    #[test]
    fn the_dialect_swaps_what_cockroachdb_lacks() {
        let d = CockroachDialect;
        assert_eq!((d.name(), d.product()), ("cockroach", "CockroachDB"));
        assert!(!d.supports_listen_notify());
        assert!(!d.uses_advisory_locks() && !d.transactional_ddl());
        assert!(!d.combines_step_checkpoints() && !d.hides_claim_limit());
        assert!(!d.collector_skips_commit_flush());
        assert_eq!(d.session_settings(), [sql::SET_SERIALIZABLE]);
        assert_eq!(d.url_schemes()[0].default_port, 26257);
    }
}
