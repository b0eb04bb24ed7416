//! SQLite under faults: two OS processes writing one file, and files that cannot serve as a
//! database (a read-only path, a missing directory, a parent that is a file, a directory, random
//! bytes, a damaged database), each failing with its own clear error.
//!
//! The two-process test re-runs this test binary as the second writer: `two_processes_…`
//! spawns `current_exe() --exact peer_writer` with [`PEER_ENV`] naming the file; `peer_writer`
//! does nothing unless that variable is set.

#[allow(dead_code)] // each test file uses part of the shared fixture
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{input, raw};
use dbos_storage_core::{
    ErrorKind, InsertOptions, LifecycleStore, ListWorkflowsQuery, NewWorkflow, Outcome, Payload,
    StepRecord, StepStore, WorkflowStatus, WorkflowStore,
};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

/// Set in the second writer process: the database file.
const PEER_ENV: &str = "DBOS_SQLITE_FAULTS_PEER";
/// Workflows each process writes.
const WORKFLOWS_PER_PROCESS: usize = 400;
/// How long a process waits for the other to be ready before failing (a hang guard).
const READY_GUARD: Duration = Duration::from_secs(60);
/// Concurrent writer tasks per process.
const TASKS_PER_PROCESS: usize = 6;

/// One process's share of the load: every task starts workflows, records two steps and the
/// outcome of each, on its own store (the default busy timeout); returns every error it met.
/// It starts once both processes are ready: each records `{tag}-ready` and waits for the
/// other's, so the two loads overlap.
async fn write_load(path: &Path, tag: &str, other: &str) -> Vec<String> {
    let store = Arc::new(SqliteStore::open(SqliteConfig::file(path)).await.unwrap());
    store.migrate().await.unwrap();
    store
        .insert_workflow(
            NewWorkflow::new(format!("{tag}-ready"), "ready", input()),
            InsertOptions::default(),
        )
        .await
        .unwrap();
    let start = Instant::now();
    while store
        .get_workflows(&[format!("{other}-ready")])
        .await
        .unwrap()
        .is_empty()
    {
        assert!(start.elapsed() < READY_GUARD, "{other} never became ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut tasks = Vec::new();
    for t in 0..TASKS_PER_PROCESS {
        let store = store.clone();
        let tag = tag.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            for n in (t..WORKFLOWS_PER_PROCESS).step_by(TASKS_PER_PROCESS) {
                let id = format!("{tag}-{n}");
                let result = async {
                    let wf = NewWorkflow::new(id.as_str(), "load", input());
                    let owner = wf.creator_xid.clone();
                    store.insert_workflow(wf, InsertOptions::default()).await?;
                    for step in 1..=2 {
                        // The step's work: the writer is idle for a moment, as between the
                        // checkpoints of a real workflow, so the other process gets its turns at
                        // the file lock (back-to-back group commits would hold it throughout).
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        let out = Payload::portable_json(step.to_string());
                        store
                            .record_step(
                                StepRecord::output(id.as_str(), step, "s", out),
                                Some(&owner),
                            )
                            .await?;
                    }
                    let done = Outcome::Output(Payload::portable_json("\"done\""));
                    store.record_outcome(&id, done, Some(&owner)).await?;
                    store.get_workflows(std::slice::from_ref(&id)).await
                }
                .await;
                if let Err(e) = result {
                    errors.push(format!("{id}: {} {e}", e.kind()));
                }
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for task in tasks {
        errors.extend(task.await.unwrap());
    }
    store.close().await.unwrap();
    errors
}

/// The second writer: runs only when spawned by `two_processes_…` with [`PEER_ENV`] set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_writer() {
    let Some(path) = std::env::var_os(PEER_ENV) else {
        return;
    };
    let errors = write_load(Path::new(&path), "peer", "main").await;
    assert!(
        errors.is_empty(),
        "the peer process met errors:\n{}",
        errors.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_writing_one_file_never_see_a_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite");
    // Create and migrate the file first, so both processes start writing at once.
    let setup = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    setup.migrate().await.unwrap();
    setup.close().await.unwrap();

    let exe = std::env::current_exe().unwrap();
    let peer = Command::new(exe)
        .args([
            "--exact",
            "peer_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(PEER_ENV, &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the peer writer");
    let mine = write_load(&path, "main", "peer").await;
    let peer = peer.wait_with_output().unwrap();
    let peer_log = format!(
        "{}{}",
        String::from_utf8_lossy(&peer.stdout),
        String::from_utf8_lossy(&peer.stderr)
    );
    assert!(
        mine.is_empty(),
        "this process met errors:\n{}",
        mine.join("\n")
    );
    assert!(peer.status.success(), "the peer failed:\n{peer_log}");
    assert!(
        peer_log.contains("test peer_writer ... ok"),
        "the peer did not run:\n{peer_log}"
    );

    // Every workflow of both processes finished with both steps, and the two loads overlapped.
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    let all: Vec<_> = store
        .list_workflows(ListWorkflowsQuery::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|w| w.name == "load")
        .collect();
    assert_eq!(all.len(), 2 * WORKFLOWS_PER_PROCESS);
    assert!(all.iter().all(|w| w.status == WorkflowStatus::Success));
    let span = |tag: &str| {
        let times: Vec<_> = all
            .iter()
            .filter(|w| w.workflow_id.starts_with(tag))
            .map(|w| w.created_at)
            .collect();
        (*times.iter().min().unwrap(), *times.iter().max().unwrap())
    };
    let (main, peer) = (span("main-"), span("peer-"));
    assert!(
        main.0 <= peer.1 && peer.0 <= main.1,
        "the loads did not overlap: main {main:?}, peer {peer:?}"
    );
    let steps: i64 = raw(&path)
        .query_row("SELECT count(*) FROM operation_outputs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(steps, 2 * 2 * WORKFLOWS_PER_PROCESS as i64);
    store.close().await.unwrap();
}

fn is_root() -> bool {
    // The effective user of this process owns the files it creates.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(dir.path()).unwrap()) == 0
}

/// Opens `path` and returns the error.
async fn open_err(path: &Path) -> dbos_storage_core::Error {
    match SqliteStore::open(SqliteConfig::file(path)).await {
        Ok(store) => match store.migrate().await {
            Ok(_) => panic!("{} opened and migrated", path.display()),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

fn assert_says(e: &dbos_storage_core::Error, kind: ErrorKind, says: &[&str]) {
    assert_eq!(e.kind(), kind, "{e}");
    for s in says {
        assert!(e.message().contains(s), "lacks {s:?}: {e}");
    }
}

/// A path this process may not create a file in. As root, permission bits do not stop the
/// process, so the path is in sysfs, where nobody may create files.
fn unwritable_path(dir: &Path) -> PathBuf {
    if is_root() {
        PathBuf::from("/sys/dbos-storage-read-only-test.sqlite")
    } else {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        locked.join("dbos.sqlite")
    }
}

#[tokio::test]
async fn a_read_only_path_is_invalid_config_saying_to_make_it_writable() {
    let dir = tempfile::tempdir().unwrap();
    let path = unwritable_path(dir.path());
    let e = open_err(&path).await;
    assert_says(
        &e,
        ErrorKind::InvalidConfig,
        &[
            path.to_str().unwrap(),
            "this process may not write there",
            "make the file and its directory writable",
        ],
    );
    assert!(!path.exists());
}

/// A database file without write permission (only testable as a user other than root).
#[tokio::test]
async fn a_read_only_database_file_is_invalid_config() {
    use std::os::unix::fs::PermissionsExt;
    if is_root() {
        return; // root writes any file; the sysfs case above covers root
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.sqlite");
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await.unwrap();
    for p in [
        dir.path().join("ro.sqlite-wal"),
        dir.path().join("ro.sqlite-shm"),
    ] {
        let _ = std::fs::remove_file(p);
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let e = match SqliteStore::open(SqliteConfig::file(&path)).await {
        Ok(store) => store
            .insert_workflow(
                NewWorkflow::new("w", "f", input()),
                InsertOptions::default(),
            )
            .await
            .unwrap_err(),
        Err(e) => e,
    };
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.message().contains("writable"), "{e}");
}

#[tokio::test]
async fn a_missing_directory_is_invalid_config_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-created");
    let path = missing.join("dbos.sqlite");
    let e = open_err(&path).await;
    assert_says(
        &e,
        ErrorKind::InvalidConfig,
        &[
            path.to_str().unwrap(),
            &format!(
                "its directory {:?} does not exist",
                missing.display().to_string()
            ),
            "create it, or fix the path",
        ],
    );
    assert!(!e.is_retryable());
    assert!(!missing.exists(), "nothing is created");
}

#[tokio::test]
async fn a_parent_that_is_a_file_is_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a directory").unwrap();
    let e = open_err(&file.join("dbos.sqlite")).await;
    assert_says(
        &e,
        ErrorKind::InvalidConfig,
        &["plain-file", "is not a directory"],
    );
}

#[tokio::test]
async fn a_directory_in_place_of_the_file_is_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let e = open_err(dir.path()).await;
    assert_says(&e, ErrorKind::InvalidConfig, &["it is a directory"]);
}

/// Bytes of a simple deterministic generator (xorshift), so the "random" file is reproducible.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[tokio::test]
async fn a_file_of_random_bytes_is_corrupt_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.sqlite");
    std::fs::write(&path, noise(64 * 1024, 0x5eed)).unwrap();
    let e = open_err(&path).await;
    assert_says(
        &e,
        ErrorKind::Corrupt,
        &[
            "noise.sqlite",
            "not a SQLite database or is corrupted",
            "restore it",
        ],
    );
    assert!(!e.is_retryable());
    // The file is left as it was.
    assert_eq!(std::fs::read(&path).unwrap(), noise(64 * 1024, 0x5eed));
}

#[tokio::test]
async fn a_damaged_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.sqlite");
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    store.migrate().await.unwrap();
    for n in 0..50 {
        store
            .insert_workflow(
                NewWorkflow::new(format!("w{n}"), "f", input()),
                InsertOptions::default(),
            )
            .await
            .unwrap();
    }
    store.close().await.unwrap();
    // Fold the WAL into the file, then overwrite every page after the first (the schema stays
    // readable, the tables do not).
    let conn = raw(&path);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&path).unwrap();
    let page = page as usize;
    assert!(bytes.len() > 2 * page, "{} bytes", bytes.len());
    let len = bytes.len() - page;
    bytes[page..].copy_from_slice(&noise(len, 0xbad));
    std::fs::write(&path, bytes).unwrap();

    let e = match SqliteStore::open(SqliteConfig::file(&path)).await {
        Ok(store) => store
            .list_workflows(ListWorkflowsQuery::default())
            .await
            .unwrap_err(),
        Err(e) => e,
    };
    assert_says(
        &e,
        ErrorKind::Corrupt,
        &["corrupted", "restore it from a backup"],
    );
}
