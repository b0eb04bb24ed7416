//! The two system databases under comparison, driven through their public APIs: ours
//! (`dbos_storage_postgres::PostgresStore`, the `LifecycleStore` and `QueueStore` traits) and the
//! official SDK's (`dbos::sysdb::postgres::PostgresSystemDatabase`, the `SystemDatabase` trait).

use std::time::Duration;

use dbos::sysdb::postgres::{Config, PostgresSystemDatabase};
use dbos::sysdb::types::{QueueRecord, Submission};
use dbos::sysdb::SystemDatabase;
use dbos_storage_core::{ClaimRequest, LifecycleStore, NewWorkflow, Payload, QueueStore};
use dbos_storage_postgres::PostgresStore;
use futures::future::try_join_all;

use crate::Failure;

/// The queue every workload enqueues on and claims from.
pub(crate) const QUEUE: &str = "vs-sdk";
/// The application version of the enqueued workflows and of the claiming executor.
const VERSION: &str = "bench-v1";
/// The claiming executor.
const EXECUTOR: &str = "bench-executor";
/// The workflow function name.
const NAME: &str = "bench_workflow";
/// The serialized input of every workflow.
const INPUTS: &str = r#"[{"order":42,"items":["a","b"]}]"#;
/// Pool size of both sides: our default, so that neither pool caps 16 workers (the official
/// SDK's default is 10).
pub(crate) const POOL_SIZE: u32 = 20;
/// Concurrent single-workflow enqueues on the official side (it has no batch enqueue).
const ENQUEUERS: usize = 16;

/// Which implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// dbos-storage-postgres.
    Ours,
    /// The official SDK's system database.
    Official,
}

impl Kind {
    /// Both, ours first.
    pub(crate) const BOTH: [Kind; 2] = [Kind::Ours, Kind::Official];

    /// A short name for database names and logs.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Official => "official",
        }
    }
}

/// An open system database of either kind.
pub(crate) enum Side {
    /// Ours.
    Ours(PostgresStore),
    /// The official SDK's.
    Official(PostgresSystemDatabase),
}

impl Side {
    /// What an application does on start-up against a server without its database: connect
    /// (creating the database) and migrate. Ours: `PostgresStore::open` (pool, database created
    /// when missing) then `migrate`. Official: `PostgresSystemDatabase::connect` (database created
    /// when missing, pool, migrations, notification listener).
    pub(crate) async fn connect_fresh(kind: Kind, url: &str) -> Result<Side, Failure> {
        match kind {
            Kind::Ours => {
                let store = PostgresStore::connect(url)
                    .await
                    .map_err(|e| Failure::new(format!("ours: connect: {e}")))?;
                store
                    .migrate()
                    .await
                    .map_err(|e| Failure::new(format!("ours: migrate: {e}")))?;
                Ok(Side::Ours(store))
            }
            Kind::Official => {
                let config = Config {
                    max_connections: POOL_SIZE,
                    ..Config::new(url)
                };
                let db = PostgresSystemDatabase::connect(&config)
                    .await
                    .map_err(|e| Failure::new(format!("official: connect: {e}")))?;
                Ok(Side::Official(db))
            }
        }
    }

    /// Enqueues `n` workflows `{prefix}-{i}` on [`QUEUE`] at [`VERSION`]. Ours: batch
    /// `enqueue_workflows`; official: `init_workflow` per workflow, [`ENQUEUERS`] at a time.
    pub(crate) async fn enqueue(&self, prefix: &str, n: usize) -> Result<(), Failure> {
        match self {
            Side::Ours(store) => {
                let workflows = (0..n)
                    .map(|i| {
                        NewWorkflow::new(
                            format!("{prefix}-{i}"),
                            NAME,
                            Payload::portable_json(INPUTS),
                        )
                        .enqueued(QUEUE)
                        .with_application_version(VERSION)
                    })
                    .collect();
                let inserted = store
                    .enqueue_workflows(workflows)
                    .await
                    .map_err(|e| Failure::new(format!("ours: enqueue: {e}")))?;
                if inserted.len() != n {
                    return Err(Failure::new(format!(
                        "ours: enqueued {} of {n} workflows",
                        inserted.len()
                    )));
                }
                Ok(())
            }
            Side::Official(db) => {
                let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
                for chunk in ids.chunks(ENQUEUERS) {
                    try_join_all(chunk.iter().map(|id| async move {
                        let workflow = dbos::sysdb::types::NewWorkflow {
                            workflow_id: id,
                            name: Some(NAME),
                            input: Some(INPUTS),
                            queue_name: Some(QUEUE),
                            application_version: Some(VERSION),
                            ..Default::default()
                        };
                        db.init_workflow(&workflow, None, Submission::Fresh, None)
                            .await
                            .map_err(|e| Failure::new(format!("official: enqueue {id}: {e}")))
                    }))
                    .await?;
                }
                Ok(())
            }
        }
    }

    /// One claim of up to `batch` workflows of [`QUEUE`]; returns the ids claimed. Ours:
    /// `claim_workflows` with `max_tasks(batch)`; official: `start_queued_workflows` on the queue
    /// with a worker concurrency of `batch` and nothing running locally, which bounds the claim
    /// to `batch` rows without a shared budget (read committed, `SKIP LOCKED`).
    pub(crate) async fn claim(&self, batch: u32) -> Result<Vec<String>, Failure> {
        match self {
            Side::Ours(store) => {
                let request = ClaimRequest::new(QUEUE, EXECUTOR, VERSION).max_tasks(batch);
                match store.claim_workflows(request).await {
                    Ok(outcome) => Ok(outcome.claimed),
                    Err(e) if e.is_retryable() => Ok(Vec::new()),
                    Err(e) => Err(Failure::new(format!("ours: claim: {e}"))),
                }
            }
            Side::Official(db) => {
                let queue = official_queue(batch);
                db.start_queued_workflows(&queue, EXECUTOR, VERSION, None, 0, 0)
                    .await
                    .map_err(|e| Failure::new(format!("official: claim: {e}")))
            }
        }
    }

    /// Closes the pool (and the official side's notification tasks).
    pub(crate) async fn close(self) {
        match self {
            Side::Ours(store) => {
                let _ = store.close().await;
            }
            Side::Official(db) => db.close().await,
        }
    }
}

/// The official SDK's description of [`QUEUE`]: no limits but a worker concurrency of `batch`.
fn official_queue(batch: u32) -> QueueRecord {
    QueueRecord {
        name: QUEUE.to_owned(),
        concurrency: None,
        worker_concurrency: Some(i32::try_from(batch).unwrap_or(i32::MAX)),
        rate_limit: None,
        priority_enabled: false,
        partition_queue: false,
        partition_concurrency: None,
        partition_worker_concurrency: None,
        partition_rate_limit: None,
        polling_interval: Duration::from_secs(1),
        application_name: None,
    }
}
