//! The server-crash scenario: PostgreSQL stopped with `pg_ctl stop -m immediate` in the middle
//! of the ledger workload, left down for a few seconds, and started again on the same port,
//! while the same store object keeps serving the workload (the PostgreSQL driver's store, or
//! the CockroachDB driver's on the server in CockroachDB-compatible mode).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ledger::{acceptable_outage_error, is_conflict, Ledger, Plan};
use super::{check_dialect, open_store, Backend, Campaign, CampaignReport, StoreSettings};
use crate::pg::DedicatedPgServer;

/// How long the server stays down: longer than the retry loop's time bound, so that calls made
/// meanwhile fail rather than outlast the outage in their retries.
const DOWN_FOR: Duration = Duration::from_secs(4);

/// Runs the server-crash scenario for `backend` ([`Backend::Postgres`] or
/// [`Backend::Cockroach`]) on a cluster of its own (durable settings, so that what the server
/// acknowledged survives its crash): the ledger workload with `6` tasks, crashed when about a
/// third and again when about two thirds of its operations are acknowledged.
///
/// The report's faults name the crashes; `serve_again` is the longest time, over the
/// restarts, from the server accepting connections again to the same store answering a
/// request. Every call that failed while the server was away must be of the connection class
/// (`connection_lost`, `pool_exhausted`, `timeout`, or `ambiguous_commit` for a commit in
/// flight at the crash) and name its cause, or be a conflict between the workload's own
/// transactions (`serialization_failure`, `contention`: a claim in flight when the crash was
/// declared, more frequent under the CockroachDB dialect's SERIALIZABLE); any other counts as an
/// unexpected error.
///
/// # Panics
/// For [`Backend::Sqlite`]; when the cluster cannot be started, crashed or restarted, or the
/// database cannot be read back.
pub async fn server_crash(campaign: &Campaign, backend: Backend) -> CampaignReport {
    assert!(
        backend.is_server(),
        "the server-crash scenario needs a server"
    );
    let started = Instant::now();
    let mut report = CampaignReport::new("server crash (pg_ctl stop -m immediate)", backend);
    let server = tokio::task::spawn_blocking(DedicatedPgServer::start)
        .await
        .expect("the start of the cluster panicked")
        .unwrap_or_else(|e| panic!("{e}"));
    let server = Arc::new(server);
    let url = server.create_database("campaign_crash").await;
    let settings = StoreSettings::default();
    let store = open_store(&backend.store_url(&url), &settings)
        .await
        .unwrap_or_else(|e| panic!("open the store: {e}"));

    let plan = Plan {
        tasks: 6,
        units: campaign.size.scale(12),
        steps: 5,
    };
    let ledger = Ledger::new("crash", plan, settings.hang_bound());
    let expected = plan.expected_acks();
    let workload = {
        let ledger = Arc::clone(&ledger);
        let store = Arc::clone(&store);
        tokio::spawn(async move { ledger.run(store).await })
    };

    let mut crashes = 0;
    let mut serve_again = Duration::ZERO;
    for fraction in [3, 6] {
        // Pacing, not a measurement: wait for the workload to get this far.
        while ledger.acknowledged() < expected * fraction / 10 && !workload.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if workload.is_finished() {
            break;
        }
        ledger.set_down(true);
        let crashing = Arc::clone(&server);
        tokio::task::spawn_blocking(move || crashing.stop_immediate())
            .await
            .expect("pg_ctl stop panicked")
            .unwrap_or_else(|e| panic!("{e}"));
        crashes += 1;
        tokio::time::sleep(DOWN_FOR).await;
        let restarting = Arc::clone(&server);
        tokio::task::spawn_blocking(move || restarting.start_again())
            .await
            .expect("pg_ctl start panicked")
            .unwrap_or_else(|e| panic!("{e}"));
        let back = Instant::now();
        // The same store object, no reconnection by hand: poll until it answers.
        let probe = [String::from("crash-probe")];
        loop {
            let answer = tokio::time::timeout(settings.hang_bound(), store.get_workflows(&probe));
            if let Ok(Ok(_)) = answer.await {
                break;
            }
            assert!(
                back.elapsed() < Duration::from_secs(120),
                "the store did not serve again within 120 s of the server's return"
            );
        }
        serve_again = serve_again.max(back.elapsed());
        ledger.set_down(false);
    }
    workload.await.expect("the workload panicked");
    let recovered = ledger.drain(store.as_ref()).await;

    let client = server
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect to read back: {e}"));
    ledger.verify(&client, "dbos", &mut report).await;
    check_dialect(&client, backend, &mut report).await;
    drop(client);
    store.close().await.ok();

    // Conflicts between the workload's own transactions (those in flight when the crash was
    // declared, or right after the restart) are not outage errors: they are counted, not flagged.
    let outage: Vec<_> = ledger
        .down_errors()
        .into_iter()
        .filter(|e| !is_conflict(e))
        .collect();
    for error in &outage {
        if !acceptable_outage_error(error) {
            report.unexpected_errors.push(format!(
                "while the server was down: {} ({}), {}",
                error.kind,
                if error.names_cause {
                    "names its cause"
                } else {
                    "names no cause"
                },
                error.text
            ));
        }
    }
    let slowest = outage.iter().map(|e| e.took).max().unwrap_or_default();
    report.faults.push(format!(
        "{crashes} crashes, {} s down each",
        DOWN_FOR.as_secs()
    ));
    report.serve_again = (crashes > 0).then_some(serve_again);
    report.notes.push(format!(
        "{} calls failed during the outages, all of the connection class and naming their \
         cause unless listed below; the slowest took {:.1} s (configured bound {:.1} s: retry \
         time bound + pool timeout + connect timeout); {recovered} workflows recovered after \
         the workload",
        outage.len(),
        slowest.as_secs_f64(),
        settings.configured_bound().as_secs_f64()
    ));
    let mut seen = std::collections::HashSet::new();
    for error in &outage {
        if seen.insert(error.kind) {
            report
                .notes
                .push(format!("an outage error: {}: {}", error.kind, error.text));
        }
    }
    if crashes == 0 {
        report.problem("the workload ended before the first crash");
    }
    if outage.is_empty() {
        report.problem("no call failed while the server was down: the outage was not exercised");
    }
    report.elapsed = started.elapsed();
    report
}
