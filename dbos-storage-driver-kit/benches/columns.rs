//! Decoding column values, the CPU-only work between a driver's read and the value it returns,
//! so that a regression shows in review.
//!
//! `cargo bench -p dbos-storage-driver-kit --bench columns`. The database round trips these sit
//! between are measured by `dbos-storage bench`; payload codecs and URL and configuration parsing
//! by `cargo bench -p dbos-storage-core --bench cpu`.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dbos_storage_core::{Outcome, Payload, Serialization};
use dbos_storage_driver_kit::decisions::column_values as columns;
use serde_json::Value;

fn column_values(c: &mut Criterion) {
    let mut g = c.benchmark_group("columns");
    let attributes = r#"{"tenant":"acme","priority":3,"tags":["rush","gift"]}"#.to_owned();
    g.bench_function("attributes from text (SQLite)", |b| {
        b.iter_batched(
            || Some(attributes.clone()),
            |text| columns::attributes_text("wf-1", text),
            BatchSize::SmallInput,
        )
    });
    let attributes_value: Value = serde_json::from_str(&attributes).unwrap();
    g.bench_function("attributes from JSONB (PostgreSQL)", |b| {
        b.iter_batched(
            || Some(attributes_value.clone()),
            |value| columns::attributes("wf-1", value),
            BatchSize::SmallInput,
        )
    });
    let roles = r#"["admin","billing","support"]"#.to_owned();
    g.bench_function("roles", |b| {
        b.iter_batched(
            || Some(roles.clone()),
            |text| columns::roles("wf-1", text),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("status", |b| {
        b.iter(|| {
            for s in [
                "PENDING",
                "SUCCESS",
                "ENQUEUED",
                "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
            ] {
                black_box(columns::status_of(Some(black_box(s))));
            }
        })
    });
    let output = r#"{"ok":true,"step":"bench_step"}"#.to_owned();
    g.bench_function("step outcome", |b| {
        b.iter_batched(
            || Some(output.clone()),
            |output| columns::outcome_of(output, None, Some("portable_json")),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("workflow result", |b| {
        b.iter_batched(
            || Some(output.clone()),
            |output| {
                columns::workflow_result(
                    columns::status_of(Some("SUCCESS")),
                    output,
                    None,
                    Some(Serialization::PortableJson),
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("final columns", |b| {
        b.iter_batched(
            || Outcome::Output(Payload::portable_json(output.clone())),
            |outcome| columns::final_columns(outcome).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, column_values);
criterion_main!(benches);
