//! Columns DBOS Transact writes and reads, checked on PostgreSQL against the raw rows (the
//! checks of `dbos_storage_testkit::dbos_columns`, shared with the CockroachDB driver).

use std::sync::Arc;

use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{DatabaseUrl, DbosConfig, LifecycleStore};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::dbos_columns;
use dbos_storage_testkit::operator_rows::Env;
use dbos_storage_testkit::pg;
use tokio::sync::OnceCell;

static DATABASE: OnceCell<String> = OnceCell::const_new();

/// A fresh schema with two stores on it and an admin connection.
async fn env() -> Env {
    let url = DATABASE
        .get_or_init(|| pg::server().create_database("dbos_columns"))
        .await;
    let schema = pg::server().unique_name("dbos_cols");
    let dbos = DbosConfig::new("columns_tests").with_dbos_system_schema(schema.as_str());
    let config = PostgresConfig::system(&dbos, &DatabaseUrl::parse(url).unwrap()).unwrap();
    let store = PostgresStore::open(config.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let twin = PostgresStore::open(config).await.unwrap();
    let (admin, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
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
                let env = env().await;
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
    void_outputs_are_null;
}
