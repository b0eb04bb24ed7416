#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bench;
mod check;
mod cli;
mod connect;
mod demo;
mod error;
mod logging;
mod maintain;
mod migrate;
mod output;
mod queue;
mod schedule;
mod values;
mod workflow;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{CliError, Secrets};

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{at}: {}", one_line(&what));
    }));

    let cli = Cli::parse();
    let mut secrets = Secrets::default();
    if let Err(e) = logging::init(cli.global.verbose, cli.global.quiet, &secrets) {
        eprintln!("error: {}", one_line(&e.to_string()));
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli, &mut secrets));
    // Background tasks (pool reapers, connection drivers) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&secrets.redact(&e.to_string())));
            ExitCode::FAILURE
        }
    }
}

/// `text` on one line (messages are one line; a cause from a library may carry more).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(cli: Cli, secrets: &mut Secrets) -> Result<ExitCode, CliError> {
    let json = cli.global.json;
    match cli.command {
        Command::Demo(args) => demo::run(args, json).await,
        command => {
            let config = connect::resolve(&cli.global, secrets)?;
            match command {
                Command::Migrate(args) => migrate::run(&config, args, json).await,
                Command::Check => check::run(&config, json).await,
                Command::Workflow(cmd) => workflow::run(&config, cmd, json).await,
                Command::Queue(cmd) => queue::run(&config, cmd, json).await,
                Command::Schedule(cmd) => schedule::run(&config, cmd, json).await,
                Command::Gc(args) => maintain::gc(&config, args, json).await,
                Command::Export(args) => maintain::export(&config, args).await,
                Command::Import(args) => maintain::import(&config, args, json).await,
                Command::Metrics(args) => maintain::metrics(&config, args, json).await,
                Command::App(cmd) => maintain::app(&config, cmd, json).await,
                Command::Bench(args) => bench::run(&config, args, json).await,
                Command::DemoWorker(args) => demo::worker(&config, args).await,
                Command::Demo(_) => unreachable!("handled above"),
            }
        }
    }
}
