//! Server-side fault injection against `CockroachStore` in CockroachDB-compatible mode on the
//! PostgreSQL test server: the errors CockroachDB returns (`40001` "restart transaction", `40003`
//! "result is ambiguous") raised by the server, and connections killed right after their commit
//! applied (see `dbos_storage_testkit::pg::faults`).
//!
//! The same checks run against `PostgresStore` in `dbos-storage-postgres/tests/faults.rs`;
//! these run the CockroachDB dialect (SERIALIZABLE, its own schema) with the store's own retry
//! wrapper. They print their figures (`--nocapture`), assert no timing, and have a generous
//! deadline so that a misclassified error cannot hang the run.

mod common;

use std::future::Future;
use std::time::Duration;

use dbos_storage_cockroach::{open_system, CockroachConfig, CockroachStore};
use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{Backoff, DatabaseUrl, DbosConfig, LifecycleStore, RetryPolicy};
use dbos_storage_testkit::pg::{self, faults, faults::CommitDropProxy};
use dbos_storage_testkit::workload::{run_workload, Compare, Workload};
use tokio::sync::OnceCell;

static DATABASE: OnceCell<String> = OnceCell::const_new();

/// The deadline of each test: far above a normal run, so only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(600);

/// Operations of each workload.
const WORKLOAD_LEN: usize = 400;

async fn database_url() -> &'static str {
    DATABASE
        .get_or_init(|| common::compatible_database("crdb_faults"))
        .await
}

async fn with_deadline<F: Future<Output = ()>>(name: &str, test: F) {
    if tokio::time::timeout(DEADLINE, test).await.is_err() {
        panic!("{name} did not finish within {DEADLINE:?}: a retry loop never ended");
    }
}

/// Retries fast and long: at a 20–30% fault rate an operation of several statements may need
/// many attempts, and ambiguous commits of idempotent operations are retried as often.
fn patient_policy() -> RetryPolicy {
    let fast = Backoff::new(Duration::from_millis(1), Duration::from_millis(20), 2.0, 60);
    let mut policy = RetryPolicy::default()
        .conflict(fast)
        .connection(fast)
        .max_elapsed(Duration::from_secs(120));
    policy.ambiguous = fast;
    policy
}

/// A `CockroachStore` on `schema` of the test database, reached at `url` (the database's URL,
/// or the same through a proxy), in compatible mode.
async fn open(url: &str, schema: &str) -> CockroachStore {
    let dbos = DbosConfig::new("fault_tests")
        .with_dbos_system_schema(schema)
        .with_sys_db_pool_size(4);
    let config = CockroachConfig::system(&dbos, &DatabaseUrl::parse(url).unwrap())
        .unwrap()
        .with_retry_policy(patient_policy());
    open_system(config)
        .await
        .unwrap_or_else(|e| panic!("open a store on {schema}: {e}"))
}

/// A migrated store on a fresh schema, and the schema's name.
async fn fresh_store(prefix: &str) -> (CockroachStore, String) {
    let schema = pg::server().unique_name(prefix);
    let store = open(database_url().await, &schema).await;
    store.migrate().await.expect("migrate");
    (store, schema)
}

async fn drop_schema(schema: &str) {
    let client = pg::server().connect(database_url().await).await.unwrap();
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_identifier(schema)
        ))
        .await
        .unwrap();
}

/// Under 20% injected `40001` on write statements and 10% injected `40003` at commit (which
/// never applies), every operation of a long workload gives the reference model's result and
/// the final state equals the model's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_retry_errors_end_in_the_models_state() {
    with_deadline("injected_retry_errors", async {
        let url = database_url().await;
        let (store, schema) = fresh_store("crdb_fault_inject").await;
        faults::install_faults(url, &schema).await;
        faults::set_fault_rates(url, &schema, 0.2, 0.1).await;

        let workload = Workload::generate(26_257, WORKLOAD_LEN);
        let run = run_workload(&store, &workload, Compare::EveryResult).await;

        let injected = faults::injected_faults(url, &schema).await;
        println!(
            "cockroach dialect, 40001 at 20% and 40003 at 10%: {} operations ({} claims, {} \
             workflows claimed, claim re-polls {:?}), {} serialization failures and {} \
             ambiguous commits injected, final state equals the model's",
            run.operations,
            run.claims,
            run.claimed,
            run.claim_errors,
            injected.serialization_failures,
            injected.ambiguous_commits
        );
        assert!(injected.serialization_failures > 0, "{injected:?}");
        assert!(injected.ambiguous_commits > 0, "{injected:?}");
        store.close().await.unwrap();
        drop_schema(&schema).await;
    })
    .await;
}

/// Through a proxy that kills 30% of connections right after their commit applied, a long
/// workload — claims included, each re-polled with its token after an unknown outcome — ends
/// in the model's state: no claim applied twice (recovery attempts match) and every idempotent
/// write retried to the same effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_commits_end_in_the_models_state() {
    with_deadline("killed_commits", async {
        let url = database_url().await;
        let (direct, schema) = fresh_store("crdb_fault_kill").await;
        let server = pg::server();
        let proxy = CommitDropProxy::start_to(&server.host(), server.port())
            .await
            .expect("start the proxy");
        proxy.set_drop_autocommit(true);
        proxy.set_drop_probability(0.3);
        let store = open(&proxy.url(url), &schema).await;

        let workload = Workload::generate(26_258, WORKLOAD_LEN);
        let run = run_workload(&store, &workload, Compare::FinalState).await;
        println!(
            "cockroach dialect, commit-killing proxy at 30%: {} operations ({} claims, {} \
             workflows returned to claimers, claim re-polls {:?}), {} commits seen, {} killed \
             after applying, final state equals the model's",
            run.operations,
            run.claims,
            run.claimed,
            run.claim_errors,
            proxy.commits_seen(),
            proxy.dropped_commits()
        );
        assert!(proxy.dropped_commits() > 0, "the proxy killed no commit");
        store.close().await.unwrap();
        drop(proxy);
        direct.close().await.unwrap();
        drop_schema(&schema).await;
    })
    .await;
}
