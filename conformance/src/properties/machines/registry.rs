//! The registry machine: the rows that describe an application rather than its workflows —
//! schedules (create, upsert, list with filters, get, pause, resume, record a firing, delete),
//! application versions (create, list, latest, promote by timestamp) and the queue registry
//! (upsert under both conflict policies, get, list, update, delete) — across three
//! applications, so that ownership rules and conflicts are exercised; and application renames,
//! which move all three kinds of rows (to a fourth application too).
//!
//! A schedule's id is derived from its name (`id-{name}`), so that two creates collide by name
//! only, as the contract specifies. A version's timestamp is the database clock at creation
//! (compared as "recent") or a promotion time an hour ahead (compared exactly, relative to the
//! case's start); promotion times of two versions never tie.

use std::fmt;

use dbos_storage_core::{
    ApplicationVersion, EpochMs, QueueConflictPolicy, QueueDefinition, QueueLimits, QueueUpdate,
    Schedule, ScheduleFilter, ScheduleStatus, SystemStore,
};
use proptest::prelude::*;

use super::harness::{observe, Machine, Observed};
use super::maintenance::{rename, Rename, APPLICATIONS};
use super::render::{lit, opt, At, HOUR_MS};
use crate::Factory;

/// Schedule names; `s_` and `s%` make the prefix filter's escaping matter.
const SCHEDULES: [&str; 3] = ["s0", "s_1", "s%2"];
const PREFIXES: [&str; 3] = ["s", "s_", "s%"];
const FUNCTIONS: [&str; 2] = ["f", "g"];
const CRONS: [&str; 2] = ["* * * * *", "0 * * * *"];
const FIRED: [&str; 2] = ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"];
const VERSIONS: [&str; 2] = ["v1", "v2"];
const QUEUES: [&str; 2] = ["q0", "q1"];
const APPS: [Option<&str>; 3] = [None, Some("a0"), Some("a1")];
/// The longest generated sequence.
const MAX_OPS: usize = 20;

/// A schedule as generated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScheduleSpec {
    name: usize,
    function: usize,
    cron: usize,
    app: usize,
    queue: Option<usize>,
    backfill: bool,
}

impl ScheduleSpec {
    fn build(self) -> Schedule {
        let name = SCHEDULES[self.name];
        let mut s = Schedule::new(name, FUNCTIONS[self.function], CRONS[self.cron], "null")
            .with_backfill(self.backfill);
        s.schedule_id = format!("id-{name}");
        if let Some(app) = APPS[self.app] {
            s = s.with_application_name(app);
        }
        if let Some(q) = self.queue {
            s = s.with_queue(QUEUES[q]);
        }
        s
    }

    fn render(self) -> String {
        let name = SCHEDULES[self.name];
        let mut text = format!(
            "{{ let mut s = Schedule::new({}, {}, {}, \"null\").with_backfill({})",
            lit(name),
            lit(FUNCTIONS[self.function]),
            lit(CRONS[self.cron]),
            self.backfill
        );
        if let Some(app) = APPS[self.app] {
            text += &format!(".with_application_name({})", lit(app));
        }
        if let Some(q) = self.queue {
            text += &format!(".with_queue({})", lit(QUEUES[q]));
        }
        text + &format!(
            "; s.schedule_id = {}.to_owned(); s }}",
            lit(&format!("id-{name}"))
        )
    }
}

/// The limits a registered queue may have, as Rust and as values.
const LIMITS: [&str; 3] = [
    "QueueLimits::new()",
    "QueueLimits::new().concurrency(2)",
    "QueueLimits::new().partition_concurrency(1)",
];

fn limits(index: usize) -> QueueLimits {
    match index {
        0 => QueueLimits::new(),
        1 => QueueLimits::new().concurrency(2),
        _ => QueueLimits::new().partition_concurrency(1),
    }
}

/// One generated operation; its `Debug` is the Rust call.
#[derive(Clone)]
pub(crate) enum Op {
    CreateSchedule(ScheduleSpec),
    UpsertSchedules(Vec<ScheduleSpec>),
    ListSchedules {
        paused: Option<bool>,
        function: Option<usize>,
        prefix: Option<usize>,
        app: usize,
    },
    GetSchedule(usize),
    Pause(usize),
    ResumeSchedule(usize),
    Fired {
        name: usize,
        at: usize,
    },
    DeleteSchedule(usize),
    CreateVersion {
        version: usize,
        app: usize,
    },
    ListVersions {
        app: usize,
    },
    LatestVersion {
        app: usize,
    },
    PromoteVersion {
        version: usize,
        at: At,
        app: usize,
    },
    UpsertQueue {
        queue: usize,
        limits: usize,
        app: usize,
        partitioned: bool,
        keep: bool,
    },
    GetQueue(usize),
    ListQueues {
        app: usize,
    },
    UpdateQueue {
        queue: usize,
        concurrency: Option<Option<u32>>,
        partition_concurrency: Option<Option<u32>>,
    },
    DeleteQueue(usize),
    Rename(Rename),
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateSchedule(s) => {
                write!(f, "let _ = store.create_schedule({}).await", s.render())
            }
            Op::UpsertSchedules(list) => {
                let items: Vec<String> = list.iter().map(|s| s.render()).collect();
                write!(
                    f,
                    "let _ = store.upsert_schedules(vec![{}]).await",
                    items.join(", ")
                )
            }
            Op::ListSchedules {
                paused,
                function,
                prefix,
                app,
            } => {
                write!(f, "let _ = store.list_schedules(ScheduleFilter::new()")?;
                if let Some(p) = paused {
                    let status = if *p { "Paused" } else { "Active" };
                    write!(f, ".status(ScheduleStatus::{status})")?;
                }
                if let Some(w) = function {
                    write!(f, ".workflow_name({})", lit(FUNCTIONS[*w]))?;
                }
                if let Some(p) = prefix {
                    write!(f, ".name_prefix({})", lit(PREFIXES[*p]))?;
                }
                if let Some(a) = APPS[*app] {
                    write!(f, ".application_name({})", lit(a))?;
                }
                write!(f, ").await")
            }
            Op::GetSchedule(n) => write!(
                f,
                "let _ = store.get_schedule({}).await",
                lit(SCHEDULES[*n])
            ),
            Op::Pause(n) => write!(
                f,
                "let _ = store.pause_schedule({}).await",
                lit(SCHEDULES[*n])
            ),
            Op::ResumeSchedule(n) => write!(
                f,
                "let _ = store.resume_schedule({}).await",
                lit(SCHEDULES[*n])
            ),
            Op::Fired { name, at } => write!(
                f,
                "let _ = store.record_schedule_fired({}, {}).await",
                lit(SCHEDULES[*name]),
                lit(FIRED[*at])
            ),
            Op::DeleteSchedule(n) => write!(
                f,
                "let _ = store.delete_schedule({}).await",
                lit(SCHEDULES[*n])
            ),
            Op::CreateVersion { version, app } => write!(
                f,
                "let _ = store.create_application_version({}, {}).await",
                lit(VERSIONS[*version]),
                opt(APPS[*app])
            ),
            Op::ListVersions { app } => write!(
                f,
                "let _ = store.list_application_versions({}).await",
                opt(APPS[*app])
            ),
            Op::LatestVersion { app } => write!(
                f,
                "let _ = store.latest_application_version({}).await",
                opt(APPS[*app])
            ),
            Op::PromoteVersion { version, at, app } => write!(
                f,
                "let _ = store.set_application_version_timestamp({}, {at:?}, {}).await",
                lit(VERSIONS[*version]),
                opt(APPS[*app])
            ),
            Op::UpsertQueue {
                queue,
                limits,
                app,
                partitioned,
                keep,
            } => {
                write!(
                    f,
                    "let _ = store.upsert_queue(QueueDefinition::new({}).limits({}).partition_queue({partitioned})",
                    lit(QUEUES[*queue]),
                    LIMITS[*limits]
                )?;
                if let Some(a) = APPS[*app] {
                    write!(f, ".application_name({})", lit(a))?;
                }
                let policy = if *keep { "Keep" } else { "Update" };
                write!(f, ", QueueConflictPolicy::{policy}).await")
            }
            Op::GetQueue(q) => write!(f, "let _ = store.get_queue({}).await", lit(QUEUES[*q])),
            Op::ListQueues { app } => {
                write!(f, "let _ = store.list_queues({}).await", opt(APPS[*app]))
            }
            Op::UpdateQueue {
                queue,
                concurrency,
                partition_concurrency,
            } => write!(
                f,
                "let _ = store.update_queue({}, {{ let mut u = QueueUpdate::default(); \
                 u.concurrency = {concurrency:?}; u.partition_concurrency = \
                 {partition_concurrency:?}; u }}).await",
                lit(QUEUES[*queue])
            ),
            Op::Rename(rename) => write!(f, "{rename:?}"),
            Op::DeleteQueue(q) => {
                write!(f, "let _ = store.delete_queue({}).await", lit(QUEUES[*q]))
            }
        }
    }
}

fn schedule() -> impl Strategy<Value = ScheduleSpec> {
    (
        0..SCHEDULES.len(),
        0..FUNCTIONS.len(),
        0..CRONS.len(),
        0..APPS.len(),
        proptest::option::of(0..QUEUES.len()),
        any::<bool>(),
    )
        .prop_map(
            |(name, function, cron, app, queue, backfill)| ScheduleSpec {
                name,
                function,
                cron,
                app,
                queue,
                backfill,
            },
        )
}

fn limit_change() -> impl Strategy<Value = Option<Option<u32>>> {
    proptest::option::of(proptest::option::of(1..=2u32))
}

fn op() -> impl Strategy<Value = Op> {
    let name = || 0..SCHEDULES.len();
    let app = || 0..APPS.len();
    prop_oneof![
        3 => schedule().prop_map(Op::CreateSchedule),
        2 => proptest::collection::vec(schedule(), 1..=2).prop_map(Op::UpsertSchedules),
        2 => (
            proptest::option::of(any::<bool>()),
            proptest::option::of(0..FUNCTIONS.len()),
            proptest::option::of(0..PREFIXES.len()),
            app(),
        )
            .prop_map(|(paused, function, prefix, app)| Op::ListSchedules {
                paused,
                function,
                prefix,
                app,
            }),
        1 => name().prop_map(Op::GetSchedule),
        1 => name().prop_map(Op::Pause),
        1 => name().prop_map(Op::ResumeSchedule),
        1 => (name(), 0..FIRED.len()).prop_map(|(name, at)| Op::Fired { name, at }),
        1 => name().prop_map(Op::DeleteSchedule),
        2 => (0..VERSIONS.len(), app()).prop_map(|(version, app)| Op::CreateVersion { version, app }),
        1 => app().prop_map(|app| Op::ListVersions { app }),
        1 => app().prop_map(|app| Op::LatestVersion { app }),
        1 => (0..VERSIONS.len(), 0..3i64, app()).prop_map(|(version, d, app)| {
            // Distinct per version, so that two promotions never tie.
            Op::PromoteVersion { version, at: At(HOUR_MS + 10 * d + version as i64), app }
        }),
        2 => (0..QUEUES.len(), 0..LIMITS.len(), app(), any::<bool>(), any::<bool>())
            .prop_map(|(queue, limits, app, partitioned, keep)| Op::UpsertQueue {
                queue,
                limits,
                app,
                partitioned,
                keep,
            }),
        1 => (0..QUEUES.len()).prop_map(Op::GetQueue),
        1 => app().prop_map(|app| Op::ListQueues { app }),
        1 => (0..QUEUES.len(), limit_change(), limit_change()).prop_map(
            |(queue, concurrency, partition_concurrency)| Op::UpdateQueue {
                queue,
                concurrency,
                partition_concurrency,
            }
        ),
        1 => (0..QUEUES.len()).prop_map(Op::DeleteQueue),
        2 => rename().prop_map(Op::Rename),
    ]
}

/// A version row without what the contract leaves free: its generated id and creation time;
/// its timestamp as "recent" (stamped at creation, on the store's clock) or relative to the
/// case's start (a promotion time the case chose).
fn version(v: ApplicationVersion, now: EpochMs) -> String {
    let offset = v.version_timestamp - now;
    let when = if offset.abs() < HOUR_MS / 2 {
        "recent".to_owned()
    } else {
        format!("{:?}", At(offset))
    };
    format!("{} at {when} of {:?}", v.version_name, v.application_name)
}

fn versions(list: Vec<ApplicationVersion>, now: EpochMs) -> Vec<String> {
    list.into_iter().map(|v| version(v, now)).collect()
}

async fn run(store: &dyn SystemStore, op: &Op, now: EpochMs) -> Observed {
    match op {
        Op::CreateSchedule(s) => observe(store.create_schedule(s.build()).await),
        Op::UpsertSchedules(list) => observe(
            store
                .upsert_schedules(list.iter().map(|s| s.build()).collect())
                .await,
        ),
        Op::ListSchedules {
            paused,
            function,
            prefix,
            app,
        } => {
            let mut filter = ScheduleFilter::new();
            if let Some(p) = paused {
                filter = filter.status(if *p {
                    ScheduleStatus::Paused
                } else {
                    ScheduleStatus::Active
                });
            }
            if let Some(w) = function {
                filter = filter.workflow_name(FUNCTIONS[*w]);
            }
            if let Some(p) = prefix {
                filter = filter.name_prefix(PREFIXES[*p]);
            }
            if let Some(a) = APPS[*app] {
                filter = filter.application_name(a);
            }
            observe(store.list_schedules(filter).await)
        }
        Op::GetSchedule(n) => observe(store.get_schedule(SCHEDULES[*n]).await),
        Op::Pause(n) => observe(store.pause_schedule(SCHEDULES[*n]).await),
        Op::ResumeSchedule(n) => observe(store.resume_schedule(SCHEDULES[*n]).await),
        Op::Fired { name, at } => observe(
            store
                .record_schedule_fired(SCHEDULES[*name], FIRED[*at])
                .await,
        ),
        Op::DeleteSchedule(n) => observe(store.delete_schedule(SCHEDULES[*n]).await),
        Op::CreateVersion { version: v, app } => observe(
            store
                .create_application_version(VERSIONS[*v], APPS[*app])
                .await
                .map(|row| version(row, now)),
        ),
        Op::ListVersions { app } => observe(
            store
                .list_application_versions(APPS[*app])
                .await
                .map(|list| versions(list, now)),
        ),
        Op::LatestVersion { app } => observe(
            store
                .latest_application_version(APPS[*app])
                .await
                .map(|row| version(row, now)),
        ),
        Op::PromoteVersion {
            version: v,
            at,
            app,
        } => observe(
            store
                .set_application_version_timestamp(VERSIONS[*v], at.at(now), APPS[*app])
                .await,
        ),
        Op::UpsertQueue {
            queue,
            limits: l,
            app,
            partitioned,
            keep,
        } => {
            let mut definition = QueueDefinition::new(QUEUES[*queue])
                .limits(limits(*l))
                .partition_queue(*partitioned);
            if let Some(a) = APPS[*app] {
                definition = definition.application_name(a);
            }
            let policy = if *keep {
                QueueConflictPolicy::Keep
            } else {
                QueueConflictPolicy::Update
            };
            observe(store.upsert_queue(definition, policy).await)
        }
        Op::GetQueue(q) => observe(store.get_queue(QUEUES[*q]).await),
        Op::ListQueues { app } => observe(store.list_queues(APPS[*app]).await),
        Op::UpdateQueue {
            queue,
            concurrency,
            partition_concurrency,
        } => {
            let mut update = QueueUpdate::default();
            update.concurrency = *concurrency;
            update.partition_concurrency = *partition_concurrency;
            observe(store.update_queue(QUEUES[*queue], update).await)
        }
        Op::DeleteQueue(q) => observe(store.delete_queue(QUEUES[*q]).await),
        Op::Rename(rename) => rename.run(store).await,
    }
}

/// The machine.
pub(crate) struct Registry;

impl Machine for Registry {
    type Op = Op;
    const MAX_OPS: usize = MAX_OPS;

    fn op() -> BoxedStrategy<Op> {
        op().boxed()
    }

    async fn run(store: &dyn SystemStore, op: &Op, now: EpochMs) -> Observed {
        run(store, op, now).await
    }

    async fn snapshot(store: &dyn SystemStore) -> String {
        let mut text = String::new();
        // After a rename, the fourth application owns rows too.
        for app in APPS.into_iter().chain([Some(APPLICATIONS[2])]) {
            let mut filter = ScheduleFilter::new();
            if let Some(a) = app {
                filter = filter.application_name(a);
            }
            text += &format!(
                "{app:?}: schedules {:?} queues {:?} versions {:?}\n",
                observe(store.list_schedules(filter).await),
                observe(store.list_queues(app).await),
                observe(
                    store
                        .list_application_versions(app)
                        .await
                        .map(|list| list.len())
                ),
            );
        }
        text
    }
}

/// Random sequences of schedule, version and queue-registry writes and reads, across three
/// applications, give the same results on the store as on the reference model, and leave the
/// same registry.
pub async fn registry_matches_the_model<F: Factory>(factory: &F) {
    super::harness::check::<F, Registry>(factory, "registry").await;
}
