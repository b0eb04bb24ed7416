//! The writer connection and its group commit.
//!
//! One OS thread owns the writer connection. Callers send it write jobs (a closure over the
//! write transaction and the sender of its result) through a channel. The thread takes the first
//! job and every job already queued behind it (at most [`MAX_BATCH`]) and runs them in ONE
//! `BEGIN IMMEDIATE` transaction, each inside its own savepoint, then commits once: concurrent
//! writes share one transaction and one fsync. There is no timer: while one batch commits, the
//! next one queues. A lone write is today's transaction (no savepoint at all).
//!
//! Each job's savepoint makes it independent of the others: a job that fails is rolled back to
//! its savepoint and released, so the writes of the jobs before and after it commit. Results are
//! sent only after the batch is settled: after `COMMIT` succeeds every caller gets its own
//! result (its value or its own error); when `COMMIT` fails, every caller of the batch gets that
//! error, classified (`SQLITE_BUSY` stays a retryable `Contention`), since all their writes were
//! rolled back — including callers whose own job failed, because their answer may have been
//! computed from writes of the batch that never committed. When SQLite itself rolls the whole
//! transaction back in the middle of a batch (an I/O error, a full disk), the jobs run so far
//! get that error and the rest run in a fresh transaction. A job that panics is rolled back to
//! its savepoint and the panic resumes in its caller; the thread and the other jobs go on.
//!
//! Jobs run in the order they were sent, so one caller's writes keep their order. Other work on
//! the writer (reads of an in-memory database) is sent as a plain call and runs between batches,
//! in order. `close` is a message too: the work queued before it finishes, later work gets
//! `Closed`.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use dbos_storage_core::{Error, ErrorKind, Result};
use rusqlite::{Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::error::{classify, connection_closed, duplicate, BACKEND};

/// The most jobs one transaction commits.
pub(crate) const MAX_BATCH: usize = 64;

// language=SQL
/// Opens the savepoint of one job in a batch.
const SAVEPOINT: &str = "SAVEPOINT dbos_write_job";

// language=SQL
/// Keeps the job's writes in the batch transaction.
const RELEASE: &str = "RELEASE dbos_write_job";

// language=SQL
/// Undoes the job's writes (the savepoint stays open until released).
const ROLLBACK_TO: &str = "ROLLBACK TO dbos_write_job";

/// What a job's caller receives: its result, or the panic of its closure.
type Outcome<R> = std::thread::Result<Result<R>>;

/// A write job, type-erased so that jobs of different result types share the channel.
trait Job: Send {
    /// Runs the job in `tx`; whether it succeeded, and its outcome held until the batch is
    /// settled.
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> (bool, Box<dyn Held>);
    /// Answers the job with `error` without running it.
    fn fail(self: Box<Self>, error: Error);
}

/// The outcome of a job that ran, waiting for the batch's commit.
trait Held: Send {
    /// The job's own error, if it failed.
    fn error(&self) -> Option<&Error>;
    /// Sends the job's own outcome (the batch committed).
    fn deliver(self: Box<Self>);
    /// Sends `error` instead (the batch was rolled back); a panic stays a panic.
    fn fail(self: Box<Self>, error: Error);
}

struct WriteJob<F, R> {
    f: F,
    reply: oneshot::Sender<Outcome<R>>,
}

impl<F, R> Job for WriteJob<F, R>
where
    F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> (bool, Box<dyn Held>) {
        let WriteJob { f, reply } = *self;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(tx)));
        let ok = matches!(outcome, Ok(Ok(_)));
        (ok, Box::new(HeldOutcome { outcome, reply }))
    }

    fn fail(self: Box<Self>, error: Error) {
        let _ = self.reply.send(Ok(Err(error)));
    }
}

struct HeldOutcome<R> {
    outcome: Outcome<R>,
    reply: oneshot::Sender<Outcome<R>>,
}

impl<R: Send + 'static> Held for HeldOutcome<R> {
    fn error(&self) -> Option<&Error> {
        match &self.outcome {
            Ok(Err(e)) => Some(e),
            _ => None,
        }
    }

    fn deliver(self: Box<Self>) {
        let _ = self.reply.send(self.outcome);
    }

    fn fail(self: Box<Self>, error: Error) {
        let outcome = match self.outcome {
            Err(panic) => Err(panic),
            Ok(_) => Ok(Err(error)),
        };
        let _ = self.reply.send(outcome);
    }
}

/// Work for the writer thread.
enum Message {
    /// A write job, batched with the jobs queued next to it.
    Write(Box<dyn Job>),
    /// Any other work on the connection, run alone.
    Call(Box<dyn FnOnce(&mut rusqlite::Connection) + Send>),
    /// Close the connection after the work queued before, and stop.
    Close(oneshot::Sender<rusqlite::Result<()>>),
}

/// The handle of the writer thread. Dropping it stops the thread once the queued work is done.
pub(crate) struct Writer {
    sender: mpsc::Sender<Message>,
    /// Write transactions committed so far.
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread, which opens its connection with `open`; returns once the
    /// connection is open, or `open`'s error.
    pub(crate) async fn start<O>(open: O) -> Result<Writer>
    where
        O: FnOnce() -> Result<rusqlite::Connection> + Send + 'static,
    {
        let (sender, receiver) = mpsc::channel();
        let (ready, opened) = oneshot::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&commits);
        std::thread::Builder::new()
            .name("dbos-sqlite-writer".to_owned())
            .spawn(move || match open() {
                Ok(conn) => {
                    if ready.send(Ok(())).is_ok() {
                        run(conn, &receiver, &counter);
                    }
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Backend,
                    format!("cannot start the SQLite writer thread: {e}"),
                )
                .with_backend(BACKEND)
            })?;
        opened.await.map_err(|_| connection_closed())??;
        Ok(Writer { sender, commits })
    }

    /// How many write transactions the writer has committed (each holds one or more writes).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `f` in a write transaction shared with the writes queued next to it, and returns
    /// its result once that transaction has committed (see the module docs).
    ///
    /// # Errors
    /// `f`'s error; the error of `BEGIN IMMEDIATE` or `COMMIT`, classified; `Closed` when the
    /// writer has stopped.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Message::Write(Box::new(WriteJob { f, reply })))
            .map_err(|_| connection_closed())?;
        resume(answer.await)
    }

    /// Runs `f` on the writer connection between batches.
    ///
    /// # Errors
    /// `f`'s error; `Closed` when the writer has stopped.
    pub(crate) async fn call<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut rusqlite::Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let work = move |conn: &mut rusqlite::Connection| {
            let _ = reply.send(panic::catch_unwind(AssertUnwindSafe(|| f(conn))));
        };
        self.sender
            .send(Message::Call(Box::new(work)))
            .map_err(|_| connection_closed())?;
        resume(answer.await)
    }

    /// Closes the connection after the work sent before; later work gets `Closed`. Closing a
    /// stopped writer is not an error.
    ///
    /// # Errors
    /// The classified error of closing the connection.
    pub(crate) async fn close(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        if self.sender.send(Message::Close(reply)).is_err() {
            return Ok(());
        }
        match answer.await {
            Ok(result) => result.map_err(classify),
            Err(_) => Ok(()),
        }
    }
}

/// The caller's side of an answer: the result, a resumed panic, or `Closed` when the thread
/// dropped the job (it stopped before running it).
fn resume<R>(answer: std::result::Result<Outcome<R>, oneshot::error::RecvError>) -> Result<R> {
    match answer {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => panic::resume_unwind(panic),
        Err(_) => Err(connection_closed()),
    }
}

/// The writer thread's loop.
fn run(mut conn: rusqlite::Connection, receiver: &mpsc::Receiver<Message>, commits: &AtomicU64) {
    let mut next = None;
    loop {
        let message = match next.take() {
            Some(message) => message,
            None => match receiver.recv() {
                Ok(message) => message,
                Err(_) => return,
            },
        };
        match message {
            Message::Write(job) => {
                let mut batch = VecDeque::from([job]);
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(Message::Write(job)) => batch.push_back(job),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_batch(&mut conn, batch, commits);
            }
            Message::Call(work) => work(&mut conn),
            Message::Close(reply) => {
                let result = conn.close().map_err(|(_, e)| e);
                let _ = reply.send(result);
                return;
            }
        }
    }
}

/// Runs `jobs` in as few transactions as possible (one, unless SQLite ends a transaction
/// early) and answers every job.
fn commit_batch(
    conn: &mut rusqlite::Connection,
    mut jobs: VecDeque<Box<dyn Job>>,
    commits: &AtomicU64,
) {
    while !jobs.is_empty() {
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let error = classify(e);
                for job in jobs.drain(1..) {
                    job.fail(duplicate(&error));
                }
                if let Some(job) = jobs.pop_front() {
                    job.fail(error);
                }
                return;
            }
        };
        // A lone job needs no savepoint: its failure rolls the transaction back, as before
        // group commit.
        let alone = jobs.len() == 1;
        let mut held: Vec<Box<dyn Held>> = Vec::with_capacity(jobs.len());
        let mut broken: Option<Error> = None;
        let mut failed_alone = false;
        while let Some(job) = jobs.pop_front() {
            if !alone {
                if let Err(e) = statement(&tx, SAVEPOINT) {
                    job.fail(duplicate(&e));
                    broken = Some(e);
                    break;
                }
            }
            let (ok, outcome) = job.run(&tx);
            if tx.is_autocommit() {
                // SQLite rolled the whole transaction back (an I/O error, a full disk, …).
                broken = Some(match outcome.error() {
                    Some(e) => duplicate(e),
                    None => transaction_lost(),
                });
                held.push(outcome);
                break;
            }
            held.push(outcome);
            if alone {
                failed_alone = !ok;
            } else {
                let settled = if ok {
                    statement(&tx, RELEASE)
                } else {
                    statement(&tx, ROLLBACK_TO).and_then(|()| statement(&tx, RELEASE))
                };
                if let Err(e) = settled {
                    broken = Some(e);
                    break;
                }
            }
        }
        if failed_alone {
            // Dropping the transaction rolls it back.
            drop(tx);
            held.into_iter().for_each(Held::deliver);
            continue;
        }
        let result = match broken {
            Some(e) => {
                drop(tx);
                Err(e)
            }
            None => tx.commit().map_err(classify),
        };
        match result {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
                held.into_iter().for_each(Held::deliver);
            }
            Err(error) => {
                for outcome in held {
                    outcome.fail(duplicate(&error));
                }
            }
        }
    }
}

/// Runs one cached statement without parameters or rows.
fn statement(tx: &Transaction<'_>, sql: &'static str) -> Result<()> {
    tx.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(drop)
        .map_err(classify)
}

/// The error of the jobs whose transaction SQLite rolled back without saying why.
fn transaction_lost() -> Error {
    Error::new(
        ErrorKind::Backend,
        "SQLite rolled back the write transaction (an I/O error or a full disk); nothing of this \
         call was written, retry it",
    )
    .with_backend(BACKEND)
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::mpsc as std_mpsc;
    use std::time::Duration;

    use dbos_storage_core::{ErrorKind, Result};
    use futures::future::join_all;
    use rusqlite::{params, Transaction};

    use crate::config::{SqliteConfig, Synchronous};
    use crate::connection::Connections;
    use crate::error::classify;

    type Write<'a> = Pin<Box<dyn std::future::Future<Output = Result<usize>> + Send + 'a>>;
    type Parked<'a> = Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>>;

    async fn open(
        dir: &tempfile::TempDir,
        config: impl FnOnce(SqliteConfig) -> SqliteConfig,
    ) -> Connections {
        let conns = Connections::open(&config(SqliteConfig::file(dir.path().join("w.sqlite"))))
            .await
            .unwrap();
        conns
            .write(|tx| {
                tx.execute_batch(
                    "CREATE TABLE IF NOT EXISTS parent (k TEXT PRIMARY KEY);
                     CREATE TABLE IF NOT EXISTS child (k TEXT PRIMARY KEY,
                         p TEXT REFERENCES parent (k) DEFERRABLE INITIALLY DEFERRED);",
                )
                .map_err(classify)
            })
            .await
            .unwrap();
        conns
    }

    /// Stops the writer thread until the returned sender is used (or dropped), so that the
    /// writes sent meanwhile queue up and run as one batch.
    async fn hold_writer(conns: &Connections) -> (std_mpsc::Sender<()>, Parked<'_>) {
        let (release, held) = std_mpsc::channel::<()>();
        let (parked, is_parked) = tokio::sync::oneshot::channel();
        let mut call: Parked<'_> = Box::pin(conns.writer_handle().call(move |_| {
            let _ = parked.send(());
            let _ = held.recv();
            Ok(())
        }));
        assert!(futures::poll!(call.as_mut()).is_pending());
        is_parked.await.unwrap();
        (release, call)
    }

    /// Sends every write to the writer (one poll each: a write is sent on its first poll),
    /// then lets the writer go and returns the results in order.
    async fn batch(conns: &Connections, writes: Vec<Write<'_>>) -> Vec<Result<usize>> {
        let (release, parked) = hold_writer(conns).await;
        let mut writes = writes;
        for w in &mut writes {
            assert!(futures::poll!(w.as_mut()).is_pending());
        }
        release.send(()).unwrap();
        parked.await.unwrap();
        join_all(writes).await
    }

    fn insert<'a>(
        conns: &'a Connections,
        table: &'static str,
        k: String,
        p: Option<String>,
        fail: bool,
    ) -> Write<'a> {
        Box::pin(conns.write(move |tx: &Transaction<'_>| {
            let sql = if table == "parent" {
                "INSERT INTO parent (k) VALUES (?1)"
            } else {
                "INSERT INTO child (k, p) VALUES (?1, ?2)"
            };
            let n = if table == "parent" {
                tx.execute(sql, params![k])
            } else {
                tx.execute(sql, params![k, p])
            }
            .map_err(classify)?;
            if fail {
                return Err(dbos_storage_core::Error::invalid_input(format!(
                    "job {k} fails after writing"
                )));
            }
            Ok(n)
        }))
    }

    async fn keys(conns: &Connections, table: &'static str) -> Vec<String> {
        conns
            .read(move |tx| {
                let sql = if table == "parent" {
                    "SELECT k FROM parent ORDER BY k"
                } else {
                    "SELECT k FROM child ORDER BY k"
                };
                let mut stmt = tx.prepare(sql).map_err(classify)?;
                let rows = stmt.query_map([], |r| r.get(0)).map_err(classify)?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
                    .map_err(classify)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn one_failing_write_among_sixteen_leaves_the_others_committed_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let conns = open(&dir, |c| c).await;
        let commits = conns.writer_handle().commits();
        let writes = (0..16)
            .map(|i| insert(&conns, "parent", format!("k{i:02}"), None, i == 7))
            .collect();
        let results = batch(&conns, writes).await;
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(n) => assert!(i != 7 && *n == 1, "{i}: {r:?}"),
                Err(e) => {
                    assert_eq!(i, 7, "{e}");
                    assert_eq!(e.kind(), ErrorKind::InvalidInput);
                    assert!(e.message().contains("job k07 fails"), "{e}");
                }
            }
        }
        let expected: Vec<String> = (0..16)
            .filter(|i| *i != 7)
            .map(|i| format!("k{i:02}"))
            .collect();
        assert_eq!(keys(&conns, "parent").await, expected);
        assert_eq!(
            conns.writer_handle().commits(),
            commits + 1,
            "the sixteen writes share one commit"
        );
        conns.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_commit_is_the_answer_of_every_write_of_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let conns = open(&dir, |c| c).await;
        let commits = conns.writer_handle().commits();
        // The child of a missing parent passes its statement (the foreign key is deferred) and
        // fails the COMMIT of the whole batch.
        let mut writes: Vec<Write<'_>> = (0..5)
            .map(|i| insert(&conns, "parent", format!("p{i}"), None, false))
            .collect();
        writes.push(insert(
            &conns,
            "child",
            "orphan".to_owned(),
            Some("missing".to_owned()),
            false,
        ));
        writes.push(insert(&conns, "parent", "p5".to_owned(), None, true));
        let results = batch(&conns, writes).await;
        for (i, r) in results.into_iter().enumerate() {
            let e = r.expect_err("every write of a failed commit fails");
            assert_eq!(e.kind(), ErrorKind::Backend, "{i}: {e}");
            assert_eq!(e.code(), Some("787"), "{i}: the foreign key violation: {e}");
        }
        assert!(keys(&conns, "parent").await.is_empty());
        assert!(keys(&conns, "child").await.is_empty());
        assert_eq!(conns.writer_handle().commits(), commits);
        // The writer goes on: the next writes commit.
        let results = batch(
            &conns,
            vec![insert(&conns, "parent", "after".to_owned(), None, false)],
        )
        .await;
        assert_eq!(results[0].as_ref().unwrap(), &1);
        assert_eq!(keys(&conns, "parent").await, ["after"]);
        conns.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_locked_file_makes_every_write_of_the_batch_retryable_contention() {
        let dir = tempfile::tempdir().unwrap();
        let conns = open(&dir, |c| c.busy_timeout(Duration::from_millis(20))).await;
        let other = rusqlite::Connection::open(dir.path().join("w.sqlite")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let writes = (0..4)
            .map(|i| insert(&conns, "parent", format!("k{i}"), None, false))
            .collect();
        for r in batch(&conns, writes).await {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Contention, "{e}");
            assert!(e.is_retryable());
        }
        other.execute_batch("ROLLBACK").unwrap();
        let writes = (0..4)
            .map(|i| insert(&conns, "parent", format!("k{i}"), None, false))
            .collect();
        assert!(batch(&conns, writes).await.iter().all(Result::is_ok));
        assert_eq!(keys(&conns, "parent").await.len(), 4);
        conns.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_panicking_write_panics_its_caller_only() {
        let dir = tempfile::tempdir().unwrap();
        let conns = std::sync::Arc::new(open(&dir, |c| c).await);
        let (release, parked) = hold_writer(&conns).await;
        let mut tasks = Vec::new();
        for i in 0..4 {
            let conns = std::sync::Arc::clone(&conns);
            let (sent, is_sent) = tokio::sync::oneshot::channel();
            tasks.push(tokio::spawn(async move {
                let mut write = insert(&conns, "parent", format!("k{i}"), None, false);
                if i == 2 {
                    write = Box::pin(conns.write(|tx| {
                        tx.execute("INSERT INTO parent (k) VALUES ('k2')", [])
                            .map_err(classify)?;
                        panic!("job k2 panics");
                    }));
                }
                assert!(futures::poll!(write.as_mut()).is_pending());
                sent.send(()).unwrap();
                write.await
            }));
            is_sent.await.unwrap();
        }
        release.send(()).unwrap();
        parked.await.unwrap();
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await {
                Ok(r) => assert!(i != 2 && r.is_ok(), "{i}: {r:?}"),
                Err(e) => assert!(i == 2 && e.is_panic(), "{i}: {e}"),
            }
        }
        assert_eq!(keys(&conns, "parent").await, ["k0", "k1", "k3"]);
        conns.close().await.unwrap();
    }

    #[tokio::test]
    async fn writes_queued_before_close_finish_and_later_ones_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        let conns = open(&dir, |c| c).await;
        let (release, parked) = hold_writer(&conns).await;
        let mut queued = insert(&conns, "parent", "queued".to_owned(), None, false);
        assert!(futures::poll!(queued.as_mut()).is_pending());
        let mut close = Box::pin(conns.close());
        assert!(futures::poll!(close.as_mut()).is_pending());
        let late = conns.write(|_| Ok(())).await.unwrap_err();
        assert_eq!(late.kind(), ErrorKind::Closed);
        release.send(()).unwrap();
        parked.await.unwrap();
        assert_eq!(queued.await.unwrap(), 1);
        close.await.unwrap();
        let reopened = open(&dir, |c| c).await;
        assert_eq!(keys(&reopened, "parent").await, ["queued"]);
        reopened.close().await.unwrap();
    }

    #[tokio::test]
    async fn the_synchronous_setting_is_applied_to_every_connection() {
        for (level, expected) in [
            (None, 2),
            (Some(Synchronous::Normal), 1),
            (Some(Synchronous::Off), 0),
            (Some(Synchronous::Extra), 3),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let conns = Connections::open(&match level {
                Some(level) => SqliteConfig::file(dir.path().join("s.sqlite")).synchronous(level),
                None => SqliteConfig::file(dir.path().join("s.sqlite")),
            })
            .await
            .unwrap();
            let read = |tx: &Transaction<'_>| {
                tx.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))
                    .map_err(classify)
            };
            let writer = conns.writer_handle().call(move |c| {
                c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))
                    .map_err(classify)
            });
            assert_eq!(writer.await.unwrap(), expected, "writer, {level:?}");
            assert_eq!(
                conns.write(read).await.unwrap(),
                expected,
                "write, {level:?}"
            );
            assert_eq!(
                conns.read(read).await.unwrap(),
                expected,
                "reader, {level:?}"
            );
            conns.close().await.unwrap();
        }
    }
}
