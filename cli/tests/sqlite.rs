//! The real binary on SQLite files: every command's output, `--json`, exit codes, where it
//! connects, and every bad input.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn url(dir: &Path, file: &str) -> String {
    format!("sqlite:///{}", dir.join(file).display())
}

/// A migrated, seeded database in `dir`; returns its URL.
async fn seeded(dir: &Path) -> String {
    let url = url(dir, "seeded.sqlite");
    let store = store(&url).await;
    seed(store.as_ref()).await;
    store.close().await.unwrap();
    url
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|w| w["workflow_id"].as_str().unwrap().to_owned())
        .collect()
}

// ---- migrate and check ----------------------------------------------------------------------

#[test]
fn migrate_creates_the_schema_and_reports_the_versions() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "m.sqlite");
    let out = ok(&run(dir.path(), &["--url", &u, "migrate"]));
    assert!(out.contains("schema version  125 (was 0)"), "{out}");
    assert!(out.contains("backend         sqlite"), "{out}");
    assert!(dir.path().join("m.sqlite").exists());

    let v = json(&run(dir.path(), &["--url", &u, "migrate", "--json"]));
    assert_eq!(v["version"], 125);
    assert_eq!(v["previous_version"], 125);
    assert_eq!(v["latest"], 125);
    assert_eq!(v["backend"], "sqlite");
    let out = ok(&run(dir.path(), &["--url", &u, "migrate"]));
    assert!(out.contains("125 (already current)"), "{out}");
}

#[test]
fn migrate_refuses_an_app_role_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "m.sqlite");
    let out = run(dir.path(), &["--url", &u, "migrate", "--app-role", "app"]);
    fails(&out, 1, &["--app-role", "SQLite"]);
}

#[test]
fn check_reports_the_connection_server_schema_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "c.sqlite");
    ok(&run(dir.path(), &["--url", &u, "migrate"]));
    let out = ok(&run(dir.path(), &["--url", &u, "check"]));
    for needle in [
        "connection       ok",
        "dialect          sqlite",
        "server           SQLite 3.",
        "tls              not applicable (embedded)",
        "schema version   125 (this build: 125) ok",
        "journal mode     wal",
        "busy timeout ms  30000",
        "connections      1 writer + 4 readers",
    ] {
        assert!(out.contains(needle), "{needle:?} missing:\n{out}");
    }
    let v = json(&run(dir.path(), &["--url", &u, "check", "--json"]));
    assert_eq!(v["connected"], true);
    assert_eq!(v["backend"], "sqlite");
    assert_eq!(v["tls"], Value::Null);
    assert_eq!(v["schema_version"]["status"], "current");
    assert_eq!(v["schema_version"]["recorded"], 125);
    assert_eq!(v["capabilities"]["durable"], true);
    assert_eq!(v["capabilities"]["listen_notify"], false);
    assert_eq!(v["settings"]["synchronous"], "FULL");
}

#[test]
fn check_of_a_missing_file_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "absent.sqlite");
    let out = run(dir.path(), &["--url", &u, "check"]);
    fails(
        &out,
        1,
        &["absent.sqlite", "does not exist", "dbos-storage migrate"],
    );
    assert!(!dir.path().join("absent.sqlite").exists());
    let out = run(dir.path(), &["--url", &u, "workflow", "list"]);
    fails(&out, 1, &["does not exist"]);
}

#[test]
fn a_database_without_the_schema_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::File::create(dir.path().join("empty.sqlite")).unwrap();
    let u = url(dir.path(), "empty.sqlite");
    let out = run(dir.path(), &["--url", &u, "workflow", "list"]);
    fails(&out, 1, &["no DBOS system schema", "dbos-storage migrate"]);
    let out = run(dir.path(), &["--url", &u, "check", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema_version"]["status"], "behind");
    fails(&out, 1, &["schema version 0"]);
}

/// Sets the recorded schema version of a migrated SQLite file.
fn set_version(path: &Path, version: i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute("UPDATE dbos_migrations SET version = ?1", [version])
        .unwrap();
}

#[test]
fn a_wrong_schema_version_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "v.sqlite");
    ok(&run(dir.path(), &["--url", &u, "migrate"]));

    // Behind this build but from 109 on: read as it is, with a warning naming the version.
    set_version(&dir.path().join("v.sqlite"), 110);
    let out = run(dir.path(), &["--url", &u, "workflow", "list"]);
    ok(&out);
    assert!(
        stderr(&out).contains("schema version 110, behind this build's 125"),
        "{}",
        stderr(&out)
    );
    let out = ok(&run(dir.path(), &["--url", &u, "check"]));
    assert!(
        out.contains("110 (this build: 125) behind, read as it is"),
        "{out}"
    );

    // Below 109 the payload tables are missing: read commands refuse, naming them.
    set_version(&dir.path().join("v.sqlite"), 108);
    let out = run(dir.path(), &["--url", &u, "workflow", "list"]);
    fails(
        &out,
        1,
        &[
            "schema version 108, below 109",
            "workflow_input",
            "dbos-storage migrate",
        ],
    );
    let out = run(dir.path(), &["--url", &u, "check"]);
    assert!(stdout(&out).contains("108 (this build: 125) behind, below 109"));
    fails(&out, 1, &["108"]);

    // A pre-100 SQLite version cannot be interpreted: migrate refuses it.
    set_version(&dir.path().join("v.sqlite"), 50);
    let out = run(dir.path(), &["--url", &u, "migrate"]);
    fails(&out, 1, &["below 100"]);

    // Ahead of this build (a newer DBOS peer): accepted.
    set_version(&dir.path().join("v.sqlite"), 200);
    ok(&run(dir.path(), &["--url", &u, "workflow", "list"]));
    let out = ok(&run(dir.path(), &["--url", &u, "check"]));
    assert!(out.contains("200 (this build: 125) newer"), "{out}");
    let out = ok(&run(dir.path(), &["--url", &u, "migrate"]));
    assert!(out.contains("left untouched"), "{out}");
}

/// A SQLite file built by our migrations stopped at `version`, as another DBOS SDK leaves it.
async fn file_at(dir: &Path, version: i64) -> String {
    use dbos_storage::sqlite::{SqliteConfig, SqliteStore};
    use dbos_storage::LifecycleStore;
    let path = dir.join(format!("v{version}.sqlite"));
    let store = SqliteStore::open(SqliteConfig::file(&path)).await.unwrap();
    assert_eq!(store.migrate_to(version).await.unwrap().recorded, version);
    store.close().await.unwrap();
    url(dir, &format!("v{version}.sqlite"))
}

/// DBOS Transact for TypeScript 5.3 stops at 123: every command reads and writes it as it is,
/// with a warning, and `check` reports the version and succeeds.
#[tokio::test]
async fn a_database_at_123_is_served_without_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let u = file_at(dir.path(), 123).await;
    let db = dbos_storage::connect(
        &dbos_storage::DbosConfig::new("cli-test")
            .with_system_database_url(&u)
            .with_run_migrations(false),
    )
    .await
    .unwrap()
    .system;
    seed(db.as_ref()).await;
    db.close().await.unwrap();

    let out = run(dir.path(), &["--url", &u, "workflow", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&listed).len(), 6, "{listed}");
    let warning = stderr(&out);
    assert!(
        warning.starts_with("warning: ")
            && warning.contains("schema version 123, behind this build's 125")
            && warning.contains("every read and write works"),
        "{warning}"
    );
    let out = ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "get", "wf-done-1"],
    ));
    assert!(out.contains("SUCCESS"), "{out}");
    ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "cancel", "wf-pending"],
    ));

    let out = ok(&run(dir.path(), &["--url", &u, "check"]));
    assert!(
        out.contains("123 (this build: 125) behind, read and written as it is"),
        "{out}"
    );
    let report = json(&run(dir.path(), &["--url", &u, "check", "--json"]));
    assert_eq!(report["schema_version"]["recorded"], 123);
    assert_eq!(report["schema_version"]["status"], "behind");
    assert_eq!(report["schema_version"]["readable"], true);
    assert_eq!(report["schema_version"]["lowest_read"], 109);
    assert_eq!(report["schema_version"]["lacks"], serde_json::json!([]));

    let out = ok(&run(dir.path(), &["--url", &u, "migrate"]));
    assert!(out.contains("125 (was 123)"), "{out}");
    let out = run(dir.path(), &["--url", &u, "workflow", "list"]);
    ok(&out);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// At 122 the workflow rows lack `creator_xid` (123): reads work, a fork (which writes it)
/// fails naming the column and `migrate`, and `check` lists what is missing.
#[tokio::test]
async fn a_write_on_an_older_schema_names_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let u = file_at(dir.path(), 122).await;
    {
        let conn = rusqlite::Connection::open(dir.path().join("v122.sqlite")).unwrap();
        conn.execute_batch(
            "INSERT INTO workflow_status (workflow_uuid, status, name, created_at, updated_at, \
             serialization) VALUES ('old-1', 'SUCCESS', 'ts_workflow', 1700000000000, \
             1700000000000, 'portable_json'); \
             INSERT INTO workflow_input (workflow_uuid, inputs) VALUES ('old-1', '[1]');",
        )
        .unwrap();
    }
    let out = ok(&run(dir.path(), &["--url", &u, "workflow", "get", "old-1"]));
    assert!(out.contains("ts_workflow"), "{out}");
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "fork", "old-1", "--from-step", "1"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warning: ") && err.contains("schema version 122"),
        "{err}"
    );
    assert!(
        err.contains(
            "error: the system database lacks column workflow_status.creator_xid, which DBOS \
             migration 123 adds"
        ) && err.contains("`dbos-storage migrate`"),
        "{err}"
    );
    let out = ok(&run(dir.path(), &["--url", &u, "check"]));
    assert!(
        out.contains(
            "122 (this build: 125) behind, read as it is; writes that need column \
             workflow_status.creator_xid (migration 123) fail"
        ),
        "{out}"
    );
    ok(&run(dir.path(), &["--url", &u, "migrate"]));
    ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "fork", "old-1", "--from-step", "1"],
    ));
}

// ---- workflow commands ----------------------------------------------------------------------

#[tokio::test]
async fn workflow_list_shows_a_table_and_json_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path()).await;
    let out = ok(&run(dir.path(), &["--url", &u, "workflow", "list"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("WORKFLOW ID"), "{out}");
    assert!(
        lines[0].contains("STATUS") && lines[0].contains("CREATED"),
        "{out}"
    );
    assert_eq!(lines.len(), 7, "{out}");
    assert!(lines[1].starts_with("wf-queued-3"), "newest first: {out}");
    assert!(
        out.contains("wf-done-1") && out.contains("SUCCESS"),
        "{out}"
    );
    // Times are local ISO 8601 with an offset.
    let created = lines[1].split_whitespace().nth(5).unwrap_or_default();
    assert!(
        created.len() == 25 && created.as_bytes()[10] == b'T',
        "{created:?} in {out}"
    );

    let v = json(&run(
        dir.path(),
        &["--url", &u, "workflow", "list", "--json"],
    ));
    assert_eq!(v.as_array().unwrap().len(), 6);
    let first = &v[0];
    assert_eq!(first["workflow_id"], "wf-queued-3");
    assert_eq!(first["status"], "ENQUEUED");
    assert_eq!(first["queue_name"], "emails");
    assert!(first["created_at"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(
        first.get("inputs").is_none(),
        "inputs only with --load-input"
    );
}

#[tokio::test]
async fn workflow_list_applies_every_filter() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path()).await;
    let list = |extra: &[&str]| {
        let mut args = vec!["--url", u.as_str(), "workflow", "list", "--json"];
        args.extend_from_slice(extra);
        ids(&json(&run(dir.path(), &args)))
    };
    assert_eq!(
        list(&["--status", "success", "--sort", "asc"]),
        ["wf-done-1", "wf-done-2"]
    );
    assert_eq!(
        list(&["--status", "PENDING", "--status", "SUCCESS"]).len(),
        3
    );
    assert_eq!(list(&["--name", "ship"]), ["wf-pending"]);
    assert_eq!(list(&["--prefix", "wf-queued-"]).len(), 3);
    assert_eq!(
        list(&["--queue", "emails", "--limit", "1"]),
        ["wf-queued-3"]
    );
    assert_eq!(
        list(&["--queue", "emails", "--limit", "1", "--offset", "1"]),
        ["wf-queued-2"]
    );
    assert_eq!(list(&["--id", "wf-done-2", "--id", "wf-pending"]).len(), 2);
    assert_eq!(list(&["--executor", "exec-a"]).len(), 3);
    assert_eq!(
        list(&["--app-version", "v1", "--status", "SUCCESS"]).len(),
        2
    );
    assert_eq!(list(&["--queues-only"]).len(), 3);
    assert!(list(&["--user", "nobody"]).is_empty());
    assert!(list(&["--schedule", "nightly"]).is_empty());
    assert!(list(&["--forked-from", "wf-done-1"]).is_empty());
    assert!(list(&["--parent", "wf-done-1"]).is_empty());
    assert_eq!(list(&["--has-parent", "false"]).len(), 6);
    assert_eq!(list(&["--is-fork", "false"]).len(), 6);
    assert_eq!(list(&["--was-forked-from", "false"]).len(), 6);
    assert_eq!(
        list(&["--application", "other-app"]).len(),
        6,
        "unclaimed rows match"
    );
    assert!(list(&["--start-time", "2999-01-01"]).is_empty());
    assert_eq!(list(&["--end-time", "2999-01-01T00:00:00Z"]).len(), 6);
    assert_eq!(
        list(&["--completed-after", "0", "--status", "SUCCESS"]).len(),
        2
    );
    assert!(list(&["--completed-before", "1000"]).is_empty());
    assert!(list(&["--dequeued-after", "2999-01-01T10:00"]).is_empty());
    assert!(list(&["--dequeued-before", "1000"]).is_empty());
    let loaded = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "list",
            "--json",
            "--id",
            "wf-done-1",
            "--load-input",
            "--load-output",
        ],
    ));
    assert_eq!(loaded[0]["inputs"], r#"[{"cart":7}]"#);
    assert_eq!(loaded[0]["output"], r#""ok""#);
}

#[tokio::test]
async fn workflow_list_rejects_bad_filters() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path()).await;
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "list", "--status", "DONE"],
    );
    fails(&out, 1, &["unknown status \"DONE\"", "SUCCESS"]);
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "list", "--start-time", "soon"],
    );
    fails(&out, 1, &["--start-time", "not a time"]);
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "list", "--attribute", "k"],
    );
    fails(&out, 1, &["KEY=VALUE"]);
    // SQLite cannot filter by attributes: the store says so.
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "list", "--attribute", "k=1"],
    );
    fails(&out, 1, &["attribute"]);
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "list", "--sort", "sideways"],
    );
    fails(&out, 2, &["sideways"]);
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "list", "--limit", "-3"],
    );
    fails(&out, 2, &[]);
}

#[tokio::test]
async fn workflow_get_shows_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path()).await;
    let out = ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "get", "wf-done-1"],
    ));
    for needle in [
        "workflow id    wf-done-1",
        "status         SUCCESS",
        "name           checkout",
        "executor       exec-a",
        "app version    v1",
        "inputs         [{\"cart\":7}]",
        "output         \"ok\"",
        "serialization  portable_json",
    ] {
        assert!(out.contains(needle), "{needle:?} missing:\n{out}");
    }
    let v = json(&run(
        dir.path(),
        &["--url", &u, "workflow", "get", "wf-done-1", "--json"],
    ));
    assert_eq!(v["workflow_id"], "wf-done-1");
    assert_eq!(v["inputs"], r#"[{"cart":7}]"#);
    assert_eq!(v["recovery_attempts"], 1);

    let out = run(dir.path(), &["--url", &u, "workflow", "get", "nope"]);
    fails(&out, 1, &["no workflow \"nope\""]);
}

#[tokio::test]
async fn workflow_steps_lists_outputs_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path()).await;
    let out = ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "steps", "wf-done-1"],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("STEP") && lines[0].contains("NAME"),
        "{out}"
    );
    assert!(
        lines[1].contains("reserve") && lines[1].contains(r#"{"step":"reserve"}"#),
        "{out}"
    );
    assert!(lines[2].contains("charge"), "{out}");
    let out = ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "steps", "wf-pending"],
    ));
    assert!(
        out.contains("error: {\"error\":\"printer offline\"}"),
        "{out}"
    );

    let v = json(&run(
        dir.path(),
        &["--url", &u, "workflow", "steps", "wf-done-2", "--json"],
    ));
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["function_id"], 1);
    assert_eq!(v[0]["function_name"], "reserve");
    assert_eq!(v[0]["output"], r#"{"step":"reserve"}"#);
    assert_eq!(v[0]["error"], Value::Null);
    let v = json(&run(
        dir.path(),
        &["--url", &u, "workflow", "steps", "wf-queued-1", "--json"],
    ));
    assert_eq!(v.as_array().unwrap().len(), 0);

    let out = run(dir.path(), &["--url", &u, "workflow", "steps", "nope"]);
    fails(&out, 1, &["no workflow \"nope\""]);
}

#[tokio::test]
async fn workflow_cancel_and_resume_change_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path()).await;
    let out = ok(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "cancel",
            "wf-pending",
            "wf-done-1",
            "ghost",
        ],
    ));
    assert!(out.contains("cancelled wf-pending"), "{out}");
    assert!(out.contains("unchanged wf-done-1"), "{out}");
    let v = json(&run(
        dir.path(),
        &["--url", &u, "workflow", "get", "wf-pending", "--json"],
    ));
    assert_eq!(v["status"], "CANCELLED");

    let v = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "resume",
            "wf-pending",
            "--queue",
            "emails",
            "--json",
        ],
    ));
    assert_eq!(v["changed"], serde_json::json!(["wf-pending"]));
    let v = json(&run(
        dir.path(),
        &["--url", &u, "workflow", "get", "wf-pending", "--json"],
    ));
    assert_eq!(v["status"], "ENQUEUED");
    assert_eq!(v["queue_name"], "emails");

    let v = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "cancel",
            "wf-queued-1",
            "--children",
            "--json",
        ],
    ));
    assert_eq!(v["changed"], serde_json::json!(["wf-queued-1"]));
    assert_eq!(v["unchanged"], serde_json::json!([]));

    let out = run(dir.path(), &["--url", &u, "workflow", "resume", "ghost"]);
    fails(&out, 1, &["ghost"]);
    let out = run(dir.path(), &["--url", &u, "workflow", "cancel"]);
    fails(&out, 2, &["<IDS>"]);
}

// ---- queues ---------------------------------------------------------------------------------

#[tokio::test]
async fn queue_list_shows_definitions_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path()).await;
    let out = ok(&run(dir.path(), &["--url", &u, "queue", "list"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("QUEUE") && lines[0].contains("ENQUEUED"),
        "{out}"
    );
    let emails = lines.iter().find(|l| l.starts_with("emails")).expect(&out);
    let cells: Vec<&str> = emails.split_whitespace().collect();
    assert_eq!(&cells[1..6], ["3", "0", "0", "4", "-"], "{out}");
    assert!(emails.contains("10/1 s"), "{out}");

    let v = json(&run(dir.path(), &["--url", &u, "queue", "list", "--json"]));
    let q = &v[0];
    assert_eq!(q["name"], "emails");
    assert_eq!(q["registered"], true);
    assert_eq!(q["enqueued"], 3);
    assert_eq!(q["concurrency"], 4);
    assert_eq!(q["rate_limit"]["max"], 10);
    assert_eq!(q["rate_limit"]["period_ms"], 1000);

    // A queue with active workflows but no definition is listed too.
    ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "resume", "wf-pending"],
    ));
    let v = json(&run(dir.path(), &["--url", &u, "queue", "list", "--json"]));
    let internal = v
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "_dbos_internal_queue")
        .expect("the internal queue");
    assert_eq!(internal["registered"], false);
    assert_eq!(internal["enqueued"], 1);

    let empty = url(dir.path(), "empty.sqlite");
    ok(&run(dir.path(), &["--url", &empty, "migrate"]));
    let out = ok(&run(dir.path(), &["--url", &empty, "queue", "list"]));
    assert!(out.starts_with("no queues"), "{out}");
}

// ---- bench ----------------------------------------------------------------------------------

/// A bench small enough for a test: every figure, at toy scale.
const BENCH_SCALE: [&str; 16] = [
    "--workflows",
    "6",
    "--concurrency",
    "2",
    "--steps",
    "4",
    "--checkpoints",
    "12",
    "--claims",
    "20",
    "--claim-batch",
    "3",
    "--recovery",
    "6",
    "--waits",
    "30",
];

/// The figures of a bench run, in order.
const BENCH_FIGURES: [&str; 10] = [
    "insert_workflow",
    "step_checkpoint_1",
    "step_checkpoint_concurrent",
    "workflow_1",
    "workflow_concurrent",
    "dequeue",
    "recovery",
    "startup",
    "wait_memory",
    "wait_connections",
];

#[test]
fn bench_reports_every_figure_with_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "target.sqlite");
    let mut args = vec!["--url", u.as_str(), "bench"];
    args.extend_from_slice(&BENCH_SCALE);
    let mut json_args = args.clone();
    json_args.push("--json");
    let v = json(&run(dir.path(), &json_args));
    assert_eq!(v["backend"], "sqlite");
    assert!(
        v["command"]
            .as_str()
            .unwrap()
            .starts_with("dbos-storage --url "),
        "{v}"
    );
    assert!(v["machine"]["cpus"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["scale"]["workflows"], 6);
    assert_eq!(v["scale"]["concurrency"], 2);
    assert_eq!(v["scale"]["waits"], 30);
    let figures = v["figures"].as_array().unwrap();
    let ids: Vec<&str> = figures.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, BENCH_FIGURES);
    let figure = |id: &str| figures.iter().find(|f| f["id"] == id).unwrap();
    // Rates: the store next to the raw database, and their ratio.
    for id in &BENCH_FIGURES[..6] {
        let f = figure(id);
        for key in ["store", "raw", "ratio"] {
            assert!(f[key].as_f64().unwrap() > 0.0, "{f}");
        }
    }
    // Targets on SQLite, and whether each is met (the values are not checked: timing is noisy).
    for (id, target) in [
        ("step_checkpoint_1", "≥ 0.9× raw"),
        ("step_checkpoint_concurrent", "≥ 0.9× raw"),
        ("workflow_1", "≥ 0.8× raw"),
        ("workflow_concurrent", "≥ 3× raw"),
        ("recovery", "≤ 2.5 s"),
        ("startup", "≤ 100 ms"),
        ("wait_memory", "< 100 MiB"),
    ] {
        let f = figure(id);
        assert_eq!(f["target"], target, "{f}");
        assert!(f["met"].is_boolean(), "{f}");
    }
    for id in ["insert_workflow", "dequeue"] {
        assert!(figure(id)["target"].is_null());
    }
    assert!(figure("workflow_concurrent")["figure"]
        .as_str()
        .unwrap()
        .contains("group commit"));
    assert_eq!(figure("dequeue")["unit"], "claims/s");
    assert!(figure("dequeue")["note"]
        .as_str()
        .unwrap()
        .contains("exactly once"));
    assert_eq!(figure("recovery")["count"], 6);
    assert!(figure("recovery")["store"].as_f64().unwrap() > 0.0);
    assert!(figure("startup")["store"].as_f64().unwrap() > 0.0);
    assert!(figure("wait_memory")["store"].is_number());
    // SQLite has no pool: nothing to count, no target.
    let connections = figure("wait_connections");
    assert!(connections["store"].is_null() && connections["met"].is_null());
    assert!(connections["note"].as_str().unwrap().contains("no pool"));
    assert_eq!(v["targets"], 7);
    assert!(v["targets_met"].as_u64().unwrap() <= 7);

    let out = ok(&run(dir.path(), &args));
    assert!(out.contains("FIGURE") && out.contains("TARGET"), "{out}");
    assert!(out.contains("targets met:"), "{out}");
    assert!(out.contains("temporary file"), "{out}");

    let mut md_args = args.clone();
    md_args.push("--markdown");
    let out = ok(&run(dir.path(), &md_args));
    assert!(out.starts_with("`dbos-storage --url sqlite:"), "{out}");
    assert!(
        out.contains("- machine: ") && out.contains("- database: sqlite"),
        "{out}"
    );
    assert!(
        out.contains("| figure | store | raw | ratio | target | met? |"),
        "{out}"
    );
    let rows = out.lines().filter(|l| l.starts_with("| ")).count();
    assert_eq!(rows, 1 + BENCH_FIGURES.len(), "{out}");
    assert!(out.contains("| ≥ 3× raw |"), "{out}");

    // Nothing is left behind: the bench ran in a scratch directory beside the target.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    let out = run(dir.path(), &["--url", "sqlite:///:memory:", "bench"]);
    fails(&out, 1, &[":memory:"]);
    let out = run(dir.path(), &["--url", &u, "bench", "--workflows", "0"]);
    fails(&out, 1, &["at least 1"]);
    let out = run(dir.path(), &["--url", &u, "bench", "--json", "--markdown"]);
    fails(&out, 1, &["--markdown"]);
}

/// The operations `bench --scale` measures on both databases, in order.
const SCALE_FIGURES: [&str; 16] = [
    "scale_step_checkpoint",
    "scale_workflow_sequential",
    "scale_workflow_concurrent",
    "scale_claim",
    "scale_claim_limited",
    "scale_enqueue",
    "scale_get_workflow",
    "scale_list_all",
    "scale_list_status",
    "scale_list_name",
    "scale_list_queue",
    "scale_list_prefix",
    "scale_list_version",
    "scale_list_recent",
    "scale_list_user",
    "scale_recovery",
];

#[test]
fn bench_scale_compares_a_big_database_with_the_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "target.sqlite");
    let mut args = vec!["--url", u.as_str(), "bench"];
    args.extend_from_slice(&BENCH_SCALE);
    args.extend_from_slice(&[
        "--scale",
        "--scale-finished",
        "3000",
        "--fair-seconds",
        "2",
        "--json",
    ]);
    let v = json(&run(dir.path(), &args));
    let big = &v["big_database"];
    assert_eq!(big["dataset"]["finished"], 3000, "{v}");
    assert_eq!(big["dataset"]["enqueued"], 600, "{v}");
    assert_eq!(big["dataset"]["parents"], 3, "{v}");
    assert!(big["fill_seconds"].as_f64().unwrap() > 0.0, "{v}");
    let figures = big["figures"].as_array().unwrap();
    let ids: Vec<&str> = figures.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, SCALE_FIGURES);
    for f in figures {
        // store: on the big database; raw: on the empty one.
        for key in ["store", "raw", "ratio"] {
            assert!(f[key].as_f64().unwrap() > 0.0, "{f}");
        }
        assert_eq!(f["target"], "≥ 0.8× empty", "{f}");
        assert!(f["met"].is_boolean(), "{f}");
        // The reads, the enqueues and the first-queue claims have the raw database's own ratio
        // big/empty; the other writes have none.
        let id = f["id"].as_str().unwrap();
        if ["scale_get_workflow", "scale_claim", "scale_enqueue"].contains(&id)
            || id.starts_with("scale_list_")
        {
            assert!(f["raw_ratio"].as_f64().unwrap() > 0.0, "{f}");
        } else {
            assert!(f["raw_ratio"].is_null(), "{f}");
        }
    }
    // Fairness: one line per queue; counts, never times.
    let fairness = &big["fairness"];
    let queues = fairness["queues"].as_array().unwrap();
    let names: Vec<&str> = queues
        .iter()
        .map(|q| q["queue"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        (0..10)
            .map(|i| format!("scale-q{i}"))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    for q in queues {
        assert_eq!(q["backlog"], 60, "{q}");
        assert!(
            q["claims"].as_u64().unwrap() > 0,
            "every queue claimed: {q}"
        );
        assert!(q["fair_share"].as_u64().unwrap() > 0, "{q}");
        assert!(q["first_within_poll"].is_boolean(), "{q}");
    }
    assert!(fairness["half_shares"].is_boolean(), "{fairness}");
    // Retention: every finished workflow of the fill went, while the workers claimed.
    let retention = &big["retention"];
    assert!(
        retention["workflows"].as_u64().unwrap() >= 3000,
        "{retention}"
    );
    assert!(
        retention["claim_rate_ratio"].as_f64().is_some(),
        "{retention}"
    );
    assert!(retention["server"].is_null(), "SQLite has no server view");
    // Two fairness checks and the claim rate join the targets.
    assert_eq!(v["targets"], 7 + SCALE_FIGURES.len() + 3);
    args.pop();
    args.push("--markdown");
    let out = ok(&run(dir.path(), &args));
    assert!(
        out.contains("On a big database (3,000 finished workflows"),
        "{out}"
    );
    assert!(
        out.contains(
            "| operation | big database | empty database | ratio | raw ratio | target | met? |\n\
             |---|---:|---:|---:|---:|---|---|"
        ),
        "{out}"
    );
    assert!(out.contains("| get_workflows of one id | "), "{out}");
    assert!(
        out.contains(
            "| queue | limits | backlog | polls | claims | fair share | share | first claim | \
             within a poll? |"
        ),
        "{out}"
    );
    assert!(
        out.contains("Garbage collection on the big database"),
        "{out}"
    );
    // --fair-seconds needs --scale, and at least a second.
    let out = run(dir.path(), &["--url", &u, "bench", "--fair-seconds", "10"]);
    fails(&out, 2, &["--scale"]);
    let out = run(
        dir.path(),
        &["--url", &u, "bench", "--scale", "--fair-seconds", "0"],
    );
    fails(&out, 1, &["--fair-seconds must be at least 1"]);
    // --scale-finished needs --scale.
    let out = run(
        dir.path(),
        &["--url", &u, "bench", "--scale-finished", "10"],
    );
    fails(&out, 2, &["--scale"]);
}

// ---- where it connects ----------------------------------------------------------------------

#[test]
fn without_any_setting_it_uses_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["check"]);
    fails(&out, 1, &["dbos_storage.sqlite", "does not exist"]);
    let out = ok(&run(dir.path(), &["migrate"]));
    assert!(out.contains("sqlite:///dbos_storage.sqlite"), "{out}");
    assert!(dir.path().join("dbos_storage.sqlite").exists());
    ok(&run(dir.path(), &["check"]));
}

#[test]
fn the_environment_variable_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "env.sqlite");
    let out = cmd(dir.path())
        .env("DBOS_SYSTEM_DATABASE_URL", &u)
        .arg("migrate")
        .output()
        .unwrap();
    ok(&out);
    assert!(dir.path().join("env.sqlite").exists());
    // --url wins over the environment.
    let other = url(dir.path(), "flag.sqlite");
    let out = cmd(dir.path())
        .env("DBOS_SYSTEM_DATABASE_URL", &u)
        .args(["--url", &other, "migrate"])
        .output()
        .unwrap();
    ok(&out);
    assert!(dir.path().join("flag.sqlite").exists());
}

#[test]
fn the_config_file_is_read_with_variable_substitution() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dbos-config.yaml"),
        "name: my-app\nsystem_database_url: ${CLI_TEST_DB}\n",
    )
    .unwrap();
    let u = url(dir.path(), "from-config.sqlite");
    let out = cmd(dir.path())
        .env("CLI_TEST_DB", &u)
        .arg("migrate")
        .output()
        .unwrap();
    ok(&out);
    assert!(dir.path().join("from-config.sqlite").exists());

    // An unset variable reads as empty, as in DBOS: the name's default file is used.
    let out = cmd(dir.path())
        .env_remove("CLI_TEST_DB")
        .arg("check")
        .output()
        .unwrap();
    fails(&out, 1, &["my_app.sqlite does not exist"]);

    // Without a system URL the config's name gives the default file; --config picks a file.
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, "name: orders-app\n").unwrap();
    let out = ok(&run(
        dir.path(),
        &["--config", other.to_str().unwrap(), "migrate"],
    ));
    assert!(out.contains("sqlite:///orders_app.sqlite"), "{out}");
    let out = run(dir.path(), &["--config", "missing.yaml", "check"]);
    fails(&out, 1, &["missing.yaml"]);
    std::fs::write(&other, "name: [unclosed\n").unwrap();
    let out = run(dir.path(), &["--config", other.to_str().unwrap(), "check"]);
    fails(&out, 1, &["not valid YAML"]);
}

// ---- bad input ------------------------------------------------------------------------------

#[test]
fn bad_urls_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fails(&run(d, &["--url", "not a url", "check"]), 1, &["URL"]);
    fails(
        &run(d, &["--url", "mysql://u:pw1234@h/db", "check"]),
        1,
        &[
            "unknown database URL scheme mysql://",
            "sqlite://",
            "postgresql://",
        ],
    );
    let err = fails(
        &run(
            d,
            &[
                "--url",
                "postgresql://app:s3cr3t-pw@localhost:5432",
                "check",
            ],
        ),
        1,
        &["database"],
    );
    assert!(!err.contains("s3cr3t-pw"), "{err}");
    fails(
        &run(d, &["--url", "sqlite:///a.sqlite?readers=lots", "check"]),
        1,
        &["readers"],
    );
    fails(
        &run(
            d,
            &[
                "--url",
                "sqlite:///a.sqlite",
                "--app-url",
                "postgresql://h/app",
                "check",
            ],
        ),
        1,
        &["same database type"],
    );
    fails(
        &run(d, &["--schema", "bad-schema!", "check"]),
        1,
        &["schema name"],
    );
}

#[test]
fn unknown_commands_and_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fails(&run(d, &["frobnicate"]), 2, &["frobnicate"]);
    fails(&run(d, &["workflow", "explode"]), 2, &["explode"]);
    fails(&run(d, &["check", "--nope"]), 2, &["--nope"]);
    fails(&run(d, &[]), 2, &["Usage"]);
    // The demo's worker is hidden from the help.
    let help = ok(&run(d, &["--help"]));
    for command in [
        "migrate", "check", "workflow", "queue", "schedule", "gc", "export", "import", "metrics",
        "app", "bench", "demo",
    ] {
        assert!(
            help.contains(command),
            "{command} missing from help:\n{help}"
        );
    }
    assert!(!help.contains("demo-worker"), "{help}");
    let help = ok(&run(d, &["workflow", "--help"]));
    for command in [
        "list",
        "get",
        "steps",
        "cancel",
        "resume",
        "fork",
        "rewind",
        "delete",
        "attributes",
    ] {
        assert!(help.contains(&format!("  {command} ")), "{help}");
    }
}
