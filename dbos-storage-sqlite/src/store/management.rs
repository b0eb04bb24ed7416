//! [`ManagementStore`] on SQLite: cancel and resume.

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::{
    validate, CancelOptions, Error, ManagementStore, Result, ResumeOptions, INTERNAL_QUEUE,
};
use rusqlite::Transaction;

use super::{json_array, now_ms, SqliteStore, ID_CHUNK};
use crate::error::{classify, BACKEND};
use crate::sql;

/// Runs `statement` (whose first parameter is a JSON array of ids and which returns the ids it
/// changed) over `ids` in chunks; returns the changed ids in the order of `ids`.
pub(super) fn update_ids(
    tx: &Transaction<'_>,
    statement: &str,
    ids: &[String],
    extra: &[&dyn rusqlite::ToSql],
) -> Result<Vec<String>> {
    let mut changed = HashSet::new();
    let mut stmt = tx.prepare_cached(statement).map_err(classify)?;
    for chunk in ids.chunks(ID_CHUNK) {
        let json = json_array(chunk)?;
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&json];
        params.extend_from_slice(extra);
        let rows = stmt
            .query_map(params.as_slice(), |r| r.get::<_, String>(0))
            .map_err(classify)?;
        for id in rows {
            changed.insert(id.map_err(classify)?);
        }
    }
    let mut out = Vec::with_capacity(changed.len());
    for id in ids {
        if changed.remove(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// The distinct ids of `ids`, in first-seen order.
pub(super) fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// The children of `parents`, oldest first.
fn children_of(tx: &Transaction<'_>, parents: &[String]) -> Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(sql::SELECT_CHILDREN).map_err(classify)?;
    let mut out = Vec::new();
    for chunk in parents.chunks(ID_CHUNK) {
        let rows = stmt
            .query_map([json_array(chunk)?], |r| r.get::<_, String>(0))
            .map_err(classify)?;
        for id in rows {
            out.push(id.map_err(classify)?);
        }
    }
    Ok(out)
}

#[async_trait]
impl ManagementStore for SqliteStore {
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>> {
        validate::workflow_ids(workflow_ids)?;
        if workflow_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let cancel_children = options.cancel_children;
        let changed = self
            .conns()
            .write(move |tx| {
                let now = now_ms(tx)?;
                let mut seen: HashSet<String> = ids.iter().cloned().collect();
                let mut changed = Vec::new();
                let mut level = ids;
                while !level.is_empty() {
                    changed.extend(update_ids(tx, sql::CANCEL_WORKFLOWS, &level, &[&now])?);
                    if !cancel_children {
                        break;
                    }
                    level = children_of(tx, &level)?
                        .into_iter()
                        .filter(|id| seen.insert(id.clone()))
                        .collect();
                }
                Ok(changed)
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
            return Ok(Vec::new());
        }
        let ids = distinct(workflow_ids);
        let queue = options
            .queue_name
            .unwrap_or_else(|| INTERNAL_QUEUE.to_owned());
        dbos_storage_core::payload::validate_text("queue name", &queue)?;
        let changed = self
            .conns()
            .write(move |tx| {
                let mut existing = HashSet::new();
                let mut stmt = tx
                    .prepare_cached(sql::SELECT_EXISTING_IDS)
                    .map_err(classify)?;
                for chunk in ids.chunks(ID_CHUNK) {
                    let rows = stmt
                        .query_map([json_array(chunk)?], |r| r.get::<_, String>(0))
                        .map_err(classify)?;
                    for id in rows {
                        existing.insert(id.map_err(classify)?);
                    }
                }
                drop(stmt);
                if let Some(missing) = ids.iter().find(|id| !existing.contains(*id)) {
                    return Err(Error::not_found(format!(
                        "workflow {missing} does not exist; nothing was resumed"
                    ))
                    .with_backend(BACKEND));
                }
                let now = now_ms(tx)?;
                update_ids(tx, sql::RESUME_WORKFLOWS, &ids, &[&queue, &now])
            })
            .await?;
        if !changed.is_empty() {
            self.wake().notify();
        }
        Ok(changed)
    }
}
