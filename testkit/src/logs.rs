//! Capturing every log line of a test process and scanning it for secrets.
//!
//! [`install`] sets a process-wide `tracing` subscriber and a `log` logger (tokio-postgres and
//! rustls log through `log`) that format every event and span, with all their fields, at the
//! given level and below, and check each line against the secrets [`watch`]ed so far. Text that
//! is not logged (an error's `Display` or `Debug`) goes through [`observe`]. [`assert_clean`]
//! fails, listing them, if any line or observed text contained a secret; call it at the end of
//! each test, so that a leak by any earlier test of the process is reported.
//!
//! ```
//! use dbos_storage_testkit::logs;
//!
//! logs::install(tracing::Level::TRACE);
//! logs::watch("s3cret-Pa55");
//! tracing::warn!(url = "postgresql://app:***@db/app", "cannot connect");
//! logs::observe("connection refused (postgres)");
//! logs::assert_clean();
//! assert!(logs::lines() >= 1);
//! ```
//!
//! Secrets must be registered before the text that could contain them is produced: lines are
//! checked as they are written, not kept.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// The capture of this process.
struct Capture {
    secrets: Mutex<Vec<String>>,
    leaks: Mutex<Vec<String>>,
    counted: Mutex<Vec<(String, u64)>>,
    lines: AtomicU64,
    next_span: AtomicU64,
}

static CAPTURE: Capture = Capture {
    secrets: Mutex::new(Vec::new()),
    leaks: Mutex::new(Vec::new()),
    counted: Mutex::new(Vec::new()),
    lines: AtomicU64::new(0),
    next_span: AtomicU64::new(1),
};
/// The most verbose level captured (set by the first [`install`]).
static LEVEL: OnceLock<Level> = OnceLock::new();
/// Whether the subscriber and the logger became the process's (another may have been first).
static INSTALLED: OnceLock<bool> = OnceLock::new();

impl Capture {
    /// Checks one line (or observed text) against the secrets.
    fn check(&self, text: &str) {
        self.lines.fetch_add(1, Ordering::Relaxed);
        for (needle, n) in self
            .counted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            if text.contains(needle.as_str()) {
                *n += 1;
            }
        }
        let secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(secret) = secrets.iter().find(|s| text.contains(s.as_str())) {
            let shown = text.replace(secret.as_str(), "<SECRET>");
            self.leaks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(shown);
        }
    }
}

/// Installs the capture for this process and returns whether it is the process's `tracing`
/// subscriber and `log` logger (false when something else was installed first). `level` is the
/// most verbose level captured; the first call decides it, later calls change nothing.
pub fn install(level: Level) -> bool {
    *INSTALLED.get_or_init(|| {
        let level = *LEVEL.get_or_init(|| level);
        let tracing_ok = tracing::subscriber::set_global_default(CaptureSubscriber).is_ok();
        let log_ok = log::set_logger(&CaptureLogger).is_ok();
        if log_ok {
            log::set_max_level(match level {
                Level::TRACE => log::LevelFilter::Trace,
                Level::DEBUG => log::LevelFilter::Debug,
                Level::INFO => log::LevelFilter::Info,
                Level::WARN => log::LevelFilter::Warn,
                _ => log::LevelFilter::Error,
            });
        }
        tracing_ok && log_ok
    })
}

fn capture() -> &'static Capture {
    &CAPTURE
}

fn level() -> Level {
    LEVEL.get().copied().unwrap_or(Level::TRACE)
}

/// Adds a secret that no later line or observed text may contain. Empty strings are ignored.
pub fn watch(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut secrets = capture().secrets.lock().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_owned());
    }
}

/// Starts counting the later lines and observed texts that contain `needle` (to prove that a
/// scenario logged what it should; see [`count`]).
pub fn count_lines_with(needle: &str) {
    let mut counted = capture().counted.lock().unwrap_or_else(|e| e.into_inner());
    if !counted.iter().any(|(n, _)| n == needle) {
        counted.push((needle.to_owned(), 0));
    }
}

/// How many lines and observed texts contained `needle` since [`count_lines_with`] was called
/// for it (0 if it never was).
pub fn count(needle: &str) -> u64 {
    capture()
        .counted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(n, _)| n == needle)
        .map_or(0, |(_, c)| *c)
}

/// Checks text that is not logged: an error's `Display` and `Debug`, a config's `Debug`, ….
pub fn observe(text: &str) {
    capture().check(text);
}

/// How many lines and observed texts were checked so far.
pub fn lines() -> u64 {
    capture().lines.load(Ordering::Relaxed)
}

/// The lines and observed texts that contained a secret, with the secret masked.
pub fn leaks() -> Vec<String> {
    capture()
        .leaks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Panics, listing them (secrets masked), if any line or observed text contained a secret.
pub fn assert_clean() {
    let leaks = leaks();
    assert!(
        leaks.is_empty(),
        "{} log lines or messages contain a secret:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// Formats every field as ` name=value`.
struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let _ = write!(self.0, " {}={value} ({value:?})", field.name());
        let mut source = value.source();
        while let Some(s) = source {
            let _ = write!(self.0, ": {s}");
            source = s.source();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

struct CaptureSubscriber;

impl Subscriber for CaptureSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= level()
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(level()))
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = format!(
            "span {} {}",
            span.metadata().target(),
            span.metadata().name()
        );
        span.record(&mut Fields(&mut line));
        capture().check(&line);
        Id::from_u64(capture().next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _span: &Id, values: &Record<'_>) {
        let mut line = String::from("span record");
        values.record(&mut Fields(&mut line));
        capture().check(&line);
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut line = format!("{} {}:", meta.level(), meta.target());
        event.record(&mut Fields(&mut line));
        capture().check(&line);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, _metadata: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        capture().check(&line);
    }

    fn flush(&self) {}
}
