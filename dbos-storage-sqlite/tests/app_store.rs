//! What is particular to `SqliteAppStore`, against real SQLite files: the DBOS 2.x columns it
//! writes, a rival's row, busy databases and two stores on one file, SQLite's value
//! conversions, the native escape hatch, and `migrate()` on fresh and old tables.
//!
//! What every application store must do (replays, rollbacks, read-only mode, the user's
//! migrations, named parameters, retries) is the conformance suite's `app_suite!`, run on this
//! store by `tests/app_conformance.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dbos_storage_core::{
    AppStore, AppTransaction, ErrorKind, Outcome, Params, Payload, RecordedTransaction, Result,
    SqliteLocation, TransactionCall, Value,
};
use dbos_storage_sqlite::{SqliteAppStore, SqliteTransaction};
use futures::future::BoxFuture;
use tempfile::TempDir;

// ---- helpers ---------------------------------------------------------------------------------

use dbos_storage_core::app::transaction_body as body;

fn output(text: &str) -> Outcome {
    Outcome::Output(Payload::new(text, None))
}

/// A temporary database file with `transaction_outputs` and an `accounts` table.
struct Db {
    _dir: TempDir,
    path: PathBuf,
    store: SqliteAppStore,
}

impl Db {
    async fn new() -> Db {
        Db::with_busy_timeout(Duration::from_secs(5)).await
    }

    async fn with_busy_timeout(busy_timeout: Duration) -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sqlite");
        let store = SqliteAppStore::open(SqliteLocation::File(path.clone()), busy_timeout)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        raw(&path)
            .execute_batch(
                "CREATE TABLE accounts (
                    id INTEGER PRIMARY KEY,
                    owner TEXT NOT NULL,
                    balance INTEGER NOT NULL DEFAULT 0,
                    active BOOLEAN,
                    note TEXT,
                    photo BLOB,
                    rate REAL
                )",
            )
            .unwrap();
        Db {
            _dir: dir,
            path,
            store,
        }
    }

    fn count(&self, sql: &str) -> i64 {
        raw(&self.path).query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn accounts(&self) -> i64 {
        self.count("SELECT count(*) FROM accounts")
    }

    fn recorded_rows(&self) -> i64 {
        self.count("SELECT count(*) FROM transaction_outputs")
    }
}

/// A plain rusqlite connection to the same file, outside the store.
fn raw(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// A body that inserts an account for `owner` and returns `outcome`, counting its runs.
fn insert_account(
    owner: &'static str,
    outcome: Outcome,
    runs: Arc<AtomicU32>,
) -> impl for<'t> FnMut(&'t mut dyn AppTransaction) -> BoxFuture<'t, Result<Outcome>> + Send {
    body(move |tx| {
        let outcome = outcome.clone();
        let runs = runs.clone();
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tx.execute(
                "INSERT INTO accounts (owner, balance) VALUES (:owner, :balance)",
                Params::new().bind("owner", owner).bind("balance", 10),
            )
            .await?;
            Ok(outcome)
        })
    })
}

// ---- recording -------------------------------------------------------------------------------

#[tokio::test]
async fn the_output_commits_with_the_users_writes() {
    let db = Db::new().await;
    let runs = Arc::new(AtomicU32::new(0));
    let mut b = insert_account("ann", output("\"deposited\""), runs.clone());
    let done = db
        .store
        .run_transaction(TransactionCall::new("wf-1", 3, "deposit"), &mut b)
        .await
        .unwrap();
    assert_eq!(done.outcome, output("\"deposited\""));
    assert!(!done.replayed);
    assert_eq!(done.attempts, 1);

    // Both rows are there, written by one commit.
    assert_eq!(db.accounts(), 1);
    let row: (
        String,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        String,
        i64,
    ) = raw(&db.path)
        .query_row(
            "SELECT output, error, txn_id, txn_snapshot, executor_id, function_name, \
                 created_at FROM transaction_outputs \
                 WHERE workflow_uuid = 'wf-1' AND function_id = 3",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(row.0, "\"deposited\"");
    assert_eq!(row.1, None);
    assert_eq!(row.2.as_deref(), Some(""));
    assert_eq!(row.3, "");
    assert_eq!(row.4, None);
    assert_eq!(row.5, "deposit");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now_ms - row.6).abs() < 60_000,
        "created_at {} is not now-ms",
        row.6
    );

    let recorded = db.store.recorded_transaction("wf-1", 3).await.unwrap();
    assert_eq!(
        recorded,
        Some(RecordedTransaction::new(
            "deposit",
            Some(Outcome::Output(Payload {
                text: "\"deposited\"".into(),
                serialization: None,
            }))
        ))
    );
    assert_eq!(
        db.store.recorded_transaction("wf-1", 4).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_row_recorded_by_a_rival_in_the_same_transaction_is_a_step_conflict() {
    let db = Db::new().await;
    let mut b = body(|tx| {
        Box::pin(async move {
            tx.execute("INSERT INTO accounts (owner) VALUES ('ann')", Params::new())
                .await?;
            // Stands in for a concurrent execution that recorded this step first.
            tx.execute(
                "INSERT INTO transaction_outputs (workflow_uuid, function_id, output, \
                 txn_snapshot) VALUES ('wf-1', 1, 'rival', '')",
                Params::new(),
            )
            .await?;
            Ok(output("mine"))
        })
    });
    let e = db
        .store
        .run_transaction(TransactionCall::new("wf-1", 1, "deposit"), &mut b)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StepConflict, "{e}");
    assert!(
        e.message()
            .contains("a concurrent execution recorded transaction 1 of workflow \"wf-1\" first"),
        "{e}"
    );
    assert_eq!(db.accounts(), 0);
    assert_eq!(db.recorded_rows(), 0);
}

// ---- errors, retries and interrupted bodies --------------------------------------------------

#[tokio::test]
async fn a_busy_database_delays_the_transaction_until_the_lock_is_released() {
    // A short busy timeout: BEGIN IMMEDIATE gives up after 20 ms and the retry policy re-runs
    // the attempt until the other connection commits.
    let db = Db::with_busy_timeout(Duration::from_millis(20)).await;
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let path = db.path.clone();
    let blocker = std::thread::spawn(move || {
        let c = raw(&path);
        c.execute_batch("BEGIN EXCLUSIVE; INSERT INTO accounts (owner) VALUES ('blocker');")
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        c.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();

    let started = Instant::now();
    let runs = Arc::new(AtomicU32::new(0));
    let mut b = insert_account("ann", output("ok"), runs.clone());
    let done = db
        .store
        .run_transaction(TransactionCall::new("wf-1", 1, "deposit"), &mut b)
        .await
        .unwrap();
    let waited = started.elapsed();
    blocker.join().unwrap();

    assert_eq!(done.outcome, output("ok"));
    assert!(
        waited >= Duration::from_millis(150),
        "the transaction finished after {waited:?}, before the lock was released"
    );
    // BEGIN IMMEDIATE takes the write lock before the body runs, so contention costs retries
    // of BEGIN, never a wasted run of the body.
    assert_eq!(done.attempts, 1);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        db.count("SELECT count(*) FROM accounts WHERE owner = 'ann'"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM accounts WHERE owner = 'blocker'"),
        1
    );
    assert_eq!(db.recorded_rows(), 1);
}

#[tokio::test]
async fn a_dropped_call_leaves_no_open_transaction_behind() {
    let db = Db::new().await;
    let mut slow = body(|tx| {
        Box::pin(async move {
            tx.execute(
                "INSERT INTO accounts (owner) VALUES ('ghost')",
                Params::new(),
            )
            .await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(output("never"))
        })
    });
    let call = TransactionCall::new("wf-1", 1, "slow");
    let timed_out = tokio::time::timeout(
        Duration::from_millis(100),
        db.store.run_transaction(call, &mut slow),
    )
    .await;
    assert!(timed_out.is_err());

    let runs = Arc::new(AtomicU32::new(0));
    let mut b = insert_account("ann", output("ok"), runs);
    db.store
        .run_transaction(TransactionCall::new("wf-1", 1, "slow"), &mut b)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM accounts WHERE owner = 'ghost'"),
        0
    );
    assert_eq!(db.accounts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transactions_from_two_stores_serialize() {
    let db = Db::new().await;
    raw(&db.path)
        .execute_batch("INSERT INTO accounts (id, owner, balance) VALUES (1, 'ann', 0)")
        .unwrap();
    let other = SqliteAppStore::open(
        SqliteLocation::File(db.path.clone()),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            // A read-modify-write that loses updates unless transactions serialize.
            let mut b = body(|tx| {
                Box::pin(async move {
                    let rows = tx
                        .query("SELECT balance FROM accounts WHERE id = 1", Params::new())
                        .await?;
                    let Some(Value::Int(balance)) = rows[0].get("balance").cloned() else {
                        panic!("{rows:?}");
                    };
                    tokio::task::yield_now().await;
                    tx.execute(
                        "UPDATE accounts SET balance = :b WHERE id = 1",
                        Params::new().bind("b", balance + 1),
                    )
                    .await?;
                    Ok(output(&(balance + 1).to_string()))
                })
            });
            store
                .run_transaction(TransactionCall::new("wf-c", i, "increment"), &mut b)
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(db.count("SELECT balance FROM accounts WHERE id = 1"), 20);
    assert_eq!(db.recorded_rows(), 20);
}

// ---- the neutral handle ----------------------------------------------------------------------

#[tokio::test]
async fn named_parameters_bind_every_value_type() {
    let db = Db::new().await;
    let mut b = body(|tx| {
        Box::pin(async move {
            let changed = tx
                .execute(
                    "INSERT INTO accounts (owner, balance, active, note, photo, rate) \
                     VALUES (:owner, :balance, :active, :note, @photo, $rate)",
                    Params::new()
                        .bind("owner", "ann")
                        .bind(":balance", 12_i64)
                        .bind("active", true)
                        .bind("note", Option::<String>::None)
                        .bind("photo", vec![0_u8, 159, 255])
                        .bind("rate", 0.25),
                )
                .await?;
            assert_eq!(changed, 1);
            let rows = tx
                .query(
                    "SELECT balance, active, note, photo, rate, :x + :x AS twice FROM accounts",
                    Params::new().bind("x", 2).bind("unused", "ignored"),
                )
                .await?;
            assert_eq!(
                rows[0].values(),
                [
                    Value::Int(12),
                    Value::Int(1),
                    Value::Null,
                    Value::Bytes(vec![0, 159, 255]),
                    Value::Float(0.25),
                    Value::Int(4),
                ]
            );

            let missing = tx
                .query(
                    "SELECT :present, :missing",
                    Params::new().bind("present", 1),
                )
                .await
                .unwrap_err();
            assert_eq!(missing.kind(), ErrorKind::InvalidInput);
            assert!(missing.message().contains(":missing"), "{missing}");

            let positional = tx
                .query("SELECT ?", Params::new().bind("x", 1))
                .await
                .unwrap_err();
            assert_eq!(positional.kind(), ErrorKind::InvalidInput);
            assert!(positional.message().contains("positional"), "{positional}");
            Ok(output("ok"))
        })
    });
    db.store
        .run_transaction(TransactionCall::new("wf-1", 1, "types"), &mut b)
        .await
        .unwrap();
    assert_eq!(db.accounts(), 1);
}

// ---- the escape hatch ------------------------------------------------------------------------

#[tokio::test]
async fn the_native_connection_runs_inside_the_transaction() {
    let db = Db::new().await;
    let mut b = body(|tx| {
        Box::pin(async move {
            tx.execute("INSERT INTO accounts (owner) VALUES ('ann')", Params::new())
                .await?;
            let sqlite = tx
                .as_any_mut()
                .downcast_mut::<SqliteTransaction>()
                .expect("the SQLite handle");
            assert!(!sqlite.is_read_only());
            let (seen, autocommit) = sqlite
                .with_connection(|c| {
                    c.execute("INSERT INTO accounts (owner) VALUES (?1)", ["bob"])?;
                    let seen: i64 =
                        c.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))?;
                    Ok((seen, c.is_autocommit()))
                })
                .await?;
            assert_eq!(
                seen, 2,
                "the uncommitted write is visible inside the transaction"
            );
            assert!(!autocommit, "the closure runs inside the open transaction");

            let ended = sqlite
                .with_connection(|c| c.execute_batch("COMMIT"))
                .await
                .unwrap_err();
            assert_eq!(ended.kind(), ErrorKind::InvalidInput, "{ended}");
            Ok(output("ok"))
        })
    });
    // The closure above committed behind the store's back, so the store refuses to record.
    let e = db
        .store
        .run_transaction(TransactionCall::new("wf-1", 1, "native"), &mut b)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(e.message().contains("no longer open"), "{e}");
    assert_eq!(db.recorded_rows(), 0);

    let mut b = body(|tx| {
        Box::pin(async move {
            let sqlite = tx.as_any_mut().downcast_mut::<SqliteTransaction>().unwrap();
            sqlite
                .with_connection(|c| c.execute("INSERT INTO accounts (owner) VALUES ('cy')", []))
                .await?;
            Ok(output("ok"))
        })
    });
    db.store
        .run_transaction(TransactionCall::new("wf-1", 2, "native"), &mut b)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM accounts WHERE owner = 'cy'"),
        1
    );
    assert_eq!(db.recorded_rows(), 1);
}

#[tokio::test]
async fn a_panic_in_the_native_closure_reaches_the_caller_and_the_connection_survives() {
    let db = Db::new().await;
    let store = db.store.clone();
    let task = tokio::spawn(async move {
        let mut b = body(|tx| {
            Box::pin(async move {
                let sqlite = tx.as_any_mut().downcast_mut::<SqliteTransaction>().unwrap();
                sqlite
                    .with_connection(|_| -> rusqlite::Result<()> { panic!("native panic") })
                    .await?;
                Ok(output("unreachable"))
            })
        });
        store
            .run_transaction(TransactionCall::new("wf-1", 1, "native"), &mut b)
            .await
    });
    assert!(task.await.unwrap_err().is_panic());

    let runs = Arc::new(AtomicU32::new(0));
    let mut b = insert_account("ann", output("ok"), runs);
    db.store
        .run_transaction(TransactionCall::new("wf-1", 1, "deposit"), &mut b)
        .await
        .unwrap();
    assert_eq!(db.accounts(), 1);
}

// ---- migrate() -------------------------------------------------------------------------------

type ColumnInfo = (String, String, bool, Option<String>, i64);

fn table_info(c: &rusqlite::Connection, table: &str) -> Vec<ColumnInfo> {
    let mut stmt = c
        .prepare(&format!(
            "SELECT name, type, \"notnull\", dflt_value, pk \
             FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

fn schema_sql(c: &rusqlite::Connection) -> Vec<String> {
    let mut stmt = c
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[tokio::test]
async fn migrate_creates_the_dbos_2_table_and_is_idempotent() {
    let db = Db::new().await;
    let c = raw(&db.path);
    let before = schema_sql(&c);
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    assert_eq!(
        schema_sql(&c),
        before,
        "a second migrate() changed the schema"
    );

    let columns = table_info(&c, "transaction_outputs");
    let plain = |name: &str, ty: &str, not_null: bool, pk: i64| {
        (name.to_owned(), ty.to_owned(), not_null, None, pk)
    };
    assert_eq!(
        columns[..8],
        [
            plain("workflow_uuid", "TEXT", true, 1),
            plain("function_id", "INTEGER", true, 2),
            plain("output", "TEXT", false, 0),
            plain("error", "TEXT", false, 0),
            plain("txn_id", "TEXT", false, 0),
            plain("txn_snapshot", "TEXT", true, 0),
            plain("executor_id", "TEXT", false, 0),
            (
                "function_name".to_owned(),
                "TEXT".to_owned(),
                true,
                Some("''".to_owned()),
                0
            ),
        ]
    );
    assert_eq!(columns.len(), 9);
    let (name, ty, not_null, default, pk) = &columns[8];
    assert_eq!(
        (name.as_str(), ty.as_str(), *not_null, *pk),
        ("created_at", "BIGINT", true, 0)
    );
    assert!(
        default
            .as_deref()
            .is_some_and(|d| d.contains("unixepoch('subsec') * 1000")),
        "{default:?}"
    );

    let indexed: String = c
        .query_row(
            "SELECT name FROM pragma_index_info('transaction_outputs_created_at_index')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexed, "created_at");
}

#[tokio::test]
async fn migrate_adds_function_name_to_an_old_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    raw(&path)
        .execute_batch(
            "CREATE TABLE transaction_outputs (
                workflow_uuid TEXT NOT NULL,
                function_id INTEGER NOT NULL,
                output TEXT,
                error TEXT,
                txn_id TEXT,
                txn_snapshot TEXT NOT NULL,
                executor_id TEXT,
                created_at BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (workflow_uuid, function_id)
            );
            INSERT INTO transaction_outputs (workflow_uuid, function_id, output, txn_snapshot)
            VALUES ('wf-old', 1, '\"old\"', '');",
        )
        .unwrap();
    let store = SqliteAppStore::open(SqliteLocation::File(path.clone()), Duration::from_secs(5))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();

    let columns = table_info(&raw(&path), "transaction_outputs");
    assert!(columns.contains(&(
        "function_name".to_owned(),
        "TEXT".to_owned(),
        true,
        Some("''".to_owned()),
        0
    )));
    // A row from before the column existed replays under any name.
    let runs = Arc::new(AtomicU32::new(0));
    let mut b = body({
        let runs = runs.clone();
        move |_tx| {
            runs.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(output("new")) })
        }
    });
    let done = store
        .run_transaction(TransactionCall::new("wf-old", 1, "anything"), &mut b)
        .await
        .unwrap();
    assert!(done.replayed);
    assert_eq!(done.outcome, output("\"old\""));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn transactions_before_migrate_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteAppStore::open(
        SqliteLocation::File(dir.path().join("fresh.sqlite")),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut b = body(|_tx| Box::pin(async { Ok(output("x")) }));
    let e = store
        .run_transaction(TransactionCall::new("wf-1", 1, "t"), &mut b)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    assert!(e.message().contains("migrate()"), "{e}");
}
