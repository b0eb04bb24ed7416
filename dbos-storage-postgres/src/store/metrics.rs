//! Metrics on PostgreSQL (called by the [`ManagementStore`] implementation): workflow and step
//! counts per time bucket, grouped in the database.
//!
//! [`ManagementStore`]: dbos_storage_core::ManagementStore

use dbos_storage_core::management::{Metrics, MetricsQuery, StepCount, WorkflowCount};
use dbos_storage_core::Result;
use tokio_postgres::types::ToSql;

use super::{col, PostgresStore};
use crate::error::classify;

/// A `count(*)` as an unsigned count.
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl PostgresStore {
    /// [`ManagementStore::metrics`](dbos_storage_core::ManagementStore::metrics).
    pub(super) async fn count(&self, query: MetricsQuery) -> Result<Metrics> {
        query.validate()?;
        let width = query.bucket_ms();
        self.read(move |tx, q| {
            Box::pin(async move {
                let params: [&(dyn ToSql + Sync); 4] =
                    [&query.start, &query.end, &width, &query.application_name];
                let workflows = tx
                    .query(q.workflow_counts.as_str(), &params)
                    .await
                    .map_err(classify)?
                    .iter()
                    .map(|r| {
                        Ok(WorkflowCount::new(
                            col(r, 0)?,
                            &col::<String>(r, 1)?,
                            &col::<String>(r, 2)?,
                            count(col(r, 3)?),
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let steps = tx
                    .query(q.step_counts.as_str(), &params)
                    .await
                    .map_err(classify)?
                    .iter()
                    .map(|r| {
                        Ok(StepCount::new(
                            col(r, 0)?,
                            &col::<String>(r, 1)?,
                            count(col(r, 2)?),
                            count(col(r, 3)?),
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Metrics::new(workflows, steps))
            })
        })
        .await
    }
}
