//! `dbos-campaign`: the fault-injection campaign of `dbos-storage`.
//!
//! ```text
//! dbos-campaign report [--size ci|full]   run every scenario, print the reliability table
//! ```
//!
//! `report` runs the scenarios one after the other (server crash and killed connections on
//! PostgreSQL and in the CockroachDB dialect, killed worker and concurrent executors on SQLite,
//! PostgreSQL and in the CockroachDB dialect), prints each scenario's figures
//! to stderr as it ends, then the markdown table of the README's reliability section to
//! stdout. It exits with status 1 when a scenario found a problem. PostgreSQL comes from the
//! test harness (`DBOS_TEST_POSTGRES_URL`, else a throwaway local cluster; the crash
//! scenario always starts a cluster of its own). The CockroachDB dialect runs on that server in
//! CockroachDB-compatible mode (SERIALIZABLE, no LISTEN/NOTIFY), as the CockroachDB driver's
//! tests do.
//!
//! The hidden modes `worker` and `executor` are the child processes the scenarios start.

use std::process::ExitCode;

use dbos_storage_testkit::campaign::{
    self, markdown_table, Backend, Campaign, CampaignReport, ExecutorArgs, Size, WorkerArgs,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    let (mode, rest) = match args.split_first() {
        Some((mode, rest)) => (mode.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match mode {
        "worker" => WorkerArgs::parse(rest).and_then(|a| runtime.block_on(campaign::run_worker(a))),
        "executor" => {
            ExecutorArgs::parse(rest).and_then(|a| runtime.block_on(campaign::run_executor(a)))
        }
        "report" => match size(rest) {
            Ok(size) => return runtime.block_on(report(size)),
            Err(e) => Err(e),
        },
        _ => {
            eprintln!("usage: dbos-campaign report [--size ci|full]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dbos-campaign {mode}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn size(args: &[String]) -> Result<Size, String> {
    match args {
        [] => Ok(Size::Full),
        [flag, value] if flag == "--size" => match value.as_str() {
            "ci" => Ok(Size::Ci),
            "full" => Ok(Size::Full),
            other => Err(format!("--size is ci or full, not {other:?}")),
        },
        _ => Err(format!("unexpected arguments {args:?}")),
    }
}

async fn report(size: Size) -> ExitCode {
    let exe = std::env::current_exe().expect("the binary knows its own path");
    let campaign = Campaign::new(exe, size);
    let mut reports: Vec<CampaignReport> = Vec::new();
    let mut record = |report: CampaignReport| {
        eprintln!("{report}");
        reports.push(report);
    };
    let servers = [Backend::Postgres, Backend::Cockroach];
    let all = [Backend::Sqlite, Backend::Postgres, Backend::Cockroach];
    for backend in servers {
        record(campaign::server_crash(&campaign, backend).await);
    }
    for backend in servers {
        record(campaign::killed_connections(&campaign, backend).await);
    }
    for backend in all {
        record(campaign::killed_worker(&campaign, backend).await);
    }
    for backend in all {
        record(campaign::concurrent_executors(&campaign, backend).await);
    }
    let size_arg = match size {
        Size::Ci => " --size ci",
        _ => "",
    };
    println!(
        "`cargo run -p dbos-storage-testkit --bin dbos-campaign -- \
         report{size_arg}` on {}, {}:\n",
        campaign::machine(),
        dbos_storage_testkit::pg::server()
            .version()
            .split(" on ")
            .next()
            .unwrap_or("PostgreSQL")
    );
    print!("{}", markdown_table(&reports));
    if reports.iter().all(CampaignReport::is_clean) {
        ExitCode::SUCCESS
    } else {
        eprintln!("the campaign found a problem (see above)");
        ExitCode::FAILURE
    }
}
