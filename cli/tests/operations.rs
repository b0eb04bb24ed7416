//! The operator commands on the real binary: `workflow fork|rewind|delete|attributes`,
//! `schedule …`, `gc`, `export`/`import` (SQLite → PostgreSQL → SQLite, identical documents),
//! `metrics` and `app rename`, with their `--json` forms and bad input.

mod common;

use std::path::Path;

use common::*;
use dbos_storage::{ListStepsOptions, ListWorkflowsQuery, WorkflowStatus};
use dbos_storage_testkit::pg;
use serde_json::Value;

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite:///{}", dir.join(file).display())
}

async fn seeded(dir: &Path, file: &str) -> String {
    let url = sqlite_url(dir, file);
    let store = store(&url).await;
    seed(store.as_ref()).await;
    store.close().await.unwrap();
    url
}

#[tokio::test]
async fn fork_replays_the_steps_before_the_start_and_names_the_fork() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path(), "f.sqlite").await;
    let v = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "fork",
            "wf-done-1",
            "--from-step",
            "2",
            "--fork-id",
            "wf-fork",
            "--queue",
            "emails",
            "--json",
        ],
    ));
    assert_eq!(v[0]["source"], "wf-done-1");
    assert_eq!(v[0]["fork"], "wf-fork");
    assert_eq!(v[0]["start_step"], 2);

    let store = store(&u).await;
    let fork = &store.get_workflows(&["wf-fork".into()]).await.unwrap()[0];
    assert_eq!(fork.status, WorkflowStatus::Enqueued);
    assert_eq!(fork.queue_name.as_deref(), Some("emails"));
    assert_eq!(fork.forked_from.as_deref(), Some("wf-done-1"));
    let steps = store
        .list_steps("wf-fork", ListStepsOptions::default())
        .await
        .unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| s.function_name.as_str())
            .collect::<Vec<_>>(),
        ["reserve"]
    );
    store.close().await.unwrap();

    // Generated ids are printed; a fork from the last failure resolves the failed step.
    let out = ok(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "fork",
            "wf-pending",
            "--from-failure",
        ],
    ));
    assert!(out.starts_with("forked wf-pending -> "), "{out}");
    assert!(
        out.contains("runs from step 1; enqueued on _dbos_internal_queue"),
        "{out}"
    );
}

#[test]
fn fork_and_rewind_refuse_bad_input_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let u = sqlite_url(dir.path(), "never-created.sqlite");
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "fork", "a", "b", "--fork-id", "x"],
    );
    fails(&out, 1, &["--fork-id names one fork"]);
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "fork", "a", "--from-step", "0"],
    );
    fails(&out, 1, &["starts at step 1 or later, not 0"]);
    let out = run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "fork",
            "a",
            "--replace-child",
            "nope",
        ],
    );
    fails(&out, 1, &["--replace-child \"nope\" is not OLD=NEW"]);
    let out = run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "rewind",
            "a",
            "--from-step",
            "2",
            "--from-failure",
        ],
    );
    fails(&out, 2, &["cannot be used with"]);
    assert!(!dir.path().join("never-created.sqlite").exists());
}

#[tokio::test]
async fn rewind_runs_a_finished_workflow_again_and_refuses_a_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path(), "r.sqlite").await;
    let out = ok(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "rewind",
            "wf-done-2",
            "--from-step-named",
            "charge",
        ],
    ));
    assert_eq!(
        out.trim(),
        "rewound wf-done-2 (was SUCCESS): runs again from step 2, enqueued"
    );
    let out = run(
        dir.path(),
        &["--url", &u, "workflow", "rewind", "wf-pending"],
    );
    fails(
        &out,
        1,
        &["wf-pending is PENDING", "only a finished workflow"],
    );
    let out = run(dir.path(), &["--url", &u, "workflow", "rewind", "nobody"]);
    fails(&out, 1, &["nobody"]);

    let store = store(&u).await;
    let w = &store.get_workflows(&["wf-done-2".into()]).await.unwrap()[0];
    assert_eq!(w.status, WorkflowStatus::Enqueued);
    assert_eq!(w.output, None);
    let steps = store
        .list_steps("wf-done-2", ListStepsOptions::default())
        .await
        .unwrap();
    assert_eq!(steps.len(), 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn delete_and_attributes_report_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path(), "d.sqlite").await;
    let v = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "attributes",
            "wf-done-1",
            "--set",
            "team=\"ops\"",
            "--set",
            "tier=2",
            "--json",
        ],
    ));
    assert_eq!(v, serde_json::json!({"team": "ops", "tier": 2}));
    let out = ok(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "attributes",
            "wf-done-1",
            "--set",
            "tier=3",
            "--merge",
        ],
    ));
    assert_eq!(
        out.trim(),
        r#"attributes of wf-done-1: {"team":"ops","tier":3}"#
    );
    let out = run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "attributes",
            "nobody",
            "--set",
            "a=1",
        ],
    );
    fails(&out, 1, &["nobody"]);

    let v = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "delete",
            "wf-done-1",
            "wf-missing",
            "--json",
        ],
    ));
    assert_eq!(v["deleted"], serde_json::json!(["wf-done-1"]));
    assert_eq!(v["unknown"], serde_json::json!(["wf-missing"]));
    let out = ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "delete", "wf-done-1"],
    ));
    assert_eq!(out.trim(), "unknown wf-done-1 (nothing deleted)");
    let store = store(&u).await;
    assert!(store
        .list_steps("wf-done-1", ListStepsOptions::default())
        .await
        .unwrap()
        .is_empty());
    store.close().await.unwrap();
}

#[tokio::test]
async fn schedules_are_created_listed_paused_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path(), "s.sqlite").await;
    let out = ok(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "schedule",
            "create",
            "nightly",
            "--workflow",
            "report",
            "--cron",
            "0 3 * * *",
            "--timezone",
            "Europe/Paris",
        ],
    ));
    assert_eq!(out.trim(), "created schedule nightly");
    let out = run(
        dir.path(),
        &[
            "--url",
            &u,
            "schedule",
            "create",
            "nightly",
            "--workflow",
            "report",
            "--cron",
            "0 3 * * *",
        ],
    );
    fails(&out, 1, &["nightly", "already exists"]);
    let out = run(
        dir.path(),
        &[
            "--url",
            &u,
            "schedule",
            "create",
            "bad",
            "--workflow",
            "w",
            "--cron",
            "daily",
        ],
    );
    fails(&out, 2, &["--cron <EXPR>", "has 1 fields"]);
    ok(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "schedule",
            "create",
            "nightly",
            "--workflow",
            "report2",
            "--cron",
            "0 4 * * *",
            "--upsert",
        ],
    ));
    ok(&run(
        dir.path(),
        &["--url", &u, "schedule", "pause", "nightly"],
    ));
    let v = json(&run(
        dir.path(),
        &[
            "--url", &u, "schedule", "list", "--status", "paused", "--json",
        ],
    ));
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["workflow_name"], "report2");
    assert_eq!(v[0]["schedule"], "0 4 * * *");
    assert_eq!(v[0]["status"], "PAUSED");
    // The upsert replaced the whole definition: no time zone now.
    assert_eq!(v[0]["cron_timezone"], Value::Null);
    let out = ok(&run(dir.path(), &["--url", &u, "schedule", "list"]));
    assert!(out.contains("nightly") && out.contains("PAUSED"), "{out}");
    let out = ok(&run(
        dir.path(),
        &["--url", &u, "schedule", "get", "nightly"],
    ));
    assert!(out.contains("0 4 * * *"), "{out}");
    ok(&run(
        dir.path(),
        &["--url", &u, "schedule", "resume", "nightly"],
    ));
    ok(&run(
        dir.path(),
        &["--url", &u, "schedule", "delete", "nightly"],
    ));
    let out = run(dir.path(), &["--url", &u, "schedule", "delete", "nightly"]);
    fails(&out, 1, &["no schedule \"nightly\""]);
    let out = ok(&run(dir.path(), &["--url", &u, "schedule", "list"]));
    assert_eq!(out.trim(), "no schedules");
}

#[tokio::test]
async fn gc_deletes_only_finished_workflows_and_says_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path(), "g.sqlite").await;
    let out = run(dir.path(), &["--url", &u, "gc"]);
    fails(&out, 1, &["--older-than", "--keep"]);
    let out = run(dir.path(), &["--url", &u, "gc", "--older-than", "soon"]);
    fails(&out, 2, &["--older-than <AGE>", "use a number with a unit"]);

    // Everything finished before now goes; the pending and queued workflows stay.
    let v = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "gc",
            "--older-than",
            "0s",
            "--batch-size",
            "1",
            "--json",
        ],
    ));
    assert_eq!(v["workflows"], 2);
    assert_eq!(v["batches"], 2);
    assert_eq!(v["app_rows"], Value::Null);
    let store = store(&u).await;
    let left = store
        .list_workflows(ListWorkflowsQuery::new())
        .await
        .unwrap();
    assert!(left.iter().all(|w| w.status.is_active()), "{left:?}");
    assert!(!left.is_empty());
    store.close().await.unwrap();
    let out = ok(&run(dir.path(), &["--url", &u, "gc", "--keep", "0"]));
    assert!(out.contains("workflows deleted  0 in 0 batches"), "{out}");
}

#[tokio::test]
async fn metrics_count_workflows_and_steps() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path(), "m.sqlite").await;
    let v = json(&run(dir.path(), &["--url", &u, "metrics", "--json"]));
    let count = |name: &str, status: &str| -> u64 {
        v["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["name"] == name && w["status"] == status)
            .map(|w| w["count"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(count("checkout", "SUCCESS"), 2);
    assert_eq!(count("ship", "PENDING"), 1);
    let label = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["function_name"] == "label")
        .unwrap();
    assert_eq!(label["errors"], 1);
    let out = ok(&run(
        dir.path(),
        &["--url", &u, "metrics", "--bucket", "1h"],
    ));
    assert!(out.contains("checkout") && out.contains("reserve"), "{out}");
    let out = run(
        dir.path(),
        &[
            "--url",
            &u,
            "metrics",
            "--since",
            "2026-01-02",
            "--until",
            "2026-01-01",
        ],
    );
    fails(&out, 1, &["must end after it starts"]);
}

#[tokio::test]
async fn rename_moves_an_applications_rows() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path(), "a.sqlite").await;
    let v = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "app",
            "rename",
            "--unclaimed",
            "--to",
            "shop",
            "--batch-size",
            "1",
            "--json",
        ],
    ));
    assert!(v["finished_workflows"].as_u64().unwrap() >= 2, "{v}");
    assert!(v["steps"].as_u64().unwrap() >= 4, "{v}");
    let store = store(&u).await;
    let all = store
        .list_workflows(ListWorkflowsQuery::new())
        .await
        .unwrap();
    assert!(all
        .iter()
        .all(|w| w.application_name.as_deref() == Some("shop")));
    store.close().await.unwrap();
    let out = run(dir.path(), &["--url", &u, "app", "rename", "--to", "x"]);
    fails(&out, 2, &["--from"]);
}

/// Export from SQLite, import into PostgreSQL, export again: the same document; then back into
/// a fresh SQLite file: the same document again.
#[tokio::test]
async fn export_import_round_trips_between_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path(), "x.sqlite").await;
    ok(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "attributes",
            "wf-done-1",
            "--set",
            "k={\"b\":1,\"a\":[2]}",
        ],
    ));
    let first = dir.path().join("first.json");
    let first_s = first.to_str().unwrap();
    ok(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "export",
            "wf-done-1",
            "wf-done-2",
            "wf-pending",
            "-o",
            first_s,
        ],
    ));
    let text = std::fs::read_to_string(&first).unwrap();
    assert!(
        text.contains("\"format\": \"dbos-storage-export\""),
        "{text}"
    );

    let pg_url = pg::server().create_database("cli_import").await;
    ok(&run(dir.path(), &["--url", &pg_url, "migrate"]));
    let out = ok(&run(dir.path(), &["--url", &pg_url, "import", first_s]));
    assert_eq!(out.trim(), "imported 3 workflows");
    let out = run(dir.path(), &["--url", &pg_url, "import", first_s]);
    fails(&out, 1, &["already exists", "replace"]);
    ok(&run(
        dir.path(),
        &["--url", &pg_url, "import", first_s, "--replace"],
    ));
    let from_pg = ok(&run(
        dir.path(),
        &[
            "--url",
            &pg_url,
            "export",
            "wf-done-1",
            "wf-done-2",
            "wf-pending",
        ],
    ));
    assert_eq!(from_pg, text, "PostgreSQL exported another document");

    let back = sqlite_url(dir.path(), "back.sqlite");
    ok(&run(dir.path(), &["--url", &back, "migrate"]));
    let second = dir.path().join("second.json");
    std::fs::write(&second, &from_pg).unwrap();
    ok(&run(
        dir.path(),
        &["--url", &back, "import", second.to_str().unwrap()],
    ));
    let again = ok(&run(
        dir.path(),
        &[
            "--url",
            &back,
            "export",
            "wf-done-1",
            "wf-done-2",
            "wf-pending",
        ],
    ));
    assert_eq!(
        again, text,
        "SQLite exported another document after the round trip"
    );
}

#[test]
fn import_refuses_a_malformed_document_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let u = sqlite_url(dir.path(), "never.sqlite");
    let doc = dir.path().join("doc.json");
    std::fs::write(&doc, "{\"format\": \"something-else\"").unwrap();
    let out = run(dir.path(), &["--url", &u, "import", doc.to_str().unwrap()]);
    fails(&out, 1, &["not a dbos-storage export document"]);
    let out = run(dir.path(), &["--url", &u, "import", "missing.json"]);
    fails(&out, 1, &["cannot read", "missing.json"]);
    assert!(!dir.path().join("never.sqlite").exists());
}
