//! Columns DBOS Transact writes and reads, in the CockroachDB dialect on the PostgreSQL test
//! server in CockroachDB-compatible mode, checked against the raw rows by the same checks as the
//! PostgreSQL driver's (`dbos_storage_testkit::dbos_columns`).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{postgres_url, CrdbFactory};
use dbos_storage_cockroach::open_system;
use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::LifecycleStore;
use dbos_storage_testkit::dbos_columns;
use dbos_storage_testkit::operator_rows::Env;

/// A fresh schema with two stores on it (each its own pool) and an admin connection.
async fn fresh_env() -> Env {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "dbos_crdb_cols_{}_{}",
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
    Env {
        store: Arc::new(store),
        twin: Arc::new(twin),
        admin,
        schema: quote_identifier(&schema),
    }
}

async fn drop_env(env: Env) {
    env.store.close().await.unwrap();
    env.twin.close().await.unwrap();
    env.exec("DROP SCHEMA {s} CASCADE").await;
}

/// One test per check, each on a fresh schema.
macro_rules! checks {
    ($($name:ident;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let env = fresh_env().await;
                dbos_columns::$name(&env).await;
                drop_env(env).await;
            }
        )*
    };
}

checks! {
    schedule_name_is_stored;
    owner_and_queue_flags_are_read;
    queue_flags_are_stored;
    cleared_attributes_are_json_null;
    debounce_matches_the_instance;
    untimed_steps_store_null_times;
}
