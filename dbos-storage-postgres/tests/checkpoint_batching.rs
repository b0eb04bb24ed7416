//! Combined step checkpoints on PostgreSQL (`store/group_commit.rs`): checkpoints that find every
//! statement slot busy go in one statement, and each caller still gets the answer a lone
//! checkpoint gets; a workflow row locked elsewhere holds up only its own step; a connection
//! dropped under a combined statement loses no step.
//!
//! The slots are filled deterministically: a transaction on an admin connection locks one
//! workflow row, and as many checkpoints of that workflow as there are slots block on it, each
//! holding its slot, so every later checkpoint queues until the lock is released.

use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{
    DatabaseUrl, DbosConfig, ErrorKind, InsertOptions, LifecycleStore, NewWorkflow, Payload,
    Result, StepRecord, StepStore, WorkflowStore,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

static DATABASE: OnceCell<String> = OnceCell::const_new();

/// How long a test waits for something the server does at once (a guard against hanging, not
/// a timing assertion).
const PATIENCE: Duration = Duration::from_secs(30);

async fn database_url() -> &'static str {
    DATABASE
        .get_or_init(|| pg::server().create_database("dbos_batching"))
        .await
}

/// A migrated store on a fresh schema, with a pool big enough for every blocked statement.
async fn store() -> Arc<PostgresStore> {
    store_with_pool(40).await
}

async fn store_with_pool(size: u32) -> Arc<PostgresStore> {
    let schema = pg::server().unique_name("dbos_batch");
    let dbos = DbosConfig::new("batching_tests")
        .with_dbos_system_schema(schema.as_str())
        .with_sys_db_pool_size(size);
    let url = DatabaseUrl::parse(database_url().await).unwrap();
    let store = PostgresStore::open(PostgresConfig::system(&dbos, &url).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(database_url().await, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn drop_store(store: Arc<PostgresStore>) {
    store.close().await.unwrap();
    admin()
        .await
        .batch_execute(&format!(
            "DROP SCHEMA {} CASCADE",
            quote_identifier(store.schema())
        ))
        .await
        .unwrap();
}

/// Starts workflow `id` and returns its owner token.
async fn start(store: &PostgresStore, id: &str) -> String {
    let workflow = NewWorkflow::new(id, "batched", Payload::portable_json("[]"));
    let owner = workflow.creator_xid.clone();
    store
        .insert_workflow(workflow, InsertOptions::default())
        .await
        .unwrap();
    owner
}

/// Starts workflows `{prefix}0` … `{prefix}{n - 1}` and returns their owner tokens, in order.
async fn start_all(store: &PostgresStore, prefix: &str, n: usize) -> Vec<String> {
    let mut owners = Vec::with_capacity(n);
    for i in 0..n {
        owners.push(start(store, &format!("{prefix}{i}")).await);
    }
    owners
}

fn step(id: &str, function_id: i32) -> StepRecord {
    StepRecord::output(
        id,
        function_id,
        "work",
        Payload::portable_json(format!("\"{id}-{function_id}\"")),
    )
}

/// `record_step` on a task of its own.
fn record(
    store: &Arc<PostgresStore>,
    step: StepRecord,
    owner: Option<&str>,
) -> JoinHandle<Result<()>> {
    let store = store.clone();
    let owner = owner.map(str::to_owned);
    tokio::spawn(async move { store.record_step(step, owner.as_deref()).await })
}

async fn finish(handle: JoinHandle<Result<()>>) -> Result<()> {
    tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("a checkpoint did not finish")
        .unwrap()
}

/// A transaction holding workflow `id`'s row `FOR UPDATE` until [`Lock::release`].
struct Lock(tokio_postgres::Client);

impl Lock {
    async fn take(store: &PostgresStore, id: &str) -> Lock {
        let client = admin().await;
        client.batch_execute("BEGIN").await.unwrap();
        let locked = client
            .execute(
                &format!(
                    "SELECT 1 FROM {}.workflow_status WHERE workflow_uuid = $1 FOR UPDATE",
                    quote_identifier(store.schema())
                ),
                &[&id],
            )
            .await
            .unwrap();
        assert_eq!(locked, 1);
        Lock(client)
    }

    async fn release(self) {
        self.0.batch_execute("COMMIT").await.unwrap();
    }
}

/// Waits until `n` sessions of the test database wait for a lock.
async fn lock_waiters(n: i64) {
    let admin = admin().await;
    let waiting = || async {
        let row = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    tokio::time::timeout(PATIENCE, async {
        while waiting().await < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the checkpoints never blocked on the lock");
}

/// Fills every statement slot of `store` with a checkpoint of workflow `busy` blocked on a
/// lock of its row; every checkpoint started after this queues until the lock is released.
async fn fill_slots(store: &Arc<PostgresStore>, busy: &str) -> (Lock, Vec<JoinHandle<Result<()>>>) {
    let owner = start(store, busy).await;
    let lock = Lock::take(store, busy).await;
    let slots = store.statement_slots();
    assert!(slots >= 4, "{slots} statement slots");
    let blocked = (1..=slots as i32)
        .map(|i| record(store, step(busy, i), Some(&owner)))
        .collect();
    lock_waiters(slots as i64).await;
    (lock, blocked)
}

/// Lets spawned checkpoints reach the queue (they queue at once: no slot is free).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn step_count(store: &PostgresStore, id: &str, function_id: i32) -> i64 {
    admin()
        .await
        .query_one(
            &format!(
                "SELECT count(*) FROM {}.operation_outputs \
                 WHERE workflow_uuid = $1 AND function_id = $2",
                quote_identifier(store.schema())
            ),
            &[&id, &function_id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_checkpoints_go_in_one_statement_and_each_gets_its_own_answer() {
    let store = store().await;
    let owners = start_all(&store, "a", 6).await;
    let recorded = step("a0", 1);
    store
        .record_step(recorded.clone(), Some(&owners[0]))
        .await
        .unwrap();
    let (lock, blocked) = fill_slots(&store, "busy").await;

    let mut fresh = Vec::new();
    for (w, owner) in owners.iter().enumerate() {
        for f in 2..=4 {
            fresh.push(record(&store, step(&format!("a{w}"), f), Some(owner)));
        }
    }
    let wrong_owner = record(&store, step("a1", 9), Some("not-the-owner"));
    let missing = record(&store, step("ghost", 1), None);
    let same_again = record(&store, recorded.clone(), Some(&owners[0]));
    let mut rival = recorded.clone();
    rival.completed_at_epoch_ms += 1;
    let conflicting = record(&store, rival, Some(&owners[0]));
    let twice = step("a2", 7);
    let twice = [
        record(&store, twice.clone(), Some(&owners[2])),
        record(&store, twice, Some(&owners[2])),
    ];
    // Two different writes of one new step in one statement: one is written, the other is
    // told of the conflict.
    let first_version = step("a3", 8);
    let mut second_version = first_version.clone();
    second_version.completed_at_epoch_ms += 1;
    let versions = [
        record(&store, first_version, Some(&owners[3])),
        record(&store, second_version, Some(&owners[3])),
    ];
    settle().await;
    assert_eq!(store.combined_checkpoints().statements, 0);
    lock.release().await;

    for handle in blocked.into_iter().chain(fresh).chain(twice) {
        finish(handle).await.unwrap();
    }
    assert_eq!(
        finish(wrong_owner).await.unwrap_err().kind(),
        ErrorKind::NotOwner
    );
    assert_eq!(
        finish(missing).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    finish(same_again).await.unwrap();
    let conflict = finish(conflicting).await.unwrap_err();
    assert_eq!(conflict.kind(), ErrorKind::StepConflict, "{conflict}");

    let [first, second] = versions;
    let versions = [finish(first).await, finish(second).await];
    assert_eq!(
        versions.iter().filter(|r| r.is_ok()).count(),
        1,
        "{versions:?}"
    );
    let rejected = versions.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(rejected.kind(), ErrorKind::StepConflict, "{rejected}");
    assert_eq!(step_count(&store, "a3", 8).await, 1);

    let combined = store.combined_checkpoints();
    assert!(combined.statements >= 1, "{combined:?}");
    assert!(combined.steps >= 18, "{combined:?}");
    for w in 0..6 {
        for f in 1..=4 {
            assert_eq!(
                step_count(&store, &format!("a{w}"), f).await,
                i64::from(w == 0 || f > 1)
            );
        }
    }
    assert_eq!(step_count(&store, "a1", 9).await, 0);
    assert_eq!(step_count(&store, "a2", 7).await, 1);
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_workflow_row_holds_up_only_its_own_checkpoint() {
    let store = store().await;
    let held_owner = start(&store, "held").await;
    let owners = start_all(&store, "free", 8).await;
    let held = Lock::take(&store, "held").await;
    let (lock, blocked) = fill_slots(&store, "busy").await;
    let held_step = record(&store, step("held", 1), Some(&held_owner));
    let free: Vec<_> = owners
        .iter()
        .enumerate()
        .map(|(w, owner)| record(&store, step(&format!("free{w}"), 1), Some(owner)))
        .collect();
    settle().await;
    lock.release().await;

    // The combined statement skips the locked row and writes the others while it is held.
    for handle in blocked.into_iter().chain(free) {
        finish(handle).await.unwrap();
    }
    assert!(store.combined_checkpoints().steps >= 8);
    assert!(!held_step.is_finished());
    assert_eq!(step_count(&store, "held", 1).await, 0);
    held.release().await;
    finish(held_step).await.unwrap();
    assert_eq!(step_count(&store, "held", 1).await, 1);
    drop_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_under_a_combined_statement_loses_no_step() {
    let store = store().await;
    let owners = start_all(&store, "c", 6).await;
    // An uncommitted row at c0's step 1 makes the combined statement wait on its conflict
    // check, so it is in flight when its connection is killed.
    let rival = admin().await;
    rival.batch_execute("BEGIN").await.unwrap();
    rival
        .execute(
            &format!(
                "INSERT INTO {}.operation_outputs (workflow_uuid, function_id) VALUES ('c0', 1)",
                quote_identifier(store.schema())
            ),
            &[],
        )
        .await
        .unwrap();
    let (lock, blocked) = fill_slots(&store, "busy").await;
    let steps: Vec<_> = owners
        .iter()
        .enumerate()
        .map(|(w, owner)| record(&store, step(&format!("c{w}"), 1), Some(owner)))
        .collect();
    settle().await;
    lock.release().await;
    for handle in blocked {
        finish(handle).await.unwrap();
    }

    let killer = admin().await;
    tokio::time::timeout(PATIENCE, async {
        loop {
            let killed = killer
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock' \
                     AND query LIKE '%unnest(%'",
                    &[],
                )
                .await
                .unwrap();
            if !killed.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the combined statement never waited on the uncommitted row");

    // Each step is retried alone: the free ones commit now, c0's waits for the rival.
    let (first, rest) = steps.split_first().unwrap();
    for handle in rest {
        finish_ref(handle).await;
    }
    assert!(!first.is_finished());
    rival.batch_execute("ROLLBACK").await.unwrap();
    for (w, handle) in steps.into_iter().enumerate() {
        if let Err(e) = finish(handle).await {
            panic!("c{w}: {e}");
        }
    }
    for w in 0..6 {
        assert_eq!(step_count(&store, &format!("c{w}"), 1).await, 1);
    }
    drop_store(store).await;
}

/// The server's FATAL error for a terminated backend arrives before the socket closes, so the
/// connection still looks open when it goes back to the pool: it must not be handed out again
/// (with one pooled connection and no ping inside the pre-ping window, it would be).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_connection_is_not_handed_out_again() {
    let store = store_with_pool(1).await;
    let owner = start(&store, "t").await;
    let other = start(&store, "u").await;
    let lock = Lock::take(&store, "t").await;
    let killer = admin().await;
    let store_in_task = store.clone();
    let owners = (owner.clone(), other.clone());
    let blocked = tokio::spawn(async move {
        let store = store_in_task;
        let lost = store.record_step(step("t", 1), Some(&owners.0)).await;
        // At once, on the same task: the connection just returned is the pool's only one.
        let next = store.record_step(step("u", 1), Some(&owners.1)).await;
        (lost, next)
    });
    lock_waiters(1).await;
    let killed = killer
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(killed.len(), 1);
    let (lost, next) = tokio::time::timeout(PATIENCE, blocked)
        .await
        .unwrap()
        .unwrap();
    let lost = lost.unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::ConnectionLost, "{lost}");
    next.unwrap();
    lock.release().await;
    // The lost checkpoint did not commit; alone again, it does.
    store.record_step(step("t", 1), Some(&owner)).await.unwrap();
    assert_eq!(step_count(&store, "t", 1).await, 1);
    assert_eq!(step_count(&store, "u", 1).await, 1);
    drop_store(store).await;
}

/// Waits until `handle` finished (its result is read later).
async fn finish_ref(handle: &JoinHandle<Result<()>>) {
    tokio::time::timeout(PATIENCE, async {
        while !handle.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("a checkpoint did not finish");
}
