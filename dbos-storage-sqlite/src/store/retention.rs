//! Deleting workflows and retention on SQLite: delete (with children), maintenance leases held
//! as rows of `queues`, collectable workflows, fenced batch deletes and the orphan sweep.

use std::collections::HashSet;

use dbos_storage_core::management::{
    lease_lost, validate_collection_window, validate_sweep_window, LEASE_APPLICATION,
};
use dbos_storage_core::{
    validate, CollectableWindow, CreationPosition, DeleteOptions, Lease, LeaseState, OrphanSweep,
    OrphanSweepWindow, Result, RetentionPolicy,
};
use dbos_storage_driver_kit::decisions::cancel_resume::{distinct, in_order_of};
use dbos_storage_driver_kit::decisions::child_starts::Descendants;
use dbos_storage_driver_kit::decisions::collection_windows::window_of;
use rusqlite::{named_params, params, Transaction};

use super::{get_i64, json_array, now_ms, select_ids, Cached, SqliteStore, ID_CHUNK};
use crate::error::{classify, with_backend};
use crate::sql;
use crate::sql::forks::DELETE_WORKFLOW_ROWS;
use crate::sql::retention as q;

/// Deletes every row of `ids` in `tx`: payloads and steps, messages, events, event history,
/// streams, then the status rows.
pub(super) fn delete_rows(tx: &Transaction<'_>, ids: &[String]) -> Result<()> {
    for chunk in ids.chunks(ID_CHUNK) {
        let json = json_array(chunk)?;
        for statement in DELETE_WORKFLOW_ROWS {
            tx.prepare_cached(statement)
                .and_then(|mut s| s.execute([&json]))
                .map_err(classify)?;
        }
    }
    Ok(())
}

/// The ids of `ids` that have a status row, in the order of `ids`.
fn existing(tx: &Transaction<'_>, ids: &[String]) -> Result<Vec<String>> {
    let found: HashSet<String> = select_ids(tx, sql::SELECT_EXISTING_IDS, ids)?
        .into_iter()
        .collect();
    Ok(in_order_of(ids, found))
}

/// Deletes workflows (and, with `delete_children`, their descendants) in one transaction.
pub(super) async fn delete_workflows(
    store: &SqliteStore,
    workflow_ids: &[String],
    options: DeleteOptions,
) -> Result<Vec<String>> {
    validate::workflow_ids(workflow_ids)?;
    if workflow_ids.is_empty() {
        return Ok(Vec::new());
    }
    let roots = distinct(workflow_ids);
    store
        .conns()
        .write(move |tx| delete_workflows_tx(tx, roots, options))
        .await
}

/// Deletes the distinct `roots` (and, with `delete_children`, their descendants) in `tx`;
/// returns the ids that existed.
pub(super) fn delete_workflows_tx(
    tx: &Transaction<'_>,
    roots: Vec<String>,
    options: DeleteOptions,
) -> Result<Vec<String>> {
    let mut all = roots.clone();
    if options.delete_children {
        let mut walk = Descendants::new(roots);
        while !walk.level().is_empty() {
            let children = select_ids(tx, sql::SELECT_CHILDREN, walk.level())?;
            walk.descend(children);
        }
        all.extend(walk.into_found());
    }
    let deleted = existing(tx, &all)?;
    delete_rows(tx, &all)?;
    Ok(deleted)
}

/// Takes or renews `lease` at `now` in `tx` (the conditional upsert), and reads who holds it.
fn take_lease(tx: &Transaction<'_>, lease: &Lease, now: i64) -> Result<LeaseState> {
    let row_name = lease.row_name();
    let row_id = lease.row_id();
    tx.execute_cached(
        q::TAKE_LEASE,
        named_params! {
            ":row_id": row_id,
            ":row_name": row_name,
            ":lease_application": LEASE_APPLICATION,
            ":now": now,
            ":expires_at": now.saturating_add(lease.ttl_ms()),
        },
    )
    .map_err(classify)?;
    let (holder, expires_at) = tx
        .query_row_cached(q::SELECT_LEASE, [&row_name], |r| {
            Ok((r.get::<_, String>(0)?, get_i64(r, 1)?.unwrap_or(0)))
        })
        .map_err(classify)?;
    Ok(LeaseState::new(
        holder == row_id,
        Lease::holder_of(&row_name, &holder),
        expires_at,
    ))
}

/// Renews `lease` inside a fenced write; fails (rolling the write back) when another holder has
/// it.
fn fence(tx: &Transaction<'_>, lease: &Lease) -> Result<()> {
    let now = now_ms(tx)?;
    if take_lease(tx, lease, now)?.acquired {
        Ok(())
    } else {
        Err(with_backend(lease_lost(lease)))
    }
}

/// Takes or renews a lease.
pub(super) async fn acquire_lease(store: &SqliteStore, lease: &Lease) -> Result<LeaseState> {
    lease.validate()?;
    let lease = lease.clone();
    store
        .conns()
        .write(move |tx| {
            let now = now_ms(tx)?;
            take_lease(tx, &lease, now)
        })
        .await
}

/// Gives a lease up if its holder has it.
pub(super) async fn release_lease(store: &SqliteStore, lease: &Lease) -> Result<bool> {
    lease.validate()?;
    let (row_name, row_id) = (lease.row_name(), lease.row_id());
    store
        .conns()
        .write(move |tx| {
            let deleted = tx
                .execute_cached(q::RELEASE_LEASE, [&row_name, &row_id])
                .map_err(classify)?;
            Ok(deleted > 0)
        })
        .await
}

/// Reads one window of the walk over workflows in creation order and the first workflow after
/// it (see
/// [`ManagementStore::collectable_workflows`](dbos_storage_core::ManagementStore::collectable_workflows)).
pub(super) async fn collectable_workflows(
    store: &SqliteStore,
    policy: RetentionPolicy,
    from: Option<&CreationPosition>,
    limit: u32,
) -> Result<CollectableWindow> {
    policy.validate()?;
    validate_collection_window(from, limit)?;
    let keep_newest = policy
        .keep_newest
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    // The first window starts before every position: i64::MIN and '', which sorts first.
    let (from_created_at, from_id) = from.map_or((i64::MIN, String::new()), |p| {
        (p.created_at, p.workflow_id.clone())
    });
    let walked = store
        .conns()
        .read(move |tx| {
            let mut stmt = tx
                .prepare_cached(q::COLLECTABLE_WORKFLOWS)
                .map_err(classify)?;
            let rows = stmt
                .query_map(
                    named_params! {
                        ":completed_before": policy.completed_before,
                        ":keep_newest": keep_newest,
                        ":limit": i64::from(limit),
                        ":from_created_at": from_created_at,
                        ":from_id": from_id,
                    },
                    |r| {
                        Ok((
                            CreationPosition::new(r.get::<_, i64>(0)?, r.get::<_, String>(1)?),
                            r.get::<_, bool>(2)?,
                        ))
                    },
                )
                .map_err(classify)?;
            rows.map(|r| r.map_err(classify))
                .collect::<Result<Vec<_>>>()
        })
        .await?;
    Ok(window_of(walked, limit))
}

/// Deletes those of `workflow_ids` that are still finished, fenced by `lease`.
pub(super) async fn delete_collected(
    store: &SqliteStore,
    lease: &Lease,
    workflow_ids: &[String],
) -> Result<Vec<String>> {
    lease.validate()?;
    validate::workflow_ids(workflow_ids)?;
    let lease = lease.clone();
    let ids = distinct(workflow_ids);
    store
        .conns()
        .write(move |tx| {
            fence(tx, &lease)?;
            let finished: HashSet<String> = select_ids(tx, q::SELECT_TERMINAL_IDS, &ids)?
                .into_iter()
                .collect();
            let deleted = in_order_of(&ids, finished);
            delete_rows(tx, &deleted)?;
            Ok(deleted)
        })
        .await
}

/// Deletes the orphaned rows of one sweep window of each payload table, fenced by `lease`
/// (see [`ManagementStore::sweep_orphans`](dbos_storage_core::ManagementStore::sweep_orphans)).
pub(super) async fn sweep_orphans(
    store: &SqliteStore,
    lease: &Lease,
    from: Option<&str>,
    limit: u32,
) -> Result<OrphanSweepWindow> {
    lease.validate()?;
    validate_sweep_window(from, limit)?;
    let lease = lease.clone();
    // '' sorts first: the first window starts at the first id.
    let from = from.unwrap_or_default().to_owned();
    store
        .conns()
        .write(move |tx| {
            fence(tx, &lease)?;
            let limit = i64::from(limit);
            let end: Option<String> = tx
                .prepare_cached(q::SWEEP_WINDOW_END)
                .and_then(|mut s| s.query_row(params![from, limit], |row| row.get(0)))
                .map_err(classify)?;
            let mut counts = [0u64; 3];
            for (count, statement) in counts.iter_mut().zip([
                q::SWEEP_ORPHAN_INPUTS,
                q::SWEEP_ORPHAN_OUTPUTS,
                q::SWEEP_ORPHAN_STEPS,
            ]) {
                *count = tx
                    .prepare_cached(statement)
                    .and_then(|mut s| s.execute(params![from, limit, end]))
                    .map_err(classify)? as u64;
            }
            Ok(OrphanSweepWindow::new(
                OrphanSweep::new(counts[0], counts[1], counts[2]),
                end,
            ))
        })
        .await
}

#[cfg(test)]
mod tests {
    use rusqlite::{named_params, Connection, StatementStatus};

    use crate::sql::retention as q;

    /// A migrated database file holding 20,000 finished workflows, two per millisecond.
    fn walk_database(dir: &tempfile::TempDir) -> Connection {
        let path = dir.path().join("walk.sqlite");
        let mut conn = Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        crate::migrate::migrate(&tx, path.to_str().unwrap()).unwrap();
        tx.execute_batch(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
             INSERT INTO workflow_status
                 (workflow_uuid, status, name, created_at, updated_at, completed_at)
             SELECT printf('w%06d', n), 'SUCCESS', 'f', 1000 + n / 2, 1000 + n / 2,
                 1000 + n / 2
             FROM g;",
        )
        .unwrap();
        tx.commit().unwrap();
        conn
    }

    /// The rows and the plan of one window of 100 of the collection walk from
    /// (`from_created_at`, `from_id`): the VM steps the statement took (which grow with every
    /// row it visits) and the rows it returned.
    fn window_from(conn: &Connection, from_created_at: i64, from_id: &str) -> (i32, usize) {
        let mut stmt = conn.prepare(q::COLLECTABLE_WORKFLOWS).unwrap();
        let rows = stmt
            .query_map(
                named_params! {
                    ":completed_before": 1_000_000_i64,
                    ":keep_newest": None::<i64>,
                    ":limit": 100_i64,
                    ":from_created_at": from_created_at,
                    ":from_id": from_id,
                },
                |r| r.get::<_, String>(1),
            )
            .unwrap()
            .count();
        (stmt.get_status(StatementStatus::VmStep), rows)
    }

    /// The walk of collectable workflows seeks the creation-time index to the window's start
    /// (a range on `created_at`, ties sorted by id within the millisecond only), so a window
    /// deep in the table costs what the first one does: 20,000 workflows, never analyzed and
    /// then analyzed, each window of 100 by the plan SQLite chooses (`EXPLAIN QUERY PLAN`) and
    /// by the VM steps it took (`sqlite3_stmt_status`), no timings.
    #[test]
    fn the_collection_walk_seeks_the_creation_time_index() {
        let dir = tempfile::tempdir().unwrap();
        let conn = walk_database(&dir);
        for analyzed in [false, true] {
            if analyzed {
                conn.execute_batch("ANALYZE").unwrap();
            }
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", q::COLLECTABLE_WORKFLOWS))
                .unwrap();
            let mut rows = stmt.raw_query();
            let mut plan = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                plan.push(row.get::<_, String>(3).unwrap());
            }
            let plan = plan.join("\n");
            eprintln!("analyzed: {analyzed}: the plan of a window:\n{plan}");
            assert!(
                plan.contains(
                    "SEARCH ws USING INDEX workflow_status_created_at_index (created_at>?)"
                ),
                "analyzed: {analyzed}: the walk must seek the creation-time index:\n{plan}"
            );
            assert!(!plan.contains("SCAN ws"), "a scan of the table:\n{plan}");
            assert!(
                !plan.contains("USE TEMP B-TREE FOR ORDER BY"),
                "a sort of every row from the start:\n{plan}"
            );

            let (first, rows) = window_from(&conn, i64::MIN, "");
            assert_eq!(rows, 101);
            // w015001 shares its millisecond with w015000.
            let (deep, rows) = window_from(&conn, 8500, "w015001");
            assert_eq!(rows, 101);
            eprintln!("analyzed: {analyzed}: {first} VM steps from the start, {deep} from w015001");
            // A walk through the 15,000 rows before the start would take over 100 times more.
            assert!(
                deep < 2 * first,
                "analyzed: {analyzed}: {deep} VM steps from w015001, {first} from the start"
            );
        }
    }
}
