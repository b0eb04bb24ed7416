//! Dequeue throughput of `PostgresStore`: 1 and 16 concurrent workers drain a queue through
//! `claim_workflows` (up to 8 workflows a claim) and `record_outcome`, next to a raw-SQL
//! baseline: 16 tasks on their own connections running one prepared `UPDATE … WHERE
//! workflow_uuid IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT 8) RETURNING` claim and one
//! prepared outcome `UPDATE` per workflow, with no transaction block, budget, version or
//! application checks — the floor the store's claim path is measured against.
//!
//! `cargo bench -p dbos-storage-postgres --bench dequeue`. The number of workflows defaults to
//! 5000; set `DBOS_BENCH_WORKFLOWS` to change it. The server is the test harness's
//! (`DBOS_TEST_POSTGRES_URL`, or a throwaway local cluster).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dbos_storage_conformance::Factory;
use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{NewWorkflow, Payload, QueueStore};
use dbos_storage_testkit::bench::{dequeue_throughput, table, CLAIM_BATCH};
use dbos_storage_testkit::factories::PgFactory;

/// What the raw-SQL baseline measured.
struct Baseline {
    workers: usize,
    workflows: usize,
    claimed: usize,
    claims: usize,
    elapsed: Duration,
}

/// Drains `workflows` enqueued workflows with hand-written SQL from `workers` connections.
async fn raw_baseline(factory: &PgFactory, workers: usize, workflows: usize) -> Baseline {
    let store = factory.create().await;
    let batch: Vec<NewWorkflow> = (0..workflows)
        .map(|i| {
            NewWorkflow::new(
                format!("raw-{i:07}"),
                "bench_fn",
                Payload::portable_json("[]"),
            )
            .enqueued("bench")
        })
        .collect();
    store
        .enqueue_workflows(batch)
        .await
        .expect("enqueue the baseline's workflows");
    let schema = quote_identifier(store.schema());
    let url = PgFactory::database_url().await;
    let claim_sql = format!(
        "UPDATE {schema}.workflow_status SET status = 'PENDING', owner_xid = $1, \
         executor_id = $2, started_at_epoch_ms = (EXTRACT(epoch FROM now()) * 1000)::bigint, \
         recovery_attempts = recovery_attempts + 1 \
         WHERE workflow_uuid IN (SELECT workflow_uuid FROM {schema}.workflow_status \
           WHERE queue_name = 'bench' AND status = 'ENQUEUED' \
           ORDER BY priority, created_at LIMIT {CLAIM_BATCH} FOR UPDATE SKIP LOCKED) \
         AND status = 'ENQUEUED' RETURNING workflow_uuid"
    );
    let finish_sql = format!(
        "UPDATE {schema}.workflow_status SET status = 'SUCCESS', owner_xid = NULL, \
         completed_at = (EXTRACT(epoch FROM now()) * 1000)::bigint \
         WHERE workflow_uuid = $1 AND status = 'PENDING' AND owner_xid = $2"
    );
    let claimed_total = Arc::new(AtomicUsize::new(0));
    let claims_total = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|i| {
            let (claim_sql, finish_sql) = (claim_sql.clone(), finish_sql.clone());
            let (claimed_total, claims_total) = (claimed_total.clone(), claims_total.clone());
            tokio::spawn(async move {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect for the baseline");
                tokio::spawn(connection);
                let claim = client.prepare(&claim_sql).await.expect("prepare the claim");
                let finish = client
                    .prepare(&finish_sql)
                    .await
                    .expect("prepare the outcome");
                let executor = format!("raw-worker-{i}");
                while claimed_total.load(Ordering::SeqCst) < workflows {
                    let token = dbos_storage_core::new_token();
                    let rows = client
                        .query(&claim, &[&token, &executor])
                        .await
                        .expect("raw claim");
                    claims_total.fetch_add(1, Ordering::SeqCst);
                    if rows.is_empty() {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    claimed_total.fetch_add(rows.len(), Ordering::SeqCst);
                    for row in rows {
                        let id: String = row.get(0);
                        client
                            .execute(&finish, &[&id, &token])
                            .await
                            .expect("raw outcome");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a baseline worker panicked");
    }
    let elapsed = start.elapsed();
    factory.destroy(store).await;
    Baseline {
        workers,
        workflows,
        claimed: claimed_total.load(Ordering::SeqCst),
        claims: claims_total.load(Ordering::SeqCst),
        elapsed,
    }
}

fn main() {
    let workflows = std::env::var("DBOS_BENCH_WORKFLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot build the benchmark's tokio runtime");
    // One pooled connection per worker, as the baseline has.
    let factory = PgFactory::with_pool_size(16);
    let reports: Vec<_> = [1, 16]
        .into_iter()
        .map(|workers| runtime.block_on(dequeue_throughput(&factory, workers, workflows)))
        .collect();
    print!("{}", table(&reports));
    let raw = runtime.block_on(raw_baseline(&factory, 16, workflows));
    println!(
        "{:<10} {:>7} {:>9} {:>9} {:>11.0} {:>13} {:>10} {:>10} {:>7}",
        "raw SQL",
        raw.workers,
        raw.workflows,
        raw.elapsed.as_millis(),
        raw.claimed as f64 / raw.elapsed.as_secs_f64().max(f64::EPSILON),
        "-",
        "-",
        "-",
        raw.claims
    );
}
