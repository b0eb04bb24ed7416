//! [`CrdbFactory`]: the conformance suite's factory for `CockroachStore`. Every store gets a
//! fresh schema, dropped in `destroy`, either on the PostgreSQL test server in
//! CockroachDB-compatible mode (a database marked with [`COMPATIBLE_MODE_SETTING`], SERIALIZABLE
//! by default; the dialect keeps LISTEN/NOTIFY off) or on the real cluster of
//! `DBOS_TEST_COCKROACH_URL`.

#![allow(dead_code)] // each test target uses part of it

use dbos_storage_cockroach::{
    open_system, CockroachConfig, CockroachStore, COMPATIBLE_MODE_SETTING,
};
use dbos_storage_conformance::{async_trait, Factory};
use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{Capabilities, DatabaseUrl, DbosConfig, LifecycleStore};
use dbos_storage_testkit::pg;
use tokio::sync::OnceCell;

/// The variable naming the real cluster of the `cockroach-cluster-tests` leg.
pub(crate) const CLUSTER_ENV: &str = "DBOS_TEST_COCKROACH_URL";

/// The compat-mode database every case of this test process puts its schema in.
static DATABASE: OnceCell<String> = OnceCell::const_new();

/// Where the stores live.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The PostgreSQL test server, in CockroachDB-compatible mode.
    PostgresCompat,
    /// A real CockroachDB cluster (its `cockroachdb://` URL), with retry-error injection.
    Cluster(String),
}

/// Makes a fresh, migrated schema per store and drops it in `destroy`.
#[derive(Debug)]
pub(crate) struct CrdbFactory {
    target: Target,
}

impl CrdbFactory {
    /// Stores on the PostgreSQL test server in CockroachDB-compatible mode.
    pub(crate) fn compat() -> Self {
        CrdbFactory {
            target: Target::PostgresCompat,
        }
    }

    /// Stores on the cluster of `DBOS_TEST_COCKROACH_URL`.
    ///
    /// # Panics
    /// When the variable is unset: the cluster leg must not pass without running.
    pub(crate) fn cluster() -> Self {
        let url = std::env::var(CLUSTER_ENV).unwrap_or_else(|_| {
            panic!(
                "the cockroach-cluster-tests feature runs the suite against a real CockroachDB \
                 cluster: set {CLUSTER_ENV} (e.g. cockroachdb://root@localhost:26257/dbos_test?sslmode=disable)"
            )
        });
        CrdbFactory {
            target: Target::Cluster(url),
        }
    }

    /// The URL of the database the schemas go in.
    pub(crate) async fn database_url(&self) -> String {
        match &self.target {
            Target::PostgresCompat => DATABASE
                .get_or_init(|| compatible_database("crdb_conf"))
                .await
                .clone(),
            Target::Cluster(url) => url.clone(),
        }
    }

    /// A configuration for a fresh schema.
    pub(crate) async fn config(&self, schema: &str) -> CockroachConfig {
        let url = self.database_url().await;
        let mut dbos = DbosConfig::new("conformance")
            .with_dbos_system_schema(schema)
            .with_sys_db_pool_size(8);
        if matches!(self.target, Target::Cluster(_)) {
            // Every statement of an explicit transaction fails with 40001 until retried.
            dbos = dbos.with_options("-c inject_retry_errors_enabled=true");
        }
        let parsed = DatabaseUrl::parse(&url).expect("the test URL parses");
        CockroachConfig::system(&dbos, &parsed).expect("a valid configuration")
    }

    async fn admin_execute(&self, sql: &str) {
        let url = self.database_url().await;
        let url = postgres_url(&url);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        let task = tokio::spawn(connection);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = task.await;
    }
}

/// Creates a database on the PostgreSQL test server in CockroachDB-compatible mode (see
/// [`mark_compatible`]) and returns its `postgresql://` URL.
pub(crate) async fn compatible_database(prefix: &str) -> String {
    let url = pg::server().create_database(prefix).await;
    mark_compatible(&url).await;
    url
}

/// Prepares the test server's database of `url` as a CockroachDB stand-in for the sessions
/// opened from now on: SERIALIZABLE by default, and marked with [`COMPATIBLE_MODE_SETTING`] so
/// that the CockroachDB dialect accepts it.
pub(crate) async fn mark_compatible(url: &str) {
    let parsed = DatabaseUrl::parse(url).expect("the test URL parses");
    let database = quote_identifier(parsed.database().expect("the test URL names a database"));
    pg::server()
        .execute(&format!(
            "ALTER DATABASE {database} SET {COMPATIBLE_MODE_SETTING} = 'on'; \
             ALTER DATABASE {database} SET default_transaction_isolation = 'serializable'"
        ))
        .await;
}

/// A `cockroachdb://` URL as tokio-postgres reads it (`postgresql://`, port 26257 when none).
pub(crate) fn postgres_url(url: &str) -> String {
    let Some(rest) = url
        .strip_prefix("cockroachdb://")
        .or_else(|| url.strip_prefix("cockroach://"))
    else {
        return url.to_owned();
    };
    let parsed = DatabaseUrl::parse(url).expect("the test URL parses");
    if parsed.explicit_port().is_some() || parsed.explicit_host().is_none() {
        return format!("postgresql://{rest}");
    }
    let host = parsed.explicit_host().unwrap_or("localhost");
    let at = rest.find(host).expect("the host is in the URL");
    let end = at + host.len();
    format!("postgresql://{}:26257{}", &rest[..end], &rest[end..])
}

#[async_trait]
impl Factory for CrdbFactory {
    type Store = CockroachStore;

    async fn create(&self) -> CockroachStore {
        let schema = pg_unique_name();
        let config = self.config(&schema).await;
        let store = open_system(config)
            .await
            .unwrap_or_else(|e| panic!("open the store: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrate schema {schema}: {e}"));
        store
    }

    async fn destroy(&self, store: CockroachStore) {
        store.close().await.expect("close the store");
        let sql = format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_identifier(store.inner().schema())
        );
        self.admin_execute(&sql).await;
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.listen_notify = false;
        caps.skip_locked = true;
        caps.schemas = true;
        caps.attribute_filter = true;
        caps.multi_process = true;
        caps.durable = true;
        caps
    }
}

/// A schema name unique in this test process (and across processes).
fn pg_unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "dbos_crdb_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh schema named `{prefix}_{pid}_{n}` in the compatible-mode database with two stores on
/// it (each its own pool) and an admin connection: the environment of the shared row checks
/// (`dbos_storage_testkit::operator_rows::Env`).
pub(crate) async fn fresh_env(prefix: &str) -> dbos_storage_testkit::operator_rows::Env {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let factory = CrdbFactory::compat();
    let store = open_system(factory.config(&schema).await).await.unwrap();
    store.migrate().await.unwrap();
    let twin = open_system(factory.config(&schema).await).await.unwrap();
    let url = postgres_url(&factory.database_url().await);
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    dbos_storage_testkit::operator_rows::Env {
        store: std::sync::Arc::new(store),
        twin: std::sync::Arc::new(twin),
        admin,
        schema: quote_identifier(&schema),
    }
}

/// Closes the stores of [`fresh_env`] and drops its schema.
pub(crate) async fn drop_env(env: dbos_storage_testkit::operator_rows::Env) {
    env.store.close().await.unwrap();
    env.twin.close().await.unwrap();
    env.exec("DROP SCHEMA {s} CASCADE").await;
}
