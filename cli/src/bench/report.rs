//! The figures of a bench run, their targets, and the three ways of printing them: an aligned
//! table, `--json` and `--markdown` (the README's performance table).

use std::fmt::Write as _;

use dbos_storage::BackendKind;
use serde::Serialize;

use super::machine::Machine;
use super::scale::ScaleReport;
use crate::output::Table;

/// What a figure must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Target {
    /// `store / raw` at least this.
    RatioAtLeast(f64),
    /// The big database's speed over the empty one's at least this (`bench --scale`).
    FlatAtLeast(f64),
    /// The store's value at least this.
    AtLeast(f64),
    /// The store's value at most this.
    AtMost(f64),
    /// The store's value below this.
    Below(f64),
    /// The store's value exactly zero.
    Zero,
}

impl Target {
    /// Whether `figure` reaches the target; `None` when the figure has no value to compare.
    fn met(self, store: Option<f64>, ratio: Option<f64>) -> Option<bool> {
        match self {
            Target::RatioAtLeast(x) | Target::FlatAtLeast(x) => ratio.map(|r| r >= x),
            Target::AtLeast(x) => store.map(|v| v >= x),
            Target::AtMost(x) => store.map(|v| v <= x),
            Target::Below(x) => store.map(|v| v < x),
            Target::Zero => store.map(|v| v == 0.0),
        }
    }

    /// The target as people read it, in the figure's unit.
    fn text(self, unit: Unit) -> String {
        match self {
            Target::RatioAtLeast(x) => format!("≥ {x}× raw"),
            Target::FlatAtLeast(x) => format!("≥ {x}× empty"),
            Target::AtLeast(x) => format!("≥ {}", unit.format_bound(x)),
            Target::AtMost(x) => format!("≤ {}", unit.format_bound(x)),
            Target::Below(x) => format!("< {}", unit.format_bound(x)),
            Target::Zero => "0".to_owned(),
        }
    }
}

/// The unit of a figure's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) enum Unit {
    /// Workflows per second.
    #[serde(rename = "workflows/s")]
    WorkflowsPerSec,
    /// Step checkpoints per second.
    #[serde(rename = "steps/s")]
    StepsPerSec,
    /// Claimed workflows per second.
    #[serde(rename = "claims/s")]
    ClaimsPerSec,
    /// Pages of a listing per second.
    #[serde(rename = "pages/s")]
    PagesPerSec,
    /// Seconds.
    #[serde(rename = "s")]
    Seconds,
    /// Milliseconds.
    #[serde(rename = "ms")]
    Millis,
    /// Mebibytes.
    #[serde(rename = "MiB")]
    MiB,
    /// Connections.
    #[serde(rename = "connections")]
    Connections,
}

impl Unit {
    /// The suffix of a rate unit.
    fn rate_suffix(self) -> Option<&'static str> {
        match self {
            Unit::WorkflowsPerSec => Some("wf/s"),
            Unit::StepsPerSec => Some("steps/s"),
            Unit::ClaimsPerSec => Some("claims/s"),
            Unit::PagesPerSec => Some("pages/s"),
            _ => None,
        }
    }

    /// `value` with its unit.
    pub(super) fn format(self, value: f64) -> String {
        if let Some(suffix) = self.rate_suffix() {
            return if value < 100.0 {
                format!("{value:.1} {suffix}")
            } else {
                format!("{} {suffix}", thousands(value.round() as u64))
            };
        }
        match self {
            Unit::Seconds => format!("{value:.2} s"),
            Unit::Millis => format!("{value:.1} ms"),
            Unit::MiB => format!("{value:.1} MiB"),
            _ => format!("{value:.0}"),
        }
    }

    /// A target's bound, with as few digits as it was written with.
    fn format_bound(self, value: f64) -> String {
        if let Some(suffix) = self.rate_suffix() {
            return format!("{} {suffix}", thousands(value.round() as u64));
        }
        match self {
            Unit::Seconds => format!("{value} s"),
            Unit::Millis => format!("{value} ms"),
            Unit::MiB => format!("{value} MiB"),
            _ => format!("{value}"),
        }
    }
}

/// `n` with a comma between thousands.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Figure {
    /// A stable key for scripts, e.g. `step_checkpoint_16`.
    pub(super) id: &'static str,
    /// What was measured, for people.
    pub(super) figure: String,
    /// How many operations (workflows, steps, claims, waits, runs) the figure covers.
    pub(super) count: usize,
    /// The unit of `store` and `raw`.
    pub(super) unit: Unit,
    /// The store's value; `None` when it does not apply (see `note`).
    pub(super) store: Option<f64>,
    /// The raw database's value for the same work, when there is one.
    pub(super) raw: Option<f64>,
    /// `store / raw`, for rates.
    pub(super) ratio: Option<f64>,
    /// `bench --scale`, reads: the raw database's own ratio big/empty for the same reads, so a
    /// miss shows how much of it is the bigger file's cost rather than the store's.
    pub(super) raw_ratio: Option<f64>,
    /// The figure's target on this backend, as text.
    pub(super) target: Option<String>,
    /// Whether the target is met.
    pub(super) met: Option<bool>,
    /// What else to know: how the figure was taken, what was verified.
    pub(super) note: Option<String>,
}

impl Figure {
    /// A figure with only the store's value.
    pub(super) fn new(
        id: &'static str,
        figure: impl Into<String>,
        count: usize,
        unit: Unit,
    ) -> Self {
        Figure {
            id,
            figure: figure.into(),
            count,
            unit,
            store: None,
            raw: None,
            ratio: None,
            raw_ratio: None,
            target: None,
            met: None,
            note: None,
        }
    }

    /// A rate next to the raw database's rate for the same work.
    pub(super) fn rates(
        id: &'static str,
        figure: impl Into<String>,
        count: usize,
        unit: Unit,
        store: f64,
        raw: f64,
    ) -> Self {
        let mut f = Figure::new(id, figure, count, unit).store(store);
        f.raw = Some(raw);
        f.ratio = Some(store / raw.max(f64::MIN_POSITIVE));
        f
    }

    /// Sets the store's value.
    #[must_use]
    pub(super) fn store(mut self, value: f64) -> Self {
        self.store = Some(value);
        self
    }

    /// Sets the raw value without a ratio (a reference, not the same work).
    #[must_use]
    pub(super) fn reference(mut self, value: f64) -> Self {
        self.raw = Some(value);
        self
    }

    /// Sets the target (none when `target` is `None`: the figure is only reported here).
    #[must_use]
    pub(super) fn target(mut self, target: Option<Target>) -> Self {
        if let Some(t) = target {
            self.target = Some(t.text(self.unit));
            self.met = t.met(self.store, self.ratio);
        }
        self
    }

    /// Sets the note.
    #[must_use]
    pub(super) fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// The scale of a run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Scale {
    pub(super) workflows: usize,
    pub(super) steps: u32,
    pub(super) concurrency: usize,
    pub(super) checkpoints: usize,
    pub(super) claims: usize,
    pub(super) claim_batch: u32,
    pub(super) recovery: usize,
    pub(super) waits: usize,
}

/// What `bench --json` prints.
#[derive(Debug, Serialize)]
pub(super) struct Report {
    /// The command line, URLs redacted.
    pub(super) command: String,
    pub(super) machine: Machine,
    pub(super) backend: &'static str,
    pub(super) server_version: String,
    /// The driver's connection settings that bear on speed (SQLite: journal mode, synchronous).
    pub(super) settings: Vec<(String, String)>,
    pub(super) target: String,
    pub(super) scratch: String,
    pub(super) scale: Scale,
    pub(super) seconds: f64,
    pub(super) figures: Vec<Figure>,
    /// With `--scale`: the store's operations on the big database next to the empty one.
    pub(super) big_database: Option<ScaleReport>,
    /// How many figures have a target on this backend, and how many meet it.
    pub(super) targets: usize,
    pub(super) targets_met: usize,
}

/// How raw rates are made, printed under the tables.
const RAW_NOTE: &str = "raw: the same number of committed writes over the same driver stack, \
     each one single-row INSERT or UPDATE into a copy of the table being written (SQLite: the \
     single writer connection with the store's pragmas; PostgreSQL: one connection per \
     concurrent writer, with the store's session settings); store and raw alternate in 4 \
     rounds, each side after an untimed warm-up of 16 operations per lane";

/// How the big-database figures are compared, printed under their table.
const SCALE_NOTE: &str = "each operation ran on the scratch database before and after the fill, \
     in the same run; ratio: big over empty for rates, empty over big for times (above 1 is \
     faster on the big database either way); target: at least 0.8; raw ratio (reads, the \
     enqueues and the first-queue claims): the same rows read, written or claimed by plain SQL \
     on native connections (the row with its input and outcome; the page of 50 with the same \
     filter and order; each batch's rows and inputs inserted in one transaction, stamped with \
     the clock; the queue's oldest rows flipped to PENDING by one UPDATE per claim, one \
     connection per worker on PostgreSQL), big over empty, alternating with the store's in 4 rounds: the \
     bigger file's own cost for the same work (a store ratio above it is the store's fixed cost \
     diluting that cost; one below it, a cost of the store's own that grows with the tables)";

impl Report {
    /// The settings line: `synchronous FULL, journal_mode wal`.
    fn settings_text(&self) -> String {
        self.settings
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn server(&self) -> String {
        let settings = self.settings_text();
        if settings.is_empty() {
            format!("{} ({})", self.backend, self.server_version)
        } else {
            format!("{} ({}; {settings})", self.backend, self.server_version)
        }
    }

    /// The aligned table of a terminal.
    pub(super) fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} at {}, in a {}",
            self.server(),
            self.target,
            self.scratch
        );
        let _ = writeln!(out, "{}; {:.0} s", self.machine.summary(), self.seconds);
        out.push('\n');
        out.push_str(&text_table(
            &["FIGURE", ">N", ">STORE", ">RAW", ">RATIO", "TARGET", "MET"],
            &self.figures,
        ));
        out.push('\n');
        for f in &self.figures {
            if let Some(note) = &f.note {
                let _ = writeln!(out, "- {}: {note}", f.figure);
            }
        }
        let _ = writeln!(out, "- {RAW_NOTE}");
        if let Some(scale) = &self.big_database {
            out.push('\n');
            let _ = writeln!(out, "{}", scale.heading());
            out.push_str(&text_table(
                &[
                    "OPERATION",
                    ">N",
                    ">BIG",
                    ">EMPTY",
                    ">RATIO",
                    ">RAW RATIO",
                    "TARGET",
                    "MET",
                ],
                &scale.figures,
            ));
            let _ = writeln!(out, "- {SCALE_NOTE}");
            for f in &scale.figures {
                if let Some(note) = &f.note {
                    let _ = writeln!(out, "- {}: {note}", f.figure);
                }
            }
            out.push('\n');
            out.push_str(&scale.fairness_text());
            out.push('\n');
            out.push_str(&scale.retention_text());
        }
        let _ = writeln!(out, "targets met: {} of {}", self.targets_met, self.targets);
        out
    }

    /// The README's performance table: the command, the machine, then one row per figure.
    pub(super) fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "`{}`", self.command);
        out.push('\n');
        let _ = writeln!(out, "- machine: {}", self.machine.summary());
        let _ = writeln!(out, "- database: {}", self.server());
        let _ = writeln!(
            out,
            "- scale: {} workflows of {} steps, concurrency {}, {} checkpoints, {} claims \
             (up to {} per claim), {} recovered workflows, {} waits; {:.0} s in all",
            n(self.scale.workflows),
            self.scale.steps,
            self.scale.concurrency,
            n(self.scale.checkpoints),
            n(self.scale.claims),
            self.scale.claim_batch,
            n(self.scale.recovery),
            n(self.scale.waits),
            self.seconds
        );
        out.push('\n');
        out.push_str(&markdown_table(
            "| figure | store | raw | ratio | target | met? |",
            &self.figures,
        ));
        out.push('\n');
        for f in &self.figures {
            if let Some(note) = &f.note {
                let _ = writeln!(out, "- {}: {note}", f.figure);
            }
        }
        let _ = writeln!(out, "- {RAW_NOTE}.");
        if let Some(scale) = &self.big_database {
            out.push('\n');
            let _ = writeln!(out, "{}", scale.heading());
            out.push('\n');
            out.push_str(&markdown_table(
                "| operation | big database | empty database | ratio | raw ratio | target | met? |",
                &scale.figures,
            ));
            out.push('\n');
            let _ = writeln!(out, "- {SCALE_NOTE}.");
            for f in &scale.figures {
                if let Some(note) = &f.note {
                    let _ = writeln!(out, "- {}: {note}.", f.figure);
                }
            }
            out.push('\n');
            out.push_str(&scale.fairness_markdown());
            out.push('\n');
            out.push_str(&scale.retention_markdown());
        }
        let _ = writeln!(
            out,
            "- {} of {} targets met in this run.",
            self.targets_met, self.targets
        );
        out
    }
}

/// A count with thousands separators.
fn n(count: usize) -> String {
    thousands(count as u64)
}

/// The aligned terminal table of `figures`: name, count, store, raw (or whatever the second
/// value column is), ratio, target, met; with eight headers, the raw ratio after the ratio (the
/// big-database table).
fn text_table(headers: &[&str], figures: &[Figure]) -> String {
    let with_raw_ratio = headers.len() == 8;
    let mut table = Table::new(headers);
    for f in figures {
        let mut row = vec![
            f.figure.clone(),
            thousands(f.count as u64),
            store_cell(f),
            f.raw.map_or_else(|| "-".to_owned(), |r| f.unit.format(r)),
            ratio_cell(f.ratio, "-"),
        ];
        if with_raw_ratio {
            row.push(ratio_cell(f.raw_ratio, "-"));
        }
        row.push(f.target.clone().unwrap_or_else(|| "-".to_owned()));
        row.push(met_cell(f.met).to_owned());
        table.row(row);
    }
    table.render()
}

/// The Markdown table of `figures` under `header` ([`text_table`]'s columns without the count:
/// six, or seven with the raw ratio).
fn markdown_table(header: &str, figures: &[Figure]) -> String {
    let with_raw_ratio = header.matches('|').count() == 8;
    let rules = if with_raw_ratio {
        "|---|---:|---:|---:|---:|---|---|"
    } else {
        "|---|---:|---:|---:|---|---|"
    };
    let mut out = format!("{header}\n{rules}\n");
    for f in figures {
        let mut cells = vec![
            f.figure.clone(),
            store_cell(f),
            f.raw.map_or_else(|| "—".to_owned(), |r| f.unit.format(r)),
            ratio_cell(f.ratio, "—"),
        ];
        if with_raw_ratio {
            cells.push(ratio_cell(f.raw_ratio, "—"));
        }
        cells.push(f.target.clone().unwrap_or_else(|| "—".to_owned()));
        cells.push(
            match f.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            }
            .to_owned(),
        );
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// A ratio as `0.83×`, or `none` without one.
fn ratio_cell(ratio: Option<f64>, none: &str) -> String {
    ratio.map_or_else(|| none.to_owned(), |r| format!("{r:.2}×"))
}

/// Any table of text cells, aligned for a terminal; a header starting with `>` is a number
/// column, right-aligned.
pub(super) fn cells_text(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = Table::new(headers);
    for row in rows {
        table.row(row.clone());
    }
    table.render()
}

/// The same table in Markdown: number columns right-aligned, header titles as given (without
/// the `>`).
pub(super) fn cells_markdown(headers: &[&str], rows: &[Vec<String>]) -> String {
    let titles: Vec<&str> = headers.iter().map(|h| h.trim_start_matches('>')).collect();
    let rules: Vec<&str> = headers
        .iter()
        .map(|h| if h.starts_with('>') { "---:" } else { "---" })
        .collect();
    let mut out = format!("| {} |\n|{}|\n", titles.join(" | "), rules.join("|"));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

fn store_cell(f: &Figure) -> String {
    f.store
        .map_or_else(|| "n/a".to_owned(), |v| f.unit.format(v))
}

fn met_cell(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    }
}

/// The performance targets, by figure and backend; `None` where a figure has none.
pub(super) mod targets {
    use super::{BackendKind, Target};

    /// A step checkpoint at 1 and at 16 writers, next to raw single-row inserts.
    pub(in crate::bench) fn step_checkpoint(_: BackendKind) -> Option<Target> {
        Some(Target::RatioAtLeast(0.9))
    }

    /// A ten-step workflow, one at a time.
    pub(in crate::bench) fn workflow_sequential(backend: BackendKind) -> Option<Target> {
        matches!(backend, BackendKind::Postgres | BackendKind::Sqlite)
            .then_some(Target::RatioAtLeast(0.8))
    }

    /// Ten-step workflows, 16 at once: PostgreSQL against 16 raw clients; SQLite's group commit
    /// against the single writer.
    pub(in crate::bench) fn workflow_concurrent(backend: BackendKind) -> Option<Target> {
        match backend {
            BackendKind::Postgres => Some(Target::RatioAtLeast(0.8)),
            BackendKind::Sqlite => Some(Target::RatioAtLeast(3.0)),
            _ => None,
        }
    }

    /// Claims per second with 16 workers.
    pub(in crate::bench) fn dequeue(backend: BackendKind) -> Option<Target> {
        (backend == BackendKind::Postgres).then_some(Target::AtLeast(5000.0))
    }

    /// Recovering 1,000 half-done workflows, in seconds.
    pub(in crate::bench) fn recovery(_: BackendKind) -> Option<Target> {
        Some(Target::AtMost(2.5))
    }

    /// Start-up overhead in milliseconds.
    pub(in crate::bench) fn startup(backend: BackendKind) -> Option<Target> {
        match backend {
            BackendKind::Sqlite => Some(Target::AtMost(100.0)),
            BackendKind::Postgres => Some(Target::AtMost(50.0)),
            _ => None,
        }
    }

    /// RSS growth of 10,000 waits, in MiB.
    pub(in crate::bench) fn wait_memory(_: BackendKind) -> Option<Target> {
        Some(Target::Below(100.0))
    }

    /// Pool connections in use while waits are parked.
    pub(in crate::bench) fn wait_connections(_: BackendKind) -> Option<Target> {
        Some(Target::Zero)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_compare_the_right_value() {
        let f = Figure::rates("x", "x", 1, Unit::StepsPerSec, 90.0, 100.0)
            .target(Some(Target::RatioAtLeast(0.9)));
        assert_eq!(f.met, Some(true));
        assert_eq!(f.target.as_deref(), Some("≥ 0.9× raw"));
        let f = Figure::new("y", "y", 1, Unit::Seconds)
            .store(2.6)
            .target(Some(Target::AtMost(2.5)));
        assert_eq!(f.met, Some(false));
        assert_eq!(f.target.as_deref(), Some("≤ 2.5 s"));
        let f = Figure::new("d", "d", 1, Unit::ClaimsPerSec)
            .store(5200.0)
            .target(Some(Target::AtLeast(5000.0)));
        assert_eq!(f.target.as_deref(), Some("≥ 5,000 claims/s"));
        assert_eq!(f.met, Some(true));
        let f = Figure::new("z", "z", 1, Unit::Connections).target(Some(Target::Zero));
        assert_eq!(f.met, None, "no value, nothing to compare");
    }

    #[test]
    fn rates_read_with_thousands_separators() {
        assert_eq!(Unit::ClaimsPerSec.format(12_345.4), "12,345 claims/s");
        assert_eq!(Unit::WorkflowsPerSec.format(52.25), "52.2 wf/s");
        assert_eq!(Unit::StepsPerSec.format(999.6), "1,000 steps/s");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
