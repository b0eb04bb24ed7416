//! `rename_application` on SQLite: the registry rows and in-flight workflows in one transaction,
//! then finished workflows and step rows in key-order batches, one transaction each.

use dbos_storage_core::management::LEASE_APPLICATION;
use dbos_storage_core::{Error, RenameApplication, RenameReport, Result};
use rusqlite::{named_params, OptionalExtension};

use super::Cached;
use super::SqliteStore;
use crate::error::{classify, with_backend};
use crate::sql::rename as q;

/// The first transaction: the version clash check, then queues, schedules, versions and
/// in-flight workflows. Returns the report with those counts.
async fn move_registry(store: &SqliteStore, request: &RenameApplication) -> Result<RenameReport> {
    let (from, to, adopt) = (
        request.from.clone(),
        request.to.clone(),
        request.adopt_unclaimed,
    );
    store
        .conns()
        .write(move |tx| {
            let clash: Option<String> = tx
                .query_row_cached(
                    q::VERSION_CLASH,
                    named_params! { ":from": from, ":adopt": adopt, ":to": to },
                    |r| r.get(0),
                )
                .optional()
                .map_err(classify)?;
            if let Some(version) = clash {
                return Err(with_backend(Error::conflict(format!(
                    "application {to} already has version {version}"
                ))));
            }
            let queues = tx
                .execute_cached(
                    q::MOVE_QUEUES,
                    named_params! {
                        ":from": from,
                        ":adopt": adopt,
                        ":to": to,
                        ":lease_application": LEASE_APPLICATION,
                    },
                )
                .map_err(classify)?;
            let mut moved = [0u64; 3];
            for (count, statement) in moved.iter_mut().zip([
                q::MOVE_SCHEDULES,
                q::MOVE_VERSIONS,
                q::MOVE_ACTIVE_WORKFLOWS,
            ]) {
                *count = tx
                    .execute_cached(
                        statement,
                        named_params! { ":from": from, ":adopt": adopt, ":to": to },
                    )
                    .map_err(classify)? as u64;
            }
            Ok(RenameReport::new(
                queues as u64,
                moved[0],
                moved[1],
                moved[2],
                0,
                0,
            ))
        })
        .await
}

/// Moves the next batch of workflows after `after`; returns the last id moved (`None` when the
/// batch moved nothing) and how many moved.
async fn move_workflow_batch(
    store: &SqliteStore,
    request: &RenameApplication,
    after: Option<String>,
) -> Result<(Option<String>, u64)> {
    let (from, to, adopt, batch) = (
        request.from.clone(),
        request.to.clone(),
        request.adopt_unclaimed,
        request.batch_size,
    );
    store
        .conns()
        .write(move |tx| {
            let mut stmt = tx
                .prepare_cached(q::MOVE_WORKFLOW_BATCH)
                .map_err(classify)?;
            let moved = stmt
                .query_map(
                    named_params! {
                        ":from": from,
                        ":adopt": adopt,
                        ":to": to,
                        ":after": after,
                        ":batch": i64::from(batch),
                    },
                    |r| r.get::<_, String>(0),
                )
                .map_err(classify)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(classify)?;
            Ok((moved.iter().max().cloned(), moved.len() as u64))
        })
        .await
}

/// The key of a step row.
type StepKey = (String, i32);

/// Moves the next batch of step rows after `after`; returns the last key moved (`None` when the
/// batch moved nothing) and how many moved.
async fn move_step_batch(
    store: &SqliteStore,
    request: &RenameApplication,
    after: Option<StepKey>,
) -> Result<(Option<StepKey>, u64)> {
    let (from, to, adopt, batch) = (
        request.from.clone(),
        request.to.clone(),
        request.adopt_unclaimed,
        request.batch_size,
    );
    store
        .conns()
        .write(move |tx| {
            let (after_id, after_step) = after.unzip();
            let mut stmt = tx.prepare_cached(q::MOVE_STEP_BATCH).map_err(classify)?;
            let moved = stmt
                .query_map(
                    named_params! {
                        ":from": from,
                        ":adopt": adopt,
                        ":to": to,
                        ":after_id": after_id,
                        ":after_step": after_step,
                        ":batch": i64::from(batch),
                    },
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?)),
                )
                .map_err(classify)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(classify)?;
            Ok((moved.iter().max().cloned(), moved.len() as u64))
        })
        .await
}

/// Moves an application's rows to a new name.
pub(super) async fn rename_application(
    store: &SqliteStore,
    request: RenameApplication,
) -> Result<RenameReport> {
    request.validate()?;
    let mut report = move_registry(store, &request).await?;
    let mut after = None;
    loop {
        let (last, moved) = move_workflow_batch(store, &request, after).await?;
        if moved == 0 {
            break;
        }
        report.finished_workflows += moved;
        after = last;
    }
    let mut after = None;
    loop {
        let (last, moved) = move_step_batch(store, &request, after).await?;
        if moved == 0 {
            break;
        }
        report.steps += moved;
        after = last;
    }
    tracing::info!(?report, from = ?request.from, to = %request.to, "application renamed");
    Ok(report)
}
