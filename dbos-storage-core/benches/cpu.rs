//! The CPU-only work of every store call, so that a regression shows in review: payload codecs,
//! URL and configuration parsing. Decoding column values is measured in the driver kit
//! (`cargo bench -p dbos-storage-driver-kit --bench columns`).
//!
//! `cargo bench -p dbos-storage-core --bench cpu` (add a filter such as `payload` to run one
//! group). The database round trips these sit between are measured by `dbos-storage bench`.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dbos_storage_core::payload::portable::{PortableError, WorkflowInputs};
use dbos_storage_core::payload::{portable, rust_serde};
use dbos_storage_core::{DatabaseUrl, DbosConfig, Serialization};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

/// A typical step output: a small record with a nested list.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    items: Vec<Item>,
    paid: bool,
    note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    sku: String,
    quantity: u32,
    price_cents: u64,
}

fn order() -> Order {
    Order {
        id: 42,
        customer: "customer-8812".to_owned(),
        items: (0..5)
            .map(|i| Item {
                sku: format!("sku-{i:04}"),
                quantity: i + 1,
                price_cents: 1999 * u64::from(i + 1),
            })
            .collect(),
        paid: true,
        note: Some("leave at the door — ring twice".to_owned()),
    }
}

fn inputs() -> WorkflowInputs {
    let mut named = Map::new();
    named.insert("retries".to_owned(), json!(3));
    named.insert("region".to_owned(), json!("eu-west-1"));
    WorkflowInputs::new(
        vec![
            json!(42),
            json!("customer-8812"),
            json!({"items": ["a", "b", "c"]}),
        ],
        named,
    )
}

fn payload(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload");
    let inputs = inputs();
    let encoded_inputs = inputs.encode().unwrap();
    g.bench_function("portable_json/encode inputs", |b| {
        b.iter(|| black_box(&inputs).encode().unwrap())
    });
    g.bench_function("portable_json/decode inputs", |b| {
        b.iter(|| WorkflowInputs::decode(black_box(&encoded_inputs)).unwrap())
    });
    let error = PortableError::new("ValueError", "the order total is negative")
        .with_code(422)
        .with_data(json!({"order": 42}));
    let encoded_error = error.encode().unwrap();
    g.bench_function("portable_json/encode error", |b| {
        b.iter(|| black_box(&error).encode().unwrap())
    });
    g.bench_function("portable_json/decode error", |b| {
        b.iter(|| PortableError::decode(black_box(&encoded_error)).unwrap())
    });
    let value = order();
    let portable_value = portable::encode_value(&value).unwrap();
    g.bench_function("portable_json/decode value", |b| {
        b.iter(|| portable::decode_value::<Order>(black_box(&portable_value)).unwrap())
    });
    let serde_value = rust_serde::encode(&value).unwrap();
    g.bench_function("rust_serde/encode value", |b| {
        b.iter(|| rust_serde::encode(black_box(&value)).unwrap())
    });
    g.bench_function("rust_serde/decode value", |b| {
        b.iter(|| rust_serde::decode::<Order>(black_box(&serde_value)).unwrap())
    });
    g.bench_function("label/parse", |b| {
        b.iter(|| Serialization::parse_label(black_box("portable_json")))
    });
    g.finish();
}

fn url(c: &mut Criterion) {
    let mut g = c.benchmark_group("url");
    for (name, text) in [
        (
            "sqlite",
            "sqlite:///var/lib/app/orders.sqlite?busy_timeout=5000",
        ),
        (
            "postgresql",
            "postgresql://app:s3cret%40x@db.example.com:6543/orders?sslmode=verify-full\
             &application_name=orders&connect_timeout=7",
        ),
        (
            "cockroachdb",
            "cockroachdb://root@crdb-0.internal:26257/defaultdb?sslmode=disable",
        ),
    ] {
        g.bench_function(format!("parse {name}"), |b| {
            b.iter(|| DatabaseUrl::parse(black_box(text)).unwrap())
        });
    }
    g.finish();
}

fn config(c: &mut Criterion) {
    let mut g = c.benchmark_group("config");
    let yaml = "\
name: orders
# the system database, with the password from the environment
system_database_url: postgresql://app:${DB_PASSWORD}@db.example.com:5432/orders_dbos
application_database_url: postgresql://app:${DB_PASSWORD}@db.example.com:5432/orders
pool_size: 10
sys_db_pool_size: 8
pool_timeout: 30
connect_timeout: 10
dbos_system_schema: dbos
use_listen_notify: true
executor_id: worker-1
application_version: \"1.4.2\"
";
    let env = |var: &str| match var {
        "DB_PASSWORD" => Some("s3cret".to_owned()),
        "DBOS_POOL_SIZE" => Some("12".to_owned()),
        "DBOS__VMID" => Some("vm-7".to_owned()),
        _ => None,
    };
    g.bench_function("from YAML with ${VAR}", |b| {
        b.iter(|| DbosConfig::from_yaml_str_with_env(black_box(yaml), env).unwrap())
    });
    let parsed = DbosConfig::from_yaml_str_with_env(yaml, env).unwrap();
    g.bench_function("apply env", |b| {
        b.iter_batched(
            || parsed.clone(),
            |config| config.apply_env_with(env).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("validate and system URL", |b| {
        b.iter(|| {
            let config = black_box(&parsed);
            config.validate().unwrap();
            config.system_database_url().unwrap()
        })
    });
    let derived = DbosConfig::new("orders")
        .with_application_database_url("postgresql://app:s3cret@localhost:5432/orders");
    g.bench_function("derived system URL", |b| {
        b.iter(|| black_box(&derived).system_database_url().unwrap())
    });
    g.finish();
}

criterion_group!(benches, payload, url, config);
criterion_main!(benches);
