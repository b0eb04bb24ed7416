//! The operator operations in the CockroachDB dialect (`CockroachStore`: the PostgreSQL store
//! in the CockroachDB dialect inside the retry wrapper) on the PostgreSQL test server in
//! CockroachDB-compatible mode, checked against the exact rows by the same checks as the
//! PostgreSQL driver's (`dbos_storage_testkit::operator_rows`), unchanged.

mod common;

use common::drop_env;
use dbos_storage_testkit::operator_rows::{self, Env};
use dbos_storage_testkit::workflow_step_rows;

/// A fresh schema of its own with two stores and an admin connection.
async fn fresh_env() -> Env {
    common::fresh_env("dbos_crdb_ops").await
}

/// One test per scenario, each on fresh schemas.
macro_rules! scenarios {
    ($($name:ident($($extra:ident),*);)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let env = fresh_env().await;
                $(let $extra = fresh_env().await;)*
                operator_rows::$name(&env $(, &$extra)*).await;
                drop_env(env).await;
                $(drop_env($extra).await;)*
            }
        )*
    };
}

scenarios! {
    fork_copies_the_rows_below_the_start();
    rewind_cuts_everything_from_the_start();
    delete_removes_every_row_with_children();
    attributes_replace_and_merge();
    lease_is_a_hidden_queue_row();
    two_stores_race_for_the_lease();
    sweep_removes_real_orphans_window_by_window();
    collectable_follows_the_policy();
    interrupted_gc_finishes_like_a_clean_one(clean);
    export_import_round_trip(other);
    metrics_count_per_bucket();
    rename_moves_everything_in_batches();
    schedules_keep_dbos_rows();
}

/// Direct recovery, the hand-back to a queue and checkpointed stream reads against DBOS's rows
/// (the checks of `dbos_storage_testkit::recovery_rows`), one test each on a fresh schema.
macro_rules! recovery_scenarios {
    ($($name:ident;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let env = fresh_env().await;
                dbos_storage_testkit::recovery_rows::$name(&*env.store, &env).await;
                drop_env(env).await;
            }
        )*
    };
}

recovery_scenarios! {
    take_over_rows;
    return_to_queue_rows;
    stream_step_rows;
}

#[tokio::test]
async fn operations_run_as_steps_record_dbos_step_rows() {
    let env = fresh_env().await;
    workflow_step_rows::operations_record_dbos_step_rows(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn an_operation_run_as_a_step_that_fails_leaves_only_its_error_step() {
    let env = fresh_env().await;
    workflow_step_rows::a_failed_operation_leaves_only_its_error_step(&env).await;
    drop_env(env).await;
}

#[tokio::test]
async fn rewind_and_schedule_steps_record_dbos_rows() {
    let env = fresh_env().await;
    workflow_step_rows::rewind_and_schedule_steps_record_dbos_rows(&env).await;
    drop_env(env).await;
}
