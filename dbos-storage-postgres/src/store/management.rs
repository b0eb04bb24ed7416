//! [`ManagementStore`] on PostgreSQL: cancel and resume.

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::rules::children::Descendants;
use dbos_storage_core::rules::management::{distinct, ensure_all_exist, in_order_of, resume_queue};
use dbos_storage_core::{validate, CancelOptions, ManagementStore, Result, ResumeOptions};
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

use super::{col, select_ids, PostgresStore, ID_CHUNK};
use crate::error::{classify, with_backend};

/// Runs `statement` (whose `$1` is a `text[]` of ids, followed by `extra`, and which returns
/// the ids it touched) over `ids` in chunks; returns the ids it returned, in the order of
/// `ids`.
async fn update_ids(
    tx: &Transaction<'_>,
    statement: &str,
    ids: &[String],
    extra: &[&(dyn ToSql + Sync)],
) -> Result<Vec<String>> {
    let mut changed = HashSet::new();
    let statement = tx.prepare(statement).await.map_err(classify)?;
    for chunk in ids.chunks(ID_CHUNK) {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&chunk];
        params.extend_from_slice(extra);
        for row in tx.query(&statement, &params).await.map_err(classify)? {
            changed.insert(col::<String>(&row, 0)?);
        }
    }
    Ok(in_order_of(ids, changed))
}

#[async_trait]
impl ManagementStore for PostgresStore {
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            self.ensure_open()?;
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let cancel_children = options.cancel_children;
        let changed = self
            .write(move |tx, q| {
                Box::pin(async move {
                    let mut changed = Vec::new();
                    let mut walk = Descendants::new(ids);
                    while !walk.level().is_empty() {
                        let level = walk.level();
                        changed.extend(update_ids(tx, &q.cancel_workflows, level, &[]).await?);
                        if !cancel_children {
                            break;
                        }
                        // Every id of the level, cancelled or not, leads to its children.
                        let children = select_ids(tx, &q.select_children, level).await?;
                        walk.descend(children);
                    }
                    Ok(changed)
                })
            })
            .await?;
        if !changed.is_empty() {
            self.wake().notify();
        }
        Ok(changed)
    }

    async fn resume_workflows(
        &self,
        workflow_ids: &[String],
        options: ResumeOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            self.ensure_open()?;
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let queue = resume_queue(options)?;
        let changed = self
            .write(move |tx, q| {
                Box::pin(async move {
                    let existing: HashSet<String> = select_ids(tx, &q.select_existing_ids, &ids)
                        .await?
                        .into_iter()
                        .collect();
                    ensure_all_exist(&ids, |id| existing.contains(id)).map_err(with_backend)?;
                    update_ids(tx, &q.resume_workflows, &ids, &[&queue]).await
                })
            })
            .await?;
        if !changed.is_empty() {
            self.wake().notify();
        }
        Ok(changed)
    }
}
