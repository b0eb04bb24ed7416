//! Columns DBOS Transact writes and reads, in the CockroachDB dialect on the PostgreSQL test
//! server in CockroachDB-compatible mode, checked against the raw rows by the same checks as the
//! PostgreSQL driver's (`dbos_storage_testkit::dbos_columns`).

mod common;

use common::drop_env;
use dbos_storage_testkit::dbos_columns;
use dbos_storage_testkit::operator_rows::Env;

/// A fresh schema of its own with two stores and an admin connection.
async fn fresh_env() -> Env {
    common::fresh_env("dbos_crdb_cols").await
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
    void_outputs_are_null;
}
