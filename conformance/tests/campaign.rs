//! The fault-injection campaign at CI size (feature `campaign`): a PostgreSQL server crashed
//! and restarted under load, connections killed at random (inside transactions and right after
//! COMMIT), worker processes SIGKILLed mid-workflow on SQLite and PostgreSQL, and concurrent
//! executor processes on one queue on SQLite and PostgreSQL. Each test asserts zero loss, zero
//! duplicates, no limit exceeded, every workflow finished and every call returned (see
//! `dbos_storage_conformance::campaign`); run with `--nocapture` to read the figures.
//!
//! Nothing here asserts speed: a call counts as hung only past a generous bound.

use dbos_storage_conformance::campaign::{self, Backend, Campaign, CampaignReport, Size};

fn campaign() -> Campaign {
    Campaign::new(env!("CARGO_BIN_EXE_dbos-campaign"), Size::Ci)
}

fn check(report: &CampaignReport) {
    println!("{report}");
    report.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_loses_nothing_and_the_store_serves_again() {
    let report = campaign::server_crash(&campaign()).await;
    check(&report);
    assert!(report.serve_again.is_some(), "the server was restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_lose_nothing() {
    check(&campaign::killed_connections(&campaign()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_on_sqlite_is_recovered_without_rerunning_checkpointed_steps() {
    check(&campaign::killed_worker(&campaign(), Backend::Sqlite).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_on_postgres_is_recovered_without_rerunning_checkpointed_steps() {
    check(&campaign::killed_worker(&campaign(), Backend::Postgres).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_processes_on_one_sqlite_file_never_share_a_claim_or_exceed_limits() {
    check(&campaign::concurrent_executors(&campaign(), Backend::Sqlite).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_processes_on_postgres_never_share_a_claim_or_exceed_limits() {
    check(&campaign::concurrent_executors(&campaign(), Backend::Postgres).await);
}
