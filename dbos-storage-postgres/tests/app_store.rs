//! `PostgresAppStore` against a real PostgreSQL server (the test harness's,
//! `dbos_storage_testkit::pg`: the server of `DBOS_TEST_POSTGRES_URL`, or a throwaway local
//! cluster), one database per test: what is particular to PostgreSQL. The DBOS 2.x columns,
//! a rival's row, racing executions under each isolation level, aborted transactions, lost
//! connections, real serialization failures, pooled connections left clean, isolation levels,
//! PostgreSQL's types, the native escape hatch, `migrate()` (privileges, schema, concurrency)
//! and where refinery keeps its history.
//!
//! What every application store must do (replays, rollbacks, read-only mode, the user's
//! migrations, named parameters, retries) is the conformance suite's `app_suite!`, run on this
//! store by `tests/app_conformance.rs`.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::app::{transaction_body as body, BoxFuture};
use dbos_storage_core::{
    AppStore, AppTransaction, DatabaseUrl, DbosConfig, Driver, Error, ErrorKind, Isolation,
    Outcome, Params, Payload, RecordedTransaction, Result, Row, TransactionCall, Value,
};
use dbos_storage_postgres::{PostgresAppStore, PostgresDriver, PostgresTransaction};
use dbos_storage_testkit::pg;
use serde::{Deserialize, Serialize};

// ---- helpers ---------------------------------------------------------------------------------

fn output(text: &str) -> Outcome {
    Outcome::Output(Payload::new(text, None))
}

/// The user's table in every test database.
const ACCOUNTS: &str = "
CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
    owner TEXT NOT NULL,
    balance BIGINT NOT NULL DEFAULT 0,
    active BOOLEAN,
    note TEXT,
    photo BYTEA,
    rate DOUBLE PRECISION,
    small INT4,
    tiny INT2,
    doc JSONB,
    amount NUMERIC(12, 2),
    tag UUID,
    opened TIMESTAMPTZ
)";

/// A fresh database with `transaction_outputs` and an `accounts` table, and a plain connection
/// to it outside the store.
struct Db {
    url: String,
    store: Arc<dyn AppStore>,
    raw: tokio_postgres::Client,
}

impl Db {
    async fn new() -> Db {
        Db::with_config(DbosConfig::new("app-store-tests")).await
    }

    async fn with_config(config: DbosConfig) -> Db {
        let url = pg::server().create_database("app").await;
        let store = open(&config, &url).await;
        store.migrate().await.unwrap();
        let raw = pg::server().connect(&url).await.unwrap();
        raw.batch_execute(ACCOUNTS).await.unwrap();
        Db { url, store, raw }
    }

    async fn count(&self, sql: &str) -> i64 {
        self.raw.query_one(sql, &[]).await.unwrap().get(0)
    }

    async fn accounts(&self) -> i64 {
        self.count("SELECT count(*) FROM accounts").await
    }

    async fn recorded_rows(&self) -> i64 {
        self.count("SELECT count(*) FROM dbos.transaction_outputs")
            .await
    }

    /// Closes the store and drops the database.
    async fn finish(self) {
        self.store.close().await.unwrap();
        drop(self.raw);
        pg::server().drop_database(&self.url).await;
    }
}

/// The application store of `url`, opened the way `dbos_storage::connect` opens it.
async fn open(config: &DbosConfig, url: &str) -> Arc<dyn AppStore> {
    PostgresDriver::new()
        .open_app(config, &DatabaseUrl::parse(url).unwrap())
        .await
        .unwrap()
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

/// The single `Int` of a one-row, one-column result.
fn single_int(rows: &[Row]) -> i64 {
    match rows {
        [row] => match row.values() {
            [Value::Int(i)] => *i,
            other => panic!("expected one integer, got {other:?}"),
        },
        _ => panic!("expected one row, got {rows:?}"),
    }
}

/// The single `Text` of a one-row, one-column result.
fn single_text(rows: &[Row]) -> String {
    match rows {
        [row] => match row.values() {
            [Value::Text(s)] => s.clone(),
            other => panic!("expected one text, got {other:?}"),
        },
        _ => panic!("expected one row, got {rows:?}"),
    }
}

// ---- recording -------------------------------------------------------------------------------

#[tokio::test]
async fn the_output_commits_with_the_users_writes() {
    let db = Db::new().await;
    assert_eq!(db.store.backend(), "postgres");
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
    assert_eq!(db.accounts().await, 1);
    let row = db
        .raw
        .query_one(
            "SELECT output, error, txn_id, txn_snapshot, executor_id, function_name, created_at \
             FROM dbos.transaction_outputs WHERE workflow_uuid = 'wf-1' AND function_id = 3",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("\"deposited\"")
    );
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some(""));
    assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some(""));
    assert_eq!(row.get::<_, Option<String>>(4), None);
    assert_eq!(row.get::<_, String>(5), "deposit");
    let created_at: i64 = row.get(6);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now_ms - created_at).abs() < 60_000,
        "created_at {created_at} is not now-ms"
    );

    let recorded = db.store.recorded_transaction("wf-1", 3).await.unwrap();
    assert_eq!(
        recorded,
        Some(RecordedTransaction::new(
            "deposit",
            Some(output("\"deposited\""))
        ))
    );
    assert_eq!(
        db.store.recorded_transaction("wf-1", 4).await.unwrap(),
        None
    );
    db.finish().await;
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
                "INSERT INTO dbos.transaction_outputs (workflow_uuid, function_id, output) \
                 VALUES ('wf-1', 1, 'rival')",
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
    assert_eq!(e.code(), Some("23505"));
    assert!(
        e.message()
            .contains("a concurrent execution recorded transaction 1 of workflow \"wf-1\" first"),
        "{e}"
    );
    assert_eq!(db.accounts().await, 0);
    assert_eq!(db.recorded_rows().await, 0);
    db.finish().await;
}

/// Two executions of the same step run their bodies at the same time; the first to commit
/// wins. Returns both outcomes and the number of body runs.
async fn race_the_same_step(db: &Db, isolation: Isolation) -> (Vec<Result<(Outcome, bool)>>, u32) {
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let runs = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for (i, owner) in ["first", "second"].into_iter().enumerate() {
        let store = db.store.clone();
        let barrier = barrier.clone();
        let runs = runs.clone();
        tasks.push(tokio::spawn(async move {
            if i == 1 {
                // Let the first one insert its output row before the second one does.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut b = body(move |tx| {
                let barrier = barrier.clone();
                let runs = runs.clone();
                Box::pin(async move {
                    let run = runs.fetch_add(1, Ordering::SeqCst);
                    tx.execute(
                        "INSERT INTO accounts (owner) VALUES (:owner)",
                        Params::new().bind("owner", owner),
                    )
                    .await?;
                    if run < 2 {
                        // Both bodies run before either records its output.
                        barrier.wait().await;
                    }
                    Ok(output(&format!("\"{owner}\"")))
                })
            });
            store
                .run_transaction(
                    TransactionCall::new("wf-race", 1, "open").isolation(isolation),
                    &mut b,
                )
                .await
                .map(|done| (done.outcome, done.replayed))
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    (results, runs.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_execution_of_the_same_step_is_replayed_under_serializable() {
    let db = Db::new().await;
    let (results, runs) = race_the_same_step(&db, Isolation::Serializable).await;
    // The loser's insert fails with 40001 (it read the key before the winner committed); its
    // re-run finds the winner's row and replays it.
    let results: Vec<(Outcome, bool)> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(results[0].0, results[1].0, "{results:?}");
    assert_eq!(
        results.iter().filter(|(_, replayed)| *replayed).count(),
        1,
        "{results:?}"
    );
    assert_eq!(runs, 2);
    assert_eq!(db.accounts().await, 1, "only the winner's writes commit");
    assert_eq!(db.recorded_rows().await, 1);
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_execution_of_the_same_step_is_a_step_conflict_under_read_committed() {
    let db = Db::new().await;
    let (results, _) = race_the_same_step(&db, Isolation::ReadCommitted).await;
    let conflicts: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(conflicts.len(), 1, "{results:?}");
    assert_eq!(
        conflicts[0].kind(),
        ErrorKind::StepConflict,
        "{}",
        conflicts[0]
    );
    assert_eq!(db.accounts().await, 1, "only the winner's writes commit");
    assert_eq!(db.recorded_rows().await, 1);
    db.finish().await;
}

// ---- errors, retries and interrupted bodies --------------------------------------------------

#[tokio::test]
async fn an_error_the_body_ignored_fails_the_step_with_a_hint() {
    let db = Db::new().await;
    let mut b = body(|tx| {
        Box::pin(async move {
            tx.execute("INSERT INTO accounts (owner) VALUES ('ann')", Params::new())
                .await?;
            // The error aborts the PostgreSQL transaction; the body swallows it.
            let _ = tx.execute("SELECT 1/0", Params::new()).await;
            Ok(output("unreachable"))
        })
    });
    let e = db
        .store
        .run_transaction(TransactionCall::new("wf-1", 1, "sloppy"), &mut b)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(e.message().contains("ignored"), "{e}");
    assert_eq!(db.accounts().await, 0);
    assert_eq!(db.recorded_rows().await, 0);
    db.finish().await;
}

#[tokio::test]
async fn a_lost_connection_re_runs_the_body_on_a_new_one() {
    let db = Db::new().await;
    let runs = Arc::new(AtomicU32::new(0));
    let mut b = body({
        let runs = runs.clone();
        move |tx| {
            let runs = runs.clone();
            Box::pin(async move {
                let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                tx.execute(
                    "INSERT INTO accounts (owner, balance) VALUES ('ann', :run)",
                    Params::new().bind("run", run),
                )
                .await?;
                if run == 1 {
                    // The server ends this session (57P01): the connection is gone.
                    tx.query(
                        "SELECT pg_terminate_backend(pg_backend_pid())",
                        Params::new(),
                    )
                    .await?;
                }
                Ok(output("survived"))
            })
        }
    });
    let done = db
        .store
        .run_transaction(TransactionCall::new("wf-1", 1, "deposit"), &mut b)
        .await
        .unwrap();
    assert_eq!(done.outcome, output("survived"));
    assert_eq!(done.attempts, 2);
    assert_eq!(db.accounts().await, 1);
    assert_eq!(db.count("SELECT balance FROM accounts").await, 2);
    assert_eq!(db.recorded_rows().await, 1);
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_serialization_failures_re_run_the_body_until_the_balance_is_exact() {
    let db = Db::with_config(DbosConfig::new("app-store-tests").with_pool_size(8)).await;
    db.raw
        .batch_execute("INSERT INTO accounts (id, owner, balance) VALUES (1, 'ann', 0)")
        .await
        .unwrap();
    const ROUNDS: i32 = 3;
    const TASKS: i32 = 8;
    let mut body_runs = 0;
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for i in 0..TASKS {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                // A read-modify-write that loses updates unless transactions serialize.
                let mut b = body(|tx| {
                    Box::pin(async move {
                        let rows = tx
                            .query("SELECT balance FROM accounts WHERE id = 1", Params::new())
                            .await?;
                        let balance = single_int(&rows);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        tx.execute(
                            "UPDATE accounts SET balance = :b WHERE id = 1",
                            Params::new().bind("b", balance + 1),
                        )
                        .await?;
                        Ok(output(&(balance + 1).to_string()))
                    })
                });
                store
                    .run_transaction(
                        TransactionCall::new("wf-c", round * TASKS + i, "increment"),
                        &mut b,
                    )
                    .await
                    .unwrap()
            }));
        }
        for task in tasks {
            let done = task.await.unwrap();
            assert!(!done.replayed);
            assert!(done.attempts >= 1);
            body_runs += done.attempts;
        }
    }
    let total = i64::from(ROUNDS * TASKS);
    assert_eq!(
        db.count("SELECT balance FROM accounts WHERE id = 1").await,
        total
    );
    assert_eq!(db.recorded_rows().await, total);
    assert!(
        i64::from(body_runs) > total,
        "no serialization failure happened ({body_runs} body runs for {total} increments)"
    );
    // Every recorded output is a distinct step of the sequence 1..=total.
    let outputs: Vec<String> = db
        .raw
        .query(
            "SELECT output FROM dbos.transaction_outputs ORDER BY output::int",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<String> = (1..=total).map(|n| n.to_string()).collect();
    assert_eq!(outputs, expected);
    db.finish().await;
}

#[tokio::test]
async fn a_panicking_body_leaves_no_open_transaction_behind() {
    // One connection: the next transaction gets the connection the panic left.
    let db = Db::with_config(DbosConfig::new("app-store-tests").with_pool_size(1)).await;
    let store = db.store.clone();
    let task = tokio::spawn(async move {
        let mut b = body(|tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO accounts (owner) VALUES ('ghost')",
                    Params::new(),
                )
                .await?;
                panic!("the body panics");
            })
        });
        store
            .run_transaction(TransactionCall::new("wf-1", 1, "panics"), &mut b)
            .await
    });
    assert!(task.await.unwrap_err().is_panic());

    let runs = Arc::new(AtomicU32::new(0));
    let mut b = insert_account("ann", output("ok"), runs);
    db.store
        .run_transaction(TransactionCall::new("wf-1", 1, "panics"), &mut b)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM accounts WHERE owner = 'ghost'")
            .await,
        0
    );
    assert_eq!(db.accounts().await, 1);
    assert_eq!(db.recorded_rows().await, 1);
    db.finish().await;
}

#[tokio::test]
async fn a_dropped_call_leaves_no_open_transaction_behind() {
    let db = Db::with_config(DbosConfig::new("app-store-tests").with_pool_size(1)).await;
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
        Duration::from_millis(300),
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
        db.count("SELECT count(*) FROM accounts WHERE owner = 'ghost'")
            .await,
        0
    );
    assert_eq!(db.accounts().await, 1);
    // No session is left idle in a transaction.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
        )
        .await,
        0
    );
    db.finish().await;
}

#[tokio::test]
async fn bodies_cannot_end_the_transaction() {
    let db = Db::new().await;
    for statement in [
        "COMMIT",
        "rollback",
        "BEGIN",
        "END",
        "ABORT",
        "START TRANSACTION",
    ] {
        let mut b = body(move |tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO accounts (owner) VALUES ('ann')", Params::new())
                    .await?;
                tx.execute(statement, Params::new()).await?;
                Ok(output("unreachable"))
            })
        });
        let e = db
            .store
            .run_transaction(TransactionCall::new("wf-1", 1, "deposit"), &mut b)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{statement}: {e}");
    }
    assert_eq!(db.accounts().await, 0);
    assert_eq!(db.recorded_rows().await, 0);

    // Savepoints are fine.
    let mut b = body(|tx| {
        Box::pin(async move {
            tx.execute(
                "INSERT INTO accounts (owner) VALUES ('kept')",
                Params::new(),
            )
            .await?;
            tx.execute("SAVEPOINT sp", Params::new()).await?;
            tx.execute(
                "INSERT INTO accounts (owner) VALUES ('undone')",
                Params::new(),
            )
            .await?;
            tx.execute("ROLLBACK TO SAVEPOINT sp", Params::new())
                .await?;
            Ok(output("ok"))
        })
    });
    db.store
        .run_transaction(TransactionCall::new("wf-1", 2, "savepoints"), &mut b)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM accounts WHERE owner = 'kept'")
            .await,
        1
    );
    assert_eq!(db.accounts().await, 1);
    db.finish().await;
}

// ---- isolation and read-only transactions ----------------------------------------------------

#[tokio::test]
async fn isolation_levels_and_read_only_mode_are_applied() {
    let db = Db::new().await;
    let cases = [
        (Isolation::Serializable, false, "serializable", "off"),
        (Isolation::RepeatableRead, false, "repeatable read", "off"),
        (Isolation::ReadCommitted, false, "read committed", "off"),
        (Isolation::Serializable, true, "serializable", "on"),
        (Isolation::ReadCommitted, true, "read committed", "on"),
    ];
    for (i, (isolation, read_only, level, ro)) in cases.into_iter().enumerate() {
        let mut b = body(|tx| {
            Box::pin(async move {
                let level = single_text(
                    &tx.query("SHOW transaction_isolation", Params::new())
                        .await?,
                );
                let ro = single_text(
                    &tx.query("SHOW transaction_read_only", Params::new())
                        .await?,
                );
                Ok(output(&format!("{level}/{ro}")))
            })
        });
        let call = TransactionCall::new("wf-iso", i as i32, "show")
            .isolation(isolation)
            .read_only(read_only);
        let done = db.store.run_transaction(call, &mut b).await.unwrap();
        assert_eq!(
            done.outcome,
            output(&format!("{level}/{ro}")),
            "{isolation:?}"
        );
    }
    // The default is SERIALIZABLE.
    assert_eq!(
        TransactionCall::new("w", 1, "f").isolation,
        Isolation::Serializable
    );
    db.finish().await;
}

// ---- the neutral handle ----------------------------------------------------------------------

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Account {
    id: i64,
    owner: String,
    balance: i64,
    active: Option<bool>,
    note: Option<String>,
}
/// PostgreSQL reports booleans as booleans, so they deserialize into `bool` (SQLite's 0/1 do
/// not); the rest of serde rows is the conformance suite's.
#[tokio::test]
async fn rows_deserialize_into_serde_structs() {
    let db = Db::new().await;
    db.raw
        .batch_execute(
            "INSERT INTO accounts (id, owner, balance, active, note) \
             VALUES (1, 'ann', 5, true, 'vip'), (2, 'bob', 7, NULL, NULL)",
        )
        .await
        .unwrap();
    let mut b = body(|tx| {
        Box::pin(async move {
            let all: Vec<Account> = tx
                .query_as(
                    "SELECT id, owner, balance, active, note FROM accounts ORDER BY id",
                    Params::new(),
                )
                .await?;
            let one: Option<Account> = tx
                .query_opt(
                    "SELECT id, owner, balance, active, note FROM accounts WHERE id = :id",
                    Params::new().bind("id", 2),
                )
                .await?;
            let none: Option<Account> = tx
                .query_opt(
                    "SELECT id, owner, balance, active, note FROM accounts WHERE id = :id",
                    Params::new().bind("id", 99),
                )
                .await?;
            assert_eq!(one.as_ref(), all.get(1));
            assert_eq!(none, None);
            Ok(output(&serde_json::to_string(&all).unwrap()))
        })
    });
    let done = db
        .store
        .run_transaction(TransactionCall::new("wf-1", 1, "list"), &mut b)
        .await
        .unwrap();
    let Outcome::Output(payload) = done.outcome else {
        panic!("{done:?}");
    };
    let accounts: Vec<Account> = serde_json::from_str(&payload.text).unwrap();
    assert_eq!(
        accounts,
        vec![
            Account {
                id: 1,
                owner: "ann".into(),
                balance: 5,
                active: Some(true),
                note: Some("vip".into())
            },
            Account {
                id: 2,
                owner: "bob".into(),
                balance: 7,
                active: None,
                note: None
            },
        ]
    );
    db.finish().await;
}

#[tokio::test]
async fn named_parameters_bind_every_value_type() {
    let db = Db::new().await;
    let mut b = body(|tx| {
        Box::pin(async move {
            let changed = tx
                .execute(
                    "INSERT INTO accounts (owner, balance, active, note, photo, rate, small, \
                     tiny, doc, amount, tag) \
                     VALUES (:owner, :balance, :active, :note, :photo, :rate, :small, :tiny, \
                     :doc, :amount, :tag)",
                    Params::new()
                        .bind("owner", "ann")
                        .bind(":balance", 12_i64)
                        .bind("active", true)
                        .bind("note", Option::<String>::None)
                        .bind("photo", vec![0_u8, 159, 255])
                        .bind("rate", 0.25)
                        // INT4 and INT2 columns take a Value::Int (sent as 4 and 2 bytes).
                        .bind("small", 2_000_000_000_i64)
                        .bind("tiny", 300)
                        .bind("doc", r#"{"tags": ["a", "b"], "n": 1}"#)
                        .bind("amount", 1234.5)
                        .bind("tag", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                )
                .await?;
            assert_eq!(changed, 1);
            let rows = tx
                .query(
                    "SELECT balance, active, note, photo, rate, small, tiny, amount, tag, \
                     CAST(:x AS bigint) + :x AS twice FROM accounts",
                    Params::new().bind("x", 2).bind("unused", "ignored"),
                )
                .await?;
            assert_eq!(
                rows[0].values(),
                [
                    Value::Int(12),
                    Value::Bool(true),
                    Value::Null,
                    Value::Bytes(vec![0, 159, 255]),
                    Value::Float(0.25),
                    Value::Int(2_000_000_000),
                    Value::Int(300),
                    Value::from("1234.50"),
                    Value::from("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                    Value::Int(4),
                ]
            );

            // Integers and booleans convert where the column says so; text is parsed by the
            // server.
            let n = tx
                .execute(
                    "UPDATE accounts SET active = :flag, small = :small, balance = :balance",
                    Params::new()
                        .bind("flag", 0)
                        .bind("small", 7.0)
                        .bind("balance", "42"),
                )
                .await?;
            assert_eq!(n, 1);
            let rows = tx
                .query("SELECT active, small, balance FROM accounts", Params::new())
                .await?;
            assert_eq!(
                rows[0].values(),
                [Value::Bool(false), Value::Int(7), Value::Int(42)]
            );

            let too_big = tx
                .execute(
                    "UPDATE accounts SET small = :small",
                    Params::new().bind("small", i64::from(i32::MAX) + 1),
                )
                .await
                .unwrap_err();
            assert_eq!(too_big.kind(), ErrorKind::InvalidInput, "{too_big}");
            assert!(too_big.message().contains(":small"), "{too_big}");

            let missing = tx
                .query(
                    "SELECT :present::int, :missing::int",
                    Params::new().bind("present", 1),
                )
                .await
                .unwrap_err();
            assert_eq!(missing.kind(), ErrorKind::InvalidInput);
            assert!(missing.message().contains(":missing"), "{missing}");

            let positional = tx
                .query("SELECT $1::int", Params::new().bind("x", 1))
                .await
                .unwrap_err();
            assert_eq!(positional.kind(), ErrorKind::InvalidInput);
            assert!(positional.message().contains("positional"), "{positional}");

            let unsupported = tx
                .query("SELECT now() AS right_now", Params::new())
                .await
                .unwrap_err();
            assert_eq!(unsupported.kind(), ErrorKind::Unsupported, "{unsupported}");
            assert!(unsupported.message().contains("right_now"), "{unsupported}");
            assert!(
                unsupported.message().contains("timestamptz"),
                "{unsupported}"
            );
            let cast = tx
                .query("SELECT now()::text AS right_now", Params::new())
                .await?;
            assert!(matches!(cast[0].values(), [Value::Text(_)]));

            // A time stamp written as text is parsed by the server.
            tx.execute(
                "UPDATE accounts SET opened = :t",
                Params::new().bind("t", "2024-05-06T07:08:09Z"),
            )
            .await?;
            let opened = tx
                .query(
                    "SELECT extract(epoch FROM opened)::int8 AS s FROM accounts",
                    Params::new(),
                )
                .await?;
            assert_eq!(single_int(&opened), 1_714_979_289);
            Ok(output("ok"))
        })
    });
    db.store
        .run_transaction(TransactionCall::new("wf-1", 1, "types"), &mut b)
        .await
        .unwrap();
    assert_eq!(db.accounts().await, 1);
    db.finish().await;
}

#[tokio::test]
async fn jsonb_round_trips_as_text() {
    let db = Db::new().await;
    let mut b = body(|tx| {
        Box::pin(async move {
            tx.execute(
                "INSERT INTO accounts (owner, doc) VALUES ('ann', :doc)",
                Params::new().bind("doc", r#"{"plan": "gold", "limits": [1, 2]}"#),
            )
            .await?;
            let rows = tx
                .query(
                    "SELECT doc, doc->>'plan' AS plan, doc::json AS plain FROM accounts \
                     WHERE doc @> CAST(:filter AS jsonb)",
                    Params::new().bind("filter", r#"{"plan": "gold"}"#),
                )
                .await?;
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].get("plan"), Some(&Value::from("gold")));
            let Some(Value::Text(doc)) = rows[0].get("doc") else {
                panic!("{rows:?}");
            };
            let Some(Value::Text(plain)) = rows[0].get("plain") else {
                panic!("{rows:?}");
            };
            let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
            let plain: serde_json::Value = serde_json::from_str(plain).unwrap();
            assert_eq!(doc, serde_json::json!({"plan": "gold", "limits": [1, 2]}));
            assert_eq!(plain, doc);

            let bad = tx
                .execute(
                    "UPDATE accounts SET doc = :doc",
                    Params::new().bind("doc", "{not json"),
                )
                .await
                .unwrap_err();
            assert_eq!(bad.code(), Some("22P02"), "{bad}");
            Err::<Outcome, _>(bad)
        })
    });
    let e = db
        .store
        .run_transaction(TransactionCall::new("wf-1", 1, "json"), &mut b)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("22P02"));
    db.finish().await;
}

// ---- the escape hatch ------------------------------------------------------------------------

#[tokio::test]
async fn the_native_client_runs_inside_the_transaction() {
    let db = Db::new().await;
    let mut b = body(|tx| {
        Box::pin(async move {
            tx.execute("INSERT INTO accounts (owner) VALUES ('ann')", Params::new())
                .await?;
            let pg = tx
                .as_any_mut()
                .downcast_mut::<PostgresTransaction>()
                .expect("the PostgreSQL handle");
            assert!(!pg.is_read_only());
            assert_eq!(pg.isolation(), Isolation::Serializable);
            let client = pg.client();
            client
                .execute("INSERT INTO accounts (owner) VALUES ($1)", &[&"bob"])
                .await
                .unwrap();
            let seen: i64 = client
                .query_one("SELECT count(*) FROM accounts", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(
                seen, 2,
                "the uncommitted write is visible inside the transaction"
            );
            // Ends the transaction behind the store's back.
            client.batch_execute("COMMIT").await.unwrap();
            Ok(output("ok"))
        })
    });
    let e = db
        .store
        .run_transaction(TransactionCall::new("wf-1", 1, "native"), &mut b)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    assert!(e.message().contains("no longer open"), "{e}");
    assert_eq!(db.recorded_rows().await, 0);

    // The same for a read-only transaction.
    let mut b = body(|tx| {
        Box::pin(async move {
            let pg = tx
                .as_any_mut()
                .downcast_mut::<PostgresTransaction>()
                .unwrap();
            assert!(pg.is_read_only());
            pg.client().batch_execute("ROLLBACK").await.unwrap();
            Ok(output("ok"))
        })
    });
    let e = db
        .store
        .run_transaction(
            TransactionCall::new("wf-1", 2, "native").read_only(true),
            &mut b,
        )
        .await
        .unwrap_err();
    assert!(e.message().contains("no longer open"), "{e}");

    let mut b = body(|tx| {
        Box::pin(async move {
            let pg = tx
                .as_any_mut()
                .downcast_mut::<PostgresTransaction>()
                .unwrap();
            pg.client()
                .execute("INSERT INTO accounts (owner) VALUES ('cy')", &[])
                .await
                .unwrap();
            Ok(output("ok"))
        })
    });
    db.store
        .run_transaction(TransactionCall::new("wf-1", 3, "native"), &mut b)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM accounts WHERE owner = 'cy'")
            .await,
        1
    );
    assert_eq!(db.recorded_rows().await, 1);
    db.finish().await;
}

// ---- migrate() -------------------------------------------------------------------------------

/// `(name, type, nullable, default)` of each column of `schema.table`, in order.
async fn columns(
    raw: &tokio_postgres::Client,
    schema: &str,
    table: &str,
) -> Vec<(String, String, bool, Option<String>)> {
    raw.query(
        "SELECT column_name::text, data_type::text, is_nullable = 'YES', column_default::text \
         FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 \
         ORDER BY ordinal_position",
        &[&schema, &table],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

/// The definitions of every table, index and constraint of `schema`.
async fn schema_snapshot(raw: &tokio_postgres::Client, schema: &str) -> Vec<String> {
    raw.query(
        "SELECT c.relname::text || ' ' || c.relkind::text || ' ' || \
         coalesce(pg_get_indexdef(c.oid), '') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 ORDER BY 1",
        &[&schema],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test]
async fn migrate_creates_the_dbos_2_table_and_is_idempotent() {
    let db = Db::new().await;
    let before = schema_snapshot(&db.raw, "dbos").await;
    let columns_before = columns(&db.raw, "dbos", "transaction_outputs").await;
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    assert_eq!(schema_snapshot(&db.raw, "dbos").await, before);
    assert_eq!(
        columns(&db.raw, "dbos", "transaction_outputs").await,
        columns_before
    );

    let plain =
        |name: &str, ty: &str, nullable: bool| (name.to_owned(), ty.to_owned(), nullable, None);
    let cols = columns_before;
    assert_eq!(
        cols[..7],
        [
            plain("workflow_uuid", "text", false),
            plain("function_id", "integer", false),
            plain("output", "text", true),
            plain("error", "text", true),
            plain("txn_id", "text", true),
            plain("txn_snapshot", "text", true),
            plain("executor_id", "text", true),
        ]
    );
    assert_eq!(
        cols[7],
        (
            "function_name".to_owned(),
            "text".to_owned(),
            false,
            Some("''::text".to_owned())
        )
    );
    assert_eq!(cols.len(), 9);
    let (name, ty, nullable, default) = &cols[8];
    assert_eq!(
        (name.as_str(), ty.as_str(), *nullable),
        ("created_at", "bigint", false)
    );
    assert!(
        default
            .as_deref()
            .is_some_and(|d| d.contains("EXTRACT(epoch FROM now())") && d.contains("1000")),
        "{default:?}"
    );

    let pk: Vec<String> = db
        .raw
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = 'dbos.transaction_outputs'::regclass AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(pk, ["workflow_uuid", "function_id"]);
    let index: String = db
        .raw
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'dbos' \
             AND indexname = 'transaction_outputs_created_at_index'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(index.ends_with("(created_at)"), "{index}");
    db.finish().await;
}

#[tokio::test]
async fn migrate_adds_function_name_to_an_old_table() {
    let url = pg::server().create_database("app_old").await;
    let raw = pg::server().connect(&url).await.unwrap();
    raw.batch_execute(
        "CREATE SCHEMA dbos;
        CREATE TABLE dbos.transaction_outputs (
            workflow_uuid TEXT NOT NULL,
            function_id INTEGER NOT NULL,
            output TEXT,
            error TEXT,
            txn_id TEXT,
            txn_snapshot TEXT,
            executor_id TEXT,
            created_at BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (workflow_uuid, function_id)
        );
        INSERT INTO dbos.transaction_outputs (workflow_uuid, function_id, output)
        VALUES ('wf-old', 1, '\"old\"');",
    )
    .await
    .unwrap();
    let store = open(&DbosConfig::new("app-store-tests"), &url).await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();

    let cols = columns(&raw, "dbos", "transaction_outputs").await;
    assert!(cols.contains(&(
        "function_name".to_owned(),
        "text".to_owned(),
        false,
        Some("''::text".to_owned())
    )));
    let indexed: i64 = raw
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'transaction_outputs_created_at_index'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexed, 1);

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
    store.close().await.unwrap();
    drop(raw);
    pg::server().drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrate_calls_all_succeed() {
    let url = pg::server().create_database("app_concurrent").await;
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(open(&DbosConfig::new("app-store-tests").with_pool_size(2), &url).await);
    }
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .map(|store| tokio::spawn(async move { store.migrate().await }))
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let raw = pg::server().connect(&url).await.unwrap();
    assert_eq!(columns(&raw, "dbos", "transaction_outputs").await.len(), 9);
    for store in stores {
        store.close().await.unwrap();
    }
    drop(raw);
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn migrate_needs_no_privilege_once_the_table_exists() {
    let db = Db::new().await;
    // A role that may use the table but create nothing.
    pg::server()
        .create_role("app_store_user", "secret-pw")
        .await;
    let database = pg::database_name(&db.url);
    db.raw
        .batch_execute(&format!(
            "REVOKE CREATE ON DATABASE \"{database}\" FROM PUBLIC;
             REVOKE CREATE ON SCHEMA public FROM PUBLIC;
             GRANT USAGE ON SCHEMA dbos TO app_store_user;
             GRANT SELECT, INSERT ON dbos.transaction_outputs TO app_store_user;"
        ))
        .await
        .unwrap();
    let user_url = pg::server().url_for(&database, "app_store_user", Some("secret-pw"));
    let store = open(&DbosConfig::new("app-store-tests"), &user_url).await;
    store.migrate().await.unwrap();
    let mut b = body(|_tx| Box::pin(async { Ok(output("\"fine\"")) }));
    store
        .run_transaction(TransactionCall::new("wf-1", 1, "t"), &mut b)
        .await
        .unwrap();
    store.close().await.unwrap();
    db.finish().await;
}

#[tokio::test]
async fn the_schema_is_configurable() {
    let db =
        Db::with_config(DbosConfig::new("app-store-tests").with_dbos_system_schema("app_dbos"))
            .await;
    assert_eq!(
        columns(&db.raw, "app_dbos", "transaction_outputs")
            .await
            .len(),
        9
    );
    assert!(columns(&db.raw, "dbos", "transaction_outputs")
        .await
        .is_empty());
    let runs = Arc::new(AtomicU32::new(0));
    let mut b = insert_account("ann", output("1"), runs);
    db.store
        .run_transaction(TransactionCall::new("wf-1", 1, "deposit"), &mut b)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM app_dbos.transaction_outputs")
            .await,
        1
    );
    db.finish().await;
}

#[tokio::test]
async fn transactions_before_migrate_say_what_to_do() {
    let url = pg::server().create_database("app_fresh").await;
    let store = PostgresAppStore::connect(&url).await.unwrap();
    assert!(format!("{store:?}").contains("PostgresAppStore"));
    let mut b = body(|_tx| Box::pin(async { Ok(output("x")) }));
    let e = store
        .run_transaction(TransactionCall::new("wf-1", 1, "t"), &mut b)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    assert!(e.message().contains("migrate()"), "{e}");
    let e = store.recorded_transaction("wf-1", 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    store.close().await.unwrap();
    pg::server().drop_database(&url).await;
}

// ---- run_migrations() ------------------------------------------------------------------------

fn write(folder: &Path, name: &str, sql: &str) {
    std::fs::write(folder.join(name), sql).unwrap();
}

#[tokio::test]
async fn refinery_migrations_apply_once() {
    let db = Db::new().await;
    let folder = tempfile::tempdir().unwrap();
    write(
        folder.path(),
        "V1__ledger.sql",
        "CREATE TABLE ledger (id BIGSERIAL PRIMARY KEY, amount BIGINT NOT NULL);",
    );
    write(
        folder.path(),
        "V2__more.sql",
        "ALTER TABLE ledger ADD COLUMN memo TEXT;\nCREATE INDEX ledger_amount ON ledger (amount);",
    );
    write(folder.path(), "README.md", "not a migration");

    let applied = db.store.run_migrations(folder.path()).await.unwrap();
    assert_eq!(applied, ["V1__ledger", "V2__more"]);
    assert_eq!(
        db.store.run_migrations(folder.path()).await.unwrap(),
        Vec::<String>::new()
    );

    write(
        folder.path(),
        "V3__third.sql",
        "CREATE TABLE audit (id BIGSERIAL PRIMARY KEY);",
    );
    assert_eq!(
        db.store.run_migrations(folder.path()).await.unwrap(),
        ["V3__third"]
    );

    // The user's tables land in the search path; the history next to transaction_outputs.
    let ledger: Vec<String> = columns(&db.raw, "public", "ledger")
        .await
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(ledger, ["id", "amount", "memo"]);
    assert_eq!(
        db.count("SELECT count(*) FROM dbos.refinery_schema_history")
            .await,
        3
    );

    // Transactions still work afterwards, and see the new tables.
    let mut b = body(|tx| {
        Box::pin(async move {
            tx.execute(
                "INSERT INTO ledger (amount) VALUES (:amount)",
                Params::new().bind("amount", 5),
            )
            .await?;
            Ok(output("ok"))
        })
    });
    db.store
        .run_transaction(TransactionCall::new("wf-1", 1, "book"), &mut b)
        .await
        .unwrap();
    assert_eq!(db.count("SELECT count(*) FROM ledger").await, 1);
    db.finish().await;
}

#[tokio::test]
async fn run_migrations_creates_the_schema_of_its_history() {
    let url = pg::server().create_database("app_nomigrate").await;
    let store = open(&DbosConfig::new("app-store-tests"), &url).await;
    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "V1__t.sql", "CREATE TABLE t (x INT);");
    // No migrate() first: the schema does not exist yet.
    assert_eq!(
        store.run_migrations(folder.path()).await.unwrap(),
        ["V1__t"]
    );
    let raw = pg::server().connect(&url).await.unwrap();
    let n: i64 = raw
        .query_one("SELECT count(*) FROM dbos.refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    store.close().await.unwrap();
    drop(raw);
    pg::server().drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replicas_apply_each_migration_once() {
    let db = Db::new().await;
    let folder = tempfile::tempdir().unwrap();
    // Not idempotent: a second run of V1 would fail on the existing table.
    write(
        folder.path(),
        "V1__ledger.sql",
        "CREATE TABLE ledger (id INT);",
    );
    write(
        folder.path(),
        "V2__slow.sql",
        "SELECT pg_sleep(0.2); ALTER TABLE ledger ADD COLUMN memo TEXT;",
    );
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = open(&DbosConfig::new("app-store-tests"), &db.url).await;
        let folder = folder.path().to_path_buf();
        tasks.push(tokio::spawn(async move {
            let applied = store.run_migrations(&folder).await;
            store.close().await.unwrap();
            applied
        }));
    }
    let mut applied = Vec::new();
    for task in tasks {
        applied.extend(task.await.unwrap().unwrap());
    }
    applied.sort();
    assert_eq!(applied, ["V1__ledger", "V2__slow"]);
    assert_eq!(
        db.count("SELECT count(*) FROM dbos.refinery_schema_history")
            .await,
        2
    );
    db.finish().await;
}

#[tokio::test]
async fn a_failing_migration_is_named() {
    let db = Db::new().await;
    let folder = tempfile::tempdir().unwrap();
    write(
        folder.path(),
        "V1__good.sql",
        "CREATE TABLE good (x INTEGER);",
    );
    write(
        folder.path(),
        "V2__broken.sql",
        "CREAT TABLE broken (x INTEGER);",
    );
    let e = db.store.run_migrations(folder.path()).await.unwrap_err();
    assert!(e.message().contains("V2__broken"), "{e}");
    assert!(e.to_string().contains("syntax error"), "{e}");
    assert_eq!(e.code(), Some("42601"));
    assert_eq!(e.kind(), ErrorKind::Backend);
    // The migration before it stays applied.
    assert_eq!(
        db.count("SELECT count(*) FROM dbos.refinery_schema_history")
            .await,
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM good").await, 0);

    // A changed, already applied migration is a schema mismatch.
    write(
        folder.path(),
        "V1__good.sql",
        "CREATE TABLE good (x BIGINT);",
    );
    std::fs::remove_file(folder.path().join("V2__broken.sql")).unwrap();
    let e = db.store.run_migrations(folder.path()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    db.finish().await;
}
