//! Group commit of step checkpoints on PostgreSQL.
//!
//! The store's single-statement writes (step checkpoints, workflow inserts, outcomes) each
//! hold a *statement slot* while they run; a store has [`statement_slots`] of them. A
//! checkpoint that finds a slot free runs alone: one statement, one round trip, one commit
//! ([`sql::steps::RECORD_STEP`]). One that finds every slot taken queues, and when a slot
//! frees, everything queued (up to [`MAX_COMBINED`]) goes as one statement and one commit
//! ([`sql::steps::RECORD_STEPS`]): the server parses, plans, locks and flushes the WAL once for
//! all of them, which is what bounds the checkpoint rate of many concurrent workflows on a
//! small machine. Inserts and outcomes never wait for a slot; they only take a free one, so
//! that checkpoints queue behind them rather than pile onto a busy server.
//!
//! Every call still returns only after its own step committed, with its own answer. A step
//! the combined statement did not write — its workflow row locked by another transaction
//! (the statement skips locked rows, so one busy workflow never holds up the others), another
//! owner, a missing workflow, a step already recorded — and every step of a combined
//! statement that failed runs again alone, which gives it exactly the answer a lone
//! checkpoint gets. A connection lost with the combined statement in flight leaves its steps
//! unknown; each is retried alone, and one that still cannot reach the server fails with
//! [`AmbiguousCommit`](ErrorKind::AmbiguousCommit).
//!
//! The CockroachDB dialect does not combine: its checkpoints always run alone, so a
//! serialization retry repeats one step, not a batch.
//!
//! [`sql::steps::RECORD_STEP`]: crate::sql::steps::RECORD_STEP
//! [`sql::steps::RECORD_STEPS`]: crate::sql::steps::RECORD_STEPS

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use dbos_storage_core::{Error, ErrorKind, Result, StepRecord};
use dbos_storage_driver_kit::decisions::step_checkpoints::NewStep;
use futures::future::{join_all, BoxFuture};
use tokio::sync::{oneshot, Semaphore, SemaphorePermit};
use tokio_postgres::types::ToSql;

use super::{col, PostgresStore};
use crate::error::{classify_commit, BACKEND};

/// The statement slots of a store: twice the processors this process sees (at least 4), so a
/// small machine combines once its cores are busy and a large one rarely needs to.
pub(crate) fn statement_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(2, usize::from)
        .saturating_mul(2)
        .max(4)
}

/// The most checkpoints in one combined statement.
pub(crate) const MAX_COMBINED: usize = 64;

/// How many checkpoints went in combined statements, and in how many statements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CombinedCheckpoints {
    /// Combined statements that committed.
    pub statements: u64,
    /// Steps those statements wrote.
    pub steps: u64,
}

/// A queued checkpoint and where its result goes.
struct Job {
    step: StepRecord,
    owner_xid: Option<String>,
    done: oneshot::Sender<Result<()>>,
}

/// The queue of checkpoints waiting for a statement slot.
#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Whether a task is waiting for a slot to take the queue.
    leader: bool,
}

/// The statement slots of a store and the checkpoints queued for one.
pub(crate) struct Combiner {
    size: usize,
    slots: Semaphore,
    queue: Mutex<Queue>,
    statements: AtomicU64,
    steps: AtomicU64,
}

/// How a checkpoint goes: alone on a free slot, or queued.
pub(crate) enum Admission<'a> {
    /// Run it now, holding the slot until it is done.
    Alone(StepRecord, SemaphorePermit<'a>),
    /// Queued: the result arrives on the receiver; `lead` asks the caller to start the task
    /// that takes the queue when a slot frees ([`lead`]).
    Queued {
        result: oneshot::Receiver<Result<()>>,
        lead: bool,
    },
}

impl Combiner {
    /// A combiner with `slots` statement slots.
    pub(crate) fn new(slots: usize) -> Combiner {
        Combiner {
            size: slots.max(1),
            slots: Semaphore::new(slots.max(1)),
            queue: Mutex::new(Queue::default()),
            statements: AtomicU64::new(0),
            steps: AtomicU64::new(0),
        }
    }

    /// Takes a slot for `step` when one is free and nothing is queued ahead of it; queues it
    /// otherwise.
    pub(crate) fn admit(&self, step: StepRecord, owner_xid: Option<&str>) -> Admission<'_> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.jobs.is_empty() {
            if let Ok(permit) = self.slots.try_acquire() {
                return Admission::Alone(step, permit);
            }
        }
        let (done, result) = oneshot::channel();
        queue.jobs.push(Job {
            step,
            owner_xid: owner_xid.map(str::to_owned),
            done,
        });
        let lead = !queue.leader;
        queue.leader = true;
        Admission::Queued { result, lead }
    }

    /// A free slot for a write that never waits for one (an insert, an outcome), held until
    /// the returned permit drops; `None` when every slot is taken.
    pub(crate) fn occupy(&self) -> Option<SemaphorePermit<'_>> {
        self.slots.try_acquire().ok()
    }

    /// How many statement slots there are.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The combined statements so far.
    pub(crate) fn counts(&self) -> CombinedCheckpoints {
        CombinedCheckpoints {
            statements: self.statements.load(Ordering::Relaxed),
            steps: self.steps.load(Ordering::Relaxed),
        }
    }

    /// Takes up to [`MAX_COMBINED`] queued checkpoints; says whether more are left (then the
    /// caller starts the next leader, else no leader is waiting any more).
    fn take(&self) -> (Vec<Job>, bool) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = queue.jobs.len().min(MAX_COMBINED);
        let jobs: Vec<Job> = queue.jobs.drain(..n).collect();
        let more = !queue.jobs.is_empty();
        queue.leader = more;
        (jobs, more)
    }
}

/// The result of a queued checkpoint whose leader vanished without answering (its task was
/// aborted by a runtime shutting down): the step may or may not have been written.
pub(crate) fn abandoned() -> Error {
    Error::new(
        ErrorKind::AmbiguousCommit,
        "the combined checkpoint statement carrying this step was abandoned (the runtime shut \
         down), so the step may or may not have been recorded",
    )
    .with_backend(BACKEND)
}

/// Waits for a statement slot, takes the queue and records it: one combined statement (its
/// slot freed as soon as it is done), then each step it did not write alone. Runs as a task
/// of its own, so a caller that gives up waiting never strands the others.
pub(crate) fn lead(store: PostgresStore) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let Some(combiner) = store.combiner() else {
            return;
        };
        let Ok(permit) = combiner.slots.acquire().await else {
            return;
        };
        let (mut jobs, more) = combiner.take();
        if more {
            tokio::spawn(lead(store.clone()));
        }
        if jobs.len() == 1 {
            if let Some(job) = jobs.pop() {
                let result = store.checkpoint(&job.step, job.owner_xid.as_deref()).await;
                drop(permit);
                let _ = job.done.send(result);
            }
            return;
        }
        let combined = record_combined(&store, &jobs).await;
        drop(permit);
        let (written, unknown) = match combined {
            Ok(Some(written)) => {
                combiner.statements.fetch_add(1, Ordering::Relaxed);
                combiner
                    .steps
                    .fetch_add(written.len() as u64, Ordering::Relaxed);
                (written, None)
            }
            Ok(None) => (HashSet::new(), None),
            Err(unknown) => (HashSet::new(), Some(unknown)),
        };
        let (done, rest): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|job| written.contains(&Written::of(&job.step)));
        for job in done {
            // A caller that stopped waiting dropped its receiver; its step is recorded anyway.
            let _ = job.done.send(Ok(()));
        }
        join_all(rest.into_iter().map(|job| {
            let store = &store;
            let unknown = unknown.as_ref();
            async move {
                let result = store.checkpoint(&job.step, job.owner_xid.as_deref()).await;
                let _ = job.done.send(match (result, unknown) {
                    // The combined statement may have committed, and the step alone could
                    // not reach the server to find out: its outcome is as unknown as the
                    // combined commit's.
                    (Err(e), Some(unknown)) if reaches_no_server(e.kind()) => Err(Error::new(
                        ErrorKind::AmbiguousCommit,
                        unknown.message().to_owned(),
                    )
                    .with_backend(BACKEND)),
                    (result, _) => result,
                });
            }
        }))
        .await;
    })
}

/// Whether an error of a lone checkpoint says it never reached the database.
fn reaches_no_server(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionLost
            | ErrorKind::PoolExhausted
            | ErrorKind::Closed
            | ErrorKind::Timeout
            | ErrorKind::AmbiguousCommit
    )
}

/// A step a combined statement wrote: its position and completion time, which is what a lone
/// checkpoint compares to tell its own write from a rival's.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Written {
    workflow_id: String,
    function_id: i32,
    completed_at: Option<i64>,
}

impl Written {
    fn of(step: &StepRecord) -> Written {
        Written {
            workflow_id: step.workflow_id.clone(),
            function_id: step.function_id,
            completed_at: step.completed_column(),
        }
    }
}

/// Runs [`RECORD_STEPS`](crate::sql::steps::RECORD_STEPS) for `jobs` and returns the steps it
/// wrote, or `None` when it did not commit (no connection, a deadlock, any error the server
/// reported): then every step runs again alone and meets the failure itself.
///
/// # Errors
/// The [`AmbiguousCommit`](ErrorKind::AmbiguousCommit) of a connection lost with the statement
/// in flight.
async fn record_combined(
    store: &PostgresStore,
    jobs: &[Job],
) -> std::result::Result<Option<HashSet<Written>>, Error> {
    let rows: Vec<NewStep<'_>> = jobs
        .iter()
        .map(|job| NewStep::recorded(&job.step, None))
        .collect();
    let workflow_ids: Vec<&str> = rows.iter().map(|r| r.workflow_id).collect();
    let function_ids: Vec<i32> = rows.iter().map(|r| r.function_id).collect();
    let names: Vec<&str> = rows.iter().map(|r| r.function_name).collect();
    let outputs: Vec<Option<&str>> = rows.iter().map(|r| r.output).collect();
    let errors: Vec<Option<&str>> = rows.iter().map(|r| r.error).collect();
    let children: Vec<Option<&str>> = rows.iter().map(|r| r.child_workflow_id).collect();
    let started: Vec<Option<i64>> = rows.iter().map(|r| r.started_at_epoch_ms).collect();
    let completed: Vec<Option<i64>> = rows.iter().map(|r| r.completed_at_epoch_ms).collect();
    let labels: Vec<Option<&str>> = rows.iter().map(|r| r.serialization).collect();
    let owners: Vec<Option<&str>> = jobs.iter().map(|j| j.owner_xid.as_deref()).collect();
    let params: [&(dyn ToSql + Sync); 10] = [
        &workflow_ids,
        &function_ids,
        &names,
        &outputs,
        &errors,
        &children,
        &started,
        &completed,
        &labels,
        &owners,
    ];
    let Ok(client) = store.client().await else {
        return Ok(None);
    };
    let written = match client
        .query_cached(store.queries().record_steps.as_str(), &[], &params)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            let e = classify_commit(e);
            return if e.kind() == ErrorKind::AmbiguousCommit {
                Err(e)
            } else {
                Ok(None)
            };
        }
    };
    drop(client);
    let written = written
        .iter()
        .map(|row| {
            Ok(Written {
                workflow_id: col(row, 0)?,
                function_id: col(row, 1)?,
                completed_at: col(row, 2)?,
            })
        })
        .collect::<Result<HashSet<Written>>>();
    // The statement committed; a row that cannot be read back leaves its steps to run alone.
    Ok(Some(written.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::Payload;

    fn step(id: &str, function_id: i32) -> StepRecord {
        StepRecord::output(id, function_id, "s", Payload::portable_json("1"))
    }

    #[test]
    fn a_checkpoint_runs_alone_while_a_slot_is_free_and_queues_after() {
        let combiner = Combiner::new(2);
        let mut held = Vec::new();
        for i in 0..2 {
            match combiner.admit(step("a", i), None) {
                Admission::Alone(_, permit) => held.push(permit),
                Admission::Queued { .. } => panic!("a free slot was not taken"),
            }
        }
        let first = combiner.admit(step("a", 10), Some("t"));
        assert!(matches!(first, Admission::Queued { lead: true, .. }));
        let second = combiner.admit(step("a", 11), None);
        assert!(matches!(second, Admission::Queued { lead: false, .. }));
        // A freed slot does not let a newcomer pass the queue.
        held.pop();
        assert!(matches!(
            combiner.admit(step("a", 12), None),
            Admission::Queued { lead: false, .. }
        ));
        let (jobs, more) = combiner.take();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].owner_xid.as_deref(), Some("t"));
        assert!(!more);
        assert!(matches!(
            combiner.admit(step("a", 13), None),
            Admission::Alone(..)
        ));
    }

    #[test]
    fn inserts_and_outcomes_take_only_a_free_slot_and_make_checkpoints_queue() {
        let combiner = Combiner::new(1);
        let insert = combiner.occupy().expect("a free slot");
        assert!(combiner.occupy().is_none(), "a taken slot was handed out");
        assert!(matches!(
            combiner.admit(step("c", 1), None),
            Admission::Queued { lead: true, .. }
        ));
        drop(insert);
        assert!(combiner.occupy().is_some());
    }

    #[test]
    fn a_leader_takes_at_most_a_full_statement() {
        let combiner = Combiner::new(2);
        let _held: Vec<_> = (0..2)
            .map(|_| combiner.slots.try_acquire().expect("a slot"))
            .collect();
        for i in 0..(MAX_COMBINED + 3) {
            let _ = combiner.admit(step("b", i as i32), None);
        }
        let (jobs, more) = combiner.take();
        assert_eq!((jobs.len(), more), (MAX_COMBINED, true));
        let (jobs, more) = combiner.take();
        assert_eq!((jobs.len(), more), (3, false));
    }

    #[tokio::test]
    async fn a_combined_statement_finds_each_workflow_by_primary_key_without_statistics() {
        use crate::store::plan_check::{assert_found_by_key, fresh_store_with_pending};
        use dbos_storage_core::LifecycleStore;

        // A new schema, never analyzed: a generic plan must not scan every workflow per batch.
        let store = fresh_store_with_pending("combined_plan", 300).await;
        let args = "ARRAY['w7', 'w8'], ARRAY[1, 2], ARRAY['s', 's'], ARRAY['1', '2'], \
                    ARRAY[NULL, NULL]::text[], ARRAY[NULL, NULL]::text[], \
                    ARRAY[NULL, NULL]::bigint[], ARRAY[5, 6]::bigint[], \
                    ARRAY['portable_json', 'portable_json'], ARRAY['t', NULL]::text[]";
        let statements = [(store.queries().record_steps.as_str(), args)];
        assert_found_by_key(&store, &statements, "Index Scan using workflow_status_pkey").await;
        store.close().await.unwrap();
    }
}
