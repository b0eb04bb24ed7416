//! `rename_application` on PostgreSQL (called by the [`ManagementStore`] implementation): the
//! registry rows and in-flight workflows in one transaction, then finished workflows and steps
//! in batches, each batch its own transaction.
//!
//! [`ManagementStore`]: dbos_storage_core::ManagementStore

use dbos_storage_core::management::{RenameApplication, RenameReport};
use dbos_storage_core::{Error, Result};
use tokio_postgres::types::ToSql;

use super::{col, PostgresStore};
use crate::error::{classify, with_backend};

impl PostgresStore {
    /// [`ManagementStore::rename_application`](dbos_storage_core::ManagementStore::rename_application).
    pub(super) async fn rename(&self, request: RenameApplication) -> Result<RenameReport> {
        request.validate()?;
        let RenameApplication {
            from,
            to,
            batch_size,
            adopt_unclaimed,
            ..
        } = request;
        let (to_moved, from_moved) = (to.clone(), from.clone());
        let mut report = self
            .write(move |tx, q| {
                Box::pin(async move {
                    let params: [&(dyn ToSql + Sync); 3] =
                        [&from_moved, &to_moved, &adopt_unclaimed];
                    let taken = tx
                        .query_opt(q.select_taken_version.as_str(), &params)
                        .await
                        .map_err(classify)?;
                    if let Some(row) = taken {
                        let version: String = col(&row, 0)?;
                        return Err(with_backend(Error::conflict(format!(
                            "application {to_moved} already has version {version}"
                        ))));
                    }
                    let double = tx
                        .query_opt(q.select_double_version.as_str(), &params)
                        .await
                        .map_err(classify)?;
                    if let Some(row) = double {
                        let version: String = col(&row, 0)?;
                        return Err(with_backend(Error::conflict(format!(
                            "two versions named {version} would move to application {to_moved} \
                             (its own and an unclaimed one)"
                        ))));
                    }
                    let mut moved = [0u64; 4];
                    for (n, statement) in [
                        &q.move_queues,
                        &q.move_schedules,
                        &q.move_versions,
                        &q.move_active_workflows,
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        moved[n] = tx
                            .execute(statement.as_str(), &params)
                            .await
                            .map_err(classify)?;
                    }
                    Ok(RenameReport::new(
                        moved[0], moved[1], moved[2], moved[3], 0, 0,
                    ))
                })
            })
            .await?;
        let batch = i64::from(batch_size);
        // Moved rows no longer match, so each batch takes the next ones until none is left.
        for steps in [false, true] {
            loop {
                let (from, to) = (from.clone(), to.clone());
                let moved = self
                    .write(move |tx, q| {
                        Box::pin(async move {
                            let statement = if steps {
                                &q.move_step_batch
                            } else {
                                &q.move_workflow_batch
                            };
                            tx.execute(statement.as_str(), &[&from, &to, &adopt_unclaimed, &batch])
                                .await
                                .map_err(classify)
                        })
                    })
                    .await?;
                if moved == 0 {
                    break;
                }
                if steps {
                    report.steps += moved;
                } else {
                    report.finished_workflows += moved;
                }
            }
        }
        Ok(report)
    }
}
