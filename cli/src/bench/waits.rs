//! Memory and connections of parked waits: `--waits` concurrent `recv`, `get_event` and
//! `await_workflow_result` calls with a long timeout, ended through their cancellation tokens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dbos_storage::{
    AwaitOptions, Caller, ClaimRequest, ErrorKind, GetEventRequest, NewWorkflow, RecvRequest,
    SystemStore,
};
use tokio_util::sync::CancellationToken;

use super::machine::{cpu_ticks, rss_bytes};
use super::report::{targets, thousands, Figure, Unit};
use super::{new_workflow, Bench, EXECUTOR, VERSION};
use crate::connect::Native;
use crate::error::CliError;

/// The queue the receiving workflows are claimed from (so that one token owns them all).
const WAIT_QUEUE: &str = "dbos-bench-waits";
/// The timeout of every wait: far beyond the measurement.
const TIMEOUT: Duration = Duration::from_secs(3600);
/// The poll interval of every wait: long, so that the measurement sees parked waits rather than
/// their re-check schedule.
const POLL: Duration = Duration::from_secs(600);
/// How often the process's CPU time is read while the waits settle.
const WINDOW: Duration = Duration::from_millis(250);
/// At most this much CPU time (clock ticks, usually 10 ms each) per window counts as quiet.
const QUIET_TICKS: u64 = 2;
/// Give up waiting for the waits to settle after this long (and measure anyway).
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// One wait of the mix.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Recv,
    GetEvent,
    AwaitResult,
}

/// Starts `--waits` waits (a third each `recv` by a workflow, `get_event` from outside a
/// workflow, `await_workflow_result`), lets them settle (the process's CPU quiet and, on
/// PostgreSQL, no pooled connection checked out), then reads the growth of the resident set
/// and the pool's connections in use; then cancels every wait through its token and checks that
/// each ended `Interrupted`.
pub(super) async fn waits(bench: &Bench<'_>) -> Result<Vec<Figure>, CliError> {
    let n = bench.args.waits;
    let recvs = n / 3;
    let events = n / 3;
    let receivers = recvs.max(1);
    let store: Arc<dyn SystemStore> = bench.db.store.clone();

    // Untimed: the receiving workflows, PENDING and owned by one token.
    let workflows: Vec<NewWorkflow> = (0..receivers)
        .map(|i| new_workflow(&format!("bench-wait-{i}")).enqueued(WAIT_QUEUE))
        .collect();
    store.enqueue_workflows(workflows).await?;
    let owner = dbos_storage::new_token();
    let mut claimed = 0;
    while claimed < receivers {
        let mut request = ClaimRequest::new(WAIT_QUEUE, EXECUTOR, VERSION)
            .max_tasks(u32::try_from(receivers).unwrap_or(u32::MAX));
        request.owner_xid = owner.clone();
        let got = store.claim_workflows(request).await?.claimed.len();
        if got == 0 {
            return Err(CliError::new(format!(
                "the waits' queue ran dry after {claimed} of {receivers} claims"
            )));
        }
        claimed += got;
    }

    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = rss_bytes();
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let kind = if i < recvs {
                Kind::Recv
            } else if i < recvs + events {
                Kind::GetEvent
            } else {
                Kind::AwaitResult
            };
            let id = format!("bench-wait-{}", i % receivers);
            let store = store.clone();
            let owner = owner.clone();
            let options = AwaitOptions::default()
                .poll_interval(POLL)
                .timeout(TIMEOUT)
                .cancel_on(cancel.child_token());
            tokio::spawn(async move {
                let ended = match kind {
                    Kind::Recv => {
                        let caller = Caller::workflow(id, 1)
                            .with_owner(owner)
                            .with_timeout_step(2);
                        let request = RecvRequest::new(caller, Some("bench-topic"), TIMEOUT);
                        store.recv(request, options).await.map(drop)
                    }
                    Kind::GetEvent => {
                        let request = GetEventRequest::new(id, "bench-key", TIMEOUT);
                        store.get_event(request, options).await.map(drop)
                    }
                    Kind::AwaitResult => store.await_workflow_result(&id, options).await.map(drop),
                };
                (kind, ended)
            })
        })
        .collect();

    let settled = settle(bench).await;
    let parked_after = started.elapsed();
    let rss_after = rss_bytes();
    let mut in_use = None;
    let mut open = 0;
    for _ in 0..10 {
        if let Some((o, u)) = pool_connections(bench).await {
            in_use = Some(in_use.unwrap_or(0).max(u));
            open = open.max(o);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cancelled_at = Instant::now();
    cancel.cancel();
    let mut failures = Vec::new();
    for task in tasks {
        match task.await {
            Ok((_, Err(e))) if e.kind() == ErrorKind::Interrupted => {}
            Ok((kind, Err(e))) => failures.push(format!("{kind:?}: {e}")),
            Ok((kind, Ok(()))) => failures.push(format!("{kind:?} ended before its cancellation")),
            Err(e) => failures.push(format!("a wait panicked: {e}")),
        }
    }
    let cancel_ms = cancelled_at.elapsed().as_secs_f64() * 1000.0;
    if let Some(first) = failures.first() {
        return Err(CliError::new(format!(
            "{} of {n} waits did not end Interrupted at their cancellation; the first: {first}",
            failures.len()
        )));
    }

    let count = |k: usize| thousands(k as u64);
    let mix = format!(
        "{} recv, {} get_event, {} await_workflow_result",
        count(recvs),
        count(events),
        count(n - recvs - events)
    );
    let settled_text = if settled {
        format!(
            "parked {:.1} s after they started",
            parked_after.as_secs_f64()
        )
    } else {
        format!(
            "still busy {:.0} s after they started (measured anyway)",
            parked_after.as_secs_f64()
        )
    };
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let mut memory = Figure::new(
        "wait_memory",
        format!("{} concurrent waits: RSS growth", thousands(n as u64)),
        n,
        Unit::MiB,
    );
    let memory_note = match (rss_before, rss_after) {
        (Some(before), Some(after)) => {
            memory = memory.store(mib(after.saturating_sub(before)));
            format!(
                "{mix}; VmRSS {:.1} → {:.1} MiB; {settled_text}; timeout 1 h, poll interval \
                 10 min; every wait ended Interrupted {cancel_ms:.0} ms after the cancellation \
                 (verified)",
                mib(before),
                mib(after)
            )
        }
        _ => format!("{mix}; this system does not report the resident set size"),
    };
    let memory = memory
        .target(targets::wait_memory(bench.backend))
        .note(memory_note);

    let connections = Figure::new(
        "wait_connections",
        format!(
            "{} concurrent waits: pool connections in use",
            thousands(n as u64)
        ),
        n,
        Unit::Connections,
    );
    let connections = match (&bench.db.native, in_use) {
        (Native::Postgres(_), None) => connections.note(
            "the driver did not report its pool state (server_info setting pool_connections)",
        ),
        (Native::Postgres(_), Some(u)) => connections
            .store(f64::from(u))
            .target(targets::wait_connections(bench.backend))
            .note(format!(
                "the most checked out of the store's pool in 10 samples over 0.5 s once the \
                 waits were parked (the pool state the driver reports); the pool held {open} \
                 connections (the LISTEN connection is outside it)"
            )),
        _ => connections.note(
            "SQLite has no pool: the store opens one writer and its readers at start-up and \
             keeps them; there is nothing to count",
        ),
    };
    Ok(vec![memory, connections])
}

/// The store's pool on PostgreSQL: (open, checked out), from the pool state the driver reports
/// in `server_info` (read after the report's own query has given its connection back). A pool
/// that cannot lend a connection for the report within a second counts as entirely in use.
async fn pool_connections(bench: &Bench<'_>) -> Option<(u32, u32)> {
    let Native::Postgres(store) = &bench.db.native else {
        return None;
    };
    let all = u32::try_from(bench.args.concurrency + 2).unwrap_or(u32::MAX);
    let Ok(Ok(info)) = tokio::time::timeout(Duration::from_secs(1), store.server_info()).await
    else {
        return Some((all, all));
    };
    info.setting("pool_connections").and_then(parse_pool_state)
}

/// `"18 open, 17 idle"` as (open, in use).
fn parse_pool_state(text: &str) -> Option<(u32, u32)> {
    let (open, idle) = text.split_once(" open, ")?;
    let open: u32 = open.trim().parse().ok()?;
    let idle: u32 = idle.strip_suffix(" idle")?.trim().parse().ok()?;
    Some((open, open.saturating_sub(idle)))
}

/// Waits until the waits are parked: two windows in a row with the process's CPU quiet and no
/// pooled connection checked out. Returns `false` when that did not happen within
/// [`SETTLE_LIMIT`].
async fn settle(bench: &Bench<'_>) -> bool {
    let start = Instant::now();
    let Some(mut ticks) = cpu_ticks() else {
        // No CPU accounting: give the waits a fixed time.
        tokio::time::sleep(Duration::from_secs(3)).await;
        return true;
    };
    let mut quiet = 0;
    while start.elapsed() < SETTLE_LIMIT {
        tokio::time::sleep(WINDOW).await;
        let now = cpu_ticks().unwrap_or(ticks);
        let idle_pool = pool_connections(bench)
            .await
            .is_none_or(|(_, in_use)| in_use == 0);
        if now.saturating_sub(ticks) <= QUIET_TICKS && idle_pool {
            quiet += 1;
            if quiet >= 2 {
                return true;
            }
        } else {
            quiet = 0;
        }
        ticks = now;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_state_parses() {
        assert_eq!(parse_pool_state("18 open, 17 idle"), Some((18, 1)));
        assert_eq!(parse_pool_state("1 open, 1 idle"), Some((1, 0)));
        assert_eq!(parse_pool_state("open"), None);
    }
}
