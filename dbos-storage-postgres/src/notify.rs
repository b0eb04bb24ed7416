//! LISTEN/NOTIFY (PostgreSQL dialect with `use_listen_notify`): the listener that wakes this
//! store's waiters when another process writes, and the notifier that wakes other processes
//! after this store writes an event or a stream value.
//!
//! * **Listener**: one dedicated connection outside the pool, in autocommit, `LISTEN`s on
//!   `dbos_notifications_channel`, `dbos_workflow_events_channel` and `dbos_streams_channel`
//!   and wakes the [`WaitRegistry`] key of each payload (`"{workflow_id}::{topic_or_key}"`) on
//!   its channel. After subscribing it sends itself a probe (`pg_notify`) and waits up to
//!   [`PROBE_TIMEOUT`] for it: only a listener that received its probe is *proven*, and only a
//!   proven listener lets waits stretch their re-check interval (a transaction-mode pooler such
//!   as PgBouncer accepts `LISTEN` and then drops the notifications). The connection is pinged
//!   every [`PING_INTERVAL`]. On any error it reconnects with a jittered exponential backoff
//!   ([`BACKOFF_INITIAL`] → [`BACKOFF_MAX`], ±25 %); while it is away every waiter is woken each
//!   [`OUTAGE_RECHECK`], and after every (re)connect every waiter is woken once, since
//!   notifications sent in between are lost.
//! * **Notifier**: after commit, message, event and stream writers queue their key; a task
//!   flushes the queue every [`COALESCE`] with one `SELECT pg_notify($1, p) FROM
//!   unnest($2::text[]) AS p` per channel. A failed batch is dropped (a wake-up is only a hint:
//!   waits still poll). Messages are signalled by the `notifications` trigger as well when the
//!   schema has it; the notifier covers a schema migrated without it.
//!
//! Both stop on [`Notifications::stop`] (the notifier flushes what is queued first) or when
//! the store is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dbos_storage_core::messages::NOTIFICATIONS_CHANNEL;
use dbos_storage_core::Error;
use dbos_storage_driver_kit::wait::{WaitRegistry, WakeChannel};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, Notification};
use tokio_util::sync::CancellationToken;

use crate::error::classify;
use crate::pool::{Pool, RawConnection};
use crate::sql::messaging::{LISTEN_ALL, NOTIFY_BATCH, NOTIFY_ONE, SELECT_BACKEND_PID};

/// The log target of the listener and the notifier.
const TARGET: &str = "dbos_storage_postgres::listener";

/// How long a new listener waits for its own probe before it counts as unproven.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The first reconnection delay.
pub(crate) const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// The longest reconnection delay.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(120);
/// How often every waiter is woken while the listener is away (DBOS's default notification
/// polling interval), so that waits that stretched their interval fall back to polling.
pub(crate) const OUTAGE_RECHECK: Duration = Duration::from_secs(1);
/// How often the listener connection is checked with a round trip.
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may take before the connection counts as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the notifier gathers keys before it flushes them (DBOS's
/// `notification_coalesce_sec`).
pub(crate) const COALESCE: Duration = Duration::from_millis(10);
/// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
const MAX_PAYLOAD_BYTES: usize = 7999;
/// How long [`Notifications::stop`] waits for the tasks to end.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The probe payload's prefix. A waiter key always contains `::`, so a probe never wakes one.
const PROBE_PREFIX: &str = "dbos-storage-listener-probe-";

/// What the listener reports to the store.
#[derive(Debug, Default)]
struct ListenerState {
    /// The current connection received its own probe.
    proven: AtomicBool,
    /// The backend process id of the current connection; 0 while disconnected.
    backend_pid: AtomicI32,
    /// How many sessions subscribed so far.
    sessions: AtomicU64,
}

/// The listener and the notifier of one store.
#[derive(Debug)]
pub(crate) struct Notifications {
    state: Arc<ListenerState>,
    queue: mpsc::UnboundedSender<(WakeChannel, String)>,
    shutdown: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Notifications {
    /// Starts the listener and the notifier on the current tokio runtime; `None` outside one
    /// (waits then poll at their interval).
    pub(crate) fn start(pool: &Pool, registry: Arc<WaitRegistry>) -> Option<Notifications> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                target: TARGET,
                "no tokio runtime when the store was opened: LISTEN/NOTIFY is off, waits poll"
            );
            return None;
        };
        let state = Arc::new(ListenerState::default());
        let shutdown = CancellationToken::new();
        let (queue, rx) = mpsc::unbounded_channel();
        let listener = runtime.spawn(listen(
            pool.clone(),
            registry,
            state.clone(),
            shutdown.clone(),
        ));
        let notifier = runtime.spawn(notify(pool.clone(), rx, shutdown.clone()));
        Some(Notifications {
            state,
            queue,
            shutdown,
            tasks: Mutex::new(vec![listener, notifier]),
        })
    }

    /// Queues a wake-up of `"{workflow_id}::{key}"` on `channel` for other processes.
    pub(crate) fn signal(&self, channel: WakeChannel, payload: String) {
        // Fails only after `stop`, when nothing is sent any more.
        let _ = self.queue.send((channel, payload));
    }

    /// Whether the listener is connected and received its own probe.
    pub(crate) fn is_proven(&self) -> bool {
        self.state.proven.load(Ordering::Acquire)
    }

    /// The backend process id of the listener connection, while it is connected.
    pub(crate) fn backend_pid(&self) -> Option<i32> {
        match self.state.backend_pid.load(Ordering::Acquire) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// How many times the listener subscribed (1 after the first connection; more after
    /// reconnections).
    pub(crate) fn sessions(&self) -> u64 {
        self.state.sessions.load(Ordering::Acquire)
    }

    /// Stops the listener (closing its connection) and the notifier (after it sent what is
    /// queued), and waits for both, at most a few seconds.
    pub(crate) async fn stop(&self) {
        self.shutdown.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
        self.state.proven.store(false, Ordering::Release);
        self.state.backend_pid.store(0, Ordering::Release);
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// How a listener session ended.
enum Ended {
    /// The store is closing.
    Shutdown,
    /// The session subscribed, then lost its connection.
    Lost(Error),
}

/// The listener task: sessions, and the backoff between them.
async fn listen(
    pool: Pool,
    registry: Arc<WaitRegistry>,
    state: Arc<ListenerState>,
    shutdown: CancellationToken,
) {
    let mut backoff = BACKOFF_INITIAL;
    loop {
        match session(&pool, &registry, &state, &shutdown).await {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::Lost(e)) => {
                backoff = BACKOFF_INITIAL;
                tracing::warn!(
                    target: TARGET,
                    "the LISTEN connection to {} was lost; waits poll until it is back: {e}",
                    pool.config().url()
                );
            }
            Err(e) => {
                tracing::warn!(
                    target: TARGET,
                    "cannot LISTEN on {} (next attempt in about {} s); waits poll meanwhile: {e}",
                    pool.config().url(),
                    backoff.as_secs()
                );
            }
        }
        state.proven.store(false, Ordering::Release);
        state.backend_pid.store(0, Ordering::Release);
        registry.wake_all();
        if pool.is_closed() || !outage(&registry, jittered(backoff), &shutdown).await {
            return;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Waits `delay` before the next connection, waking every waiter each [`OUTAGE_RECHECK`].
/// Returns `false` when the store is closing.
async fn outage(registry: &WaitRegistry, delay: Duration, shutdown: &CancellationToken) -> bool {
    let deadline = Instant::now() + delay;
    loop {
        let next = (Instant::now() + OUTAGE_RECHECK).min(deadline);
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep_until(next) => {}
        }
        if Instant::now() >= deadline {
            return true;
        }
        registry.wake_all();
    }
}

/// `delay` ± 25 %.
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.75..=1.25))
}

/// One listener connection: connect, subscribe, prove, then wake waiters until the connection
/// fails or the store closes. An error before the subscription is returned as `Err`.
async fn session(
    pool: &Pool,
    registry: &WaitRegistry,
    state: &ListenerState,
    shutdown: &CancellationToken,
) -> dbos_storage_core::Result<Ended> {
    let connected = tokio::select! {
        () = shutdown.cancelled() => return Ok(Ended::Shutdown),
        connected = pool.connect_raw() => connected,
    };
    let (client, connection) = connected?;
    let (tx, mut notifications) = mpsc::unbounded_channel();
    let mut driver = tokio::spawn(drive(connection, tx));
    let subscribed = tokio::select! {
        () = shutdown.cancelled() => {
            driver.abort();
            return Ok(Ended::Shutdown);
        }
        subscribed = tokio::time::timeout(PING_TIMEOUT, subscribe(&client)) => {
            subscribed.unwrap_or_else(|_| Err(unanswered("LISTEN")))
        }
    };
    let pid = match subscribed {
        Ok(pid) => pid,
        Err(e) => {
            driver.abort();
            return Err(e);
        }
    };
    state.backend_pid.store(pid, Ordering::Release);
    state.sessions.fetch_add(1, Ordering::AcqRel);
    tracing::info!(
        target: TARGET,
        "listening on {} (backend pid {pid}); waking every waiter",
        pool.config().url()
    );
    // Notifications sent while no listener was connected are lost.
    registry.wake_all();

    let probe = format!("{PROBE_PREFIX}{}", uuid::Uuid::new_v4());
    let mut probe_deadline = Some(Instant::now() + PROBE_TIMEOUT);
    let probed = tokio::time::timeout(
        PING_TIMEOUT,
        client.execute(NOTIFY_ONE, &[&NOTIFICATIONS_CHANNEL, &probe]),
    )
    .await;
    match probed {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            driver.abort();
            return Ok(Ended::Lost(classify(e)));
        }
        Err(_) => {
            driver.abort();
            return Ok(Ended::Lost(unanswered("the probe NOTIFY")));
        }
    }
    let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
    let ended = loop {
        let probing = probe_deadline.unwrap_or_else(Instant::now);
        tokio::select! {
            () = shutdown.cancelled() => break Ended::Shutdown,
            received = notifications.recv() => match received {
                Some(n) if n.payload() == probe => {
                    probe_deadline = None;
                    state.proven.store(true, Ordering::Release);
                    tracing::info!(
                        target: TARGET,
                        "the listener received its probe: waits may stretch their re-check interval"
                    );
                }
                Some(n) => {
                    if let Some(channel) = WakeChannel::from_pg_channel(n.channel()) {
                        registry.wake(channel, n.payload());
                    }
                }
                None => break Ended::Lost(connection_end(&mut driver).await),
            },
            () = tokio::time::sleep_until(probing), if probe_deadline.is_some() => {
                probe_deadline = None;
                tracing::warn!(
                    target: TARGET,
                    "the listener did not receive its own NOTIFY within {} s (a transaction-mode \
                     pooler such as PgBouncer drops them): waits keep re-checking at their poll \
                     interval",
                    PROBE_TIMEOUT.as_secs()
                );
            }
            _ = ping.tick() => {
                match tokio::time::timeout(PING_TIMEOUT, client.simple_query("SELECT 1")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => break Ended::Lost(classify(e)),
                    Err(_) => break Ended::Lost(unanswered("a ping")),
                }
            }
        }
    };
    drop(client);
    if matches!(ended, Ended::Lost(_)) {
        // A connection that stopped answering may keep its socket (and this task) alive until
        // TCP gives up: end it now.
        driver.abort();
    } else {
        // Dropping the client ends the connection; give it a moment to say goodbye.
        let abort = driver.abort_handle();
        if tokio::time::timeout(Duration::from_secs(1), driver)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    Ok(ended)
}

/// The error of a listener statement the server did not answer within [`PING_TIMEOUT`].
fn unanswered(what: &str) -> Error {
    Error::new(
        dbos_storage_core::ErrorKind::ConnectionLost,
        format!(
            "the LISTEN connection did not answer {what} within {} s",
            PING_TIMEOUT.as_secs()
        ),
    )
}

/// Subscribes to the three channels; returns the backend process id.
async fn subscribe(client: &Client) -> dbos_storage_core::Result<i32> {
    let row = client
        .query_one(SELECT_BACKEND_PID, &[])
        .await
        .map_err(classify)?;
    let pid: i32 = row.try_get(0).map_err(classify)?;
    client.batch_execute(LISTEN_ALL).await.map_err(classify)?;
    Ok(pid)
}

/// Drives the listener connection, forwarding its notifications until it ends.
async fn drive(
    mut connection: RawConnection,
    tx: mpsc::UnboundedSender<Notification>,
) -> Result<(), tokio_postgres::Error> {
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(n))) => {
                if tx.send(n).is_err() {
                    return Ok(());
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => return Ok(()),
        }
    }
}

/// Why the connection driven by `driver` ended.
async fn connection_end(driver: &mut JoinHandle<Result<(), tokio_postgres::Error>>) -> Error {
    match driver.await {
        Ok(Err(e)) => classify(e),
        Ok(Ok(())) => Error::new(
            dbos_storage_core::ErrorKind::ConnectionLost,
            "the server closed the LISTEN connection",
        ),
        Err(e) => Error::new(
            dbos_storage_core::ErrorKind::ConnectionLost,
            format!("the LISTEN connection task failed: {e}"),
        ),
    }
}

/// The notifier task: gathers keys for [`COALESCE`], then sends them, one statement per
/// channel. On shutdown it sends what is queued, then ends.
async fn notify(
    pool: Pool,
    mut rx: mpsc::UnboundedReceiver<(WakeChannel, String)>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => None,
            first = rx.recv() => first,
        };
        let stopping = first.is_none();
        let mut batch: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        let mut add = |(channel, payload): (WakeChannel, String)| {
            if payload.len() > MAX_PAYLOAD_BYTES {
                tracing::debug!(
                    target: TARGET,
                    "not signalling a key of {} bytes (NOTIFY payloads are limited to 8000)",
                    payload.len()
                );
                return;
            }
            batch
                .entry(channel.pg_channel())
                .or_default()
                .insert(payload);
        };
        if let Some(first) = first {
            add(first);
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(COALESCE) => {}
            }
        }
        while let Ok(item) = rx.try_recv() {
            add(item);
        }
        for (channel, payloads) in batch {
            let payloads: Vec<String> = payloads.into_iter().collect();
            if let Err(e) = send_batch(&pool, channel, &payloads).await {
                tracing::debug!(
                    target: TARGET,
                    "dropped {} wake-ups on {channel}: {e}",
                    payloads.len()
                );
            }
        }
        if stopping || (shutdown.is_cancelled() && rx.is_empty()) {
            return;
        }
    }
}

/// Sends `payloads` on `channel` in one statement.
async fn send_batch(
    pool: &Pool,
    channel: &str,
    payloads: &[String],
) -> dbos_storage_core::Result<()> {
    let client = pool.get().await?;
    client
        .execute(NOTIFY_BATCH, &[&channel, &payloads])
        .await
        .map_err(classify)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_jitter_stays_within_a_quarter() {
        for _ in 0..1000 {
            let d = jittered(BACKOFF_MAX);
            assert!(
                d >= BACKOFF_MAX.mul_f64(0.75) && d <= BACKOFF_MAX.mul_f64(1.25),
                "{d:?}"
            );
        }
        let mut backoff = BACKOFF_INITIAL;
        for _ in 0..10 {
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        assert_eq!(backoff, BACKOFF_MAX);
    }

    #[test]
    fn a_probe_never_looks_like_a_waiter_key() {
        let probe = format!("{PROBE_PREFIX}{}", uuid::Uuid::new_v4());
        assert!(!probe.contains("::"));
        let sql = [LISTEN_ALL, NOTIFY_BATCH].concat();
        for channel in WakeChannel::ALL {
            assert!(LISTEN_ALL.contains(channel.pg_channel()), "{sql}");
        }
    }
}
