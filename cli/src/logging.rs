//! The command's log: the library's `tracing` events (retry give-ups, listener outages, echoed
//! SQL, migrations) as lines on stderr, every registered password replaced by `***`.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::error::{CliError, Secrets};

/// The environment variable that replaces the levels of `-v` (`RUST_LOG=dbos_storage=debug`).
const RUST_LOG: &str = "RUST_LOG";

/// The filter of `-v` given `count` times, or of `--quiet`: warnings by default; then info,
/// debug and trace for the workspace's crates (every target starting `dbos_storage`), warnings
/// for the others.
fn level_filter(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "off",
        (false, 0) => "warn",
        (false, 1) => "warn,dbos_storage=info",
        (false, 2) => "warn,dbos_storage=debug",
        (false, _) => "warn,dbos_storage=trace",
    }
}

/// Installs the stderr log: `RUST_LOG` when set and not empty, else the level of `-v` /
/// `--quiet`.
///
/// # Errors
/// A `RUST_LOG` that is not a valid filter (the caller exits with the usage code).
pub(crate) fn init(verbose: u8, quiet: bool, secrets: &Secrets) -> Result<(), CliError> {
    let filter = match std::env::var(RUST_LOG) {
        Ok(text) if !text.trim().is_empty() => EnvFilter::builder()
            .parse(&text)
            .map_err(|e| CliError::new(format!("{RUST_LOG}={text:?} is not a log filter: {e}")))?,
        _ => EnvFilter::new(level_filter(verbose, quiet)),
    };
    // A second subscriber cannot exist in this process; nothing else installs one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr(secrets.clone()))
        .try_init();
    Ok(())
}

/// Makes one [`LogLine`] per event.
#[derive(Debug, Clone)]
struct RedactingStderr(Secrets);

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            secrets: self.0.clone(),
            text: Vec::new(),
        }
    }
}

/// One event's text, written to stderr redacted when the event is done.
#[derive(Debug)]
struct LogLine {
    secrets: Secrets,
    text: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.text);
        let _ = std::io::stderr().write_all(self.secrets.redact(&text).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_v_raises_the_workspace_level() {
        assert_eq!(level_filter(0, false), "warn");
        assert_eq!(level_filter(2, false), "warn,dbos_storage=debug");
        assert_eq!(level_filter(9, false), "warn,dbos_storage=trace");
        assert_eq!(level_filter(0, true), "off");
        for v in 0..4 {
            assert!(EnvFilter::builder().parse(level_filter(v, false)).is_ok());
        }
    }

    #[test]
    fn log_lines_are_redacted() {
        let mut secrets = Secrets::default();
        let writer = RedactingStderr(secrets.clone());
        // Registered after the writer was made, as connect::resolve does.
        secrets.add_url("postgresql://ops:hunter22@db/x");
        let mut line = writer.make_writer();
        line.write_all(b"cannot connect as ops:hunter22\n").unwrap();
        assert_eq!(
            line.secrets.redact(&String::from_utf8_lossy(&line.text)),
            "cannot connect as ops:***\n"
        );
    }
}
