//! Who is waiting for what: wake-up signals keyed by `"{workflow_id}::{topic_or_key}"` per
//! channel, and the gate that caps how many polling reads run at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

use super::WakeSignal;
use dbos_storage_core::{Error, ErrorKind, Result};

/// The families of wake-ups, one per DBOS notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WakeChannel {
    /// Messages (`dbos_notifications_channel`), keyed by destination and topic.
    Notifications,
    /// Events (`dbos_workflow_events_channel`), keyed by workflow and key.
    Events,
    /// Streams (`dbos_streams_channel`), keyed by workflow and key.
    Streams,
}

impl WakeChannel {
    /// Every channel.
    pub const ALL: [WakeChannel; 3] = [
        WakeChannel::Notifications,
        WakeChannel::Events,
        WakeChannel::Streams,
    ];

    /// The PostgreSQL channel name DBOS uses.
    pub fn pg_channel(self) -> &'static str {
        match self {
            WakeChannel::Notifications => dbos_storage_core::messages::NOTIFICATIONS_CHANNEL,
            WakeChannel::Events => dbos_storage_core::events::EVENTS_CHANNEL,
            WakeChannel::Streams => dbos_storage_core::streams::STREAMS_CHANNEL,
        }
    }

    /// The channel of a PostgreSQL channel name, if it is one of DBOS's.
    pub fn from_pg_channel(name: &str) -> Option<WakeChannel> {
        WakeChannel::ALL
            .into_iter()
            .find(|channel| channel.pg_channel() == name)
    }
}

/// A key's signal and how many [`Waiter`]s hold it. The count, kept under the registry's lock,
/// decides when a key goes: a reference count would also count wakers holding the signal for
/// a moment, and a waiter dropped during a wake-up would leave its key behind for ever.
#[derive(Debug)]
struct Entry {
    signal: Arc<WakeSignal>,
    waiters: usize,
}

type Entries = HashMap<(WakeChannel, String), Entry>;

/// The waiters of one store, keyed by channel and `"{workflow_id}::{topic_or_key}"`.
///
/// A waiter registers *before* its first look at the database, so a value written between the
/// look and the wait still wakes it. Writers (and the PostgreSQL listener) call
/// [`WaitRegistry::wake`] after a commit; a reconnecting listener calls
/// [`WaitRegistry::wake_all`], since notifications sent while it was away are lost.
#[derive(Debug, Default)]
pub struct WaitRegistry {
    entries: Arc<Mutex<Entries>>,
}

impl WaitRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a waiter for `key` on `channel`; it stays registered until the [`Waiter`] is
    /// dropped.
    pub fn register(&self, channel: WakeChannel, key: String) -> Waiter {
        let mut entries = lock(&self.entries);
        let entry = entries
            .entry((channel, key.clone()))
            .or_insert_with(|| Entry {
                signal: Arc::new(WakeSignal::new()),
                waiters: 0,
            });
        entry.waiters += 1;
        let signal = Arc::clone(&entry.signal);
        Waiter {
            signal,
            channel,
            key,
            entries: Arc::clone(&self.entries),
        }
    }

    /// Wakes the waiters of `key` on `channel`, if any.
    pub fn wake(&self, channel: WakeChannel, key: &str) {
        let signal = lock(&self.entries)
            .get(&(channel, key.to_owned()))
            .map(|entry| Arc::clone(&entry.signal));
        if let Some(signal) = signal {
            signal.notify();
        }
    }

    /// Wakes every waiter on every channel.
    pub fn wake_all(&self) {
        let signals: Vec<_> = lock(&self.entries)
            .values()
            .map(|entry| Arc::clone(&entry.signal))
            .collect();
        for signal in signals {
            signal.notify();
        }
    }

    /// The keys someone waits for on `channel` (what a poller needs to look at).
    pub fn keys(&self, channel: WakeChannel) -> Vec<String> {
        lock(&self.entries)
            .keys()
            .filter(|(c, _)| *c == channel)
            .map(|(_, key)| key.clone())
            .collect()
    }

    /// How many distinct keys are waited for, over all channels.
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock(entries: &Mutex<Entries>) -> std::sync::MutexGuard<'_, Entries> {
    entries.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registered waiter: pass [`Waiter::signal`] to [`super::poll_until`]. Dropping it
/// unregisters the key when it was the last waiter for it.
#[derive(Debug)]
pub struct Waiter {
    signal: Arc<WakeSignal>,
    channel: WakeChannel,
    key: String,
    entries: Arc<Mutex<Entries>>,
}

impl Waiter {
    /// The signal that fires when the key is woken.
    pub fn signal(&self) -> &WakeSignal {
        &self.signal
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut entries = lock(&self.entries);
        let key = (self.channel, std::mem::take(&mut self.key));
        if let Some(entry) = entries.get_mut(&key) {
            entry.waiters -= 1;
            if entry.waiters == 0 {
                entries.remove(&key);
            }
        }
    }
}

/// Caps how many polling reads run at once, so that waiters never take every pool connection.
/// A permit covers one query, never the sleep between queries.
#[derive(Debug, Clone)]
pub struct PollGate {
    permits: Arc<Semaphore>,
    size: usize,
}

impl PollGate {
    /// A gate letting `permits` (at least 1) polling reads run at once.
    pub fn new(permits: usize) -> Self {
        let size = permits.max(1);
        PollGate {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// The default gate for a pool of `pool_size` connections: half of it, at least 1.
    pub fn for_pool(pool_size: usize) -> Self {
        PollGate::new(pool_size / 2)
    }

    /// How many polling reads may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs one polling read under a permit.
    ///
    /// # Errors
    /// The read's error; [`ErrorKind::Closed`] if the gate was closed.
    pub async fn run<T>(&self, read: impl Future<Output = Result<T>>) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::new(ErrorKind::Closed, "the store is closed"))?;
        read.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_as_long_as_their_waiters() {
        let registry = WaitRegistry::new();
        let a = registry.register(WakeChannel::Events, "w::k".into());
        let b = registry.register(WakeChannel::Events, "w::k".into());
        let c = registry.register(WakeChannel::Streams, "w::k".into());
        assert_eq!(registry.len(), 2);
        assert_eq!(registry.keys(WakeChannel::Events), vec!["w::k".to_owned()]);
        drop(a);
        assert_eq!(registry.len(), 2, "b still waits on the events key");
        drop(b);
        assert_eq!(registry.keys(WakeChannel::Events), Vec::<String>::new());
        drop(c);
        assert!(registry.is_empty());
    }

    #[test]
    fn a_waiter_dropped_during_a_wake_up_still_removes_its_key() {
        let registry = WaitRegistry::new();
        let waiter = registry.register(WakeChannel::Events, "w::k".into());
        // What `wake` holds while it notifies: another reference to the signal.
        let held_by_a_waker = lock(&registry.entries)
            .get(&(WakeChannel::Events, "w::k".to_owned()))
            .map(|entry| Arc::clone(&entry.signal));
        drop(waiter);
        assert!(registry.is_empty());
        drop(held_by_a_waker);
    }

    #[tokio::test]
    async fn a_wake_reaches_only_its_key() {
        let registry = WaitRegistry::new();
        let waiter = registry.register(WakeChannel::Notifications, "w::t".into());
        let other = registry.register(WakeChannel::Notifications, "w::u".into());
        let mut rx = waiter.signal().subscribe();
        let other_rx = other.signal().subscribe();
        registry.wake(WakeChannel::Notifications, "w::t");
        registry.wake(WakeChannel::Events, "w::u");
        assert!(rx.has_changed().unwrap());
        assert!(!other_rx.has_changed().unwrap());
        registry.wake_all();
        assert!(other_rx.has_changed().unwrap());
        rx.borrow_and_update();
        registry.wake_all();
        assert!(rx.has_changed().unwrap());
    }

    #[test]
    fn pg_channel_names_round_trip() {
        for channel in WakeChannel::ALL {
            assert_eq!(
                WakeChannel::from_pg_channel(channel.pg_channel()),
                Some(channel)
            );
        }
        assert_eq!(WakeChannel::from_pg_channel("other"), None);
    }

    #[tokio::test]
    async fn the_gate_caps_concurrent_reads() {
        let gate = PollGate::for_pool(5);
        assert_eq!(gate.size(), 2);
        assert_eq!(PollGate::for_pool(1).size(), 1);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (gate, running, peak) = (gate.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                gate.run(async {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    running.fetch_sub(1, SeqCst);
                    Ok(())
                })
                .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 2);
    }
}
