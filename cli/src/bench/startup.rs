//! Start-up: what opening the system database costs an application before its first workflow.

use std::time::{Duration, Instant};

use dbos_storage::BackendKind;

use super::report::{targets, Figure, Unit};
use super::{median_ms, Bench};
use crate::connect::{self, Mode};
use crate::error::CliError;

/// Runs of each kind; the figure is the median.
const RUNS: usize = 9;

/// SQLite: opening and migrating a fresh file (connections, pragmas, every migration).
/// PostgreSQL and CockroachDB: opening the store on the already-migrated scratch schema and
/// migrating it (the database check, the dialect check, the version read under the migration
/// lock), minus a bare open (one connection of the pool and the dialect check, no database
/// check, no migration).
pub(super) async fn startup(bench: &Bench<'_>) -> Result<Vec<Figure>, CliError> {
    let url = bench.config.system_database_url()?;
    if bench.backend == BackendKind::Sqlite {
        let dir = bench
            .scratch_dir
            .as_ref()
            .ok_or_else(|| CliError::new("the SQLite bench has no scratch directory"))?;
        let mut samples = Vec::with_capacity(RUNS);
        for run in 0..RUNS {
            let file = dir.join(format!("startup-{run}.sqlite"));
            let mut config = bench.config.clone();
            config.system_database_url = Some(
                url.with_database(&file.display().to_string())
                    .expose_secret()
                    .to_owned(),
            );
            samples.push(open_timed(&config, Mode::Migrate).await?);
        }
        return Ok(vec![Figure::new(
            "startup",
            "start-up: open + migrate a fresh file",
            RUNS,
            Unit::Millis,
        )
        .store(median_ms(samples))
        .target(targets::startup(bench.backend))
        .note(format!(
            "median of {RUNS} runs, each a new file in the scratch directory"
        ))]);
    }
    let (mut full, mut bare) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        // Alternate which goes first, so that neither always follows the other's close.
        if run % 2 == 0 {
            bare.push(open_timed(bench.config, Mode::Inspect).await?);
            full.push(open_timed(bench.config, Mode::Migrate).await?);
        } else {
            full.push(open_timed(bench.config, Mode::Migrate).await?);
            bare.push(open_timed(bench.config, Mode::Inspect).await?);
        }
    }
    let (full, bare) = (median_ms(full), median_ms(bare));
    Ok(vec![Figure::new(
        "startup",
        "start-up: open + migrate (already migrated) − bare connection",
        RUNS,
        Unit::Millis,
    )
    .store((full - bare).max(0.0))
    .reference(bare)
    .target(targets::startup(bench.backend))
    .note(format!(
        "medians of {RUNS} runs: open + migrate {full:.1} ms, bare open {bare:.1} ms (one \
         pooled connection and the dialect check; the raw column)"
    ))])
}

/// How long opening the store in `mode` takes; the store is closed afterwards, untimed.
async fn open_timed(config: &dbos_storage::DbosConfig, mode: Mode) -> Result<Duration, CliError> {
    let t = Instant::now();
    let db = connect::open(config, mode).await?;
    let elapsed = t.elapsed();
    db.close().await;
    Ok(elapsed)
}
