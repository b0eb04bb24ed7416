//! Conformance factories of our drivers that more than one target uses.
//!
//! [`PgAppFactory`]: the application-store suite's factory for `PostgresAppStore`, a fresh
//! database per store, dropped in `destroy`.
//!
//! [`PgFactory`]: the conformance suite's factory for `PostgresStore`, used by the PostgreSQL
//! driver's conformance test and its dequeue bench. Every store gets a fresh schema `dbos_conf_{pid}_{n}` in one
//! database of the test server (`DBOS_TEST_POSTGRES_URL`, or a throwaway local cluster the
//! harness starts), dropped in `destroy`.
//!
//! The factory also captures the log lines of the test process at INFO and above
//! ([`crate::logs`]) and scans them for the server's password (when
//! `DBOS_TEST_POSTGRES_URL` has one): every `destroy` fails on a leak found so far.

use dbos_storage_conformance::{async_trait, AppFactory, Factory};
use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{AppStore, Capabilities, DatabaseUrl, DbosConfig, LifecycleStore};
use dbos_storage_postgres::{PostgresAppStore, PostgresConfig, PostgresStore};
use tokio::sync::OnceCell;

use crate::{logs, pg};

/// The database every case of this test process puts its schema in.
static DATABASE: OnceCell<String> = OnceCell::const_new();

/// Makes a fresh, migrated schema per store and drops it in `destroy`.
#[derive(Debug)]
pub struct PgFactory {
    pool_size: u32,
}

impl Default for PgFactory {
    fn default() -> Self {
        PgFactory::new()
    }
}

impl PgFactory {
    /// A factory whose stores have 8 pooled connections; the database is created on first use.
    pub fn new() -> Self {
        PgFactory { pool_size: 8 }
    }

    /// A factory whose stores have `pool_size` pooled connections.
    pub fn with_pool_size(pool_size: u32) -> Self {
        PgFactory { pool_size }
    }

    /// The URL of the shared database, created on first use.
    pub async fn database_url() -> &'static str {
        DATABASE
            .get_or_init(|| pg::server().create_database("dbos_conf"))
            .await
    }
}

/// Runs `sql` on the database at `url` as the admin user.
async fn admin_execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url} as the admin user: {e}"));
    let task = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
}

#[async_trait]
impl Factory for PgFactory {
    type Store = PostgresStore;

    async fn create(&self) -> PostgresStore {
        logs::install(tracing::Level::INFO);
        if let Some(password) = DatabaseUrl::parse(&pg::server().admin_url())
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
        {
            logs::watch(&password);
        }
        let url = Self::database_url().await;
        let schema = pg::server().unique_name("dbos_conf");
        let dbos = DbosConfig::new("conformance")
            .with_dbos_system_schema(schema.as_str())
            .with_sys_db_pool_size(self.pool_size);
        let parsed = DatabaseUrl::parse(url).expect("the harness URL parses");
        let config = PostgresConfig::system(&dbos, &parsed).expect("a valid configuration");
        let store = PostgresStore::open(config)
            .await
            .unwrap_or_else(|e| panic!("open the store on {url}: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrate schema {schema}: {e}"));
        store
    }

    async fn destroy(&self, store: PostgresStore) {
        store.close().await.expect("close the store");
        let url = Self::database_url().await;
        let sql = format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_identifier(store.schema())
        );
        admin_execute(url, &sql).await;
        logs::assert_clean();
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.listen_notify = true;
        caps.skip_locked = true;
        caps.schemas = true;
        caps.attribute_filter = true;
        caps.multi_process = true;
        caps.durable = true;
        caps
    }
}

/// Makes a fresh database per application store (the suite creates its own tables in it) and
/// drops it in `destroy`.
#[derive(Debug, Default)]
pub struct PgAppFactory;

impl PgAppFactory {
    /// A factory whose stores have 8 pooled connections.
    pub fn new() -> Self {
        PgAppFactory
    }
}

#[async_trait]
impl AppFactory for PgAppFactory {
    type Store = PostgresAppStore;

    async fn create(&self) -> PostgresAppStore {
        let url = pg::server().create_database("dbos_app_conf").await;
        let parsed = DatabaseUrl::parse(&url).expect("the harness URL parses");
        let dbos = DbosConfig::new("app-conformance").with_pool_size(8);
        let config = PostgresConfig::application(&dbos, &parsed).expect("a valid configuration");
        let store = PostgresAppStore::open(config)
            .await
            .unwrap_or_else(|e| panic!("open the application store on {parsed}: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrate the application database {parsed}: {e}"));
        store
    }

    async fn destroy(&self, store: PostgresAppStore) {
        store.close().await.expect("close the store");
        pg::server().drop_database(store.config().database()).await;
    }
}
