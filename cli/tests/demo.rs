//! The README's main job: `dbos-storage demo` kills its worker mid-run, recovers from the
//! checkpoints, and shows that no completed step ran twice.

mod common;

use common::*;

#[test]
fn the_demo_recovers_from_checkpoints_and_no_completed_step_runs_twice() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&run(dir.path(), &["demo"]));
    // The live story: both workers, the kill, the recovery.
    assert!(out.contains("on the embedded SQLite default"), "{out}");
    assert!(out.contains("killed worker"), "{out}");
    assert!(out.contains("with SIGKILL"), "{out}");
    assert!(out.contains("re-enqueued them and claimed"), "{out}");
    assert!(out.contains("replayed from its checkpoint"), "{out}");
    // The report, per workflow.
    for id in ["demo-order-1", "demo-order-2", "demo-order-3"] {
        assert!(out.contains(&format!("{id}: SUCCESS")), "{out}");
    }
    assert!(out.contains("ran before the crash (pid"), "{out}");
    assert!(out.contains("replayed from the checkpoint:"), "{out}");
    assert!(out.contains("ran after the recovery (pid"), "{out}");
    assert!(out.contains("ok: every workflow finished SUCCESS; no completed step ran twice"));
    // The demo works in a temporary directory it removes: nothing lands in the current one.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let db_line = out
        .lines()
        .find_map(|l| l.strip_prefix("system database: sqlite:///"))
        .expect("the demo says where its database is");
    assert!(
        !std::path::Path::new(db_line).exists(),
        "{db_line} was removed"
    );
}

#[test]
fn the_demo_report_as_json_accounts_for_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let v = json(&run(dir.path(), &["demo", "--workflows", "2", "--json"]));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["problems"], serde_json::json!([]));
    assert_ne!(v["killed_pid"], v["recovery_pid"]);
    let workflows = v["workflows"].as_array().unwrap();
    assert_eq!(workflows.len(), 2);
    for w in workflows {
        assert_eq!(w["status"], "SUCCESS", "{w}");
        let steps = |key: &str| -> Vec<i64> {
            w[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["step"].as_i64().unwrap())
                .collect()
        };
        let before = steps("ran_before_crash");
        let after = steps("ran_after_recovery");
        let replayed = steps("replayed_from_checkpoint");
        let interrupted = steps("interrupted");
        // The worker was killed once every workflow had two checkpoints.
        assert!(before.len() >= 2, "{w}");
        // Every step has exactly one checkpoint: before the crash or after the recovery.
        let mut all = before.clone();
        all.extend(&after);
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3, 4, 5], "{w}");
        if after.is_empty() {
            // Finished before the crash: nothing to recover.
            assert!(replayed.is_empty() && interrupted.is_empty(), "{w}");
        } else {
            // What ran before the crash was replayed, not run again.
            assert_eq!(replayed, before, "{w}");
        }
        // An interrupted step had no checkpoint, so it ran again after the recovery.
        for s in &interrupted {
            assert!(after.contains(s), "{w}");
        }
    }
    // The last workflow is always caught in its third step (a slow call only the crash ends).
    let last = &workflows[1];
    let steps = |key: &str| -> Vec<i64> {
        last[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(steps("ran_before_crash"), [1, 2], "{last}");
    assert_eq!(steps("replayed_from_checkpoint"), [1, 2], "{last}");
    assert_eq!(steps("interrupted"), [3], "{last}");
    assert_eq!(steps("ran_after_recovery"), [3, 4, 5], "{last}");
}

#[test]
fn the_demo_keeps_its_files_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&run(dir.path(), &["demo", "--workflows", "1", "--keep"]));
    let kept = out
        .lines()
        .find_map(|l| l.strip_prefix("kept "))
        .expect("the demo names the kept directory");
    let kept = std::path::Path::new(kept);
    assert!(kept.join("dbos_storage.sqlite").exists());
    let log = std::fs::read_to_string(kept.join("side-effects.log")).unwrap();
    assert!(log.contains(" run demo-order-1 1"), "{log}");
    assert!(log.contains(" replay demo-order-1 1"), "{log}");
    // The kept database is an ordinary system database the other commands read.
    let url = format!("sqlite:///{}", kept.join("dbos_storage.sqlite").display());
    let v = json(&run(
        dir.path(),
        &["--url", &url, "workflow", "steps", "demo-order-1", "--json"],
    ));
    assert_eq!(v.as_array().unwrap().len(), 5);
    std::fs::remove_dir_all(kept).unwrap();

    fails(&run(dir.path(), &["demo", "--workflows", "0"]), 2, &["0"]);
}
