//! The fault-injection campaign at CI size: a PostgreSQL server crashed
//! and restarted under load, connections killed at random (inside transactions and right after
//! COMMIT), worker processes SIGKILLed mid-workflow, and concurrent executor processes on one
//! queue — on SQLite (the last two), PostgreSQL, and in the CockroachDB dialect (the CockroachDB
//! driver on the PostgreSQL server in CockroachDB-compatible mode: SERIALIZABLE, no
//! LISTEN/NOTIFY, a connection lost at COMMIT an ambiguous commit). Each test asserts zero
//! loss, zero duplicates, no limit exceeded, every workflow finished and every call returned
//! (see `dbos_storage_testkit::campaign`); run with `--nocapture` to read the figures.
//!
//! Nothing here asserts speed: a call counts as hung only past a generous bound.

use dbos_storage_testkit::campaign::{self, Backend, Campaign, CampaignReport, Size};

fn campaign() -> Campaign {
    Campaign::new(env!("CARGO_BIN_EXE_dbos-campaign"), Size::Ci)
}

fn check(report: &CampaignReport) {
    println!("{report}");
    report.assert_clean();
}

/// Both legs at once, each on a cluster of its own: the scenario spends most of its time
/// waiting for a server that is down, so running them side by side keeps a test thread free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_loses_nothing_and_the_store_serves_again() {
    let campaign = campaign();
    let (postgres, cockroach) = tokio::join!(
        campaign::server_crash(&campaign, Backend::Postgres),
        campaign::server_crash(&campaign, Backend::Cockroach)
    );
    println!("{postgres}");
    println!("{cockroach}");
    for report in [postgres, cockroach] {
        report.assert_clean();
        assert!(report.serve_again.is_some(), "the server was restarted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_lose_nothing() {
    check(&campaign::killed_connections(&campaign(), Backend::Postgres).await);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_and_ambiguous_commits_in_the_cockroach_dialect_lose_nothing() {
    check(&campaign::killed_connections(&campaign(), Backend::Cockroach).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_in_the_cockroach_dialect_is_recovered_without_rerunning_checkpointed_steps(
) {
    check(&campaign::killed_worker(&campaign(), Backend::Cockroach).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_processes_in_the_cockroach_dialect_never_share_a_claim_or_exceed_limits() {
    check(&campaign::concurrent_executors(&campaign(), Backend::Cockroach).await);
}
