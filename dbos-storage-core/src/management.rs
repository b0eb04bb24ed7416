//! The management area: [`ManagementStore`], the operator actions on workflows (cancel, resume,
//! fork, rewind, delete, attributes, retention leases and batches, orphan sweeps, export and
//! import, metrics, application renames), and their plain data.
//!
//! Garbage collection across the system and the application database is orchestrated above the
//! stores, by the `dbos-storage` crate.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::{validate, EpochMs, Error, ExportedWorkflow, ImportOptions, Result, WorkflowStatus};

mod collection;

pub use collection::{validate_collection_window, CollectableWindow, CreationPosition};

/// Where a fork or a rewind starts: the first step that runs again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForkStart {
    /// Step number `n` (1-based): steps `< n` are kept and replayed, step `n` and later run again.
    /// `Step(1)` keeps nothing.
    Step(i32),
    /// The highest-numbered step that recorded an error. Fails with
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) when no step failed.
    LastFailure,
    /// The lowest-numbered step with this function name. Fails with
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) when there is none.
    NamedStep(String),
}

impl ForkStart {
    /// Checks the step number or name.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a step number below 1 or an empty or
    /// NUL-containing name.
    pub fn validate(&self) -> Result<()> {
        match self {
            ForkStart::Step(n) if *n < 1 => Err(Error::invalid_input(format!(
                "a fork or rewind starts at step 1 or later, not {n}"
            ))),
            ForkStart::NamedStep(name) => validate::name("step name", name),
            _ => Ok(()),
        }
    }

    /// Resolves the start step against a workflow's recorded steps (`(function_id,
    /// function_name, failed)` in any order).
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) when the workflow has no failed step
    /// ([`ForkStart::LastFailure`]) or no step of that name ([`ForkStart::NamedStep`]).
    pub fn resolve<'a>(
        &self,
        workflow_id: &str,
        steps: impl IntoIterator<Item = (i32, &'a str, bool)>,
    ) -> Result<i32> {
        match self {
            ForkStart::Step(n) => Ok(*n),
            ForkStart::LastFailure => steps
                .into_iter()
                .filter(|(_, _, failed)| *failed)
                .map(|(id, _, _)| id)
                .max()
                .ok_or_else(|| {
                    Error::invalid_input(format!(
                        "workflow {workflow_id} has no failed step to fork from"
                    ))
                }),
            ForkStart::NamedStep(wanted) => steps
                .into_iter()
                .filter(|(_, name, _)| name == wanted)
                .map(|(id, _, _)| id)
                .min()
                .ok_or_else(|| {
                    Error::invalid_input(format!(
                        "workflow {workflow_id} has no step named {wanted:?} to fork from"
                    ))
                }),
        }
    }
}

/// One fork of [`crate::ManagementStore::fork_workflows`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForkRequest {
    /// The workflow to fork.
    pub source_workflow_id: String,
    /// The new workflow's id; generated (a UUID) when `None`.
    pub fork_workflow_id: Option<String>,
    /// The first step that runs again.
    pub start: ForkStart,
    /// The version that must run the fork (default: the source's).
    pub application_version: Option<String>,
    /// The queue to enqueue the fork on (default: the internal queue).
    pub queue_name: Option<String>,
    /// The fork's partition key.
    pub queue_partition_key: Option<String>,
    /// Child workflow ids to rewrite in the copied steps (`old → new`).
    pub replacement_children: BTreeMap<String, String>,
    /// The fork's timeout (default: the source's).
    pub workflow_timeout_ms: Option<i64>,
    /// The caller's application: owner of the fork when the source is unclaimed.
    pub application_name: Option<String>,
}

impl ForkRequest {
    /// A fork of `source_workflow_id` from `start`, with a generated id on the internal queue.
    pub fn new(source_workflow_id: impl Into<String>, start: ForkStart) -> Self {
        ForkRequest {
            source_workflow_id: source_workflow_id.into(),
            fork_workflow_id: None,
            start,
            application_version: None,
            queue_name: None,
            queue_partition_key: None,
            replacement_children: BTreeMap::new(),
            workflow_timeout_ms: None,
            application_name: None,
        }
    }

    /// Gives the fork this id.
    #[must_use]
    pub fn with_fork_id(mut self, id: impl Into<String>) -> Self {
        self.fork_workflow_id = Some(id.into());
        self
    }

    /// Runs the fork on this version.
    #[must_use]
    pub fn with_application_version(mut self, version: impl Into<String>) -> Self {
        self.application_version = Some(version.into());
        self
    }

    /// Enqueues the fork on this queue (and partition).
    #[must_use]
    pub fn on_queue(mut self, queue: impl Into<String>, partition: Option<String>) -> Self {
        self.queue_name = Some(queue.into());
        self.queue_partition_key = partition;
        self
    }

    /// Rewrites child `old` to `new` in the copied steps.
    #[must_use]
    pub fn replace_child(mut self, old: impl Into<String>, new: impl Into<String>) -> Self {
        self.replacement_children.insert(old.into(), new.into());
        self
    }

    /// Sets the fork's timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.workflow_timeout_ms = Some(crate::duration_ms(timeout));
        self
    }

    /// Sets the caller's application.
    #[must_use]
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Checks ids, names and the start.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the field.
    pub fn validate(&self) -> Result<()> {
        validate::workflow_id(&self.source_workflow_id)?;
        if let Some(id) = &self.fork_workflow_id {
            validate::workflow_id(id)?;
        }
        self.start.validate()?;
        if let Some(q) = &self.queue_name {
            validate::name("queue name", q)?;
        }
        for (old, new) in &self.replacement_children {
            validate::workflow_id(old)?;
            validate::workflow_id(new)?;
        }
        if let Some(t) = self.workflow_timeout_ms {
            if t < 0 {
                return Err(Error::invalid_input("a fork's timeout cannot be negative"));
            }
        }
        Ok(())
    }
}

/// Checks a batch of forks and gives every fork without an id a generated one, so a retried
/// batch writes the same ids.
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid request, an empty batch, or
/// two forks with the same id.
pub fn prepare_forks(mut requests: Vec<ForkRequest>) -> Result<Vec<ForkRequest>> {
    if requests.is_empty() {
        return Err(Error::invalid_input(
            "fork_workflows needs at least one fork",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in &mut requests {
        r.validate()?;
        let id = r
            .fork_workflow_id
            .get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
        if !seen.insert(id.clone()) {
            return Err(Error::invalid_input(format!(
                "fork id {id} appears twice in one batch"
            )));
        }
    }
    Ok(requests)
}

/// A fork made by [`crate::ManagementStore::fork_workflows`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForkedWorkflow {
    /// The source.
    pub source_workflow_id: String,
    /// The fork.
    pub workflow_id: String,
    /// The resolved first step that runs again.
    pub start_step: i32,
}

impl ForkedWorkflow {
    /// A fork record.
    pub fn new(source: impl Into<String>, fork: impl Into<String>, start_step: i32) -> Self {
        ForkedWorkflow {
            source_workflow_id: source.into(),
            workflow_id: fork.into(),
            start_step,
        }
    }
}

/// The request of [`crate::ManagementStore::rewind_workflow`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewindRequest {
    /// The finished workflow to rewind (keeps its id).
    pub workflow_id: String,
    /// The first step that runs again.
    pub start: ForkStart,
    /// The version that must run it (default: unchanged).
    pub application_version: Option<String>,
    /// The queue to enqueue it on (default: the internal queue).
    pub queue_name: Option<String>,
    /// The partition key (default: cleared).
    pub queue_partition_key: Option<String>,
}

impl RewindRequest {
    /// Rewinds `workflow_id` to `start`, on the internal queue.
    pub fn new(workflow_id: impl Into<String>, start: ForkStart) -> Self {
        RewindRequest {
            workflow_id: workflow_id.into(),
            start,
            application_version: None,
            queue_name: None,
            queue_partition_key: None,
        }
    }

    /// Runs it on this version.
    #[must_use]
    pub fn with_application_version(mut self, version: impl Into<String>) -> Self {
        self.application_version = Some(version.into());
        self
    }

    /// Enqueues it on this queue (and partition).
    #[must_use]
    pub fn on_queue(mut self, queue: impl Into<String>, partition: Option<String>) -> Self {
        self.queue_name = Some(queue.into());
        self.queue_partition_key = partition;
        self
    }

    /// Checks the id, queue and start.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the field.
    pub fn validate(&self) -> Result<()> {
        validate::workflow_id(&self.workflow_id)?;
        if let Some(q) = &self.queue_name {
            validate::name("queue name", q)?;
        }
        self.start.validate()
    }
}

/// What [`crate::ManagementStore::rewind_workflow`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewoundWorkflow {
    /// The workflow.
    pub workflow_id: String,
    /// The resolved first step that runs again.
    pub start_step: i32,
    /// The status it had before.
    pub previous_status: WorkflowStatus,
}

impl RewoundWorkflow {
    /// A rewind record.
    pub fn new(workflow_id: impl Into<String>, start_step: i32, previous: WorkflowStatus) -> Self {
        RewoundWorkflow {
            workflow_id: workflow_id.into(),
            start_step,
            previous_status: previous,
        }
    }
}

/// Options of [`crate::ManagementStore::delete_workflows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeleteOptions {
    /// Also delete every descendant (through `parent_workflow_id`).
    pub delete_children: bool,
}

impl DeleteOptions {
    /// Also delete descendants.
    #[must_use]
    pub fn delete_children(mut self, yes: bool) -> Self {
        self.delete_children = yes;
        self
    }
}

/// How [`crate::ManagementStore::update_workflow_attributes`] combines the new map with the old.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AttributeUpdate {
    /// The new map replaces the old one.
    #[default]
    Replace,
    /// Top-level keys of the new map overwrite or add to the old map (PostgreSQL `jsonb ||`);
    /// other keys stay.
    Merge,
    /// The attributes are cleared back to "unset": the column holds JSON `null`, as DBOS writes
    /// it for a workflow without attributes (and for `update_workflow_attributes(id, None)`), and
    /// reads back as no map. Takes an empty map.
    Clear,
}

impl AttributeUpdate {
    /// Checks that `attributes` fits the mode: [`AttributeUpdate::Clear`] takes an empty map
    /// (a key given to a clear would silently be dropped).
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] for a clear given keys.
    pub fn validate(
        self,
        attributes: &serde_json::Map<String, serde_json::Value>,
    ) -> crate::Result<()> {
        if self == AttributeUpdate::Clear && !attributes.is_empty() {
            return Err(crate::Error::invalid_input(format!(
                "clearing attributes takes an empty map, but {} key(s) were given (first {:?}); \
                 replace the map to set keys",
                attributes.len(),
                attributes
                    .keys()
                    .next()
                    .map(String::as_str)
                    .unwrap_or_default()
            )));
        }
        Ok(())
    }
}

/// Which finished workflows retention may delete.
///
/// A workflow is collectable when its status is finished (`SUCCESS`, `ERROR`, `CANCELLED`,
/// `MAX_RECOVERY_ATTEMPTS_EXCEEDED` or any status this build does not know is *not* collectable)
/// and it matches at least one rule: it finished (`completed_at`, or `updated_at` for rows
/// written before DBOS stamped completion) before `completed_before`, or it is older
/// (`created_at`, then id) than the `keep_newest` newest workflows of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Finished before this time (epoch ms).
    pub completed_before: Option<EpochMs>,
    /// Keep the newest this-many workflows (by `created_at`, any status).
    pub keep_newest: Option<u64>,
}

impl RetentionPolicy {
    /// Collect workflows finished before `cutoff`.
    pub fn completed_before(cutoff: EpochMs) -> Self {
        RetentionPolicy {
            completed_before: Some(cutoff),
            keep_newest: None,
        }
    }

    /// Also (or only) keep at most `n` newest workflows.
    #[must_use]
    pub fn keep_newest(mut self, n: u64) -> Self {
        self.keep_newest = Some(n);
        self
    }

    /// Checks that at least one rule is set.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a policy without a rule.
    pub fn validate(&self) -> Result<()> {
        if self.completed_before.is_none() && self.keep_newest.is_none() {
            return Err(Error::invalid_input(
                "a retention policy needs a cutoff (completed_before) or a row count (keep_newest)",
            ));
        }
        Ok(())
    }
}

/// A named lease that lets one process at a time run a maintenance job (garbage collection) on
/// a database, without advisory locks.
///
/// The lease is a row the store keeps in the system schema, because the DBOS schema must stay
/// exactly DBOS's: on every backend a row of the `queues` registry with `name` =
/// [`Lease::row_name`], `queue_id` = [`Lease::row_id`] (naming the holder), `application_name` =
/// [`LEASE_APPLICATION`] and `updated_at` = the expiry (epoch ms, database clock). No listing
/// returns it. Holding the lease means that row names this holder and its expiry is in the
/// future; taking it is one conditional upsert (`ON CONFLICT (name) DO UPDATE … WHERE` the row
/// is this holder's or expired). Every fenced write renews it in its own transaction and fails
/// if another holder took it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The job, e.g. `"gc"`.
    pub name: String,
    /// This holder's token (unique per process or run; reuse it to resume after a crash).
    pub holder: String,
    /// How long the lease lasts without a renewal.
    pub ttl: Duration,
}

impl Lease {
    /// A lease named `name` held by `holder` for `ttl` at a time.
    pub fn new(name: impl Into<String>, holder: impl Into<String>, ttl: Duration) -> Self {
        Lease {
            name: name.into(),
            holder: holder.into(),
            ttl,
        }
    }

    /// The lease's time to live in milliseconds (at least 1).
    pub fn ttl_ms(&self) -> i64 {
        crate::duration_ms(self.ttl).max(1)
    }

    /// The `queues.name` of the row that holds this lease.
    pub fn row_name(&self) -> String {
        format!("{LEASE_PREFIX}{}", self.name)
    }

    /// The `queues.queue_id` of the row while this holder has it: `"{row_name}@{holder}"`
    /// (the holder is kept in the key column, the only free text column of `queues`).
    pub fn row_id(&self) -> String {
        format!("{}@{}", self.row_name(), self.holder)
    }

    /// The holder named by a lease row's `queue_id`.
    pub fn holder_of(row_name: &str, row_id: &str) -> String {
        row_id
            .strip_prefix(row_name)
            .and_then(|rest| rest.strip_prefix('@'))
            .unwrap_or(row_id)
            .to_owned()
    }

    /// Checks name, holder and ttl.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the field.
    pub fn validate(&self) -> Result<()> {
        validate::name("lease name", &self.name)?;
        validate::name("lease holder", &self.holder)?;
        if self.ttl.is_zero() {
            return Err(Error::invalid_input(
                "a lease needs a time to live above zero",
            ));
        }
        Ok(())
    }
}

/// The prefix of the `queues.name` of a lease row. It starts with
/// [`crate::queues::RESERVED_QUEUE_PREFIX`], so no user queue can take the name; `get_queue` and
/// `list_queues` never return lease rows.
pub const LEASE_PREFIX: &str = "_dbos_storage_lease:";

/// The reserved `application_name` of lease rows (no DBOS application has it, so no scoped
/// listing of DBOS or of this crate returns them).
pub const LEASE_APPLICATION: &str = "__dbos_storage__";

/// Whether a queue name is reserved for a lease row.
pub fn is_lease_row(queue_name: &str) -> bool {
    queue_name.starts_with(LEASE_PREFIX)
}

/// The state of a lease after [`crate::ManagementStore::acquire_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseState {
    /// Whether the caller holds it now.
    pub acquired: bool,
    /// Who holds it.
    pub holder: String,
    /// Until when (epoch ms, database clock where the backend has one).
    pub expires_at: EpochMs,
}

impl LeaseState {
    /// A lease state.
    pub fn new(acquired: bool, holder: impl Into<String>, expires_at: EpochMs) -> Self {
        LeaseState {
            acquired,
            holder: holder.into(),
            expires_at,
        }
    }
}

/// The error a fenced write returns when the lease is not (or no longer) held by the caller.
pub fn lease_lost(lease: &Lease) -> Error {
    Error::conflict(format!(
        "the {:?} lease is not held by {}: another process took it or it expired; \
         nothing was written",
        lease.name, lease.holder
    ))
}

/// How many rows of each payload table a sweep of orphans deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OrphanSweep {
    /// `workflow_input` rows.
    pub inputs: u64,
    /// `workflow_output` rows.
    pub outputs: u64,
    /// `operation_outputs` rows.
    pub steps: u64,
}

impl OrphanSweep {
    /// A sweep count.
    pub fn new(inputs: u64, outputs: u64, steps: u64) -> Self {
        OrphanSweep {
            inputs,
            outputs,
            steps,
        }
    }

    /// All rows deleted.
    pub fn total(&self) -> u64 {
        self.inputs + self.outputs + self.steps
    }
}

/// One window of [`crate::ManagementStore::sweep_orphans`]: what it deleted and where the next
/// window starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OrphanSweepWindow {
    /// The rows deleted in this window.
    pub deleted: OrphanSweep,
    /// The first workflow id of the next window, to pass as `from`; `None` when this window
    /// reached the end of every payload table.
    pub next_from: Option<String>,
}

impl OrphanSweepWindow {
    /// A window that deleted `deleted` and ends before `next_from` (`None`: at the end).
    pub fn new(deleted: OrphanSweep, next_from: Option<String>) -> Self {
        OrphanSweepWindow { deleted, next_from }
    }
}

/// Checks the window of [`crate::ManagementStore::sweep_orphans`]: `from` a NUL-free id of at
/// most [`validate::MAX_WORKFLOW_ID_BYTES`] bytes, `limit` at least 1.
///
/// # Errors
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the problem.
pub fn validate_sweep_window(from: Option<&str>, limit: u32) -> Result<()> {
    if let Some(from) = from {
        validate::bounded("sweep window start", from, validate::MAX_WORKFLOW_ID_BYTES)?;
    }
    if limit == 0 {
        return Err(Error::invalid_input(
            "a sweep window must cover at least 1 workflow id (limit is 0)",
        ));
    }
    Ok(())
}

/// The request of [`crate::ManagementStore::metrics`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsQuery {
    /// Start of the range (inclusive, epoch ms).
    pub start: EpochMs,
    /// End of the range (exclusive, epoch ms).
    pub end: EpochMs,
    /// Bucket width; one bucket for the whole range when `None`.
    pub bucket: Option<Duration>,
    /// Only this application's rows plus unclaimed rows.
    pub application_name: Option<String>,
}

impl MetricsQuery {
    /// Metrics over `[start, end)` in one bucket.
    pub fn new(start: EpochMs, end: EpochMs) -> Self {
        MetricsQuery {
            start,
            end,
            bucket: None,
            application_name: None,
        }
    }

    /// Splits the range into buckets of `width`.
    #[must_use]
    pub fn bucket(mut self, width: Duration) -> Self {
        self.bucket = Some(width);
        self
    }

    /// Scopes to an application.
    #[must_use]
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// The bucket width in ms (the whole range when unset).
    pub fn bucket_ms(&self) -> i64 {
        match self.bucket {
            Some(b) => crate::duration_ms(b).max(1),
            None => self.end.saturating_sub(self.start).max(1),
        }
    }

    /// The start of the bucket holding `t` (which must be in range).
    pub fn bucket_start(&self, t: EpochMs) -> EpochMs {
        let width = self.bucket_ms();
        let offset = t.saturating_sub(self.start).div_euclid(width);
        self.start.saturating_add(offset.saturating_mul(width))
    }

    /// Checks the range and bucket.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an empty range, a zero bucket, or a
    /// range of more than 100,000 buckets.
    pub fn validate(&self) -> Result<()> {
        if self.end <= self.start {
            return Err(Error::invalid_input(format!(
                "a metrics range must end after it starts ({} .. {})",
                self.start, self.end
            )));
        }
        if let Some(b) = self.bucket {
            if b < Duration::from_millis(1) {
                return Err(Error::invalid_input(
                    "a metrics bucket must be at least 1 ms",
                ));
            }
            let buckets = self.end.saturating_sub(self.start) / self.bucket_ms();
            if buckets > 100_000 {
                return Err(Error::invalid_input(format!(
                    "{buckets} buckets is too many; widen the bucket (at most 100,000)"
                )));
            }
        }
        if let Some(a) = &self.application_name {
            validate::name("application name", a)?;
        }
        Ok(())
    }
}

/// Workflows created in one bucket with one name and status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct WorkflowCount {
    /// Bucket start (epoch ms).
    pub bucket_start: EpochMs,
    /// Workflow name.
    pub name: String,
    /// Status now.
    pub status: String,
    /// How many.
    pub count: u64,
}

impl WorkflowCount {
    /// A count.
    pub fn new(bucket_start: EpochMs, name: &str, status: &str, count: u64) -> Self {
        WorkflowCount {
            bucket_start,
            name: name.to_owned(),
            status: status.to_owned(),
            count,
        }
    }
}

/// Steps completed in one bucket with one function name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct StepCount {
    /// Bucket start (epoch ms).
    pub bucket_start: EpochMs,
    /// Step function name.
    pub function_name: String,
    /// How many completed.
    pub count: u64,
    /// How many of those recorded an error.
    pub errors: u64,
}

impl StepCount {
    /// A count.
    pub fn new(bucket_start: EpochMs, function_name: &str, count: u64, errors: u64) -> Self {
        StepCount {
            bucket_start,
            function_name: function_name.to_owned(),
            count,
            errors,
        }
    }
}

/// The result of [`crate::ManagementStore::metrics`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Workflows by creation bucket, name and status, sorted by those.
    pub workflows: Vec<WorkflowCount>,
    /// Steps by completion bucket and function name, sorted by those.
    pub steps: Vec<StepCount>,
}

impl Metrics {
    /// Metrics from counts (sorted here).
    pub fn new(mut workflows: Vec<WorkflowCount>, mut steps: Vec<StepCount>) -> Self {
        workflows.sort();
        steps.sort();
        Metrics { workflows, steps }
    }
}

/// The request of [`crate::ManagementStore::rename_application`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenameApplication {
    /// The application whose rows move; `None` moves unclaimed (NULL) rows.
    pub from: Option<String>,
    /// The new name.
    pub to: String,
    /// Finished workflows and steps move in batches of this many rows (default 10,000).
    pub batch_size: u32,
    /// Also claim unclaimed rows for `to`.
    pub adopt_unclaimed: bool,
}

impl RenameApplication {
    /// Moves `from`'s rows to `to` in batches of 10,000.
    pub fn new(from: Option<String>, to: impl Into<String>) -> Self {
        RenameApplication {
            from,
            to: to.into(),
            batch_size: 10_000,
            adopt_unclaimed: false,
        }
    }

    /// Sets the batch size.
    #[must_use]
    pub fn batch_size(mut self, n: u32) -> Self {
        self.batch_size = n;
        self
    }

    /// Also claims unclaimed rows.
    #[must_use]
    pub fn adopt_unclaimed(mut self, yes: bool) -> Self {
        self.adopt_unclaimed = yes;
        self
    }

    /// Checks names and batch size.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the field, or for renaming an
    /// application to itself.
    pub fn validate(&self) -> Result<()> {
        validate::name("application name", &self.to)?;
        if let Some(from) = &self.from {
            validate::name("application name", from)?;
            if from == &self.to && !self.adopt_unclaimed {
                return Err(Error::invalid_input(format!(
                    "application {from} would be renamed to itself"
                )));
            }
        }
        if self.to == LEASE_APPLICATION || self.from.as_deref() == Some(LEASE_APPLICATION) {
            return Err(Error::invalid_input(format!(
                "{LEASE_APPLICATION} is reserved for maintenance leases"
            )));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid_input(
                "a rename batch size must be at least 1",
            ));
        }
        Ok(())
    }
}

/// What [`crate::ManagementStore::rename_application`] moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RenameReport {
    /// Queue registry rows.
    pub queues: u64,
    /// Schedules.
    pub schedules: u64,
    /// Application versions.
    pub versions: u64,
    /// Workflows that were `ENQUEUED`, `PENDING` or `DELAYED`.
    pub active_workflows: u64,
    /// All other workflows.
    pub finished_workflows: u64,
    /// Step rows.
    pub steps: u64,
}

impl RenameReport {
    /// A report.
    pub fn new(
        queues: u64,
        schedules: u64,
        versions: u64,
        active_workflows: u64,
        finished_workflows: u64,
        steps: u64,
    ) -> Self {
        RenameReport {
            queues,
            schedules,
            versions,
            active_workflows,
            finished_workflows,
            steps,
        }
    }
}

/// Operator actions on workflows.
#[async_trait]
pub trait ManagementStore: Debug + Send + Sync + 'static {
    /// Cancels workflows: any status except `SUCCESS` and `ERROR` becomes `CANCELLED`, with
    /// `owner_xid`, `queue_name`, `deduplication_id` and `started_at_epoch_ms` cleared and
    /// `completed_at` stamped. Returns the ids that changed. Unknown ids are ignored.
    ///
    /// # Behavior
    /// With `cancel_children`, descendants are cancelled level by level.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    ///
    /// # Idempotency
    /// Idempotent: a cancelled workflow stays cancelled (a re-run returns no ids).
    async fn cancel_workflows(
        &self,
        workflow_ids: &[String],
        options: CancelOptions,
    ) -> Result<Vec<String>>;

    /// Resumes workflows: any status except `SUCCESS` and `ERROR` becomes `ENQUEUED` on the given
    /// queue (default the internal queue) with owner, deadline, deduplication id, start and
    /// completion times cleared and `recovery_attempts = 0`. Returns the ids that changed.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) naming the first unknown id; nothing is changed.
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid queue name
    /// ([`ResumeOptions::validate`]), even for an empty list of ids.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn resume_workflows(
        &self,
        workflow_ids: &[String],
        options: ResumeOptions,
    ) -> Result<Vec<String>>;

    /// Forks workflows: each fork is a new `ENQUEUED` workflow that replays the source's steps
    /// below its start step and runs the rest again. All forks commit together or none does.
    ///
    /// # Behavior
    /// - The fork copies the source's name, class, config, `application_id`, auth fields,
    ///   serialization, attributes and inputs; `forked_from` names the source, which gets
    ///   `was_forked_from = true`. It is enqueued on the given queue (default the internal
    ///   queue) and partition, at the given version (default the source's) with the given timeout
    ///   (default the source's) and no deadline, parent, owner or deduplication id. Its owner is
    ///   the source's application, or the request's when the source is unclaimed.
    /// - For a start step `k`, the steps below `k` are copied (child ids rewritten through
    ///   `replacement_children`), with the event history below `k`, the events rebuilt from that
    ///   history (each key's latest value) and the stream entries written below `k`.
    /// - [`ForkStart::LastFailure`] and [`ForkStart::NamedStep`] resolve against the source's
    ///   steps; the resolved step is returned.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) naming the first missing source;
    /// [`Conflict`](crate::ErrorKind::Conflict) when a fork id is already used by a workflow that
    /// is not a fork of the same source; [`InvalidInput`](crate::ErrorKind::InvalidInput) for an
    /// invalid request ([`crate::management::prepare_forks`]) or a start that does not resolve.
    /// Nothing is written on error.
    ///
    /// # Idempotency
    /// Idempotent once every fork has an id ([`RetryingStore`](crate::RetryingStore) assigns them
    /// before the first attempt): a fork id that exists as a fork of the same source counts as
    /// made and is not copied again.
    async fn fork_workflows(&self, requests: Vec<ForkRequest>) -> Result<Vec<ForkedWorkflow>>;

    /// Rewinds a finished workflow in place: it keeps its id, forgets everything from the start
    /// step on, and is enqueued to run again from there.
    ///
    /// # Behavior
    /// Deletes the steps and event history at or after the start step, the events published at
    /// or after it (each key's latest earlier value is restored from the history), the stream
    /// close markers written at or after it (other entries stay), the messages consumed at or
    /// after it and every unconsumed message, and the output. Then the workflow becomes
    /// `ENQUEUED` on the given queue (default the internal queue) with owner, deadline,
    /// deduplication id, start and completion times cleared and `recovery_attempts = 0`, guarded
    /// by its old status.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown id;
    /// [`Conflict`](crate::ErrorKind::Conflict) for a workflow that is not finished (or changed
    /// status while being rewound); [`InvalidInput`](crate::ErrorKind::InvalidInput) for a start
    /// that does not resolve. Nothing is changed on error.
    ///
    /// # Idempotency
    /// Not idempotent: a re-run after an ambiguous commit finds the workflow `ENQUEUED` and fails
    /// with `Conflict`; read the workflow to learn whether the first attempt applied.
    async fn rewind_workflow(&self, request: RewindRequest) -> Result<RewoundWorkflow>;

    /// Deletes workflows with every row that belongs to them: inputs, outputs and steps
    /// explicitly (they have no foreign key), then the status row (messages, events, event
    /// history and streams cascade). No status guard: running workflows are deleted too. Returns
    /// the ids deleted; unknown ids are ignored.
    ///
    /// # Behavior
    /// With `delete_children`, every descendant (through `parent_workflow_id`) goes too.
    ///
    /// # Errors
    /// Only the transient kinds and invalid ids.
    ///
    /// # Idempotency
    /// Idempotent: a re-run deletes nothing more (so after an ambiguous commit re-run by
    /// [`RetryingStore`](crate::RetryingStore) the returned list may be empty even though the
    /// workflows are gone).
    async fn delete_workflows(
        &self,
        workflow_ids: &[String],
        options: DeleteOptions,
    ) -> Result<Vec<String>>;

    /// Replaces, merges or clears a workflow's attribute map and returns the map now stored.
    ///
    /// # Behavior
    /// [`AttributeUpdate::Merge`] overwrites and adds top-level keys and keeps the others; a
    /// workflow without attributes (SQL NULL or JSON `null`) merges into an empty map.
    /// [`AttributeUpdate::Clear`] stores JSON `null` (DBOS's "unset"; get and list then report no
    /// map) and returns an empty map.
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown id;
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for keys or values with a NUL byte, and
    /// for a clear given keys ([`AttributeUpdate::validate`]).
    ///
    /// # Idempotency
    /// Idempotent.
    async fn update_workflow_attributes(
        &self,
        workflow_id: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
        mode: AttributeUpdate,
    ) -> Result<serde_json::Map<String, serde_json::Value>>;

    /// Takes or renews a maintenance lease: granted when nobody holds it, when it expired, or
    /// when `lease.holder` holds it already (the expiry moves to now + ttl). Otherwise returns the
    /// current holder with `acquired = false`.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid lease.
    ///
    /// # Idempotency
    /// Idempotent for the same holder.
    async fn acquire_lease(&self, lease: &Lease) -> Result<LeaseState>;

    /// Gives a lease up if `lease.holder` holds it; returns whether it did.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn release_lease(&self, lease: &Lease) -> Result<bool>;

    /// Reads one window of workflows in creation order and lists those that `policy` lets
    /// retention delete, so that a collector walks a table of any size in reads of bounded
    /// size.
    ///
    /// # Behavior
    /// - Workflows are ordered by their [`CreationPosition`] `(created_at, workflow_id)`: ties on
    ///   `created_at` are ordered by id, in the store's order of ids (its collation).
    /// - The window starts at `from` (inclusive; at the oldest workflow when `None`) and holds
    ///   the first `limit` workflows from there, of any status. The result lists the window's
    ///   collectable workflows, oldest first, and `next_from`, the position of the first
    ///   workflow after the window (`None` when the window reached the newest workflow). So
    ///   each call reads about `limit` entries of the creation-time index (plus those of the
    ///   workflows created in `from`'s millisecond before it), however many rows the table
    ///   holds or earlier windows deleted. A window may list no workflow and still have a
    ///   `next_from`.
    /// - A workflow is collectable when it is finished (`SUCCESS`, `ERROR`, `CANCELLED`,
    ///   `MAX_RECOVERY_ATTEMPTS_EXCEEDED`) and either finished before the policy's cutoff or is
    ///   not among the policy's `keep_newest` newest workflows of the table (any status
    ///   counts), both judged when the window is read. A `PENDING`, `ENQUEUED` or `DELAYED`
    ///   workflow, or one in a status this build does not know, is never listed.
    /// - A walk, from `None` passing each `next_from` on until it is `None`, lists every
    ///   workflow that is collectable when its window is read exactly once, in creation order.
    ///   A workflow whose position is behind the walk's (one that finishes after its window
    ///   was read, or is imported with an older `created_at`) is left for the next walk; one
    ///   deleted meanwhile is not listed; `from` need not name an existing workflow.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a policy without a rule, a `limit`
    /// of 0, or a `from` whose id is too long or holds a NUL byte
    /// ([`validate_collection_window`]).
    ///
    /// # Idempotency
    /// A read: a window read again lists the same workflows while the table does not change.
    async fn collectable_workflows(
        &self,
        policy: RetentionPolicy,
        from: Option<&CreationPosition>,
        limit: u32,
    ) -> Result<CollectableWindow>;

    /// Deletes collected workflows as [`ManagementStore::delete_workflows`] does, fenced by a
    /// lease: in one transaction it renews `lease` (failing if another holder has it) and deletes
    /// those of `workflow_ids` that are still finished (a workflow resumed meanwhile stays).
    /// Returns the ids deleted.
    ///
    /// A driver may commit this transaction without waiting for the disk (PostgreSQL does, so
    /// that no batch holds its row locks for a flush): after a server crash the last
    /// fraction of a second of deleted workflows may be back, still finished, and the next
    /// collection deletes them again. Nothing else is lost or undone.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) ([`crate::management::lease_lost`]) when the
    /// lease is not held by `lease.holder`; nothing is deleted.
    ///
    /// # Idempotency
    /// Idempotent for the same holder.
    async fn delete_collected(&self, lease: &Lease, workflow_ids: &[String])
        -> Result<Vec<String>>;

    /// Deletes the rows of the payload tables (`workflow_input`, `workflow_output`,
    /// `operation_outputs`, which have no foreign key) whose workflow's status row is gone, one
    /// window of workflow ids at a time, fenced by `lease` as
    /// [`ManagementStore::delete_collected`] is.
    ///
    /// The window starts at workflow id `from` (inclusive; the first id when `None`) and holds
    /// at most `limit` distinct workflow ids of each payload table, in the store's order of ids
    /// (its collation): it ends before the id at which the first table passes `limit`. So each
    /// call reads about `limit` index entries of each table, whatever the tables hold. The
    /// result says what was deleted and where the next window starts; sweeping from `None`
    /// until `next_from` is `None` visits every id present when its window was swept. Like
    /// [`ManagementStore::delete_collected`], a driver may commit it without waiting for the
    /// disk; orphans a crash brings back are swept again.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) when the lease is not held; nothing is deleted.
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a `limit` of 0 or an invalid `from`
    /// ([`validate_sweep_window`]).
    ///
    /// # Idempotency
    /// Idempotent: a window swept again deletes nothing more.
    async fn sweep_orphans(
        &self,
        lease: &Lease,
        from: Option<&str>,
        limit: u32,
    ) -> Result<OrphanSweepWindow>;

    /// Exports workflows with every row that belongs to them (see [`crate::export`]), in the
    /// order given, each followed by its descendants when `include_children` is set (each
    /// workflow once).
    ///
    /// # Errors
    /// [`NotFound`](crate::ErrorKind::NotFound) naming the first unknown id.
    async fn export_workflows(
        &self,
        workflow_ids: &[String],
        include_children: bool,
    ) -> Result<Vec<ExportedWorkflow>>;

    /// Imports exported workflows in one transaction, writing every row exactly as exported
    /// (`owner_xid` stays NULL). Returns the ids imported.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) naming the first id that exists already (unless
    /// `replace_existing`); [`InvalidInput`](crate::ErrorKind::InvalidInput) for rows that break
    /// the input rules or an id imported twice. Nothing is written on error.
    ///
    /// # Idempotency
    /// Idempotent with `replace_existing`; otherwise a re-run fails with `Conflict`.
    async fn import_workflows(
        &self,
        workflows: Vec<ExportedWorkflow>,
        options: ImportOptions,
    ) -> Result<Vec<String>>;

    /// Counts workflows created in the range per time bucket, name and status, and steps
    /// completed in the range per bucket and function name (with how many failed).
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an empty range or a bad bucket.
    async fn metrics(&self, query: MetricsQuery) -> Result<Metrics>;

    /// Moves an application's rows to a new name: queues, schedules, versions and in-flight
    /// workflows in one transaction, then finished workflows and step rows in key-range batches
    /// of `batch_size`. The renamed application must be stopped.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) when `to` already has a version of the same name
    /// as one that would move; nothing moves.
    ///
    /// # Idempotency
    /// Idempotent: a re-run (also after an interruption between batches) finishes the move; its
    /// report counts only what that run moved.
    async fn rename_application(&self, request: RenameApplication) -> Result<RenameReport>;
}

/// Options of [`crate::ManagementStore::cancel_workflows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CancelOptions {
    /// Also cancel every descendant, level by level.
    pub cancel_children: bool,
}

setters!(CancelOptions {
    /// Also cancel descendants.
    cancel_children: bool => cancel_children = |v| v;
});

/// Options of [`crate::ManagementStore::resume_workflows`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResumeOptions {
    /// The queue to enqueue on; defaults to the internal queue `_dbos_internal_queue`.
    pub queue_name: Option<String>,
}

setters!(ResumeOptions {
    /// The queue to enqueue on.
    queue_name: impl Into<String> => queue_name = |v: _| Some(Into::into(v));
});

impl ResumeOptions {
    /// Checks the queue: a queue name like any other (non-empty, at most
    /// [`validate::MAX_NAME_BYTES`], no NUL byte), since the resumed rows store it in their
    /// indexed `queue_name`.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the queue name and the rule.
    pub fn validate(&self) -> Result<()> {
        match &self.queue_name {
            Some(queue) => validate::name("queue name", queue),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_start_resolves_against_steps() {
        let steps = [
            (1, "a", false),
            (2, "b", true),
            (3, "b", false),
            (4, "c", true),
        ];
        assert_eq!(ForkStart::Step(3).resolve("w", steps).unwrap(), 3);
        assert_eq!(ForkStart::LastFailure.resolve("w", steps).unwrap(), 4);
        assert_eq!(
            ForkStart::NamedStep("b".into())
                .resolve("w", steps)
                .unwrap(),
            2
        );
        let e = ForkStart::LastFailure
            .resolve("w", [(1, "a", false)])
            .unwrap_err();
        assert!(e.message().contains("no failed step"), "{e}");
        let e = ForkStart::NamedStep("z".into())
            .resolve("w", steps)
            .unwrap_err();
        assert!(e.message().contains("no step named \"z\""), "{e}");
        assert!(ForkStart::Step(0).validate().is_err());
    }

    #[test]
    fn prepared_forks_get_ids_once_and_reject_duplicates() {
        let forks = prepare_forks(vec![
            ForkRequest::new("a", ForkStart::Step(1)),
            ForkRequest::new("a", ForkStart::Step(2)),
        ])
        .unwrap();
        assert!(forks.iter().all(|f| f.fork_workflow_id.is_some()));
        assert_ne!(forks[0].fork_workflow_id, forks[1].fork_workflow_id);
        let e = prepare_forks(vec![
            ForkRequest::new("a", ForkStart::Step(1)).with_fork_id("x"),
            ForkRequest::new("b", ForkStart::Step(1)).with_fork_id("x"),
        ])
        .unwrap_err();
        assert!(e.message().contains("appears twice"), "{e}");
        assert!(prepare_forks(vec![]).is_err());
    }

    #[test]
    fn metrics_buckets_are_aligned_to_the_start() {
        let q = MetricsQuery::new(1_000, 10_000).bucket(Duration::from_millis(1_000));
        assert_eq!(q.bucket_start(1_000), 1_000);
        assert_eq!(q.bucket_start(2_999), 2_000);
        assert_eq!(MetricsQuery::new(1_000, 10_000).bucket_start(9_999), 1_000);
        assert!(MetricsQuery::new(5, 5).validate().is_err());
        let wide = MetricsQuery::new(i64::MIN, i64::MAX);
        assert!(wide.validate().is_ok());
        assert!(wide.bucket_start(0) <= 0);
        assert!(MetricsQuery::new(0, i64::MAX / 2)
            .bucket(Duration::from_millis(1))
            .validate()
            .is_err());
    }

    #[test]
    fn policies_and_leases_are_checked() {
        assert!(RetentionPolicy::default().validate().is_err());
        assert!(RetentionPolicy::completed_before(5).validate().is_ok());
        assert!(Lease::new("gc", "h", Duration::ZERO).validate().is_err());
        assert_eq!(
            Lease::new("gc", "h", Duration::from_secs(1)).row_name(),
            "_dbos_storage_lease:gc"
        );
        assert!(is_lease_row("_dbos_storage_lease:gc"));
        let l = Lease::new("gc", "h@1", Duration::from_secs(1));
        assert_eq!(Lease::holder_of(&l.row_name(), &l.row_id()), "h@1");
        assert!(RenameApplication::new(Some("a".into()), "a")
            .validate()
            .is_err());
        assert!(RenameApplication::new(None, LEASE_APPLICATION)
            .validate()
            .is_err());
    }
}
