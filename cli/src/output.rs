//! Human output (aligned tables, local ISO times) and JSON output.

use std::fmt::Write as _;
use std::io::IsTerminal;

use chrono::{DateTime, Local, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

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

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A table with a header row, rendered with columns aligned on the widest cell, by display
/// width (a CJK character or an emoji takes two terminal columns).
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
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.width());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(columns) {
                let pad = widths[i] - cell.width();
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

/// Key/value lines with the keys aligned (by display width).
pub(crate) fn pairs(rows: &[(String, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        let pad = " ".repeat(width - k.width());
        let _ = writeln!(out, "{k}{pad}  {v}");
    }
    out
}

/// `text` cut to `max` columns of display width with an ellipsis (so a cut CJK or emoji text
/// takes no more room in a table than a cut Latin one), newlines shown as spaces.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.width() <= max {
        return flat;
    }
    let mut cut = String::new();
    let mut used = 0;
    for c in flat.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max.saturating_sub(1) {
            break;
        }
        used += w;
        cut.push(c);
    }
    format!("{cut}…")
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
    fn wide_characters_take_two_columns() {
        let mut t = Table::new(&["NAME", "STATUS"]);
        t.row(vec!["注文処理".into(), "SUCCESS".into()]);
        t.row(vec!["🚀 launch".into(), "ERROR".into()]);
        t.row(vec!["plain".into(), "PENDING".into()]);
        assert_eq!(
            t.render(),
            "NAME       STATUS\n注文処理   SUCCESS\n🚀 launch  ERROR\nplain      PENDING\n"
        );
        assert_eq!(
            pairs(&[("名前".into(), "x".into()), ("id".into(), "y".into())]),
            "名前  x\nid    y\n"
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
    fn truncation_keeps_short_text() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("a\nb", 5), "a b");
        // Two columns each: four fit in 9 columns with the ellipsis, not eight.
        assert_eq!(truncate("注文処理ワークフロー", 9), "注文処理…");
    }
}
