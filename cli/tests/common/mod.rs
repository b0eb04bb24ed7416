//! Helpers shared by the command tests: running the real binary in a clean environment, and
//! seeding a system database through the library.

#![allow(dead_code)]

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use dbos_storage::{
    connect, DbosConfig, InsertOptions, NewWorkflow, Outcome, Payload, QueueConflictPolicy,
    QueueDefinition, QueueLimits, StepRecord, SystemStore,
};
use std::sync::Arc;

/// The binary, run in `dir`, without any DBOS_* variable of the caller's environment.
pub(crate) fn cmd(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("dbos-storage").expect("the binary is built");
    c.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DBOS") {
            c.env_remove(key);
        }
    }
    c.env_remove("RUST_BACKTRACE");
    c.env_remove("RUST_LOG");
    c
}

/// Whether `line` is a log line of the command (`2026-…Z  WARN target: …`), not its output.
pub(crate) fn is_log_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let stamp = words.next().unwrap_or_default();
    let level = words.next().unwrap_or_default();
    stamp.ends_with('Z')
        && stamp.as_bytes().get(10) == Some(&b'T')
        && ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level)
}

/// Runs the binary with `args` in `dir` and returns its output.
pub(crate) fn run(dir: &Path, args: &[&str]) -> Output {
    cmd(dir).args(args).output().expect("run the binary")
}

/// `text` with every run of spaces within a line squeezed to one, for comparing aligned output.
pub(crate) fn squeeze(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Stdout as text.
pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Asserts failure with `code`, a single `error: …` line on stderr (besides the library's log
/// lines) containing every one of `needles`, and no panic or backtrace; returns stderr.
pub(crate) fn fails(out: &Output, code: i32, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code\nstdout:\n{}\nstderr:\n{err}",
        stdout(out)
    );
    if code == 1 {
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.trim().is_empty() && !is_log_line(l))
            .collect();
        assert_eq!(lines.len(), 1, "one line on stderr, got:\n{err}");
        assert!(lines[0].starts_with("error: "), "{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    err
}

/// Parses stdout as JSON.
pub(crate) fn json(out: &Output) -> serde_json::Value {
    let text = ok(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{text}"))
}

/// Opens (and migrates) the system database at `url` through the library.
pub(crate) async fn store(url: &str) -> Arc<dyn SystemStore> {
    connect(&DbosConfig::new("cli-test").with_system_database_url(url))
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
        .system
}

/// Seeds a database with known workflows:
/// - `wf-done-1` and `wf-done-2` (`SUCCESS`, function `checkout`, two steps each);
/// - `wf-pending` (`PENDING`, function `ship`, executor `exec-a`, one step);
/// - `wf-queued-1..3` (`ENQUEUED` on queue `emails`, function `send`).
///
/// It also registers queue `emails` with concurrency 4 and a rate limit of 10 per second.
/// Creation times increase in that order.
pub(crate) async fn seed(store: &dyn SystemStore) {
    for id in ["wf-done-1", "wf-done-2"] {
        let wf = NewWorkflow::new(id, "checkout", Payload::portable_json(r#"[{"cart":7}]"#))
            .with_executor("exec-a")
            .with_application_version("v1");
        let owner = wf.creator_xid.clone();
        store
            .insert_workflow(wf, InsertOptions::default())
            .await
            .unwrap();
        for (n, name) in [(1, "reserve"), (2, "charge")] {
            let out = Payload::portable_json(format!(r#"{{"step":"{name}"}}"#));
            store
                .record_step(StepRecord::output(id, n, name, out), Some(&owner))
                .await
                .unwrap();
        }
        store
            .record_outcome(
                id,
                Outcome::Output(Payload::portable_json(r#""ok""#)),
                Some(&owner),
            )
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let wf = NewWorkflow::new("wf-pending", "ship", Payload::portable_json("[]"))
        .with_executor("exec-a")
        .with_application_version("v1");
    let owner = wf.creator_xid.clone();
    store
        .insert_workflow(wf, InsertOptions::default())
        .await
        .unwrap();
    store
        .record_step(
            StepRecord::error(
                "wf-pending",
                1,
                "label",
                Payload::portable_json(r#"{"error":"printer offline"}"#),
            ),
            Some(&owner),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .upsert_queue(
            QueueDefinition::new("emails").limits(
                QueueLimits::new()
                    .concurrency(4)
                    .rate_limit(10, std::time::Duration::from_secs(1)),
            ),
            QueueConflictPolicy::Update,
        )
        .await
        .unwrap();
    let queued = (1..=3)
        .map(|i| {
            NewWorkflow::new(
                format!("wf-queued-{i}"),
                "send",
                Payload::portable_json("[]"),
            )
            .enqueued("emails")
        })
        .collect();
    store.enqueue_workflows(queued).await.unwrap();
}

/// A scratch directory holding a copy of the DBOS project fixture `name` (a directory of
/// `tests/fixtures` with its `dbos-config.yaml`), to run the binary in.
pub(crate) fn project(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(name), dir.path().join("dbos-config.yaml"))
        .unwrap_or_else(|e| panic!("copy the fixture {name}: {e}"));
    dir
}

/// The path of the `dbos-config.yaml` of fixture `name`.
pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .join("dbos-config.yaml")
}
