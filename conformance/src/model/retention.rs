//! Maintenance leases, garbage collection, metrics and application renames of
//! [`MemoryStore`](super::MemoryStore).
//!
//! A lease is a row of the `queues` registry in every database backend; the model keeps those
//! rows in a map of their own (`State::leases`), which is what "no listing of the registry
//! returns them" amounts to.

use std::collections::{BTreeMap, BTreeSet};

use dbos_storage_core::{
    duration_ms, CollectableWindow, CreationPosition, EpochMs, Error, Lease, LeaseState, Metrics,
    MetricsQuery, OrphanSweep, OrphanSweepWindow, RenameApplication, RenameReport, Result,
    RetentionPolicy, StepCount, WorkflowCount, WorkflowStatus,
};

use super::statuses::StatusMeaning;
use super::{ours, State};

/// A maintenance lease (DBOS keeps it as a row of `queues`; the model as what it means): who
/// holds it and until when.
#[derive(Debug, Clone)]
pub(super) struct LeaseRow {
    holder: String,
    /// When the row was first written (kept across take-overs, as `created_at` is).
    #[allow(dead_code)]
    created_at: EpochMs,
    expires_at: EpochMs,
}

/// Whether an `application_name` is one `request` moves: `from`'s (or unclaimed ones when
/// `from` is `None`), and unclaimed ones with `adopt_unclaimed`; never one that is `to`
/// already (so that renaming `a` to `a` with `adopt_unclaimed` moves only unclaimed rows).
fn renamed(request: &RenameApplication, owner: Option<&str>) -> bool {
    owner != Some(request.to.as_str())
        && (owner == request.from.as_deref() || (request.adopt_unclaimed && owner.is_none()))
}

/// The start of the metrics bucket holding `t` (in the range): buckets of the query's width
/// (the whole range when it sets none) counted from the range's start.
fn bucket_start(query: &MetricsQuery, t: EpochMs) -> EpochMs {
    let width = match query.bucket {
        Some(bucket) => duration_ms(bucket).max(1),
        None => query.end.saturating_sub(query.start).max(1),
    };
    let buckets_before = t.saturating_sub(query.start).div_euclid(width);
    query
        .start
        .saturating_add(buckets_before.saturating_mul(width))
}

/// `COALESCE` of an owner for metrics scoping: the application's rows and unclaimed ones.
fn in_scope(owner: Option<&str>, application: Option<&str>) -> bool {
    application.is_none() || owner.is_none() || owner == application
}

impl State {
    /// The conditional take-over of [`ManagementStore::acquire_lease`]: insert, or renew for the
    /// same holder, or take over an expired lease.
    ///
    /// [`ManagementStore::acquire_lease`]: dbos_storage_core::ManagementStore::acquire_lease
    pub(super) fn acquire_lease(&mut self, lease: &Lease) -> LeaseState {
        let now = self.now();
        // A ttl below a millisecond still lasts one.
        let expiry = now.saturating_add(duration_ms(lease.ttl).max(1));
        let row = self
            .leases
            .entry(lease.name.clone())
            .or_insert_with(|| LeaseRow {
                holder: lease.holder.clone(),
                created_at: now,
                expires_at: expiry,
            });
        let acquired = row.holder == lease.holder || row.expires_at < now;
        if acquired {
            row.holder.clone_from(&lease.holder);
            row.expires_at = expiry;
        }
        LeaseState::new(acquired, row.holder.clone(), row.expires_at)
    }

    /// Deletes the lease row if `lease.holder` holds it.
    pub(super) fn release_lease(&mut self, lease: &Lease) -> bool {
        let held = self
            .leases
            .get(&lease.name)
            .is_some_and(|row| row.holder == lease.holder);
        if held {
            self.leases.remove(&lease.name);
        }
        held
    }

    /// The fence of every lease-guarded write: renews the lease in the same transaction, or
    /// fails with `Conflict` before anything is written.
    fn fence(&mut self, lease: &Lease) -> Result<()> {
        if self.acquire_lease(lease).acquired {
            Ok(())
        } else {
            Err(ours(Error::conflict(format!(
                "{} no longer holds the {:?} lease (taken over, or expired); nothing was written",
                lease.holder, lease.name
            ))))
        }
    }

    /// One window of [`ManagementStore::collectable_workflows`]: the first `limit` workflows
    /// (any status) at or after `from` in creation order, `(created_at, id)` with ids in byte
    /// order (the order of the test databases' ids), and among them the finished ones that
    /// finished before the cutoff or are older than the `keep_newest` newest workflows.
    ///
    /// [`ManagementStore::collectable_workflows`]: dbos_storage_core::ManagementStore::collectable_workflows
    pub(super) fn collectable(
        &self,
        policy: RetentionPolicy,
        from: Option<&CreationPosition>,
        limit: u32,
    ) -> CollectableWindow {
        let mut by_age: Vec<(EpochMs, &String)> = self
            .workflows
            .values()
            .map(|row| (row.info.created_at, &row.info.workflow_id))
            .collect();
        by_age.sort();
        let kept: BTreeSet<&String> = match policy.keep_newest {
            Some(n) => by_age
                .iter()
                .rev()
                .take(usize::try_from(n).unwrap_or(usize::MAX))
                .map(|(_, id)| *id)
                .collect(),
            None => BTreeSet::new(),
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut walk = by_age.iter().filter(|(created_at, id)| {
            from.is_none_or(|from| {
                (*created_at, id.as_str()) >= (from.created_at, &from.workflow_id)
            })
        });
        let window: Vec<&(EpochMs, &String)> = walk.by_ref().take(limit).collect();
        let next_from = walk
            .next()
            .map(|(created_at, id)| CreationPosition::new(*created_at, (*id).clone()));
        let workflow_ids = window
            .into_iter()
            .filter(|(_, id)| {
                let Some(row) = self.workflow(id) else {
                    return false;
                };
                let info = &row.info;
                let finished = info.completed_at.unwrap_or(info.updated_at);
                let old = policy.completed_before.is_some_and(|cut| finished < cut);
                let surplus = policy.keep_newest.is_some() && !kept.contains(id);
                info.status.ended() && (old || surplus)
            })
            .map(|(_, id)| (*id).clone())
            .collect();
        CollectableWindow::new(workflow_ids, next_from)
    }

    /// The fenced delete of [`ManagementStore::delete_collected`]: only workflows still
    /// finished go.
    ///
    /// [`ManagementStore::delete_collected`]: dbos_storage_core::ManagementStore::delete_collected
    pub(super) fn delete_collected(
        &mut self,
        lease: &Lease,
        workflow_ids: &[String],
    ) -> Result<Vec<String>> {
        self.fence(lease)?;
        let mut deleted = Vec::new();
        for id in super::distinct(workflow_ids) {
            let finished = self
                .workflow(&id)
                .is_some_and(|row| row.info.status.ended());
            if finished && self.delete_workflow(&id) {
                deleted.push(id);
            }
        }
        Ok(deleted)
    }

    /// The fenced sweep of one window of [`ManagementStore::sweep_orphans`]: the window starts
    /// at `from` and ends before the id at which the first payload table passes `limit`
    /// distinct ids (byte order, the order of the test databases' ids); every payload row in it
    /// whose status row is gone goes.
    ///
    /// [`ManagementStore::sweep_orphans`]: dbos_storage_core::ManagementStore::sweep_orphans
    pub(super) fn sweep_orphans(
        &mut self,
        lease: &Lease,
        from: Option<&str>,
        limit: u32,
    ) -> Result<OrphanSweepWindow> {
        self.fence(lease)?;
        let from = from.unwrap_or_default().to_owned();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let ids_from = |ids: Vec<&String>| -> BTreeSet<String> {
            ids.into_iter().filter(|id| **id >= from).cloned().collect()
        };
        let tables = [
            ids_from(self.inputs.keys().collect()),
            ids_from(self.outputs.keys().collect()),
            ids_from(self.steps.keys().map(|(id, _)| id).collect()),
        ];
        let end = tables
            .iter()
            .filter_map(|ids| ids.iter().nth(limit).cloned())
            .min();
        let in_window = |id: &String| end.as_ref().is_none_or(|end| id < end);
        let orphaned = |ids: &BTreeSet<String>| -> Vec<String> {
            ids.iter()
                .filter(|id| in_window(id) && !self.workflows.contains_key(*id))
                .cloned()
                .collect()
        };
        let [inputs, outputs, steps] = tables.each_ref().map(orphaned);
        for id in &inputs {
            self.inputs.remove(id);
        }
        for id in &outputs {
            self.outputs.remove(id);
        }
        let before = self.steps.len();
        self.steps.retain(|(id, _), _| !steps.contains(id));
        Ok(OrphanSweepWindow::new(
            OrphanSweep::new(
                inputs.len() as u64,
                outputs.len() as u64,
                (before - self.steps.len()) as u64,
            ),
            end,
        ))
    }

    /// The counts of [`ManagementStore::metrics`]; `query` has been validated.
    ///
    /// [`ManagementStore::metrics`]: dbos_storage_core::ManagementStore::metrics
    pub(super) fn metrics(&self, query: &MetricsQuery) -> Metrics {
        let app = query.application_name.as_deref();
        let in_range = |t: EpochMs| query.start <= t && t < query.end;
        let mut workflows: BTreeMap<(EpochMs, String, String), u64> = BTreeMap::new();
        for row in self.workflows.values() {
            let info = &row.info;
            if in_range(info.created_at) && in_scope(info.application_name.as_deref(), app) {
                let key = (
                    bucket_start(query, info.created_at),
                    info.name.clone(),
                    info.status.as_str().to_owned(),
                );
                *workflows.entry(key).or_default() += 1;
            }
        }
        let mut steps: BTreeMap<(EpochMs, String), (u64, u64)> = BTreeMap::new();
        for row in self.steps.values() {
            let Some(done) = row.completed_at_epoch_ms.filter(|t| in_range(*t)) else {
                continue;
            };
            if !in_scope(row.application_name.as_deref(), app) {
                continue;
            }
            let entry = steps
                .entry((bucket_start(query, done), row.function_name.clone()))
                .or_default();
            entry.0 += 1;
            entry.1 += u64::from(row.error.is_some());
        }
        Metrics::new(
            workflows
                .into_iter()
                .map(|((bucket, name, status), n)| WorkflowCount::new(bucket, &name, &status, n))
                .collect(),
            steps
                .into_iter()
                .map(|((bucket, name), (n, errors))| StepCount::new(bucket, &name, n, errors))
                .collect(),
        )
    }

    /// The first transaction of [`ManagementStore::rename_application`]: the version check,
    /// then queues, schedules, versions and in-flight workflows.
    ///
    /// [`ManagementStore::rename_application`]: dbos_storage_core::ManagementStore::rename_application
    pub(super) fn rename_registries(
        &mut self,
        request: &RenameApplication,
    ) -> Result<RenameReport> {
        let to = request.to.as_str();
        let taken = self.versions.values().find(|moving| {
            renamed(request, moving.application_name.as_deref())
                && self.versions.values().any(|owned| {
                    owned.application_name.as_deref() == Some(to)
                        && owned.version_name == moving.version_name
                        && owned.version_id != moving.version_id
                })
        });
        if let Some(version) = taken {
            return Err(ours(Error::conflict(format!(
                "application {to} already has version {}",
                version.version_name
            ))));
        }
        let mut report = RenameReport::default();
        let owner = Some(to.to_owned());
        for queue in self.queues.values_mut() {
            if renamed(request, queue.application_name.as_deref()) {
                queue.application_name.clone_from(&owner);
                report.queues += 1;
            }
        }
        for schedule in self.schedules.values_mut() {
            if renamed(request, schedule.application_name.as_deref()) {
                schedule.application_name.clone_from(&owner);
                report.schedules += 1;
            }
        }
        for version in self.versions.values_mut() {
            if renamed(request, version.application_name.as_deref()) {
                version.application_name.clone_from(&owner);
                report.versions += 1;
            }
        }
        for row in self.workflows.values_mut() {
            let info = &mut row.info;
            let active = matches!(
                info.status,
                WorkflowStatus::Enqueued | WorkflowStatus::Pending | WorkflowStatus::Delayed
            );
            if active && renamed(request, info.application_name.as_deref()) {
                info.application_name.clone_from(&owner);
                report.active_workflows += 1;
            }
        }
        Ok(report)
    }

    /// One batch of finished workflows of a rename (by id, after the last id moved): moves up to
    /// `batch_size` and returns how many.
    pub(super) fn rename_finished_batch(&mut self, request: &RenameApplication) -> u64 {
        let batch: Vec<String> = self
            .workflows
            .values()
            .filter(|row| renamed(request, row.info.application_name.as_deref()))
            .take(request.batch_size as usize)
            .map(|row| row.info.workflow_id.clone())
            .collect();
        for id in &batch {
            if let Some(row) = self.workflows.get_mut(id) {
                row.info.application_name = Some(request.to.clone());
            }
        }
        batch.len() as u64
    }

    /// One batch of step rows of a rename: moves up to `batch_size` and returns how many.
    pub(super) fn rename_steps_batch(&mut self, request: &RenameApplication) -> u64 {
        let mut moved = 0;
        for row in self.steps.values_mut() {
            if moved == u64::from(request.batch_size) {
                break;
            }
            if renamed(request, row.application_name.as_deref()) {
                row.application_name = Some(request.to.clone());
                moved += 1;
            }
        }
        moved
    }
}
