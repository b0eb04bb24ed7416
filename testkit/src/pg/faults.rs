//! Server-side fault injection for PostgreSQL: the errors CockroachDB returns, raised by the
//! server itself, and connections killed right after a commit applied.
//!
//! * [`install_faults`] puts triggers on every table of a schema. A `BEFORE … FOR EACH
//!   STATEMENT` trigger fails a fraction of write statements with SQLSTATE `40001` and a
//!   CockroachDB-like message (`restart transaction: TransactionRetryWithProtoRefreshError:
//!   injected …`); a deferred constraint trigger fails a fraction of committing write
//!   transactions *at* `COMMIT` with `40003` ("result is ambiguous"). Both abort the
//!   transaction, so nothing of it applies: the `40003` case is the harmless side of an
//!   ambiguous commit. The fractions live in a one-row control table,
//!   `{schema}.dbos_fault_control (p40001, p40003)`, which [`set_fault_rates`] updates for every
//!   session at once (pooled connections included); [`injected_faults`] counts what was raised
//!   (sequences, which a rollback does not undo).
//! * [`CommitDropProxy`] is the dangerous side: a TCP proxy that lets the server commit and
//!   then closes the connection before the client hears of it, so the client sees the connection
//!   drop during `COMMIT` although the transaction applied.
//!
//! ```no_run
//! # async fn example(url: &str) {
//! use dbos_storage_testkit::pg::faults;
//!
//! // `url` names the database; the schema is already migrated.
//! faults::install_faults(url, "dbos").await;
//! faults::set_fault_rates(url, "dbos", 0.2, 0.0).await;
//! // … run the workload …
//! let injected = faults::injected_faults(url, "dbos").await;
//! println!("{} serialization failures injected", injected.serialization_failures);
//! faults::remove_faults(url, "dbos").await;
//! # }
//! ```

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::url::{quote_ident, quote_literal, PgUrl};
use super::{connect, describe};

/// The control table of [`install_faults`], in the faulty schema.
pub const CONTROL_TABLE: &str = "dbos_fault_control";

/// The prefix of every object [`install_faults`] creates (tables with it get no triggers).
const PREFIX: &str = "dbos_fault_";

/// What [`install_faults`] has raised so far in a schema.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InjectedFaults {
    /// Write statements failed with `40001`.
    pub serialization_failures: u64,
    /// Commits failed with `40003`.
    pub ambiguous_commits: u64,
}

/// Runs `sql` on the database at `url`, panicking with the statement and the server's error.
async fn run(url: &str, sql: &str) {
    let client = connect(url)
        .await
        .unwrap_or_else(|e| panic!("fault injection: cannot connect: {}", describe(&e)));
    if let Err(e) = client.batch_execute(sql).await {
        panic!("fault injection SQL failed: {sql}\n{}", describe(&e));
    }
}

/// The tables of `schema` that get triggers: every ordinary table but the migration history
/// and the injection's own.
async fn tables(url: &str, schema: &str) -> Vec<String> {
    let client = connect(url)
        .await
        .unwrap_or_else(|e| panic!("fault injection: cannot connect: {}", describe(&e)));
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind = 'r' \
               AND c.relname NOT LIKE 'refinery%' AND left(c.relname, 11) <> $2 \
             ORDER BY 1",
            &[&schema, &PREFIX],
        )
        .await
        .unwrap_or_else(|e| panic!("fault injection: cannot list tables: {}", describe(&e)));
    rows.iter().map(|r| r.get(0)).collect()
}

/// Installs the fault injection in `schema` of the database at `url` (an admin URL naming that
/// database; the schema's tables must exist, so migrate first), with both rates at 0.
///
/// Creates `{schema}.dbos_fault_control`, the counting sequences `dbos_fault_injected_40001`
/// and `dbos_fault_injected_40003`, the functions `dbos_fault_retry()` and
/// `dbos_fault_ambiguous()`, and on every table of the schema (but the migration history and
/// these):
///
/// * `dbos_fault_retry`, `BEFORE INSERT OR UPDATE OR DELETE … FOR EACH STATEMENT`: with
///   probability `p40001` raises `40001` "restart transaction: TransactionRetryWithProtoRefreshError:
///   injected … (RETRY_SERIALIZABLE)". Every write statement draws, even one that changes no
///   row, so an operation of k writes fails with probability 1 − (1 − p)ᵏ.
/// * `dbos_fault_ambiguous`, a deferred constraint trigger `AFTER INSERT OR UPDATE OR DELETE …
///   DEFERRABLE INITIALLY DEFERRED FOR EACH ROW`: at commit, once per transaction that changed
///   a row (a transaction-local setting remembers the draw), with probability `p40003` raises
///   `40003` "result is ambiguous". The transaction is rolled back.
///
/// Reads never fail. Installing twice is harmless.
///
/// # Panics
/// When the server refuses a statement.
pub async fn install_faults(url: &str, schema: &str) {
    let s = quote_ident(schema);
    let control = format!("{s}.{}", quote_ident(CONTROL_TABLE));
    let seq_retry = quote_literal(&format!("{s}.dbos_fault_injected_40001"));
    let seq_ambiguous = quote_literal(&format!("{s}.dbos_fault_injected_40003"));
    let setup = format!(
        "CREATE TABLE IF NOT EXISTS {control} (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            p40001 float8 NOT NULL DEFAULT 0 CHECK (p40001 BETWEEN 0 AND 1),
            p40003 float8 NOT NULL DEFAULT 0 CHECK (p40003 BETWEEN 0 AND 1));
         INSERT INTO {control} DEFAULT VALUES ON CONFLICT DO NOTHING;
         CREATE SEQUENCE IF NOT EXISTS {s}.dbos_fault_injected_40001;
         CREATE SEQUENCE IF NOT EXISTS {s}.dbos_fault_injected_40003;
         CREATE OR REPLACE FUNCTION {s}.dbos_fault_retry() RETURNS trigger
         LANGUAGE plpgsql AS $fault$
         DECLARE p float8;
         BEGIN
             SELECT c.p40001 INTO p FROM {control} c;
             IF p > 0 AND random() < p THEN
                 PERFORM nextval({seq_retry});
                 RAISE EXCEPTION 'restart transaction: TransactionRetryWithProtoRefreshError: \
                     injected by the dbos-storage tests on % of %.% (RETRY_SERIALIZABLE)',
                     TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
                     USING ERRCODE = '40001';
             END IF;
             RETURN NULL;
         END
         $fault$;
         CREATE OR REPLACE FUNCTION {s}.dbos_fault_ambiguous() RETURNS trigger
         LANGUAGE plpgsql AS $fault$
         DECLARE p float8;
         BEGIN
             IF current_setting('dbos_test.commit_drawn', true) IS DISTINCT FROM 'yes' THEN
                 PERFORM set_config('dbos_test.commit_drawn', 'yes', true);
                 SELECT c.p40003 INTO p FROM {control} c;
                 IF p > 0 AND random() < p THEN
                     PERFORM nextval({seq_ambiguous});
                     RAISE EXCEPTION 'result is ambiguous: injected by the dbos-storage tests \
                         at the commit of a write to %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
                         USING ERRCODE = '40003';
                 END IF;
             END IF;
             RETURN NULL;
         END
         $fault$;"
    );
    run(url, &setup).await;
    let mut triggers = String::new();
    for table in tables(url, schema).await {
        let t = format!("{s}.{}", quote_ident(&table));
        triggers.push_str(&format!(
            "DROP TRIGGER IF EXISTS dbos_fault_retry ON {t};
             CREATE TRIGGER dbos_fault_retry BEFORE INSERT OR UPDATE OR DELETE ON {t}
                 FOR EACH STATEMENT EXECUTE FUNCTION {s}.dbos_fault_retry();
             DROP TRIGGER IF EXISTS dbos_fault_ambiguous ON {t};
             CREATE CONSTRAINT TRIGGER dbos_fault_ambiguous
                 AFTER INSERT OR UPDATE OR DELETE ON {t}
                 DEFERRABLE INITIALLY DEFERRED
                 FOR EACH ROW EXECUTE FUNCTION {s}.dbos_fault_ambiguous();\n"
        ));
    }
    run(url, &triggers).await;
}

/// Sets the fractions of write statements failed with `40001` and of committing write
/// transactions failed with `40003` in `schema` (each in `0.0..=1.0`). Takes effect for every
/// session at its next statement.
///
/// # Panics
/// When the injection is not installed or a fraction is out of range.
pub async fn set_fault_rates(url: &str, schema: &str, p40001: f64, p40003: f64) {
    assert!(
        (0.0..=1.0).contains(&p40001) && (0.0..=1.0).contains(&p40003),
        "fault rates are fractions: got {p40001} and {p40003}"
    );
    let sql = format!(
        "UPDATE {}.{} SET p40001 = {p40001:?}, p40003 = {p40003:?}",
        quote_ident(schema),
        quote_ident(CONTROL_TABLE)
    );
    run(url, &sql).await;
}

/// The faults raised in `schema` since [`install_faults`].
///
/// # Panics
/// When the injection is not installed.
pub async fn injected_faults(url: &str, schema: &str) -> InjectedFaults {
    let client = connect(url)
        .await
        .unwrap_or_else(|e| panic!("fault injection: cannot connect: {}", describe(&e)));
    let s = quote_ident(schema);
    let count = |seq: &str| {
        format!("(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {s}.{seq})")
    };
    let sql = format!(
        "SELECT {}, {}",
        count("dbos_fault_injected_40001"),
        count("dbos_fault_injected_40003")
    );
    let row = client
        .query_one(sql.as_str(), &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)));
    let read = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    InjectedFaults {
        serialization_failures: read(0),
        ambiguous_commits: read(1),
    }
}

/// Removes everything [`install_faults`] created in `schema`: the triggers (with their
/// functions), the control table and the counters.
///
/// # Panics
/// When the server refuses a statement.
pub async fn remove_faults(url: &str, schema: &str) {
    let s = quote_ident(schema);
    run(
        url,
        &format!(
            "DROP FUNCTION IF EXISTS {s}.dbos_fault_retry() CASCADE;
             DROP FUNCTION IF EXISTS {s}.dbos_fault_ambiguous() CASCADE;
             DROP TABLE IF EXISTS {s}.{};
             DROP SEQUENCE IF EXISTS {s}.dbos_fault_injected_40001;
             DROP SEQUENCE IF EXISTS {s}.dbos_fault_injected_40003;",
            quote_ident(CONTROL_TABLE)
        ),
    )
    .await;
}

/// `url` connecting to `host:port` instead, with `sslmode=disable` (what a
/// [`CommitDropProxy`] needs). The user, password, database and other options stay.
///
/// # Panics
/// When `url` is not a `postgresql://` URL.
pub fn url_through(url: &str, host: &str, port: u16) -> String {
    PgUrl::parse(url)
        .unwrap_or_else(|e| panic!("not a PostgreSQL URL: {e}"))
        .through_plain(host, port)
        .to_string()
}

/// The protocol codes of the startup packets that ask for encryption.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
/// The largest startup packet the proxy accepts (PostgreSQL's own limit is 10 000 bytes).
const MAX_STARTUP: usize = 64 * 1024;

/// The proxy's settings and counters, shared with its connections.
#[derive(Debug)]
struct Shared {
    upstream: String,
    /// The drop probability, as `f64` bits.
    probability: AtomicU64,
    autocommit: AtomicBool,
    rng: AtomicU64,
    commits: AtomicU64,
    dropped: AtomicU64,
    connections: AtomicU64,
}

impl Shared {
    /// A uniform number in `[0, 1)` (SplitMix64 over a shared counter).
    fn draw(&self) -> f64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn probability(&self) -> f64 {
        f64::from_bits(self.probability.load(Ordering::Relaxed))
    }
}

/// A TCP proxy in front of a PostgreSQL server that kills connections right after a commit
/// applied: the ambiguous commit whose transaction *did* commit.
///
/// It forwards bytes both ways and reads the server's side as PostgreSQL protocol messages
/// (a type byte and a length). When the server reports a transaction committed — the
/// `CommandComplete` of `COMMIT`, and with [`CommitDropProxy::set_drop_autocommit`] also a
/// write (`INSERT`, `UPDATE`, `DELETE`, `MERGE` that changed rows) run outside a transaction
/// block, whose implicit commit happens before the following `ReadyForQuery` — it holds those
/// messages back until that `ReadyForQuery` (status idle, no error in between) and then, with
/// the configured probability, closes both connections instead of forwarding them. The client
/// sees the connection drop with its `COMMIT` (or statement) in flight.
///
/// The proxy speaks plain text: it answers a client's SSL or GSS encryption request with `N`,
/// so connect with `sslmode=disable` or `prefer` (see [`CommitDropProxy::url`]). It listens on
/// 127.0.0.1 and stops, closing its connections, when dropped. It must be started and dropped
/// inside a tokio runtime with I/O enabled.
#[derive(Debug)]
pub struct CommitDropProxy {
    port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl CommitDropProxy {
    /// Starts a proxy to the server at `127.0.0.1:upstream_port`, dropping nothing yet.
    ///
    /// # Errors
    /// When no local port can be bound.
    pub async fn start(upstream_port: u16) -> io::Result<CommitDropProxy> {
        CommitDropProxy::start_to("127.0.0.1", upstream_port).await
    }

    /// Starts a proxy to the server at `host:port` (each client connection opens one
    /// connection there), dropping nothing yet.
    ///
    /// # Errors
    /// When no local port can be bound.
    pub async fn start_to(host: &str, port: u16) -> io::Result<CommitDropProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let local = listener.local_addr()?.port();
        let upstream = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 32);
        let shared = Arc::new(Shared {
            upstream,
            probability: AtomicU64::new(0f64.to_bits()),
            autocommit: AtomicBool::new(false),
            rng: AtomicU64::new(seed),
            commits: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Ok(CommitDropProxy {
            port: local,
            shared,
            task,
        })
    }

    /// The port the proxy listens on, at 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `url` connecting through the proxy (127.0.0.1 at [`CommitDropProxy::port`],
    /// `sslmode=disable`); user, password, database and other options stay.
    ///
    /// # Panics
    /// When `url` is not a `postgresql://` URL.
    pub fn url(&self, url: &str) -> String {
        url_through(url, "127.0.0.1", self.port)
    }

    /// Sets the probability (`0.0..=1.0`) of killing the connection at a commit; applies to
    /// every connection from its next commit.
    ///
    /// # Panics
    /// When `p` is not in `0.0..=1.0`.
    pub fn set_drop_probability(&self, p: f64) {
        assert!((0.0..=1.0).contains(&p), "a probability: got {p}");
        self.shared
            .probability
            .store(p.to_bits(), Ordering::Relaxed);
    }

    /// The probability of killing the connection at a commit.
    pub fn drop_probability(&self) -> f64 {
        self.shared.probability()
    }

    /// Whether single write statements outside a transaction block (autocommit) count as
    /// commits too (off at start: only `COMMIT` does).
    pub fn set_drop_autocommit(&self, on: bool) {
        self.shared.autocommit.store(on, Ordering::Relaxed);
    }

    /// Commits the proxy has seen the server confirm (dropped ones included).
    pub fn commits_seen(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Commits after which the proxy killed the connection.
    pub fn dropped_commits(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Client connections accepted.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for CommitDropProxy {
    fn drop(&mut self) {
        // The accept task owns the connections' tasks: aborting it closes them all.
        self.task.abort();
    }
}

/// Accepts clients until aborted; each connection runs on a task of the set, which aborts
/// them when the set is dropped.
async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.connections.fetch_add(1, Ordering::Relaxed);
        connections.spawn(serve(client, Arc::clone(&shared)));
    }
}

/// Proxies one client connection. Errors end it; the client sees its connection close.
async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let Ok(startup) = read_startup(&mut client_read, &mut client_write).await else {
        return;
    };
    let Ok(server) = TcpStream::connect(shared.upstream.as_str()).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let (mut server_read, mut server_write) = server.into_split();
    if server_write.write_all(&startup).await.is_err() {
        return;
    }
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    });
    let _ = relay(&mut server_read, &mut client_write, &shared).await;
    // Killed at a commit, or the server went away: close both sides now.
    upstream.abort();
    let _ = upstream.await;
}

/// Reads the client's startup packet (length, protocol code, body; no type byte), answering
/// encryption requests with `N` (no) first.
async fn read_startup(read: &mut OwnedReadHalf, write: &mut OwnedWriteHalf) -> io::Result<Vec<u8>> {
    loop {
        let mut head = [0u8; 8];
        read.read_exact(&mut head).await?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if len == 8 && (code == SSL_REQUEST || code == GSSENC_REQUEST) {
            write.write_all(b"N").await?;
            continue;
        }
        if !(8..=MAX_STARTUP).contains(&len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a startup packet of {len} bytes"),
            ));
        }
        let mut packet = head.to_vec();
        packet.resize(len, 0);
        read.read_exact(&mut packet[8..]).await?;
        return Ok(packet);
    }
}

/// Watches the server's messages for commits. See [`CommitDropProxy`].
#[derive(Debug)]
struct CommitWatch {
    /// The transaction status of the last `ReadyForQuery` (`I`, `T` or `E`).
    status: u8,
    /// Messages held back since a commit's `CommandComplete`.
    held: Option<Vec<u8>>,
    /// Whether an error came while holding (the commit did not happen).
    failed: bool,
}

/// Whether a `CommandComplete` tag is a write that changed rows.
fn is_write(tag: &[u8]) -> bool {
    let Ok(tag) = std::str::from_utf8(tag) else {
        return false;
    };
    let verb = tag.split(' ').next().unwrap_or("");
    let rows = tag
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    matches!(verb, "INSERT" | "UPDATE" | "DELETE" | "MERGE") && rows > 0
}

/// Forwards the server's messages to the client until the server closes (`Ok(false)`) or the
/// proxy kills the connection at a commit (`Ok(true)`).
async fn relay(
    server: &mut OwnedReadHalf,
    client: &mut OwnedWriteHalf,
    shared: &Shared,
) -> io::Result<bool> {
    let mut input: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut output: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut watch = CommitWatch {
        status: b'I',
        held: None,
        failed: false,
    };
    loop {
        if server.read_buf(&mut input).await? == 0 {
            return Ok(false);
        }
        let mut at = 0;
        let mut kill = false;
        while input.len() - at >= 5 {
            let kind = input[at];
            let len =
                u32::from_be_bytes([input[at + 1], input[at + 2], input[at + 3], input[at + 4]])
                    as usize;
            if len < 4 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a server message {:?} of length {len}", kind as char),
                ));
            }
            if input.len() - at < 1 + len {
                break;
            }
            let message = &input[at..at + 1 + len];
            let body = &message[5..];
            at += 1 + len;
            match kind {
                b'C' if watch.held.is_none() => {
                    let tag = body.strip_suffix(b"\0").unwrap_or(body);
                    let commits = tag == b"COMMIT"
                        || (watch.status == b'I'
                            && shared.autocommit.load(Ordering::Relaxed)
                            && is_write(tag));
                    if commits {
                        watch.held = Some(message.to_vec());
                        watch.failed = false;
                        continue;
                    }
                }
                b'E' => watch.failed = true,
                b'Z' => {
                    let status = body.first().copied().unwrap_or(b'I');
                    if let Some(held) = watch.held.take() {
                        if status == b'I' && !watch.failed {
                            shared.commits.fetch_add(1, Ordering::Relaxed);
                            if shared.draw() < shared.probability() {
                                shared.dropped.fetch_add(1, Ordering::Relaxed);
                                kill = true;
                                break;
                            }
                        }
                        output.extend_from_slice(&held);
                    }
                    watch.status = status;
                }
                _ => {}
            }
            match &mut watch.held {
                Some(held) => held.extend_from_slice(message),
                None => output.extend_from_slice(message),
            }
        }
        input.drain(..at);
        client.write_all(&output).await?;
        output.clear();
        if kill {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_tags_are_recognized() {
        assert!(is_write(b"INSERT 0 3"));
        assert!(is_write(b"UPDATE 1"));
        assert!(is_write(b"DELETE 2"));
        assert!(!is_write(b"UPDATE 0"));
        assert!(!is_write(b"SELECT 4"));
        assert!(!is_write(b"COMMIT"));
    }

    #[test]
    fn draws_are_fractions() {
        let shared = Shared {
            upstream: String::new(),
            probability: AtomicU64::new(0),
            autocommit: AtomicBool::new(false),
            rng: AtomicU64::new(1),
            commits: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        };
        let draws: Vec<f64> = (0..1000).map(|_| shared.draw()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let low = draws.iter().filter(|d| **d < 0.3).count();
        assert!((200..400).contains(&low), "{low} of 1000 below 0.3");
    }
}
