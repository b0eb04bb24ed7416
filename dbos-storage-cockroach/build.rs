//! Compiles the real-cluster test leg (`tests/cluster.rs`) when `DBOS_TEST_COCKROACH_URL` is set,
//! so `cargo test --workspace` runs it against that cluster without any extra flag.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(dbos_cockroach_cluster)");
    println!("cargo::rerun-if-env-changed=DBOS_TEST_COCKROACH_URL");
    if std::env::var_os("DBOS_TEST_COCKROACH_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=dbos_cockroach_cluster");
    }
}
