//! DBOS's exact rows after direct recovery, the hand-back of a claimed workflow to its queue, and
//! checkpointed stream reads: the checks the SQLite and PostgreSQL drivers' `recovery` tests
//! both run, each reading its own tables with raw SQL through [`RawRows`] (the columns the
//! contract never returns, such as `owner_xid` and `creator_xid`, and the stored text and label
//! of step outputs).

use std::future::Future;
use std::time::Duration;

use dbos_storage_core::{
    AwaitOptions, Caller, ClaimRequest, InsertOptions, NewWorkflow, Payload, RecoveryOutcome,
    RecoveryRequest, StreamStepKind, StreamStepOutcome, StreamStepRequest, SystemStore,
};

/// Raw reads of the store's tables. `{s}` in a statement is the schema prefix (`"schema".` on
/// PostgreSQL, nothing on SQLite) and `$1` the id bound as text.
pub trait RawRows: Sync {
    /// The columns of the one row `sql` returns, each as text (`None` for NULL); `sql` casts
    /// every column to text. Panics when there is not exactly one row.
    fn text_row(&self, sql: &str, id: &str) -> impl Future<Output = Vec<Option<String>>> + Send;
}

/// The `workflow_status` columns the recovery checks read, in this order.
const STATUS_COLUMNS: &str = "SELECT status, executor_id, owner_xid, creator_xid, \
     CAST(recovery_attempts AS TEXT), queue_name, deduplication_id, \
     CAST(started_at_epoch_ms AS TEXT), CAST(completed_at AS TEXT), application_version \
     FROM {s}workflow_status WHERE workflow_uuid = $1";

/// The columns of `workflow_status` read by [`STATUS_COLUMNS`].
#[derive(Debug, PartialEq, Eq)]
struct StatusRow {
    status: Option<String>,
    executor_id: Option<String>,
    owner_xid: Option<String>,
    creator_xid: Option<String>,
    recovery_attempts: Option<String>,
    queue_name: Option<String>,
    deduplication_id: Option<String>,
    started_at_epoch_ms: Option<String>,
    completed_at: Option<String>,
    application_version: Option<String>,
}

async fn status_row<R: RawRows>(raw: &R, id: &str) -> StatusRow {
    let mut c = raw.text_row(STATUS_COLUMNS, id).await.into_iter();
    let mut next = move || c.next().expect("ten columns");
    StatusRow {
        status: next(),
        executor_id: next(),
        owner_xid: next(),
        creator_xid: next(),
        recovery_attempts: next(),
        queue_name: next(),
        deduplication_id: next(),
        started_at_epoch_ms: next(),
        completed_at: next(),
        application_version: next(),
    }
}

/// One step row of the reading workflow `rd`: name, output, error, serialization, child.
async fn step_row<R: RawRows>(raw: &R, function_id: i32) -> Vec<Option<String>> {
    let sql = format!(
        "SELECT function_name, output, error, serialization, child_workflow_id \
         FROM {{s}}operation_outputs WHERE workflow_uuid = $1 AND function_id = {function_id}"
    );
    raw.text_row(&sql, "rd").await
}

fn text(value: &str) -> Option<String> {
    Some(value.to_owned())
}

/// A direct start taken over by a recoverer: `PENDING`, `recovery_attempts` 2, `executor_id`
/// and `owner_xid` re-stamped, `creator_xid`, version and start time as they were; past the
/// limit, DBOS's dead-letter columns (`MAX_RECOVERY_ATTEMPTS_EXCEEDED`, `owner_xid`,
/// `queue_name`, `deduplication_id` and `started_at_epoch_ms` NULL, `completed_at` set) with the
/// counter and executor of the take-over.
///
/// # Panics
/// When the rows differ.
pub async fn take_over_rows<S: SystemStore + ?Sized, R: RawRows>(store: &S, raw: &R) {
    let wf = NewWorkflow::new("direct", "wf", Payload::portable_json("[]"))
        .with_creator_xid("old")
        .with_executor("dead")
        .with_application_version("v1");
    store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .expect("insert");
    let before = status_row(raw, "direct").await;
    let request = RecoveryRequest::from_dead_executors("direct", vec!["dead".to_owned()], "new")
        .owner_xid("t-new");
    assert_eq!(
        store.recover_workflow(request).await.expect("recover"),
        RecoveryOutcome::TakenOver {
            recovery_attempts: 2
        }
    );
    assert_eq!(
        status_row(raw, "direct").await,
        StatusRow {
            executor_id: text("new"),
            owner_xid: text("t-new"),
            recovery_attempts: text("2"),
            ..before
        }
    );
    let past = RecoveryRequest::from_owner("direct", "t-new", "last")
        .owner_xid("t-last")
        .max_recovery_attempts(Some(1));
    assert_eq!(
        store
            .recover_workflow(past)
            .await
            .expect("recover past the limit"),
        RecoveryOutcome::DeadLettered {
            recovery_attempts: 3
        }
    );
    let row = status_row(raw, "direct").await;
    assert!(row.completed_at.is_some(), "completed_at is stamped");
    assert_eq!(
        row,
        StatusRow {
            status: text("MAX_RECOVERY_ATTEMPTS_EXCEEDED"),
            executor_id: text("last"),
            owner_xid: None,
            creator_xid: text("old"),
            recovery_attempts: text("3"),
            queue_name: None,
            deduplication_id: None,
            started_at_epoch_ms: None,
            completed_at: row.completed_at.clone(),
            application_version: text("v1"),
        }
    );
}

/// A claimed workflow returned to its queue by its claim: DBOS's `clear_queue_assignment`
/// columns (`ENQUEUED`, `started_at_epoch_ms` NULL) plus `owner_xid` NULL; the executor,
/// `recovery_attempts`, queue and deduplication id as the claim left them.
///
/// # Panics
/// When the rows differ.
pub async fn return_to_queue_rows<S: SystemStore + ?Sized, R: RawRows>(store: &S, raw: &R) {
    let wf = NewWorkflow::new("queued", "wf", Payload::portable_json("[]"))
        .enqueued("q")
        .with_deduplication_id("k");
    store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .expect("enqueue");
    let claim = ClaimRequest::new("q", "e1", "v1");
    let token = claim.owner_xid.clone();
    let claimed = store.claim_workflows(claim).await.expect("claim");
    assert_eq!(claimed.claimed, vec!["queued".to_owned()]);
    let before = status_row(raw, "queued").await;
    assert_eq!(before.owner_xid.as_deref(), Some(token.as_str()));
    assert!(before.started_at_epoch_ms.is_some());
    assert!(!store
        .return_to_queue("queued", "another")
        .await
        .expect("another token"));
    assert_eq!(status_row(raw, "queued").await, before);
    assert!(store
        .return_to_queue("queued", &token)
        .await
        .expect("hand back"));
    assert_eq!(
        status_row(raw, "queued").await,
        StatusRow {
            status: text("ENQUEUED"),
            owner_xid: None,
            started_at_epoch_ms: None,
            ..before
        }
    );
}

/// Checkpointed stream reads as DBOS records them in `operation_outputs`: `DBOS.readStream` /
/// `DBOS.readStreamOffset` with the value's text and label, the end as the close sentinel
/// (`"__DBOS_STREAM_CLOSED__"`, `portable_json`), a timeout as the error
/// `{"name":"DBOSStreamTimeoutError","message":…}` (`portable_json`) with no output.
///
/// # Panics
/// When the rows differ.
pub async fn stream_step_rows<S: SystemStore + ?Sized, R: RawRows>(store: &S, raw: &R) {
    for (id, owner) in [("wr", "wo"), ("rd", "ro")] {
        let wf = NewWorkflow::new(id, "wf", Payload::portable_json("[]")).with_creator_xid(owner);
        store
            .insert_workflow(wf, InsertOptions::default())
            .await
            .expect("insert");
    }
    let writer = |fid| Caller::workflow("wr", fid).with_owner("wo");
    store
        .write_stream(writer(1), "s", Payload::portable_json("{\"a\":1}"))
        .await
        .expect("write");
    store
        .write_stream(writer(2), "s", Payload::rust_serde("[1]"))
        .await
        .expect("write");
    let wait = AwaitOptions::default()
        .poll_interval(Duration::from_millis(10))
        .timeout(Duration::from_secs(30));
    let read = |fid, offset| {
        StreamStepRequest::new(
            Caller::workflow("rd", fid).with_owner("ro"),
            "wr",
            "s",
            offset,
        )
    };
    for (fid, request) in [
        (1, read(1, 0)),
        (2, read(2, 1).kind(StreamStepKind::Offset)),
    ] {
        store
            .read_stream_step(request, wait.clone())
            .await
            .unwrap_or_else(|e| panic!("read at step {fid}: {e}"));
    }
    let timed_out = store
        .read_stream_step(read(3, 2), wait.clone().timeout(Duration::from_millis(100)))
        .await
        .expect("timed-out read");
    assert!(matches!(timed_out.outcome, StreamStepOutcome::TimedOut(_)));
    store.close_stream(writer(3), "s").await.expect("close");
    let end = store
        .read_stream_step(read(4, 2), wait)
        .await
        .expect("read the end");
    assert_eq!(end.outcome, StreamStepOutcome::End);

    assert_eq!(
        step_row(raw, 1).await,
        vec![
            text("DBOS.readStream"),
            text("{\"a\":1}"),
            None,
            text("portable_json"),
            None
        ]
    );
    assert_eq!(
        step_row(raw, 2).await,
        vec![
            text("DBOS.readStreamOffset"),
            text("[1]"),
            None,
            text("rust_serde"),
            None
        ]
    );
    assert_eq!(
        step_row(raw, 3).await,
        vec![
            text("DBOS.readStream"),
            None,
            text(
                "{\"name\":\"DBOSStreamTimeoutError\",\"message\":\"No value arrived on stream s \
                 of workflow wr within 0.1 seconds\"}"
            ),
            text("portable_json"),
            None
        ]
    );
    assert_eq!(
        step_row(raw, 4).await,
        vec![
            text("DBOS.readStream"),
            text("\"__DBOS_STREAM_CLOSED__\""),
            None,
            text("portable_json"),
            None
        ]
    );
}

/// The PostgreSQL-family environment of the operator checks reads its schema with its admin
/// connection.
impl RawRows for crate::operator_rows::Env {
    async fn text_row(&self, sql: &str, id: &str) -> Vec<Option<String>> {
        let sql = sql.replace("{s}", &format!("{}.", self.schema));
        let rows = self
            .admin
            .query(&sql, &[&id])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(rows.len(), 1, "{sql}: expected exactly one row");
        (0..rows[0].len())
            .map(|i| rows[0].get::<_, Option<String>>(i))
            .collect()
    }
}
