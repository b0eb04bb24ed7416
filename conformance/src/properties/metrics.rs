//! Properties of [`ManagementStore::metrics`].

use std::time::Duration;

use dbos_storage_core::export::{StepRow, WorkflowRow};
use dbos_storage_core::{
    ErrorKind, ExportedWorkflow, ImportOptions, Metrics, MetricsQuery, StepCount, WorkflowCount,
};

use crate::checks::*;
use crate::Factory;

/// A workflow row created at `created_at` with this name, status and owner, and its steps
/// `(function name, completed at, failed, owner)`.
fn timed(
    id: &str,
    created_at: i64,
    name: &str,
    status: &str,
    app: Option<&str>,
    steps: &[(&str, Option<i64>, bool, Option<&str>)],
) -> ExportedWorkflow {
    let mut row = WorkflowRow::new(id, status, created_at);
    row.name = Some(name.into());
    row.application_name = app.map(str::to_owned);
    let mut w = ExportedWorkflow::new(row);
    for (i, (function, completed, failed, owner)) in steps.iter().enumerate() {
        let mut step = StepRow::new(i as i32 + 1, *function, created_at);
        step.completed_at_epoch_ms = *completed;
        if *failed {
            step.error = Some("\"e\"".into());
        } else {
            step.output = Some("1".into());
        }
        step.application_name = owner.map(str::to_owned);
        w.steps.push(step);
    }
    w
}

/// Metrics count the workflows created in `[start, end)` per bucket, name and status, and the
/// steps completed in the range per bucket and function name with their errors; buckets are
/// aligned to the start; an application scope counts its rows and unclaimed ones.
pub async fn metrics_count_per_bucket<F: Factory>(factory: &F) {
    let store = factory.create().await;
    let (a, b) = (Some("a"), Some("b"));
    let rows = vec![
        timed(
            "m1",
            10_000,
            "f",
            "SUCCESS",
            a,
            &[
                ("s1", Some(10_100), false, a),
                ("s1", Some(10_200), true, a),
                ("s2", Some(11_500), false, None),
                ("s3", None, false, a),
                ("s3", Some(12_000), false, a),
            ],
        ),
        timed("m2", 10_500, "f", "SUCCESS", None, &[]),
        timed("m3", 11_200, "f", "ERROR", a, &[]),
        timed(
            "m4",
            11_900,
            "g",
            "SUCCESS",
            b,
            &[("s1", Some(10_300), true, b)],
        ),
        timed("m5", 12_000, "f", "SUCCESS", a, &[]),
        timed(
            "m6",
            9_999,
            "f",
            "SUCCESS",
            a,
            &[("s1", Some(9_999), false, a)],
        ),
    ];
    ok(
        store.import_workflows(rows, ImportOptions::default()).await,
        "import timed rows",
    );
    let query = MetricsQuery::new(10_000, 12_000).bucket(Duration::from_secs(1));
    let got = ok(store.metrics(query.clone()).await, "metrics by second");
    let want = Metrics::new(
        vec![
            WorkflowCount::new(10_000, "f", "SUCCESS", 2),
            WorkflowCount::new(11_000, "f", "ERROR", 1),
            WorkflowCount::new(11_000, "g", "SUCCESS", 1),
        ],
        vec![
            StepCount::new(10_000, "s1", 3, 2),
            StepCount::new(11_000, "s2", 1, 0),
        ],
    );
    assert_eq!(got, want);
    let scoped = ok(
        store.metrics(query.application_name("a")).await,
        "metrics of application a",
    );
    let want = Metrics::new(
        vec![
            WorkflowCount::new(10_000, "f", "SUCCESS", 2),
            WorkflowCount::new(11_000, "f", "ERROR", 1),
        ],
        vec![
            StepCount::new(10_000, "s1", 2, 1),
            StepCount::new(11_000, "s2", 1, 0),
        ],
    );
    assert_eq!(scoped, want, "a's rows and unclaimed ones");
    let whole = ok(
        store.metrics(MetricsQuery::new(10_500, 12_000)).await,
        "one bucket",
    );
    let want = Metrics::new(
        vec![
            WorkflowCount::new(10_500, "f", "ERROR", 1),
            WorkflowCount::new(10_500, "f", "SUCCESS", 1),
            WorkflowCount::new(10_500, "g", "SUCCESS", 1),
        ],
        vec![StepCount::new(10_500, "s2", 1, 0)],
    );
    assert_eq!(
        whole, want,
        "without a bucket width, one bucket from the start"
    );
    err(
        store.metrics(MetricsQuery::new(5, 5)).await,
        ErrorKind::InvalidInput,
        "an empty range",
    );
    factory.destroy(store).await;
}
