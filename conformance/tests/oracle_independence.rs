//! The reference model is an oracle of its own: it shares no decision code with the drivers.
//!
//! The compile-time guarantee is that this crate does not depend on `dbos-storage-driver-kit`
//! (where the drivers' shared decisions live). This test keeps it that way: it fails when the
//! manifest lists the kit again, or when a file of the model names it.

use std::fs;
use std::path::{Path, PathBuf};

/// How the kit is named in a manifest and in Rust code.
const KIT_NAMES: [&str; 2] = ["dbos-storage-driver-kit", "dbos_storage_driver_kit"];

fn mentions_the_kit(text: &str) -> bool {
    KIT_NAMES.iter().any(|name| text.contains(name))
}

#[test]
fn the_manifest_does_not_depend_on_the_driver_kit() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let text = fs::read_to_string(&manifest).expect("read the crate's manifest");
    assert!(
        !mentions_the_kit(&text),
        "{} names the driver kit: the reference model must not share the drivers' decisions",
        manifest.display()
    );
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_file_of_the_model_names_the_driver_kit() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
    let files = files_under(&model);
    assert!(
        files.len() > 10,
        "found only {files:?} under {}",
        model.display()
    );
    for path in files {
        let text = fs::read_to_string(&path).expect("read a file of the model");
        assert!(
            !mentions_the_kit(&text),
            "{} names the driver kit: write the rule again from the trait docs",
            path.display()
        );
    }
}

#[test]
fn the_check_sees_a_mention() {
    assert!(mentions_the_kit("use dbos_storage_driver_kit::decisions;"));
    assert!(mentions_the_kit("dbos-storage-driver-kit.workspace = true"));
    assert!(!mentions_the_kit("use dbos_storage_core::WorkflowStatus;"));
}
