//! [`ManagementStore`] on PostgreSQL: cancel and resume.

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::{
    validate, CancelOptions, Error, ManagementStore, Result, ResumeOptions, INTERNAL_QUEUE,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

use super::{col, PostgresStore, ID_CHUNK};
use crate::error::{classify, BACKEND};

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
    Ok(ids
        .iter()
        .filter(|id| changed.remove(id.as_str()))
        .cloned()
        .collect())
}

/// The distinct ids of `ids`, in first-seen order.
fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
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
                    let mut seen: HashSet<String> = ids.iter().cloned().collect();
                    let mut changed = Vec::new();
                    let mut level = ids;
                    while !level.is_empty() {
                        changed.extend(update_ids(tx, &q.cancel_workflows, &level, &[]).await?);
                        if !cancel_children {
                            break;
                        }
                        // Every id of the level, cancelled or not, leads to its children.
                        let children = select_ids(tx, &q.select_children, &level).await?;
                        level = children
                            .into_iter()
                            .filter(|id| seen.insert(id.clone()))
                            .collect();
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
        let queue = options
            .queue_name
            .unwrap_or_else(|| INTERNAL_QUEUE.to_owned());
        dbos_storage_core::payload::validate_text("queue name", &queue)?;
        let changed = self
            .write(move |tx, q| {
                Box::pin(async move {
                    let existing: HashSet<String> = select_ids(tx, &q.select_existing_ids, &ids)
                        .await?
                        .into_iter()
                        .collect();
                    if let Some(missing) = ids.iter().find(|id| !existing.contains(*id)) {
                        return Err(Error::not_found(format!(
                            "workflow {missing} does not exist; nothing was resumed"
                        ))
                        .with_backend(BACKEND));
                    }
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

/// Runs a query whose `$1` is a `text[]` of ids over `ids` in chunks and returns every id it
/// returns, in the order the database returned them.
async fn select_ids(tx: &Transaction<'_>, statement: &str, ids: &[String]) -> Result<Vec<String>> {
    let statement = tx.prepare(statement).await.map_err(classify)?;
    let mut out = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        for row in tx.query(&statement, &[&chunk]).await.map_err(classify)? {
            out.push(col::<String>(&row, 0)?);
        }
    }
    Ok(out)
}
