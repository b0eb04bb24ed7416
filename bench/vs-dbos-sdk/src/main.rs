//! `vs-dbos-sdk`: dbos-storage-postgres next to the official DBOS Rust SDK's system database
//! (crate `dbos` 0.5.0, `dbos::sysdb::postgres::PostgresSystemDatabase`) on one PostgreSQL
//! server, in one run: a fresh connect + create database + migrate, and a dequeue of a backlog
//! by concurrent workers on a never-analyzed and on an analyzed table. Prints a Markdown report;
//! `--readme PATH` also replaces the generated section of that README with it.
//!
//! ```text
//! cd bench/vs-dbos-sdk && cargo run --release -- [--readme ../../README.md]
//!     [--workflows 5000] [--workers 16] [--batch 8] [--rounds 3] [--connects 7]
//!     [--keep-databases]
//! ```
//!
//! The server is the testkit's throwaway local cluster (initdb and pg_ctl from the PATH or
//! `/usr/lib/postgresql/<version>/bin`; as root it runs as `postgres`), or the server of
//! `DBOS_TEST_POSTGRES_URL` (an admin URL allowed to create databases).

mod report;
mod server;
mod sides;
mod workloads;

use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use report::Results;
use sides::Kind;
use workloads::TableState;

/// A failed run: what went wrong, for the terminal.
#[derive(Debug)]
pub(crate) struct Failure(String);

impl Failure {
    /// A failure saying `message`.
    pub(crate) fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The command line.
pub(crate) struct Args {
    /// Workflows enqueued before each dequeue run.
    pub(crate) workflows: usize,
    /// Concurrent claiming workers.
    pub(crate) workers: usize,
    /// The most one claim takes.
    pub(crate) batch: u32,
    /// Dequeue runs per side and table state.
    pub(crate) rounds: usize,
    /// Fresh connects per side.
    pub(crate) connects: usize,
    /// The README whose generated section to refresh.
    pub(crate) readme: Option<PathBuf>,
    /// Leave the dequeue databases on the server (for `EXPLAIN` and statistics afterwards).
    pub(crate) keep_databases: bool,
}

const USAGE: &str = "usage: vs-dbos-sdk [--readme PATH] [--workflows N] [--workers N] [--batch N] [--rounds N] [--connects N] [--keep-databases]";

impl Args {
    /// Parses `std::env::args`.
    fn parse() -> Result<Args, Failure> {
        let mut args = Args {
            workflows: 5000,
            workers: 16,
            batch: 8,
            rounds: 3,
            connects: 7,
            readme: None,
            keep_databases: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| Failure::new(format!("{flag} needs a value\n{USAGE}")))
            };
            let number = |v: String| {
                v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Failure::new(format!("{flag} needs a positive number, not {v:?}"))
                })
            };
            match flag.as_str() {
                "--workflows" => args.workflows = number(value()?)?,
                "--workers" => args.workers = number(value()?)?,
                "--batch" => {
                    args.batch = u32::try_from(number(value()?)?)
                        .map_err(|_| Failure::new("--batch is too big"))?
                }
                "--rounds" => args.rounds = number(value()?)?,
                "--connects" => args.connects = number(value()?)?,
                "--readme" => args.readme = Some(PathBuf::from(value()?)),
                "--keep-databases" => args.keep_databases = true,
                "--markdown" => {}
                "-h" | "--help" => return Err(Failure::new(USAGE)),
                other => return Err(Failure::new(format!("unknown argument {other:?}\n{USAGE}"))),
            }
        }
        Ok(args)
    }

    /// The command line as it would be typed in the crate's directory.
    fn command(&self) -> String {
        let mut command = String::from("cd bench/vs-dbos-sdk && cargo run --release --");
        for arg in std::env::args().skip(1) {
            command.push(' ');
            command.push_str(&arg);
        }
        command
    }
}

/// The sides in the order round `round` runs them: alternating, so that neither always runs
/// on the other's leftovers.
fn order(round: usize) -> [Kind; 2] {
    let [a, b] = Kind::BOTH;
    if round % 2 == 0 {
        [a, b]
    } else {
        [b, a]
    }
}

/// The index of `kind` in the per-side arrays of [`Results`].
fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Ours => 0,
        Kind::Official => 1,
    }
}

async fn run(args: &Args) -> Result<Results, Failure> {
    let started = Instant::now();
    let server = tokio::task::spawn_blocking(server::server)
        .await
        .map_err(|e| Failure::new(format!("starting the server panicked: {e}")))?;
    eprintln!("server: {}", server.version());
    let mut connect_ms: [Vec<f64>; 2] = Default::default();
    let mut migrate_ms: [Vec<f64>; 2] = Default::default();
    for round in 0..args.connects {
        for kind in order(round) {
            let ms = workloads::connect_ms(kind, true).await?;
            eprintln!("connect {}: {ms:.0} ms", kind.tag());
            connect_ms[slot(kind)].push(ms);
            let ms = workloads::connect_ms(kind, false).await?;
            eprintln!("connect {} (existing database): {ms:.0} ms", kind.tag());
            migrate_ms[slot(kind)].push(ms);
        }
    }
    let mut dequeues = Vec::new();
    for state in TableState::BOTH {
        let mut runs: [Vec<workloads::Dequeue>; 2] = Default::default();
        for round in 0..args.rounds {
            for kind in order(round) {
                let run = workloads::dequeue(kind, state, args).await?;
                eprintln!(
                    "dequeue {} ({}): {:.0} wf/s, {} claims, {} empty, cpu {:?} µs/wf",
                    kind.tag(),
                    state.describe(),
                    run.rate,
                    run.claims,
                    run.empty,
                    run.cpu_us_per_workflow.map(|c| c.round())
                );
                runs[slot(kind)].push(run);
            }
        }
        dequeues.push((state, runs));
    }
    Ok(Results {
        command: args.command(),
        server: server.version().to_owned(),
        local_cluster: server.cluster_dir().is_some(),
        connect_ms,
        migrate_ms,
        dequeues,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[tokio::main]
async fn main() {
    let result = async {
        let args = Args::parse()?;
        let results = run(&args).await?;
        let section = report::markdown(&results, &args);
        print!("{section}");
        if let Some(readme) = &args.readme {
            report::refresh_readme(readme, &section)?;
            eprintln!("refreshed the generated section of {}", readme.display());
        }
        Ok::<_, Failure>(())
    }
    .await;
    if let Err(e) = result {
        eprintln!("vs-dbos-sdk: {e}");
        std::process::exit(1);
    }
}
