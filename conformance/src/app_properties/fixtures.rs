//! What the application-store properties share: the suite's own tables (created through the
//! user-migration path every backend has), bodies that write and count their runs, and reads
//! through read-only transactions (which record nothing), so that no property needs a
//! connection of its own to the database.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use dbos_storage_core::app::{transaction_body, BoxFuture};
use dbos_storage_core::{
    AppStore, AppTransaction, Outcome, Params, Payload, Result, Row, TransactionCall, Value,
};

use crate::checks::ok;
use crate::AppFactory;

/// The suite's tables, in SQL that SQLite and PostgreSQL both accept (`BYTEA` has no special
/// meaning to SQLite, whose column then keeps blobs as blobs).
pub(crate) const TABLES_MIGRATION: &str = "\
CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT NOT NULL);
CREATE TABLE vals (id BIGINT PRIMARY KEY, i BIGINT, f DOUBLE PRECISION, t TEXT, b BYTEA);
";

/// The transaction name of the reads the properties make to look at the database.
const PROBE: &str = "conformance_probe";

/// A store from `factory` with the suite's tables, created by a user migration.
pub(crate) async fn store_with_tables<F: AppFactory>(factory: &F) -> F::Store {
    let store = factory.create().await;
    let folder = tempfile::tempdir().expect("a temporary folder for the suite's migration");
    write_file(
        folder.path(),
        "V1__conformance_tables.sql",
        TABLES_MIGRATION,
    );
    let applied = ok(
        store.run_migrations(folder.path()).await,
        "run the suite's table migration",
    );
    assert_eq!(applied, ["V1__conformance_tables"], "the suite's migration");
    store
}

/// Writes `text` to `folder/name`.
pub(crate) fn write_file(folder: &Path, name: &str, text: &str) {
    std::fs::write(folder.join(name), text)
        .unwrap_or_else(|e| panic!("write {}: {e}", folder.join(name).display()));
}

/// An output of `text`, with no serialization label (`transaction_outputs` keeps none).
pub(crate) fn output(text: &str) -> Outcome {
    Outcome::Output(Payload::new(text, None))
}

/// An error outcome of `text`, with no serialization label.
pub(crate) fn error(text: &str) -> Outcome {
    Outcome::Error(Payload::new(text, None))
}

/// A fresh workflow id, so that cases sharing one store never meet.
pub(crate) fn fresh_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// A body that inserts account `id` for `owner` (balance 10), counts its runs in `runs` and
/// returns `outcome`.
pub(crate) fn deposit(
    id: i64,
    owner: impl Into<String>,
    outcome: Outcome,
    runs: Arc<AtomicU32>,
) -> impl for<'t> FnMut(&'t mut dyn AppTransaction) -> BoxFuture<'t, Result<Outcome>> + Send {
    let owner = owner.into();
    transaction_body(move |tx| {
        let (owner, outcome, runs) = (owner.clone(), outcome.clone(), runs.clone());
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tx.execute(
                "INSERT INTO accounts (id, owner, balance) VALUES (:id, :owner, 10)",
                Params::new().bind("id", id).bind("owner", owner),
            )
            .await?;
            Ok(outcome)
        })
    })
}

/// A run counter.
pub(crate) fn counter() -> Arc<AtomicU32> {
    Arc::new(AtomicU32::new(0))
}

/// How many times a counter's body ran.
pub(crate) fn runs(counter: &AtomicU32) -> u32 {
    counter.load(Ordering::SeqCst)
}

/// The rows of `sql`, read in a read-only transaction of a fresh workflow (which records
/// nothing).
pub(crate) async fn read<S: AppStore + ?Sized>(store: &S, sql: &str, params: Params) -> Vec<Row> {
    let rows: Arc<Mutex<Vec<Row>>> = Arc::default();
    let mut body = transaction_body(|tx| {
        let (rows, params, sql) = (rows.clone(), params.clone(), sql.to_owned());
        Box::pin(async move {
            let read = tx.query(&sql, params).await?;
            *rows.lock().expect("the probe's rows") = read;
            Ok(output("null"))
        })
    });
    let call = TransactionCall::new(fresh_id("probe"), 0, PROBE).read_only(true);
    ok(store.run_transaction(call, &mut body).await, sql);
    let rows = rows.lock().expect("the probe's rows").clone();
    rows
}

/// The single integer `sql` returns.
pub(crate) async fn count<S: AppStore + ?Sized>(store: &S, sql: &str, params: Params) -> i64 {
    match read(store, sql, params).await.as_slice() {
        [row] => match row.values() {
            [Value::Int(n)] => *n,
            other => panic!("{sql}: expected one integer, got {other:?}"),
        },
        rows => panic!("{sql}: expected one row, got {rows:?}"),
    }
}

/// How many accounts `owner` has.
pub(crate) async fn accounts_of<S: AppStore + ?Sized>(store: &S, owner: &str) -> i64 {
    count(
        store,
        "SELECT count(*) FROM accounts WHERE owner = :owner",
        Params::new().bind("owner", owner),
    )
    .await
}
