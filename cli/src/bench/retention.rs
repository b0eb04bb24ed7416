//! `bench --scale`: garbage collection of the big database's finished workflows while the
//! queue workers of [`super::fairness`] keep claiming.
//!
//! `collect_garbage` runs with a cutoff of the moment it starts (every workflow finished before
//! it goes: the fill's, and those the bench finished so far), in its default batches, while one
//! worker per queue polls and finishes as in the fairness run. Reported: the collection's time
//! and rate, the claim rate during it next to the fairness run's (the same workers without a
//! collection; target 0.7), the longest call of any worker during it (on SQLite, with its single
//! writer, that is how long a collection batch held the other writers up), and on PostgreSQL
//! what the server says ([`LockSampler`]): the longest lock wait of any session, the longest
//! collector statement and the longest collector transaction (locks are held until it ends).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dbos_storage::postgres::tokio_postgres;
use dbos_storage::{collect_garbage, now_epoch_ms, GcOptions, RetentionPolicy};
use serde::Serialize;

use super::fairness::{queue_workers, run_workers, Until, WorkerRun};
use super::report::thousands;
use super::Bench;
use crate::connect::{self, Mode, Native};
use crate::error::CliError;

/// The `application_name` of the collector's PostgreSQL sessions, which the sampler tells apart.
const COLLECTOR_APPLICATION: &str = "dbos-bench-gc";
/// How often the sampler reads the server's activity.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// The least claim rate during collection, next to the rate without it.
const CLAIM_RATE_TARGET: f64 = 0.7;
/// The longest a collector statement or transaction may hold locks, in milliseconds.
const LOCK_TARGET_MS: f64 = 100.0;

// language=SQL
/// Every other active session of this database: whether it is the collector's (`$1` its
/// application name), its statement's first words, how long its statement and its transaction
/// have run, how long it has waited for a lock it has not got (`pg_locks.waitstart`, PostgreSQL
/// 14 and later), and whether a collector session is what it waits for. Milliseconds.
const SAMPLE_ACTIVITY: &str = "\
SELECT a.application_name = $1,
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 80),
       (EXTRACT(EPOCH FROM clock_timestamp() - a.query_start) * 1000)::float8,
       (EXTRACT(EPOCH FROM clock_timestamp() - a.xact_start) * 1000)::float8,
       (SELECT (EXTRACT(EPOCH FROM clock_timestamp() - min(l.waitstart)) * 1000)::float8
        FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted),
       CASE WHEN a.wait_event_type = 'Lock' THEN
         (SELECT COALESCE(bool_or(b.application_name = $1), false) FROM pg_stat_activity b
          WHERE b.pid = ANY(pg_blocking_pids(a.pid))) END
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state = 'active'";

/// What the server said during the collection (PostgreSQL).
#[derive(Debug, Default, Serialize)]
pub(super) struct ServerView {
    /// Samples taken.
    pub(super) samples: u64,
    /// The longest lock wait any session had, in milliseconds (`pg_locks.waitstart`).
    pub(super) longest_lock_wait_ms: f64,
    /// The longest wait for a lock a collector session held.
    pub(super) longest_wait_on_collector_ms: f64,
    /// The longest-running collector statement seen, in milliseconds, and its first words.
    pub(super) longest_statement_ms: f64,
    pub(super) longest_statement: String,
    /// The longest-running collector transaction seen, in milliseconds.
    pub(super) longest_transaction_ms: f64,
}

/// Reads `pg_stat_activity` and `pg_locks` every [`SAMPLE_EVERY`] on a connection of its own
/// (at least once) until `stop` is raised, keeping the longest waits and collector statements
/// it sees.
struct LockSampler {
    client: tokio_postgres::Client,
}

impl LockSampler {
    async fn sample(&self, stop: &AtomicBool) -> Result<ServerView, CliError> {
        let mut view = ServerView::default();
        let statement = self
            .client
            .prepare(SAMPLE_ACTIVITY)
            .await
            .map_err(sampler_error)?;
        loop {
            let rows = self
                .client
                .query(&statement, &[&COLLECTOR_APPLICATION])
                .await
                .map_err(sampler_error)?;
            view.samples += 1;
            for row in rows {
                let collector: Option<bool> = row.get(0);
                let query: Option<String> = row.get(1);
                let statement_ms: Option<f64> = row.get(2);
                let transaction_ms: Option<f64> = row.get(3);
                let waited_ms: Option<f64> = row.get(4);
                let on_collector: Option<bool> = row.get(5);
                if let Some(w) = waited_ms {
                    view.longest_lock_wait_ms = view.longest_lock_wait_ms.max(w);
                    if on_collector == Some(true) {
                        view.longest_wait_on_collector_ms =
                            view.longest_wait_on_collector_ms.max(w);
                    }
                }
                if collector == Some(true) {
                    let ms = statement_ms.unwrap_or(0.0);
                    if ms > view.longest_statement_ms {
                        view.longest_statement_ms = ms;
                        view.longest_statement = query.unwrap_or_default();
                    }
                    view.longest_transaction_ms = view
                        .longest_transaction_ms
                        .max(transaction_ms.unwrap_or(0.0));
                }
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        Ok(view)
    }
}

fn sampler_error(e: tokio_postgres::Error) -> CliError {
    CliError::new(format!("sampling the server's lock waits: {e}"))
}

/// Garbage collection under claims.
#[derive(Debug, Serialize)]
pub(super) struct RetentionReport {
    /// Workflows collected (with their inputs, outputs and steps).
    pub(super) workflows: u64,
    /// System-database batches.
    pub(super) batches: u64,
    /// The collection's wall time, in seconds.
    pub(super) seconds: f64,
    /// Workflows collected per second.
    pub(super) workflows_per_sec: f64,
    /// Claims per second of the workers during the collection.
    pub(super) claims_per_sec_during: f64,
    /// Claims per second of the same workers without a collection (the fairness run).
    pub(super) claims_per_sec_without: f64,
    /// `during / without`; target at least 0.7.
    pub(super) claim_rate_ratio: f64,
    /// The longest claim or outcome call of any worker during the collection, and without it.
    pub(super) longest_call_ms_during: f64,
    pub(super) longest_call_ms_without: f64,
    /// PostgreSQL: what the server said.
    pub(super) server: Option<ServerView>,
}

impl RetentionReport {
    /// The line above the retention table.
    pub(super) fn heading(&self) -> String {
        format!(
            "Garbage collection on the big database while one worker per queue keeps claiming: \
             collect_garbage (cutoff: its start, default batches) took {} workflows in {} \
             batches:",
            thousands(self.workflows),
            thousands(self.batches)
        )
    }

    /// The figure rows: what, value, target, met.
    pub(super) fn rows(&self) -> Vec<(String, String, String, Option<bool>)> {
        let mut rows = vec![
            (
                "collection time".to_owned(),
                format!("{:.1} s", self.seconds),
                "—".to_owned(),
                None,
            ),
            (
                "workflows collected per second (each with its input, output and steps)".to_owned(),
                format!("{} wf/s", thousands(self.workflows_per_sec.round() as u64)),
                "—".to_owned(),
                None,
            ),
            (
                format!(
                    "claim rate during the collection, next to without it ({:.0} vs {:.0} \
                     claims/s)",
                    self.claims_per_sec_during, self.claims_per_sec_without
                ),
                format!("{:.2}×", self.claim_rate_ratio),
                format!("≥ {CLAIM_RATE_TARGET}×"),
                Some(self.claim_rate_ratio >= CLAIM_RATE_TARGET),
            ),
            (
                format!(
                    "longest claim or outcome call of a worker during the collection (without \
                     it: {:.0} ms)",
                    self.longest_call_ms_without
                ),
                format!("{:.0} ms", self.longest_call_ms_during),
                "—".to_owned(),
                None,
            ),
        ];
        if let Some(s) = &self.server {
            rows.push((
                "longest lock wait of any session (pg_locks.waitstart, sampled every 10 ms)"
                    .to_owned(),
                format!("{:.0} ms", s.longest_lock_wait_ms),
                "—".to_owned(),
                None,
            ));
            rows.push((
                "longest wait for a lock the collector held".to_owned(),
                format!("{:.0} ms", s.longest_wait_on_collector_ms),
                format!("≤ {LOCK_TARGET_MS:.0} ms"),
                Some(s.longest_wait_on_collector_ms <= LOCK_TARGET_MS),
            ));
            rows.push((
                format!(
                    "longest collector statement (pg_stat_activity.query_start): `{}`",
                    s.longest_statement.replace('`', "'")
                ),
                format!("{:.0} ms", s.longest_statement_ms),
                format!("≤ {LOCK_TARGET_MS:.0} ms"),
                Some(s.longest_statement_ms <= LOCK_TARGET_MS),
            ));
            rows.push((
                "longest collector transaction, so the longest it held row locks \
                 (pg_stat_activity.xact_start)"
                    .to_owned(),
                format!("{:.0} ms", s.longest_transaction_ms),
                format!("≤ {LOCK_TARGET_MS:.0} ms"),
                Some(s.longest_transaction_ms <= LOCK_TARGET_MS),
            ));
        }
        rows
    }
}

/// Collects every finished workflow of the big database while the queue workers claim, and
/// compares their claim rate with `without` (the fairness run).
pub(super) async fn collect_under_claims(
    bench: &Bench<'_>,
    without: &WorkerRun,
) -> Result<RetentionReport, CliError> {
    let workers = queue_workers();
    let stop = AtomicBool::new(false);
    let (collector, sampler) = match &bench.db.native {
        Native::Postgres(store) => {
            let mut config = bench.config.clone();
            let url = config.system_database_url()?;
            let url = url.expose_secret();
            let joiner = if url.contains('?') { '&' } else { '?' };
            config.system_database_url = Some(format!(
                "{url}{joiner}application_name={COLLECTOR_APPLICATION}"
            ));
            config.sys_db_pool_size = Some(2);
            let collector = connect::open(&config, Mode::Verify).await?;
            let client = store.native_connection().await?;
            (Some(collector), Some(LockSampler { client }))
        }
        Native::Sqlite(_) => (None, None),
    };
    let store = collector
        .as_ref()
        .map_or_else(|| bench.store(), |db| db.store.as_ref());
    let gc = async {
        let t = Instant::now();
        let options = GcOptions::new(RetentionPolicy::completed_before(now_epoch_ms()));
        let report = collect_garbage(store, None, options).await;
        let elapsed = t.elapsed();
        stop.store(true, Ordering::SeqCst);
        report.map(|r| (r, elapsed))
    };
    let sample = async {
        match &sampler {
            Some(s) => s.sample(&stop).await.map(Some),
            None => Ok(None),
        }
    };
    let (during, gc, server) = tokio::join!(
        run_workers(bench, &workers, Until::Raised(&stop)),
        gc,
        sample
    );
    if let Some(db) = &collector {
        db.close().await;
    }
    let (gc, elapsed) = gc?;
    let during = WorkerRun {
        queues: during?,
        elapsed,
    };
    let server = server?;
    let seconds = elapsed.as_secs_f64();
    let claims_per_sec_during = during.claim_rate();
    let claims_per_sec_without = without.claim_rate();
    Ok(RetentionReport {
        workflows: gc.workflows,
        batches: gc.batches,
        seconds,
        workflows_per_sec: gc.workflows as f64 / seconds.max(1e-9),
        claims_per_sec_during,
        claims_per_sec_without,
        claim_rate_ratio: claims_per_sec_during / claims_per_sec_without.max(f64::MIN_POSITIVE),
        longest_call_ms_during: during.longest_call_ms(),
        longest_call_ms_without: without.longest_call_ms(),
        server,
    })
}
