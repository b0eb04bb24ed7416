//! Human output (aligned tables, local ISO times) and JSON output.

use std::fmt::Write as _;
use std::io::IsTerminal;

use chrono::{DateTime, Local, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::error::CliError;

/// An epoch-milliseconds time in local ISO 8601 form, e.g. `2026-11-24T10:15:02+01:00`.
pub(crate) fn local_time(epoch_ms: i64) -> String {
    match Local.timestamp_millis_opt(epoch_ms) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
            t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
        }
        LocalResult::None => epoch_ms.to_string(),
    }
}

/// An optional time, or `-`.
pub(crate) fn opt_time(epoch_ms: Option<i64>) -> String {
    epoch_ms.map_or_else(|| "-".to_owned(), local_time)
}

/// An optional text, or `-`.
pub(crate) fn opt(text: Option<&str>) -> String {
    text.map_or_else(|| "-".to_owned(), str::to_owned)
}

/// Parses a time argument: epoch milliseconds, RFC 3339, or a local date/time
/// (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS`, with `T` or a space).
pub(crate) fn parse_time(flag: &str, text: &str) -> Result<i64, CliError> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| CliError::new(format!("{flag} {text}: too large for epoch ms")));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    match naive.map(|n| Local.from_local_datetime(&n)) {
        Some(LocalResult::Single(t) | LocalResult::Ambiguous(t, _)) => Ok(t.timestamp_millis()),
        _ => Err(CliError::new(format!(
            "{flag} {text:?} is not a time: use RFC 3339 (2026-11-24T10:00:00Z), a local \
             YYYY-MM-DD[THH:MM[:SS]], or epoch milliseconds"
        ))),
    }
}

/// Parses a duration argument: a whole number with a unit, `ms`, `s`, `m`, `h` or `d`
/// (`30d`, `12h`, `500ms`).
pub(crate) fn parse_age(flag: &str, text: &str) -> Result<std::time::Duration, CliError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    let n: Option<u64> = number.parse().ok();
    match n
        .and_then(|n| n.checked_mul(unit_ms))
        .filter(|_| unit_ms > 0)
    {
        Some(ms) => Ok(std::time::Duration::from_millis(ms)),
        None => Err(CliError::new(format!(
            "{flag} {text:?} is not a duration: use a whole number with ms, s, m, h or d \
             (30d, 12h, 500ms)"
        ))),
    }
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A table with a header row, rendered with columns aligned on the widest cell.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl Table {
    /// A table with these column titles; a title starting with `>` is right-aligned (numbers).
    pub(crate) fn new(header: &[&str]) -> Self {
        Table {
            header: header
                .iter()
                .map(|h| h.trim_start_matches('>').to_owned())
                .collect(),
            right: header.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, without trailing spaces.
    pub(crate) fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(columns) {
                let pad = widths[i] - cell.chars().count();
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

/// Key/value lines with the keys aligned.
pub(crate) fn pairs(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<width$}  {v}");
    }
    out
}

/// `text` cut to `max` characters with an ellipsis, newlines shown as spaces.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A progress bar on stderr when stderr is a terminal; a hidden one otherwise, so piped and
/// captured output stays clean.
pub(crate) fn progress(len: u64, message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:<28} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_right_align_numbers() {
        let mut t = Table::new(&["ID", ">N", "NAME"]);
        t.row(vec!["a".into(), "1".into(), "x".into()]);
        t.row(vec!["long-id".into(), "100".into(), "".into()]);
        assert_eq!(
            t.render(),
            "ID         N  NAME\na          1  x\nlong-id  100\n"
        );
    }

    #[test]
    fn times_parse_in_every_accepted_form() {
        assert_eq!(
            parse_time("--t", "1700000000000").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("--t", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("--t", "2023-11-14T23:13:20+01:00").unwrap(),
            1_700_000_000_000
        );
        let local = parse_time("--t", "2023-11-14").unwrap();
        assert_eq!(local_time(local).get(..19), Some("2023-11-14T00:00:00"));
        assert!(parse_time("--t", "2023-11-14T10:00").is_ok());
        let e = parse_time("--start-time", "yesterday").unwrap_err();
        assert!(e.to_string().contains("--start-time"), "{e}");
    }

    #[test]
    fn ages_parse_with_units_and_reject_the_rest() {
        use std::time::Duration;
        assert_eq!(
            parse_age("--x", "30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            parse_age("--x", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_age("--x", "2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "5", "d", "1.5h", "3w", "-1s", "99999999999999999999d"] {
            let e = parse_age("--older-than", bad).unwrap_err().to_string();
            assert!(
                e.contains("--older-than") && e.contains("not a duration"),
                "{e}"
            );
        }
    }

    #[test]
    fn truncation_keeps_short_text() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("a\nb", 5), "a b");
    }
}
