//! The real binary on SQLite files: DBOS's option names as aliases, values clap checks (durations,
//! cron expressions, time zones) as usage errors, tables with wide characters, and the log.

mod common;

use std::path::Path;

use common::*;
use dbos_storage::{InsertOptions, NewWorkflow, Payload};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

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

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|w| w["workflow_id"].as_str().unwrap())
        .collect()
}

// ---- DBOS's option names ----------------------------------------------------------------------

#[test]
fn help_lists_dbos_names_as_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(&run(dir.path(), &["workflow", "list", "--help"]));
    for alias in [
        "[aliases: -s, --sys-db-url]",
        "[aliases: -D, --db-url]",
        "[alias: -l]",
        "[alias: -S]",
        "[alias: -n]",
        "[alias: -u]",
        "[alias: -t]",
        "[alias: -e]",
        "[alias: -o]",
        "[alias: --application-version]",
        "[aliases: -q, --queue-name]",
        "[aliases: -a, --application-name]",
        "-d, --sort-desc",
        "-v, --verbose",
    ] {
        assert!(help.contains(alias), "{alias:?} missing:\n{help}");
    }
    let help = ok(&run(dir.path(), &["workflow", "fork", "--help"]));
    for alias in [
        "[aliases: -S, --step]",
        "[aliases: -f, --forked-workflow-id]",
        "[alias: --application-version]",
    ] {
        assert!(help.contains(alias), "{alias:?} missing:\n{help}");
    }
    let help = ok(&run(dir.path(), &["app", "rename", "--help"]));
    for alias in [
        "[alias: -f]",
        "[alias: -t]",
        "[alias: --adopt-unclaimed-rows]",
    ] {
        assert!(help.contains(alias), "{alias:?} missing:\n{help}");
    }
    let help = ok(&run(dir.path(), &["migrate", "--help"]));
    assert!(help.contains("[alias: -r]"), "{help}");
}

#[tokio::test]
async fn dbos_option_names_select_the_same_workflows() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path()).await;
    let long = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "list",
            "--status",
            "SUCCESS",
            "--name",
            "checkout",
            "--app-version",
            "v1",
            "--limit",
            "1",
            "--offset",
            "1",
            "--sort",
            "desc",
            "--json",
        ],
    ));
    assert_eq!(ids(&long), ["wf-done-1"]);
    let dbos = json(&run(
        dir.path(),
        &[
            "-s",
            &u,
            "workflow",
            "list",
            "-S",
            "SUCCESS",
            "-n",
            "checkout",
            "--application-version",
            "v1",
            "-l",
            "1",
            "-o",
            "1",
            "-d",
            "--json",
        ],
    ));
    assert_eq!(long, dbos);
    let queued = json(&run(
        dir.path(),
        &[
            "--sys-db-url",
            &u,
            "workflow",
            "list",
            "--queue-name",
            "emails",
            "-t",
            "0",
            "-e",
            "99999999999999",
            "--application-name",
            "nobody",
            "--json",
        ],
    ));
    assert_eq!(
        ids(&queued),
        ["wf-queued-3", "wf-queued-2", "wf-queued-1"],
        "unclaimed workflows pass an application filter"
    );
    let out = run(
        dir.path(),
        &["-s", &u, "workflow", "list", "-d", "--sort", "asc"],
    );
    fails(&out, 2, &["--sort-desc", "cannot be used with"]);
}

#[tokio::test]
async fn fork_and_rename_answer_to_dbos_names() {
    let dir = tempfile::tempdir().unwrap();
    let u = seeded(dir.path()).await;
    ok(&run(
        dir.path(),
        &[
            "-s",
            &u,
            "workflow",
            "fork",
            "wf-done-1",
            "-S",
            "2",
            "-f",
            "wf-dbos-fork",
            "--application-version",
            "v2",
        ],
    ));
    let v = json(&run(
        dir.path(),
        &["-s", &u, "workflow", "get", "wf-dbos-fork", "--json"],
    ));
    assert_eq!(v["application_version"], "v2");
    assert_eq!(v["forked_from"], "wf-done-1");
    let steps = json(&run(
        dir.path(),
        &["-s", &u, "workflow", "steps", "wf-dbos-fork", "--json"],
    ));
    assert_eq!(steps.as_array().unwrap().len(), 1, "step 1 copied: {steps}");

    let out = ok(&run(
        dir.path(),
        &[
            "-s",
            &u,
            "app",
            "rename",
            "-f",
            "ghost",
            "-t",
            "orders",
            "--adopt-unclaimed-rows",
        ],
    ));
    assert!(out.contains("orders"), "{out}");
    let v = json(&run(
        dir.path(),
        &["-s", &u, "workflow", "get", "wf-pending", "--json"],
    ));
    assert_eq!(v["application_name"], "orders", "adopted: {v}");

    let out = run(dir.path(), &["-s", &u, "migrate", "-r", "app"]);
    fails(&out, 1, &["--app-role", "SQLite"]);
}

// ---- values clap checks -----------------------------------------------------------------------

#[test]
fn bad_durations_are_usage_errors_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "d.sqlite");
    ok(&run(dir.path(), &["--url", &u, "migrate"]));
    for (args, option) in [
        (vec!["gc", "--older-than", "30x"], "'--older-than <AGE>'"),
        (
            vec!["gc", "--keep", "1", "--lease-ttl", "soon"],
            "'--lease-ttl <AGE>'",
        ),
        (vec!["metrics", "--bucket", "5"], "'--bucket <AGE>'"),
    ] {
        let mut all = vec!["--url", u.as_str()];
        all.extend(args);
        let err = fails(&run(dir.path(), &all), 2, &["invalid value", option]);
        assert!(err.contains("use a number with a unit"), "{err}");
    }
    for age in ["30d", "1h30m", "1.5h", "2days"] {
        let out = ok(&run(dir.path(), &["--url", &u, "gc", "--older-than", age]));
        assert!(out.contains("workflows deleted  0"), "{age}: {out}");
    }
    ok(&run(
        dir.path(),
        &["--url", &u, "metrics", "--bucket", "15min"],
    ));
}

#[test]
fn schedules_with_a_bad_cron_or_zone_are_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "s.sqlite");
    ok(&run(dir.path(), &["--url", &u, "migrate"]));
    let create = |extra: &[&str]| {
        let mut args = vec![
            "--url",
            &u,
            "schedule",
            "create",
            "nightly",
            "--workflow",
            "report",
        ];
        args.extend_from_slice(extra);
        run(dir.path(), &args)
    };
    fails(
        &create(&["--cron", "99 * * * *"]),
        2,
        &["'--cron <EXPR>'", "minute field: 99 is out of range 0-59"],
    );
    fails(
        &create(&["--cron", "0 0 3 * * mon#6"]),
        2,
        &["'--cron <EXPR>'", "N must be 1 to 5"],
    );
    fails(
        &create(&["--cron", "0 3 * * *", "--timezone", "Mars/Olympus"]),
        2,
        &["'--timezone <ZONE>'", "not in the IANA time zone database"],
    );
    fails(
        &create(&["--cron", "0 3 * * *", "--timezone", "europe/paris"]),
        2,
        &["spelled \"Europe/Paris\""],
    );
    let v = json(&run(
        dir.path(),
        &["--url", &u, "schedule", "list", "--json"],
    ));
    assert_eq!(v, Value::Array(vec![]), "nothing stored");

    ok(&create(&[
        "--cron",
        "*/30 0 3 * * MON-FRI",
        "--timezone",
        "America/New_York",
    ]));
    let v = json(&run(
        dir.path(),
        &["--url", &u, "schedule", "get", "nightly", "--json"],
    ));
    assert_eq!(v["schedule"], "*/30 0 3 * * MON-FRI");
    assert_eq!(v["cron_timezone"], "America/New_York");
}

// ---- wide characters --------------------------------------------------------------------------

/// The display column where each whitespace-separated word of `line` starts.
fn word_columns(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut column = 0;
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            column += 1;
        }
        if !word.is_empty() {
            out.push((column, word));
        }
        column += word.width();
    }
    out
}

#[tokio::test]
async fn tables_with_cjk_and_emoji_names_stay_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "w.sqlite");
    let store = store(&u).await;
    for (id, name) in [
        ("注文-1", "注文処理"),
        ("rocket-🚀", "ロケット🚀"),
        ("plain-3", "ship"),
    ] {
        store
            .insert_workflow(
                NewWorkflow::new(id, name, Payload::portable_json("[]")),
                InsertOptions::default(),
            )
            .await
            .unwrap();
    }
    store.close().await.unwrap();
    let out = ok(&run(dir.path(), &["--url", &u, "workflow", "list"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    // Header words: WORKFLOW ID STATUS NAME QUEUE …; row words: id status name queue ….
    let header = word_columns(lines[0]);
    let (status, name, queue) = (header[2], header[3], header[4]);
    assert_eq!(
        (status.1, name.1, queue.1),
        ("STATUS", "NAME", "QUEUE"),
        "{out}"
    );
    for row in &lines[1..] {
        let words = word_columns(row);
        assert_eq!(
            (words[1].0, words[2].0, words[3].0),
            (status.0, name.0, queue.0),
            "misaligned:\n{out}"
        );
    }
}

// ---- the log ----------------------------------------------------------------------------------

#[test]
fn verbose_logs_the_library_on_stderr_and_quiet_silences_it() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path(), "l.sqlite");
    let out = run(dir.path(), &["--url", &u, "-v", "migrate"]);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| is_log_line(l) && l.contains(" INFO ")),
        "an info line:\n{err}"
    );
    assert!(
        !err.lines().any(|l| l.contains(" DEBUG ")),
        "-v stops at info:\n{err}"
    );
    assert!(!stdout(&out).lines().any(is_log_line), "logs go to stderr");

    let out = run(dir.path(), &["--url", &u, "-vv", "migrate"]);
    let err = stderr(&out);
    ok(&out);
    assert!(
        err.lines().any(|l| is_log_line(l) && l.contains(" DEBUG ")),
        "a debug line:\n{err}"
    );

    let out = cmd(dir.path())
        .env("RUST_LOG", "dbos_storage_sqlite=debug")
        .args(["--url", &u, "migrate"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("dbos_storage_sqlite"),
        "{}",
        stderr(&out)
    );

    let out = run(dir.path(), &["--url", &u, "--quiet", "-vv", "migrate"]);
    fails(&out, 2, &["--quiet", "cannot be used with"]);
    let out = run(dir.path(), &["--url", &u, "--quiet", "migrate"]);
    ok(&out);
    assert_eq!(stderr(&out), "", "quiet");

    let out = cmd(dir.path())
        .env("RUST_LOG", "dbos_storage=loud")
        .args(["--url", &u, "check"])
        .output()
        .unwrap();
    fails(
        &out,
        2,
        &["RUST_LOG=\"dbos_storage=loud\" is not a log filter"],
    );
}
