//! [`StepStore`] on PostgreSQL: step checkpoints, child starts and durable sleeps.

use std::time::Duration;

use async_trait::async_trait;
use dbos_storage_core::{
    duration_ms, validate, Caller, ErrorKind, InsertOptions, InsertOutcome, ListStepsOptions,
    NewWorkflow, RecordedStep, Result, SleepState, StepInfo, StepOperation, StepOperationOutcome,
    StepRecord, StepStore,
};
use dbos_storage_driver_kit::decisions::column_values::{outcome_of, status_of};
use dbos_storage_driver_kit::decisions::list_queries::{limit, offset};
use dbos_storage_driver_kit::decisions::ownership_check::{self, WorkflowOwner};
use dbos_storage_driver_kit::decisions::step_checkpoints::{self, NewStep};
use dbos_storage_driver_kit::decisions::{child_starts, durable_sleep, store_errors};
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

use super::group_commit::{self, Admission};
use super::workflows::insert_workflow_row;
use super::{check_owner, col, now_ms, Exec, PostgresStore, Queries};
use crate::error::{classify, classify_commit, is_unique_violation, with_backend};

/// A recorded `operation_outputs` row.
struct StepRow {
    function_name: String,
    output: Option<String>,
    error: Option<String>,
    child_workflow_id: Option<String>,
    completed_at_epoch_ms: Option<i64>,
}

async fn read_step(
    tx: &Transaction<'_>,
    queries: &Queries,
    workflow_id: &str,
    function_id: i32,
) -> Result<Option<StepRow>> {
    let row = tx
        .query_opt(queries.select_step.as_str(), &[&workflow_id, &function_id])
        .await
        .map_err(classify)?;
    row.map(|r| {
        Ok(StepRow {
            function_name: col::<Option<String>>(&r, 0)?.unwrap_or_default(),
            output: col(&r, 1)?,
            error: col(&r, 2)?,
            child_workflow_id: col(&r, 3)?,
            completed_at_epoch_ms: col(&r, 5)?,
        })
    })
    .transpose()
}

/// The parameters of `row`, in the order of `insert_step_head!`.
fn step_params<'r>(row: &'r NewStep<'_>) -> [&'r (dyn ToSql + Sync); 10] {
    [
        &row.workflow_id,
        &row.function_id,
        &row.function_name,
        &row.output,
        &row.error,
        &row.child_workflow_id,
        &row.started_at_epoch_ms,
        &row.completed_at_epoch_ms,
        &row.serialization,
        &row.application_name,
    ]
}

/// Inserts `row`, or finds the recorded one; returns the recorded completion time.
pub(super) async fn record_step_row(
    tx: &Transaction<'_>,
    queries: &Queries,
    row: &NewStep<'_>,
) -> Result<Option<i64>> {
    let recorded = tx
        .query_one(queries.insert_step.as_str(), &step_params(row))
        .await
        .map_err(classify)?;
    col(&recorded, 0)
}

/// Inserts `row` unless a step is recorded at its position.
async fn insert_step_if_absent(
    tx: &Transaction<'_>,
    queries: &Queries,
    row: &NewStep<'_>,
) -> Result<()> {
    tx.execute(queries.insert_step_if_absent.as_str(), &step_params(row))
        .await
        .map_err(classify)?;
    Ok(())
}

/// The error of a checkpoint that `RECORD_STEP` did not write, from the workflow's owner row
/// read afterwards (`None`: no such workflow).
fn unwritten_step(
    step: &StepRecord,
    expected: Option<&str>,
    found: Option<tokio_postgres::Row>,
) -> Result<dbos_storage_core::Error> {
    let what = || format!("record step {}", step.function_id);
    let Some(expected) = expected else {
        return Ok(store_errors::missing_workflow(&step.workflow_id));
    };
    let owner = found
        .map(|r| {
            Ok::<_, dbos_storage_core::Error>(WorkflowOwner {
                owner_xid: col(&r, 0)?,
                ..WorkflowOwner::default()
            })
        })
        .transpose()?;
    Ok(
        match ownership_check::verify(&step.workflow_id, expected, owner, &what()) {
            Err(e) => e,
            // The token matches now but did not in the statement: only a token the database
            // compares differently could do that (tokens are never reused).
            Ok(_) => store_errors::not_owner(&step.workflow_id, &what(), true),
        },
    )
}

impl PostgresStore {
    /// A step checkpoint: one statement (`sql::steps::RECORD_STEP`), and a second read
    /// only for a step it did not write. `step` is validated.
    pub(super) async fn checkpoint(
        &self,
        step: &StepRecord,
        owner_xid: Option<&str>,
    ) -> Result<()> {
        // One statement: the owner check and the insert (see `sql::steps::RECORD_STEP`), in
        // one implicit transaction. Only a step it did not write costs a second read.
        let row = NewStep::recorded(step, None);
        // `RECORD_STEP` takes the owner token where the insert head takes the application.
        let mut params = step_params(&row);
        params[9] = &owner_xid;
        let client = self.client().await?;
        let queries = self.queries();
        match client
            .execute_cached(queries.record_step.as_str(), &params)
            .await
        {
            Ok(1) => Ok(()),
            Ok(_) => {
                // Not written: the workflow is gone, or another token (or none) owns it.
                let found = client
                    .query_opt_cached(queries.select_workflow_owner.as_str(), &[&step.workflow_id])
                    .await
                    .map_err(classify)?;
                drop(client);
                Err(with_backend(unwritten_step(step, owner_xid, found)?))
            }
            Err(e) if is_unique_violation(&e) => {
                // A step is recorded at this position (the statement failed, so nothing of it
                // was written): this write's own earlier commit, or a rival's. The recorded
                // completion time tells which.
                let recorded = client
                    .query_opt_cached(
                        queries.select_step.as_str(),
                        &[&step.workflow_id, &step.function_id],
                    )
                    .await
                    .map_err(classify)?;
                drop(client);
                let recorded_at: Option<i64> = match recorded {
                    Some(r) => col(&r, 5)?,
                    None => None,
                };
                if recorded_at == step.completed_column() {
                    Ok(())
                } else {
                    Err(with_backend(store_errors::step_conflict(step, recorded_at)))
                }
            }
            // Autocommit: a connection lost before the answer leaves the write unknown.
            Err(e) => Err(classify_commit(e)),
        }
    }
}

#[async_trait]
impl StepStore for PostgresStore {
    async fn check_step(
        &self,
        workflow_id: &str,
        function_id: i32,
        function_name: &str,
    ) -> Result<Option<RecordedStep>> {
        validate::workflow_id(workflow_id)?;
        validate::function_id(function_id)?;
        let client = self.client().await?;
        let row = client
            .query_opt_cached(
                self.queries().select_status_and_step.as_str(),
                &[&workflow_id, &function_id],
            )
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            return Err(with_backend(store_errors::missing_workflow(workflow_id)));
        };
        let status = status_of(col::<Option<String>>(&row, 0)?.as_deref());
        step_checkpoints::ensure_not_cancelled(workflow_id, &status).map_err(with_backend)?;
        let Some(recorded_name) = col::<Option<String>>(&row, 1)? else {
            return Ok(None);
        };
        step_checkpoints::ensure_same_step(workflow_id, function_id, function_name, &recorded_name)
            .map_err(with_backend)?;
        let serialization: Option<String> = col(&row, 5)?;
        Ok(Some(RecordedStep::new(
            outcome_of(col(&row, 2)?, col(&row, 3)?, serialization.as_deref()),
            col(&row, 4)?,
        )))
    }

    async fn record_step(&self, step: StepRecord, owner_xid: Option<&str>) -> Result<()> {
        step.validate()?;
        let Some(combiner) = self.combiner() else {
            return self.checkpoint(&step, owner_xid).await;
        };
        match combiner.admit(step, owner_xid) {
            Admission::Alone(step, slot) => {
                let result = self.checkpoint(&step, owner_xid).await;
                drop(slot);
                result
            }
            Admission::Queued { result, lead } => {
                if lead {
                    tokio::spawn(group_commit::lead(self.clone()));
                }
                result
                    .await
                    .unwrap_or_else(|_| Err(group_commit::abandoned()))
            }
        }
    }

    async fn list_steps(
        &self,
        workflow_id: &str,
        options: ListStepsOptions,
    ) -> Result<Vec<StepInfo>> {
        validate::workflow_id(workflow_id)?;
        let limit = limit(options.limit);
        let offset = offset(options.offset);
        let client = self.client().await?;
        let rows = client
            .query(
                self.queries().list_steps.as_str(),
                &[&workflow_id, &options.load_output, &limit, &offset],
            )
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let mut info =
                    StepInfo::new(col(r, 0)?, col::<Option<String>>(r, 1)?.unwrap_or_default());
                let serialization: Option<String> = col(r, 7)?;
                info.outcome = outcome_of(col(r, 2)?, col(r, 3)?, serialization.as_deref());
                info.child_workflow_id = col(r, 4)?;
                info.started_at_epoch_ms = col(r, 5)?;
                info.completed_at_epoch_ms = col(r, 6)?;
                Ok(info)
            })
            .collect()
    }

    async fn start_child_workflow(
        &self,
        parent_workflow_id: &str,
        function_id: i32,
        child: NewWorkflow,
        options: InsertOptions,
        parent_owner_xid: Option<&str>,
    ) -> Result<InsertOutcome> {
        let mut child = child_starts::prepare(parent_workflow_id, function_id, child)?;
        let parent = parent_workflow_id.to_owned();
        let owner = parent_owner_xid.map(str::to_owned);
        let child_for_error = child.clone();
        let started = {
            let parent = parent.clone();
            let owner = owner.clone();
            self.write(move |tx, q| {
                Box::pin(async move {
                    let now = now_ms(tx, &q).await?;
                    let what = format!("start child workflow {}", child.workflow_id);
                    let Some(parent_row) =
                        check_owner(tx, &q, &parent, owner.as_deref(), &what).await?
                    else {
                        let e = store_errors::missing_parent(&parent, &child.workflow_id);
                        return Err(with_backend(e));
                    };
                    if let Some(step) = read_step(tx, &q, &parent, function_id).await? {
                        // A replay of a start that was deduplicated gets the same answer.
                        child_starts::check_recorded_start(
                            &parent,
                            function_id,
                            &child,
                            &step.function_name,
                            step.child_workflow_id.as_deref(),
                            step.error.is_some(),
                        )
                        .map_err(with_backend)?;
                    }
                    child_starts::inherit_deadline(&mut child, parent_row.deadline_epoch_ms);
                    let outcome = insert_workflow_row(Exec::Tx(tx), &q, &child, &options).await?;
                    let application = parent_row.application_name.as_deref();
                    let row =
                        NewStep::child_start(&parent, function_id, &child, None, now, application);
                    insert_step_if_absent(tx, &q, &row).await?;
                    Ok(outcome)
                })
            })
            .await
        };
        match started {
            Err(e) if e.kind() == ErrorKind::Deduplicated => {
                // The unique violation aborted that transaction. Record the deduplication as
                // the parent's step error in a new one, so a replay re-raises it instead of
                // enqueuing again; then report it.
                let error_payload = child_starts::deduplicated_step_error(&child_for_error)?;
                self.write(move |tx, q| {
                    Box::pin(async move {
                        let now = now_ms(tx, &q).await?;
                        let what = format!("record step {function_id}");
                        let parent_row =
                            check_owner(tx, &q, &parent, owner.as_deref(), &what).await?;
                        let application = parent_row
                            .as_ref()
                            .and_then(|p| p.application_name.as_deref());
                        let row = NewStep::child_start(
                            &parent,
                            function_id,
                            &child_for_error,
                            Some(&error_payload),
                            now,
                            application,
                        );
                        insert_step_if_absent(tx, &q, &row).await
                    })
                })
                .await?;
                Err(e)
            }
            other => other,
        }
    }

    async fn record_sleep(
        &self,
        workflow_id: &str,
        function_id: i32,
        duration: Duration,
        owner_xid: Option<&str>,
    ) -> Result<SleepState> {
        validate::workflow_id(workflow_id)?;
        validate::function_id(function_id)?;
        let id = workflow_id.to_owned();
        let owner = owner_xid.map(str::to_owned);
        let duration_ms = duration_ms(duration);
        self.write(move |tx, q| {
            Box::pin(async move {
                let now = now_ms(tx, &q).await?;
                let what = format!("record step {function_id}");
                let workflow = check_owner(tx, &q, &id, owner.as_deref(), &what)
                    .await?
                    .ok_or_else(|| with_backend(store_errors::missing_workflow(&id)))?;
                if let Some(row) = read_step(tx, &q, &id, function_id).await? {
                    let wake = durable_sleep::replayed_wake_time(
                        &id,
                        function_id,
                        &row.function_name,
                        row.output.as_deref(),
                        row.completed_at_epoch_ms,
                    )
                    .map_err(with_backend)?;
                    return Ok(SleepState::new(wake, now));
                }
                let wake = now.saturating_add(duration_ms);
                let output = durable_sleep::encode_wake_time(wake);
                let application = workflow.application_name.as_deref();
                let row = NewStep::sleep(&id, function_id, &output, now, wake, application);
                insert_step_if_absent(tx, &q, &row).await?;
                Ok(SleepState::new(wake, now))
            })
        })
        .await
    }

    async fn run_as_step(
        &self,
        caller: Caller,
        operation: StepOperation,
    ) -> Result<StepOperationOutcome> {
        self.run_operation_as_step(caller, operation).await
    }
}

#[cfg(test)]
mod tests {
    //! The single-statement checkpoint and the statement cache, on a real server: one round trip
    //! per checkpoint, one `Parse` per connection, a statement dropped by the server prepared
    //! again, and the fence still refusing a former owner.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use dbos_storage_core::{
        CancelOptions, DatabaseUrl, DbosConfig, ErrorKind, InsertOptions, LifecycleStore,
        ListStepsOptions, ManagementStore, NewWorkflow, Payload, StepRecord, StepStore,
        WorkflowStore,
    };
    use dbos_storage_testkit::pg;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use crate::config::PostgresConfig;
    use crate::store::PostgresStore;

    /// A migrated store of one connection (no LISTEN, no pre-ping) on `url`.
    async fn store_at(url: &str) -> PostgresStore {
        let dbos = DbosConfig::new("steps_tests")
            .with_sys_db_pool_size(1)
            .with_pool_pre_ping(false)
            .with_use_listen_notify(false);
        let config = PostgresConfig::system(&dbos, &DatabaseUrl::parse(url).unwrap()).unwrap();
        let store = PostgresStore::open(config).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// Starts workflow `id` and returns its owner token.
    async fn start(store: &PostgresStore, id: &str) -> String {
        let wf = NewWorkflow::new(id, "f", Payload::portable_json("1"));
        let owner = wf.creator_xid.clone();
        store
            .insert_workflow(wf, InsertOptions::default())
            .await
            .unwrap();
        owner
    }

    fn step(id: &str, function_id: i32) -> StepRecord {
        StepRecord::output(id, function_id, "s", Payload::portable_json("2"))
    }

    /// How many statements with the text of `record_step` the store's connection has prepared
    /// (the server's view), and how many the connection's cache prepared.
    async fn prepared(store: &PostgresStore) -> (i64, u64) {
        let conn = store.client().await.unwrap();
        let row = conn
            .query_one(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
                &[&store.queries().record_step.as_str()],
            )
            .await
            .unwrap();
        (row.get(0), conn.prepares())
    }

    #[tokio::test]
    async fn a_checkpoint_statement_is_prepared_once_per_connection() {
        let url = pg::server().create_database("steps_cache").await;
        let store = store_at(&url).await;
        let owner = start(&store, "w").await;
        store.record_step(step("w", 1), Some(&owner)).await.unwrap();
        let (on_server, prepares) = prepared(&store).await;
        assert_eq!(
            on_server, 1,
            "the statement stays prepared on the connection"
        );
        for i in 2..=6 {
            store.record_step(step("w", i), Some(&owner)).await.unwrap();
        }
        assert_eq!(
            prepared(&store).await,
            (1, prepares),
            "no statement prepared again"
        );

        // A pooler's DISCARD ALL drops the session's statements: the next call prepares its
        // statement again, once, and succeeds.
        store
            .client()
            .await
            .unwrap()
            .batch_execute("DISCARD ALL")
            .await
            .unwrap();
        assert_eq!(prepared(&store).await.0, 0);
        store.record_step(step("w", 7), Some(&owner)).await.unwrap();
        assert_eq!(prepared(&store).await, (1, prepares + 1));
        // The other cached statements recover the same way.
        assert!(store.check_step("w", 7, "s").await.unwrap().is_some());
        let steps = store
            .list_steps("w", ListStepsOptions::default())
            .await
            .unwrap();
        assert_eq!(steps.len(), 7);
        store.close().await.unwrap();
        pg::server().drop_database(&url).await;
    }

    /// A TCP proxy to the test server that counts the round trips clients start: frontend
    /// `Sync` (end of an extended-protocol exchange) and `Query` (a simple query) messages.
    async fn counting_proxy(upstream: (String, u16)) -> (u16, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicU64::new(0));
        let counter = count.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect((upstream.0.as_str(), upstream.1))
                    .await
                    .unwrap();
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, to_server) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = forward_counting(&mut from_client, to_server, &counter).await;
                });
            }
        });
        (port, count)
    }

    async fn forward_counting(
        from: &mut tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        count: &AtomicU64,
    ) -> std::io::Result<()> {
        // Untyped startup packets first (an SSL or GSS request may precede the startup).
        loop {
            let len = from.read_u32().await?;
            let mut body = vec![0; len as usize - 4];
            from.read_exact(&mut body).await?;
            to.write_u32(len).await?;
            to.write_all(&body).await?;
            let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            if code != 80_877_103 && code != 80_877_104 {
                break;
            }
        }
        loop {
            let kind = from.read_u8().await?;
            let len = from.read_u32().await?;
            let mut body = vec![0; len as usize - 4];
            from.read_exact(&mut body).await?;
            if kind == b'S' || kind == b'Q' {
                count.fetch_add(1, Ordering::SeqCst);
            }
            to.write_u8(kind).await?;
            to.write_u32(len).await?;
            to.write_all(&body).await?;
        }
    }

    #[tokio::test]
    async fn a_checkpoint_is_one_round_trip_and_the_fence_holds() {
        let server = pg::server();
        let url = server.create_database("steps_trips").await;
        let (port, trips) = counting_proxy((server.host().to_owned(), server.port())).await;
        let store = store_at(&pg::faults::url_through(&url, "127.0.0.1", port)).await;
        let owner = start(&store, "w").await;
        // The first call prepares the statement (one more round trip).
        store.record_step(step("w", 1), Some(&owner)).await.unwrap();
        let second = step("w", 2);
        for (record, token) in [(second.clone(), Some(owner.as_str())), (step("w", 3), None)] {
            let before = trips.load(Ordering::SeqCst);
            store.record_step(record, token).await.unwrap();
            assert_eq!(trips.load(Ordering::SeqCst) - before, 1);
        }
        // A retry of one's own write succeeds: the insert meets the recorded step and one read
        // tells that it is this write's (two round trips once that read is prepared).
        for _ in 0..2 {
            let before = trips.load(Ordering::SeqCst);
            store
                .record_step(second.clone(), Some(&owner))
                .await
                .unwrap();
            assert!(trips.load(Ordering::SeqCst) - before <= 3);
        }
        let before = trips.load(Ordering::SeqCst);
        store
            .record_step(second.clone(), Some(&owner))
            .await
            .unwrap();
        assert_eq!(trips.load(Ordering::SeqCst) - before, 2);

        // Under the single statement, a rival's write, another token, a cancelled and a missing
        // workflow are still refused, and nothing is recorded.
        let mut rival = second;
        rival.completed_at_epoch_ms += 1;
        let e = store.record_step(rival, Some(&owner)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StepConflict, "{e}");
        let e = store
            .record_step(step("w", 4), Some("someone-else"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotOwner, "{e}");
        assert!(e.message().contains("another execution owns it now"), "{e}");
        store
            .cancel_workflows(&["w".to_owned()], CancelOptions::default())
            .await
            .unwrap();
        let e = store
            .record_step(step("w", 4), Some(&owner))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotOwner, "{e}");
        assert!(e.message().contains("nobody owns it"), "{e}");
        for token in [Some(owner.as_str()), None] {
            let e = store
                .record_step(step("missing", 1), token)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        }
        let steps = store
            .list_steps("w", ListStepsOptions::default())
            .await
            .unwrap();
        assert_eq!(steps.len(), 3);
        store.close().await.unwrap();
        server.drop_database(&url).await;
    }

    #[tokio::test]
    async fn a_checkpoint_waits_for_a_concurrent_hand_off_and_then_refuses() {
        let url = pg::server().create_database("steps_race").await;
        let store = store_at(&url).await;
        let owner = start(&store, "w").await;
        let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let schema = dbos_storage_core::url::quote_identifier(store.schema());
        // A hand-off (as a recovery or a claim by another executor) in flight: the row is
        // locked and its token changed, not yet committed.
        admin.batch_execute("BEGIN").await.unwrap();
        admin
            .execute(
                &format!(
                    "UPDATE {schema}.workflow_status SET owner_xid = 'new-owner' \
                     WHERE workflow_uuid = 'w'"
                ),
                &[],
            )
            .await
            .unwrap();
        let writer = {
            let store = store.clone();
            let owner = owner.clone();
            tokio::spawn(async move { store.record_step(step("w", 1), Some(&owner)).await })
        };
        // Wait until the checkpoint blocks on the row lock (no time limit: the test harness
        // bounds the test).
        loop {
            let waiting: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        admin.batch_execute("COMMIT").await.unwrap();
        let e = writer.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotOwner, "{e}");
        let steps = store
            .list_steps("w", ListStepsOptions::default())
            .await
            .unwrap();
        assert!(steps.is_empty(), "{steps:?}");
        store.close().await.unwrap();
        pg::server().drop_database(&url).await;
    }
}
