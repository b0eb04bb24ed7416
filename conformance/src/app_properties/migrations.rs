//! The user's migrations (`AppStore::run_migrations`): refinery files applied once each, in
//! version order, a re-run harmless, bad folders and failing files named.

use dbos_storage_core::app::transaction_body;
use dbos_storage_core::{AppStore, ErrorKind, Params, TransactionCall};

use super::fixtures::{count, fresh_id, output, write_file};
use crate::checks::{err, ok};
use crate::AppFactory;

/// Migrations apply in version order (`V10` after `V2`, whatever the file order), only `V…__…`
/// files count, a second run applies nothing, and a file added later applies alone.
pub async fn migrations_apply_once_in_order<F: AppFactory>(factory: &F) {
    let store = factory.create().await;
    let folder = tempfile::tempdir().expect("a temporary folder");
    let dir = folder.path();
    // V10 needs V2's column and V2 needs V1's table: applying out of order fails.
    write_file(
        dir,
        "V10__index.sql",
        "CREATE INDEX ledger_memo ON ledger (memo);",
    );
    write_file(
        dir,
        "V2__memo.sql",
        "ALTER TABLE ledger ADD COLUMN memo TEXT;",
    );
    write_file(
        dir,
        "V1__ledger.sql",
        "CREATE TABLE ledger (id BIGINT PRIMARY KEY, amount BIGINT NOT NULL);",
    );
    write_file(dir, "README.md", "not a migration");
    assert_eq!(
        ok(store.run_migrations(dir).await, "first run"),
        ["V1__ledger", "V2__memo", "V10__index"]
    );
    assert!(
        ok(store.run_migrations(dir).await, "second run").is_empty(),
        "a re-run applies nothing"
    );
    write_file(
        dir,
        "V11__audit.sql",
        "CREATE TABLE audit (id BIGINT PRIMARY KEY);",
    );
    assert_eq!(
        ok(store.run_migrations(dir).await, "third run"),
        ["V11__audit"]
    );

    // The tables are there, with V2's column, for transactions to use.
    let wf = fresh_id("wf");
    let mut body = transaction_body(|tx| {
        Box::pin(async move {
            tx.execute(
                "INSERT INTO ledger (id, amount, memo) VALUES (1, 5, :memo)",
                Params::new().bind("memo", "first"),
            )
            .await?;
            tx.execute("INSERT INTO audit (id) VALUES (1)", Params::new())
                .await?;
            Ok(output("\"booked\""))
        })
    });
    ok(
        store
            .run_transaction(TransactionCall::new(&wf, 1, "book"), &mut body)
            .await,
        "use the migrated tables",
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM ledger WHERE memo = :m",
            Params::new().bind("m", "first")
        )
        .await,
        1
    );
    factory.destroy(store).await;
}

/// A missing folder and a file named like a migration but malformed (`V1_x.sql`) are
/// `InvalidInput` naming the folder and the file; nothing is applied.
pub async fn bad_migration_folders_are_invalid_input<F: AppFactory>(factory: &F) {
    let store = factory.create().await;
    let parent = tempfile::tempdir().expect("a temporary folder");
    let missing = parent.path().join("no-such-folder");
    let e = err(
        store.run_migrations(&missing).await,
        ErrorKind::InvalidInput,
        "a missing folder",
    );
    assert!(
        e.message().contains(&missing.display().to_string()),
        "names the folder: {e}"
    );

    let folder = tempfile::tempdir().expect("a temporary folder");
    write_file(
        folder.path(),
        "V1_accounts.sql",
        "CREATE TABLE a (x BIGINT);",
    );
    let e = err(
        store.run_migrations(folder.path()).await,
        ErrorKind::InvalidInput,
        "a badly named migration",
    );
    assert!(
        e.message().contains("V1_accounts.sql"),
        "names the file: {e}"
    );
    assert!(
        e.message().contains(&folder.path().display().to_string()),
        "names the folder: {e}"
    );
    factory.destroy(store).await;
}

/// A failing migration fails the run with an error naming it; the migrations before it stay
/// applied, and once fixed it applies alone.
pub async fn a_failing_migration_is_named<F: AppFactory>(factory: &F) {
    let store = factory.create().await;
    let folder = tempfile::tempdir().expect("a temporary folder");
    let dir = folder.path();
    write_file(dir, "V1__good.sql", "CREATE TABLE good (x BIGINT);");
    write_file(dir, "V2__broken.sql", "CREAT TABLE broken (x BIGINT);");
    let e = match store.run_migrations(dir).await {
        Err(e) => e,
        Ok(applied) => panic!("a broken migration applied: {applied:?}"),
    };
    assert!(
        e.message().contains("V2__broken"),
        "names the migration: {e}"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM good", Params::new()).await,
        0,
        "V1 stays applied"
    );
    write_file(dir, "V2__broken.sql", "CREATE TABLE broken (x BIGINT);");
    assert_eq!(
        ok(store.run_migrations(dir).await, "after the fix"),
        ["V2__broken"]
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM broken", Params::new()).await,
        0
    );
    factory.destroy(store).await;
}
