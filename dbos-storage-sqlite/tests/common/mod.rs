//! The fixture shared by the SQLite driver's own tests: a migrated store on a fresh file in a
//! temporary directory, a raw connection to that file, and small input helpers.

use std::path::{Path, PathBuf};

use dbos_storage_core::{LifecycleStore, Payload};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

/// A migrated store on `path`; the directory is removed on drop.
pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    pub(crate) store: SqliteStore,
}

pub(crate) async fn fixture_with(config: impl FnOnce(SqliteConfig) -> SqliteConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dbos.sqlite");
    let store = SqliteStore::open(config(SqliteConfig::file(&path)))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Fixture {
        _dir: dir,
        path,
        store,
    }
}

pub(crate) async fn fixture() -> Fixture {
    fixture_with(|c| c).await
}

pub(crate) fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

pub(crate) fn input() -> Payload {
    Payload::portable_json(r#"{"positionalArgs":[1],"namedArgs":{}}"#)
}

pub(crate) fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}
