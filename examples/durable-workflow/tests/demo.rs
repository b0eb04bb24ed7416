//! Runs the demo as a user would: a worker is killed mid-run and the workflow resumes.

use std::process::Command;

#[test]
fn the_killed_workflow_resumes_from_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_durable-workflow"))
        .current_dir(dir.path())
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("recovery: re-enqueued 1 pending workflow(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("replayed from checkpoint"), "{stdout}");
    assert!(stdout.contains("final status: SUCCESS"), "{stdout}");
    assert!(stdout.contains("none ran twice"), "{stdout}");
    assert!(dir.path().join("durable_workflow.sqlite").exists());
}
