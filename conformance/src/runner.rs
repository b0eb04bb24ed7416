//! What the generated tests need around a property: a runtime, and proptest's configuration.

use proptest::test_runner::{Config, FileFailurePersistence};

/// Cases per model-based property when `PROPTEST_CASES` is not set: enough to find ordering
/// bugs, few enough for a quick run on a laptop or a small CI machine.
pub const DEFAULT_CASES: u32 = 32;

/// The environment variable naming a file where proptest records failing seeds (and replays
/// them first). Unset: nothing is written. The default of proptest, a file next to the suite's
/// sources, would land in the read-only cargo registry for third-party backends.
pub const REGRESSIONS_ENV: &str = "DBOS_CONFORMANCE_REGRESSIONS";

/// The runtime each generated test runs its property on: multi-threaded (2 workers), so that
/// concurrency properties really race and model-based properties can block in place.
///
/// # Panics
/// If the runtime cannot be built.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime for the conformance suite")
}

/// The proptest configuration of model-based properties: proptest's defaults and environment
/// (`PROPTEST_CASES`, `PROPTEST_MAX_SHRINK_ITERS`, …), [`DEFAULT_CASES`] unless
/// `PROPTEST_CASES` is set, and failure persistence only at the path in [`REGRESSIONS_ENV`].
pub fn proptest_config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    config.failure_persistence = match std::env::var(REGRESSIONS_ENV) {
        Ok(path) if !path.is_empty() => {
            let path: &'static str = Box::leak(path.into_boxed_str());
            Some(Box::new(FileFailurePersistence::Direct(path)))
        }
        _ => None,
    };
    config
}

/// Runs blocking, synchronous proptest code from inside a property (an `async fn` running on
/// the multi-threaded runtime of [`runtime`]): the worker thread is handed over for the
/// duration, and `f` gets a handle to drive async store calls with `block_on`.
///
/// # Panics
/// Outside a multi-threaded tokio runtime.
pub(crate) fn block_in_place<T>(f: impl FnOnce(&tokio::runtime::Handle) -> T) -> T {
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| f(&handle))
}

/// Whether a property that needs `capability` runs: `declared`, the backend's answer. When it
/// is false, reports the skip, naming the property and the capability.
///
/// The line goes straight to the process's standard error rather than through `eprintln!`,
/// which the test harness captures and shows only for failing tests, so `cargo test` shows it
/// next to the (passing) test:
/// `skipped attributes::attribute_updates_are_listed: the backend does not declare the
/// attribute_filter capability`.
pub fn declared(declared: bool, property: &str, capability: &str) -> bool {
    use std::io::Write;
    if !declared {
        let line = format!(
            "skipped {property}: the backend does not declare the {capability} capability\n"
        );
        // Nothing sensible can be done when standard error is gone.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    declared
}
