//! Server-side fault injection: the errors CockroachDB returns, raised by PostgreSQL, and
//! connections killed after their commit applied, against `PostgresStore` inside a
//! `RetryingStore` (the mechanism the CockroachDB driver relies on).
//!
//! * `40001` on a fifth of write statements: a long seeded workload gives every result and
//!   the final state of the reference model.
//! * `40003` at commit (the transaction does not apply): idempotent operations are retried and
//!   end in the model's state; a claim reports `AmbiguousCommit` to its caller, is not re-run,
//!   and the next poll claims each row once.
//! * A proxy killing 30% of connections right after their commit applied: 500 workflows
//!   claimed by 4 claimers are each claimed exactly once, and idempotent writes end in the
//!   model's state.
//!
//! The tests print their figures (run with `--nocapture` to see them). They assert no timing;
//! each has a generous deadline so that a misclassified error cannot hang the run.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{
    Backoff, ClaimRequest, DatabaseUrl, DbosConfig, ErrorKind, InsertOptions, LifecycleStore,
    ListWorkflowsQuery, NewWorkflow, Payload, QueueLimits, QueueStore, RetryPolicy, RetryingStore,
    WorkflowStatus, WorkflowStore,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg::{self, faults, faults::CommitDropProxy};
use dbos_storage_testkit::workload::{run_workload, Compare, Workload};
use tokio::sync::OnceCell;

static DATABASE: OnceCell<String> = OnceCell::const_new();

/// The deadline of each test: far above a normal run, so only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(600);

/// Operations of the long workloads.
const WORKLOAD_LEN: usize = 400;

async fn database_url() -> &'static str {
    DATABASE
        .get_or_init(|| pg::server().create_database("dbos_faults"))
        .await
}

/// Runs `test` under [`DEADLINE`].
async fn with_deadline<F: Future<Output = ()>>(name: &str, test: F) {
    if tokio::time::timeout(DEADLINE, test).await.is_err() {
        panic!("{name} did not finish within {DEADLINE:?}: a retry loop never ended");
    }
}

/// A store on `schema` of the test database, reached at `url` (the database's URL, or the
/// same through a proxy).
async fn open(url: &str, schema: &str, pool_size: u32) -> PostgresStore {
    let dbos = DbosConfig::new("fault_tests")
        .with_dbos_system_schema(schema)
        .with_sys_db_pool_size(pool_size);
    let config = PostgresConfig::system(&dbos, &DatabaseUrl::parse(url).unwrap()).unwrap();
    PostgresStore::open(config)
        .await
        .unwrap_or_else(|e| panic!("open a store on {schema}: {e}"))
}

/// A migrated store on a fresh schema, and the schema's name.
async fn fresh_store(prefix: &str) -> (PostgresStore, String) {
    let schema = pg::server().unique_name(prefix);
    let store = open(database_url().await, &schema, 8).await;
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

/// Under 20% injected `40001` on every write statement, each operation of a long workload
/// gives the reference model's result and the final state equals the model's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_serialization_failures_are_retried_to_the_models_state() {
    with_deadline("injected_serialization_failures", async {
        let url = database_url().await;
        let (store, schema) = fresh_store("dbos_fault_40001").await;
        faults::install_faults(url, &schema).await;
        faults::set_fault_rates(url, &schema, 0.2, 0.0).await;
        let store = RetryingStore::new(Arc::new(store), patient_policy());

        let workload = Workload::generate(40_001, WORKLOAD_LEN);
        let run = run_workload(&store, &workload, Compare::EveryResult).await;

        let injected = faults::injected_faults(url, &schema).await;
        println!(
            "40001 at 20%: {} operations ({} claims, {} workflows claimed, {} claim re-polls \
             {:?}), {} serialization failures injected and retried, {} workflows, final state \
             equals the model's",
            run.operations,
            run.claims,
            run.claimed,
            run.claim_repolls,
            run.claim_errors,
            injected.serialization_failures,
            workload.workflow_ids().len()
        );
        assert!(
            injected.serialization_failures > 0,
            "the workload met no injected fault: {injected:?}"
        );
        assert_eq!(injected.ambiguous_commits, 0);
        store.close().await.unwrap();
        drop_schema(&schema).await;
    })
    .await;
}

/// Under 25% injected `40003` at commit (the commit does not apply), idempotent operations are
/// retried to the model's state, and claims report the ambiguity to their caller, whose next
/// poll claims the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_ambiguous_commits_retry_idempotent_operations_only() {
    with_deadline("injected_ambiguous_commits", async {
        let url = database_url().await;
        let (store, schema) = fresh_store("dbos_fault_40003").await;
        faults::install_faults(url, &schema).await;
        faults::set_fault_rates(url, &schema, 0.0, 0.25).await;
        let store = RetryingStore::new(Arc::new(store), patient_policy());

        let workload = Workload::generate(40_003, WORKLOAD_LEN);
        let run = run_workload(&store, &workload, Compare::EveryResult).await;
        let injected = faults::injected_faults(url, &schema).await;
        let ambiguous_claims = run
            .claim_errors
            .get(&ErrorKind::AmbiguousCommit.to_string())
            .copied()
            .unwrap_or(0);
        println!(
            "40003 at 25%: {} operations ({} claims, {} workflows claimed, {} claims reported \
             AmbiguousCommit and were polled again, all re-polls {:?}), {} ambiguous commits \
             injected, final state equals the model's",
            run.operations,
            run.claims,
            run.claimed,
            ambiguous_claims,
            run.claim_errors,
            injected.ambiguous_commits
        );
        assert!(injected.ambiguous_commits > 0, "no fault met: {injected:?}");
        assert_eq!(injected.serialization_failures, 0);

        // One claim, every commit failing: the caller gets AmbiguousCommit after exactly one
        // attempt, and nothing was claimed.
        faults::set_fault_rates(url, &schema, 0.0, 0.0).await;
        let ids: Vec<String> = (0..5).map(|i| format!("amb-{i}")).collect();
        let batch = ids
            .iter()
            .map(|id| {
                NewWorkflow::new(id.as_str(), "f", Payload::portable_json("[]")).enqueued("amb")
            })
            .collect();
        store.enqueue_workflows(batch).await.unwrap();
        faults::set_fault_rates(url, &schema, 0.0, 1.0).await;
        let before = faults::injected_faults(url, &schema).await;
        let request = ClaimRequest::new("amb", "exec", "v1");
        let error = store
            .claim_workflows(request.clone())
            .await
            .expect_err("every commit fails");
        let after = faults::injected_faults(url, &schema).await;
        assert_eq!(error.kind(), ErrorKind::AmbiguousCommit, "{error}");
        assert!(
            !error.retries_exhausted(),
            "a claim is never retried: {error}"
        );
        assert_eq!(
            after.ambiguous_commits - before.ambiguous_commits,
            1,
            "the claim ran exactly once"
        );
        // An idempotent operation under the same fault is retried up to its attempt limit.
        let error = store
            .insert_workflow(
                NewWorkflow::new("amb-insert", "f", Payload::portable_json("[]"))
                    .with_creator_xid("me"),
                InsertOptions::default(),
            )
            .await
            .expect_err("every commit fails");
        let retried = faults::injected_faults(url, &schema).await;
        assert_eq!(error.kind(), ErrorKind::AmbiguousCommit, "{error}");
        assert!(error.retries_exhausted(), "{error}");
        assert_eq!(
            retried.ambiguous_commits - after.ambiguous_commits,
            u64::from(patient_policy().ambiguous.max_attempts),
            "the insert ran once per allowed attempt"
        );

        // The rolled-back claim took nothing; the next poll, with the same token, takes each
        // row once.
        faults::set_fault_rates(url, &schema, 0.0, 0.0).await;
        for row in store.get_workflows(&ids).await.unwrap() {
            assert_eq!(row.status, WorkflowStatus::Enqueued, "{}", row.workflow_id);
            assert_eq!(row.recovery_attempts, 0, "{}", row.workflow_id);
        }
        let mut claimed = store.claim_workflows(request).await.unwrap().claimed;
        claimed.sort();
        assert_eq!(claimed, ids);
        for row in store.get_workflows(&ids).await.unwrap() {
            assert_eq!(row.status, WorkflowStatus::Pending, "{}", row.workflow_id);
            assert_eq!(row.recovery_attempts, 1, "{}", row.workflow_id);
        }
        store.close().await.unwrap();
        drop_schema(&schema).await;
    })
    .await;
}

/// What one claimer saw.
#[derive(Debug, Default)]
struct ClaimerLog {
    /// Tokens of claims that succeeded, with the ids they returned.
    succeeded: Vec<(String, Vec<String>)>,
    /// Tokens of claims that failed with a lost connection or an ambiguous commit: they may
    /// or may not have applied.
    unknown: Vec<String>,
    /// Claims that failed with contention or a serialization failure.
    conflicts: usize,
}

/// The number of workflows still `ENQUEUED` on `queue`.
async fn enqueued_left(store: &PostgresStore, queue: &str) -> usize {
    let query = ListWorkflowsQuery::new()
        .status(vec![WorkflowStatus::Enqueued])
        .queue_name([queue]);
    store.list_workflows(query).await.unwrap().len()
}

/// Claims from `queue` through `store` until nothing is left, alternating single-statement
/// claims (autocommit) and claims under a shared budget (a transaction with `COMMIT`).
async fn claimer(
    k: usize,
    store: RetryingStore<PostgresStore>,
    direct: Arc<PostgresStore>,
    queue: &'static str,
) -> ClaimerLog {
    let mut log = ClaimerLog::default();
    for poll in 0..10_000 {
        let limits = if poll % 2 == 0 {
            QueueLimits::new()
        } else {
            QueueLimits::new().concurrency(100_000)
        };
        let request = ClaimRequest::new(queue, format!("exec-{k}"), "v1")
            .limits(limits)
            .max_tasks(7);
        let token = request.owner_xid.clone();
        match store.claim_workflows(request).await {
            Ok(outcome) => {
                let empty = outcome.claimed.is_empty();
                log.succeeded.push((token, outcome.claimed));
                if empty && enqueued_left(&direct, queue).await == 0 {
                    return log;
                }
            }
            Err(e) => match e.kind() {
                ErrorKind::AmbiguousCommit | ErrorKind::ConnectionLost => log.unknown.push(token),
                ErrorKind::Contention
                | ErrorKind::SerializationFailure
                | ErrorKind::PoolExhausted => log.conflicts += 1,
                other => panic!("claimer {k}: a claim failed with {other}: {e}"),
            },
        }
    }
    panic!("claimer {k}: the queue never emptied");
}

/// Through a proxy that kills 30% of connections right after their commit applied, 500
/// enqueued workflows claimed by 4 claimers are each claimed exactly once, even though some
/// claims reported a lost connection or an ambiguous commit; and a workload of idempotent
/// writes retried through the same proxy ends in the model's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_commits_never_apply_a_claim_twice() {
    with_deadline("killed_commits", async {
        const QUEUE: &str = "killed";
        const WORKFLOWS: usize = 500;
        let url = database_url().await;
        let (direct, schema) = fresh_store("dbos_fault_kill").await;
        let direct = Arc::new(direct);
        let ids: Vec<String> = (0..WORKFLOWS).map(|i| format!("kill-{i:03}")).collect();
        let batch = ids
            .iter()
            .map(|id| NewWorkflow::new(id.as_str(), "f", Payload::portable_json("[]")).enqueued(QUEUE))
            .collect();
        assert_eq!(direct.enqueue_workflows(batch).await.unwrap().len(), WORKFLOWS);

        let server = pg::server();
        let proxy = CommitDropProxy::start_to(&server.host(), server.port())
            .await
            .expect("start the proxy");
        proxy.set_drop_autocommit(true);
        proxy.set_drop_probability(0.3);
        let proxied = proxy.url(url);
        let mut claimers = Vec::new();
        for k in 0..4 {
            let store = RetryingStore::new(Arc::new(open(&proxied, &schema, 2).await), patient_policy());
            claimers.push(tokio::spawn(claimer(k, store, Arc::clone(&direct), QUEUE)));
        }
        let mut logs = Vec::new();
        for task in claimers {
            logs.push(task.await.expect("a claimer panicked"));
        }
        let claim_commits = proxy.commits_seen();
        let claim_drops = proxy.dropped_commits();

        // The database: every row claimed exactly once, by a token some claim used.
        let client = server.connect(url).await.unwrap();
        let rows = client
            .query(
                &format!(
                    "SELECT workflow_uuid, status, owner_xid, recovery_attempts FROM {}.workflow_status \
                     WHERE queue_name = $1",
                    quote_identifier(&schema)
                ),
                &[&QUEUE],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), WORKFLOWS);
        let mut owner_of: HashMap<String, String> = HashMap::new();
        for row in &rows {
            let id: String = row.get(0);
            let status: String = row.get(1);
            let owner: Option<String> = row.get(2);
            let attempts: i64 = row.get(3);
            assert_eq!(status, "PENDING", "{id}");
            assert_eq!(attempts, 1, "{id} was claimed {attempts} times");
            let owner = owner.unwrap_or_else(|| panic!("{id} has no owner"));
            owner_of.insert(id, owner);
        }
        // Every returned claim is what the database says, and no row was returned twice.
        let mut returned = HashSet::new();
        let mut unknown = HashSet::new();
        let (mut claims, mut conflicts) = (0, 0);
        for log in &logs {
            claims += log.succeeded.len() + log.unknown.len() + log.conflicts;
            conflicts += log.conflicts;
            unknown.extend(log.unknown.iter().cloned());
            for (token, claimed) in &log.succeeded {
                for id in claimed {
                    assert!(returned.insert(id.clone()), "{id} was returned by two claims");
                    assert_eq!(owner_of[id], *token, "{id} is owned by its claim");
                }
            }
        }
        // The rest were claimed by claims whose outcome the claimer did not learn.
        let hidden: Vec<&String> = ids.iter().filter(|id| !returned.contains(*id)).collect();
        for id in &hidden {
            assert!(
                unknown.contains(&owner_of[*id]),
                "{id} is owned by {}, which no claim used",
                owner_of[*id]
            );
        }
        println!(
            "commit-killing proxy at 30%, 4 claimers, {WORKFLOWS} workflows: {claims} claims \
             ({} unknown outcome: lost connection or ambiguous commit; {conflicts} conflicts), \
             {claim_commits} commits seen, {claim_drops} killed after applying; {} workflows \
             returned to claimers, {} claimed by claims reported as failed; every row claimed \
             exactly once",
            unknown.len(),
            returned.len(),
            hidden.len()
        );
        assert!(claim_drops > 0, "the proxy killed no commit");

        // Idempotent writes through the proxy: retried after every kill, they end in the
        // model's state.
        let store = RetryingStore::new(Arc::new(open(&proxied, &schema, 4).await), patient_policy());
        let workload = Workload::generate_idempotent(7, WORKLOAD_LEN);
        let run = run_workload(&store, &workload, Compare::FinalState).await;
        println!(
            "commit-killing proxy at 30%, idempotent workload: {} operations, {} commits seen, \
             {} killed after applying (all retried), final state equals the model's",
            run.operations,
            proxy.commits_seen() - claim_commits,
            proxy.dropped_commits() - claim_drops
        );
        assert!(proxy.dropped_commits() > claim_drops, "no idempotent write was killed");
        store.close().await.unwrap();
        drop(proxy);
        direct.close().await.unwrap();
        drop_schema(&schema).await;
    })
    .await;
}
