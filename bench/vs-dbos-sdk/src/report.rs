//! The Markdown report, and the refresh of its generated section in a README.

use std::fmt::Write as _;
use std::path::Path;

use crate::workloads::{Dequeue, TableState};
use crate::{Args, Failure};

/// The line before the generated section of the README.
pub(crate) const BEGIN: &str = "<!-- vs-dbos-sdk: begin (generated; refresh with `cd bench/vs-dbos-sdk && cargo run --release -- --readme ../../README.md`) -->";
/// The line after it.
pub(crate) const END: &str = "<!-- vs-dbos-sdk: end -->";

/// Everything measured in one run.
pub(crate) struct Results {
    /// The command line that produced them.
    pub(crate) command: String,
    /// The server's version string.
    pub(crate) server: String,
    /// Whether the server was the throwaway local cluster (durability off).
    pub(crate) local_cluster: bool,
    /// Fresh connect + create + migrate, ms, every run: ours, official.
    pub(crate) connect_ms: [Vec<f64>; 2],
    /// Connect + migrate into an existing empty database, ms, every run: ours, official.
    pub(crate) migrate_ms: [Vec<f64>; 2],
    /// Dequeue runs per table state: ours, official.
    pub(crate) dequeues: Vec<(TableState, [Vec<Dequeue>; 2])>,
    /// Seconds the whole run took.
    pub(crate) seconds: f64,
}

/// The median of `values` (the mean of the middle two for an even count).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `yes`, or a bold `no`.
fn met(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**no**"
    }
}

/// The machine: processors and OS.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    format!("{cpus} CPUs, {os}")
}

/// The report: the command, the setting, the table and what each row means.
pub(crate) fn markdown(results: &Results, args: &Args) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "`{}`\n", results.command);
    let _ = writeln!(out, "- machine: {}", machine());
    let _ = writeln!(
        out,
        "- server: {}{}",
        results.server,
        if results.local_cluster {
            ", a throwaway local cluster (testkit harness, durability off: fsync, synchronous_commit, full_page_writes), both sides on it, each workload on fresh databases"
        } else {
            " (DBOS_TEST_POSTGRES_URL), both sides on it, each workload on fresh databases"
        }
    );
    let _ = writeln!(
        out,
        "- scale: {} workflows enqueued on one queue, {} workers claiming up to {} per claim, {} rounds per table state (sides alternate which goes first), {} fresh connects per side; {:.0} s in all",
        thousands(args.workflows as f64),
        args.workers,
        args.batch,
        args.rounds,
        args.connects,
        results.seconds
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| workload | ours (dbos-storage-postgres) | official (`dbos` 0.5.0 sysdb) | ours / official | target | met? |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---|");
    let [ours, official] = &results.connect_ms;
    let (ours_ms, official_ms) = (median(ours), median(official));
    let speedup = official_ms / ours_ms;
    let _ = writeln!(
        out,
        "| fresh connect + create database + migrate (median of {}) | {ours_ms:.0} ms | {official_ms:.0} ms | {speedup:.2}× | ≥ 1.0× (no slower) | {} |",
        ours.len(),
        met(speedup >= 1.0)
    );
    let [ours_m, official_m] = &results.migrate_ms;
    let (ours_mm, official_mm) = (median(ours_m), median(official_m));
    let _ = writeln!(
        out,
        "| connect + migrate into an existing empty database (median of {}) | {ours_mm:.0} ms | {official_mm:.0} ms | {:.2}× | — | — |",
        ours_m.len(),
        official_mm / ours_mm
    );
    for (state, [ours, official]) in &results.dequeues {
        let rate = |runs: &[Dequeue]| median(&runs.iter().map(|d| d.rate).collect::<Vec<_>>());
        let (ours_rate, official_rate) = (rate(ours), rate(official));
        let ratio = ours_rate / official_rate;
        let _ = writeln!(
            out,
            "| dequeue, {}: {} workers, up to {} per claim (median of {}) | {} wf/s | {} wf/s | {ratio:.2}× | ≥ 1.2× | {} |",
            state.describe(),
            args.workers,
            args.batch,
            ours.len(),
            thousands(ours_rate),
            thousands(official_rate),
            met(ratio >= 1.2)
        );
    }
    for (state, [ours, official]) in &results.dequeues {
        let cpu = |runs: &[Dequeue]| {
            let v: Vec<f64> = runs.iter().filter_map(|d| d.cpu_us_per_workflow).collect();
            (!v.is_empty()).then(|| median(&v))
        };
        if let (Some(o), Some(f)) = (cpu(ours), cpu(official)) {
            let _ = writeln!(
                out,
                "| server CPU per claimed workflow, {} (median) | {o:.0} µs | {f:.0} µs | {:.2}× less | — | — |",
                state.describe(),
                f / o
            );
        }
    }
    let _ = writeln!(out);
    let range = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{}–{}", thousands(lo), thousands(hi))
    };
    let _ = writeln!(
        out,
        "- connect runs: ours {} ms, official {} ms; into an existing database: ours {} ms, official {} ms (`CREATE DATABASE` is the server's work, the same for both).",
        range(ours),
        range(official),
        range(ours_m),
        range(official_m)
    );
    let _ = writeln!(
        out,
        "- ratios: time official / ours for connects, rate ours / official for dequeues, CPU official / ours; above 1 is ours faster or cheaper."
    );
    for (state, [ours, official]) in &results.dequeues {
        let rates = |runs: &[Dequeue]| runs.iter().map(|d| d.rate).collect::<Vec<_>>();
        let claims = |runs: &[Dequeue]| {
            let c: Vec<f64> = runs.iter().map(|d| d.claims as f64).collect();
            let e: Vec<f64> = runs.iter().map(|d| d.empty as f64).collect();
            format!(
                "{} claims, {} empty",
                thousands(median(&c)),
                thousands(median(&e))
            )
        };
        let _ = writeln!(
            out,
            "- dequeue runs, {}: ours {} wf/s ({} per run), official {} wf/s ({} per run).",
            state.describe(),
            range(&rates(ours)),
            claims(ours),
            range(&rates(official)),
            claims(official)
        );
    }
    out
}

/// Replaces the lines between [`BEGIN`] and [`END`] in the file at `path` with `section`.
pub(crate) fn refresh_readme(path: &Path, section: &str) -> Result<(), Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("read {}: {e}", path.display())))?;
    let begin = text.find(BEGIN).ok_or_else(|| {
        Failure::new(format!(
            "{} has no line `{BEGIN}` to refresh after",
            path.display()
        ))
    })?;
    let after_begin = begin + BEGIN.len();
    let end = text[after_begin..].find(END).ok_or_else(|| {
        Failure::new(format!(
            "{} has no line `{END}` after the begin marker",
            path.display()
        ))
    })? + after_begin;
    let refreshed = format!(
        "{}\n\n{}\n\n{}",
        &text[..after_begin],
        section.trim_end(),
        &text[end..]
    );
    std::fs::write(path, refreshed)
        .map_err(|e| Failure::new(format!("write {}: {e}", path.display())))
}
