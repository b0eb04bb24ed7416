//! [`ManagementStore`] on SQLite: cancel and resume.

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::rules::children::Descendants;
use dbos_storage_core::rules::management::{distinct, ensure_all_exist, in_order_of, resume_queue};
use dbos_storage_core::{validate, CancelOptions, ManagementStore, Result, ResumeOptions};
use rusqlite::Transaction;

use super::{json_array, now_ms, select_ids, SqliteStore, ID_CHUNK};
use crate::error::{classify, with_backend};
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
    Ok(in_order_of(ids, changed))
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
                let mut changed = Vec::new();
                let mut walk = Descendants::new(ids);
                while !walk.level().is_empty() {
                    let level = walk.level();
                    changed.extend(update_ids(tx, sql::CANCEL_WORKFLOWS, level, &[&now])?);
                    if !cancel_children {
                        break;
                    }
                    let children = select_ids(tx, sql::SELECT_CHILDREN, level)?;
                    walk.descend(children);
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
        let queue = resume_queue(options)?;
        let changed = self
            .conns()
            .write(move |tx| {
                let existing: HashSet<String> = select_ids(tx, sql::SELECT_EXISTING_IDS, &ids)?
                    .into_iter()
                    .collect();
                ensure_all_exist(&ids, |id| existing.contains(id)).map_err(with_backend)?;
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
