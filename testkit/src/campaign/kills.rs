//! The killed-connections scenario: the store's PostgreSQL sessions ended with
//! `pg_terminate_backend` at random moments (preferring sessions inside a transaction), and
//! connections killed right after their `COMMIT` applied (a [`CommitDropProxy`]), while the
//! ledger workload runs (the PostgreSQL driver's store, or the CockroachDB driver's on the
//! server in CockroachDB-compatible mode, where a connection lost at `COMMIT` is an ambiguous
//! commit).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ledger::{acceptable_outage_error, is_conflict, Ledger, Plan};
use super::{check_dialect, open_store, Backend, Campaign, CampaignReport, StoreSettings};
use crate::pg::{self, faults::CommitDropProxy};

/// The fraction of commits after which the proxy kills the connection.
const COMMIT_DROP: f64 = 0.03;

/// What the killer did.
#[derive(Debug, Default)]
struct Kills {
    /// Sessions terminated.
    terminated: u64,
    /// Of which inside a transaction (open transaction, idle or running a statement).
    in_transaction: u64,
    /// Of which while running `COMMIT`.
    at_commit: u64,
}

/// Runs the killed-connections scenario for `backend` ([`Backend::Postgres`] or
/// [`Backend::Cockroach`]) on the harness's shared server ([`pg::server()`]): the
/// ledger workload with 6 tasks through a proxy that kills 3% of connections right after their
/// commit applied, while a killer terminates one of the store's sessions every 5–30 ms, seven
/// times in ten one that is inside a transaction.
///
/// Every error returned to the workload must be of the connection class naming its cause, or
/// a conflict (a claim under a shared budget meeting another's lock); any other counts as an
/// unexpected error.
///
/// # Panics
/// For [`Backend::Sqlite`]; when the database, the proxy or the killer's connection cannot be
/// set up, or the database cannot be read back.
pub async fn killed_connections(campaign: &Campaign, backend: Backend) -> CampaignReport {
    assert!(
        backend.is_server(),
        "the killed-connections scenario needs a server"
    );
    let started = Instant::now();
    let mut report = CampaignReport::new(
        "killed connections (pg_terminate_backend, kill after COMMIT)",
        backend,
    );
    let server = pg::server();
    let url = server.create_database("campaign_kill").await;
    let proxy = CommitDropProxy::start_to(&server.host(), server.port())
        .await
        .expect("start the commit-dropping proxy");
    proxy.set_drop_autocommit(true);
    let settings = StoreSettings {
        application_name: "dbos_campaign_kill".into(),
        ..StoreSettings::default()
    };
    let store = open_store(&backend.store_url(&proxy.url(&url)), &settings)
        .await
        .unwrap_or_else(|e| panic!("open the store: {e}"));

    let plan = Plan {
        tasks: 6,
        units: campaign.size.scale(12),
        steps: 5,
    };
    let ledger = Ledger::new("kill", plan, settings.hang_bound());
    // Every error from now on is checked as an outage error.
    ledger.set_down(true);
    proxy.set_drop_probability(COMMIT_DROP);
    let stop = Arc::new(AtomicBool::new(false));
    let killer = tokio::spawn(killer(
        url.clone(),
        settings.application_name.clone(),
        Arc::clone(&stop),
    ));
    ledger.run(Arc::clone(&store)).await;
    stop.store(true, Ordering::SeqCst);
    let kills = killer.await.expect("the killer panicked");
    proxy.set_drop_probability(0.0);
    let (commits, dropped) = (proxy.commits_seen(), proxy.dropped_commits());
    ledger.set_down(false);
    let recovered = ledger.drain(store.as_ref()).await;

    let client = server
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect to read back: {e}"));
    ledger.verify(&client, "dbos", &mut report).await;
    check_dialect(&client, backend, &mut report).await;
    drop(client);
    store.close().await.ok();
    drop(proxy);
    server.drop_database(&url).await;

    let errors = ledger.down_errors();
    let mut unacceptable = 0;
    for error in &errors {
        if !is_conflict(error) && !acceptable_outage_error(error) {
            unacceptable += 1;
            if unacceptable <= 20 {
                report.unexpected_errors.push(format!(
                    "after a kill: {} ({}), {}",
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
    }
    let slowest = errors.iter().map(|e| e.took).max().unwrap_or_default();
    report.faults.push(format!(
        "{} sessions terminated ({} inside a transaction, {} at COMMIT); {} of {} commits \
         killed after applying",
        kills.terminated, kills.in_transaction, kills.at_commit, dropped, commits,
    ));
    report.notes.push(format!(
        "{} calls failed after a kill; the slowest took {:.1} s (configured bound {:.1} s); \
         {recovered} workflows recovered after the workload",
        errors.len(),
        slowest.as_secs_f64(),
        settings.configured_bound().as_secs_f64()
    ));
    if kills.terminated == 0 {
        report.problem("the killer terminated no session");
    }
    report.elapsed = started.elapsed();
    report
}

/// Terminates one of the sessions named `application_name` in the database of `url` every
/// 5–30 ms until `stop`.
async fn killer(url: String, application_name: String, stop: Arc<AtomicBool>) -> Kills {
    let client = pg::server()
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("the killer cannot connect: {e}"));
    let mut rng = SplitMix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64),
    );
    let mut kills = Kills::default();
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5 + rng.below(26))).await;
        let rows = client
            .query(
                "SELECT pid, xact_start IS NOT NULL, state = 'active' AND query ILIKE 'COMMIT%' \
                 FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = $1 \
                   AND pid <> pg_backend_pid()",
                &[&application_name],
            )
            .await
            .expect("the killer lists sessions");
        let sessions: Vec<(i32, bool, bool)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        if sessions.is_empty() {
            continue;
        }
        let in_tx: Vec<&(i32, bool, bool)> = sessions.iter().filter(|s| s.1).collect();
        let victim = if !in_tx.is_empty() && rng.below(10) < 7 {
            *in_tx[rng.below(in_tx.len() as u64) as usize]
        } else {
            sessions[rng.below(sessions.len() as u64) as usize]
        };
        let ended: bool = client
            .query_one("SELECT pg_terminate_backend($1)", &[&victim.0])
            .await
            .expect("the killer terminates a session")
            .get(0);
        if ended {
            kills.terminated += 1;
            kills.in_transaction += u64::from(victim.1);
            kills.at_commit += u64::from(victim.2);
        }
    }
    kills
}

/// SplitMix64, for the killer's choices.
#[derive(Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
