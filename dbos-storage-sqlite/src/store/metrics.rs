//! Metrics on SQLite: workflows and steps counted per time bucket in one read transaction.

use dbos_storage_core::{Metrics, MetricsQuery, Result, StepCount, WorkflowCount};
use rusqlite::named_params;

use super::{get_i64, SqliteStore};
use crate::error::classify;
use crate::sql::metrics as q;

/// A `count(*)` or `sum(…)` column as a count.
fn count(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    Ok(get_i64(row, idx)?.unwrap_or(0).max(0) as u64)
}

/// Counts workflows created and steps completed in the range, per bucket.
pub(super) async fn metrics(store: &SqliteStore, query: MetricsQuery) -> Result<Metrics> {
    query.validate()?;
    store
        .conns()
        .read(move |tx| {
            let params = named_params! {
                ":start": query.start,
                ":end": query.end,
                ":width": query.bucket_ms(),
                ":application_name": query.application_name,
            };
            let mut stmt = tx.prepare_cached(q::WORKFLOW_COUNTS).map_err(classify)?;
            let workflows = stmt
                .query_map(params, |r| {
                    Ok(WorkflowCount::new(
                        get_i64(r, 0)?.unwrap_or(query.start),
                        &r.get::<_, String>(1)?,
                        &r.get::<_, String>(2)?,
                        count(r, 3)?,
                    ))
                })
                .map_err(classify)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(classify)?;
            let mut stmt = tx.prepare_cached(q::STEP_COUNTS).map_err(classify)?;
            let steps = stmt
                .query_map(params, |r| {
                    Ok(StepCount::new(
                        get_i64(r, 0)?.unwrap_or(query.start),
                        &r.get::<_, String>(1)?,
                        count(r, 2)?,
                        count(r, 3)?,
                    ))
                })
                .map_err(classify)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(classify)?;
            Ok(Metrics::new(workflows, steps))
        })
        .await
}
