//! The queues machine: enqueues (one by one and in batches) with deduplication, priority,
//! partitions, delays, deadlines and timeouts; debounced workflows and debounces; claims under
//! every limit (concurrency, worker concurrency, rate limits, partition limits, the partitioned
//! fast path, `max_tasks`) at two application versions and three applications; releases of
//! delayed work, timed-out cancels, cancel and resume of queued work, recovery (pending
//! listing, re-enqueue, hand-back) and dead-lettering; and version registration.
//!
//! The world is small (five workflows, two queues, two partitions, two deduplication ids of
//! which one collides with a debounce key), so that limits bind and ids collide often. Rate
//! limits use a one-hour window, so every start of a case counts in it on both sides.

use std::fmt;
use std::time::Duration;

use dbos_storage_core::{
    CancelOptions, ClaimRequest, DebounceRequest, DedupPolicy, EpochMs, InsertOptions, NewWorkflow,
    Payload, QueueLimits, ResumeOptions, SystemStore,
};
use proptest::prelude::*;

use super::harness::{observe, observe_set, Machine, Observed, PAUSE};
use super::render::{id_slice, lit, opt, opt_owned, owned, past_or_future, pick, At, HOUR_MS};
use crate::normalize::Snapshot;
use crate::Factory;

const WORKFLOWS: [&str; 5] = ["w0", "w1", "w2", "w3", "w4"];
const NAMES: [&str; 2] = ["f", "g"];
const QUEUES: [&str; 2] = ["q0", "q1"];
const PARTITIONS: [&str; 2] = ["p0", "p1"];
/// Deduplication ids; `f-k0` is also the stored id of function `f`'s debounce key `k0`.
const DEDUP_IDS: [&str; 2] = ["d0", "f-k0"];
const DEBOUNCE_KEYS: [&str; 2] = ["k0", "k1"];
/// Ownership tokens: creators' and claims'.
const TOKENS: [&str; 3] = ["t0", "c0", "c1"];
const EXECUTORS: [&str; 2] = ["e0", "e1"];
const VERSIONS: [&str; 2] = ["v1", "v2"];
const APPS: [Option<&str>; 3] = [None, Some("a0"), Some("a1")];
/// The longest generated sequence.
const MAX_OPS: usize = 24;

/// The limits a claim may give, as Rust (`QueueLimits::new()…`), each a different shape of
/// budget.
const LIMITS: [&str; 10] = [
    "QueueLimits::new()",
    "QueueLimits::new().concurrency(1)",
    "QueueLimits::new().concurrency(2)",
    "QueueLimits::new().worker_concurrency(1)",
    "QueueLimits::new().rate_limit(2, Duration::from_secs(3600))",
    "QueueLimits::new().partition_concurrency(1)",
    "QueueLimits::new().partition_concurrency(2)",
    "QueueLimits::new().partition_worker_concurrency(1)",
    "QueueLimits::new().partition_rate_limit(1, Duration::from_secs(3600))",
    "QueueLimits::new().concurrency(2).worker_concurrency(2).rate_limit(3, Duration::from_secs(3600))",
];

fn limits(index: usize) -> QueueLimits {
    let hour = Duration::from_secs(3600);
    let l = QueueLimits::new();
    match index {
        0 => l,
        1 => l.concurrency(1),
        2 => l.concurrency(2),
        3 => l.worker_concurrency(1),
        4 => l.rate_limit(2, hour),
        5 => l.partition_concurrency(1),
        6 => l.partition_concurrency(2),
        7 => l.partition_worker_concurrency(1),
        8 => l.partition_rate_limit(1, hour),
        _ => l.concurrency(2).worker_concurrency(2).rate_limit(3, hour),
    }
}

/// One enqueued workflow (for `insert_workflow` or `enqueue_workflows`).
#[derive(Clone)]
pub(crate) struct Enqueue {
    wf: usize,
    name: usize,
    queue: usize,
    priority: i32,
    partition: Option<usize>,
    dedup: Option<usize>,
    delay: Option<At>,
    deadline: Option<At>,
    timeout: bool,
    app: usize,
    version: Option<usize>,
}

impl Enqueue {
    fn build_at(&self, now: EpochMs) -> NewWorkflow {
        let mut wf = NewWorkflow::new(WORKFLOWS[self.wf], NAMES[self.name], inputs(self.wf as u8))
            .with_creator_xid(TOKENS[0]);
        wf = match self.delay {
            Some(at) => wf.delayed(QUEUES[self.queue], at.at(now)),
            None => wf.enqueued(QUEUES[self.queue]),
        };
        if self.priority != 0 {
            wf = wf.with_priority(self.priority);
        }
        if let Some(p) = self.partition {
            wf.queue_partition_key = Some(PARTITIONS[p].to_owned());
        }
        if let Some(d) = self.dedup {
            wf = wf.with_deduplication_id(DEDUP_IDS[d]);
        }
        if let Some(at) = self.deadline {
            wf = wf.with_deadline(at.at(now));
        }
        if self.timeout {
            wf = wf.with_timeout(Duration::from_secs(3600));
        }
        if let Some(app) = APPS[self.app] {
            wf = wf.with_application_name(app);
        }
        if let Some(v) = self.version {
            wf = wf.with_application_version(VERSIONS[v]);
        }
        wf
    }
}

impl fmt::Debug for Enqueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chain = format!(
            "NewWorkflow::new({}, {}, Payload::portable_json({})).with_creator_xid({})",
            lit(WORKFLOWS[self.wf]),
            lit(NAMES[self.name]),
            lit(&format!("[{}]", self.wf)),
            lit(TOKENS[0])
        );
        match self.delay {
            Some(at) => chain += &format!(".delayed({}, {at:?})", lit(QUEUES[self.queue])),
            None => chain += &format!(".enqueued({})", lit(QUEUES[self.queue])),
        }
        if self.priority != 0 {
            chain += &format!(".with_priority({})", self.priority);
        }
        if let Some(d) = self.dedup {
            chain += &format!(".with_deduplication_id({})", lit(DEDUP_IDS[d]));
        }
        if let Some(at) = self.deadline {
            chain += &format!(".with_deadline({at:?})");
        }
        if self.timeout {
            chain += ".with_timeout(Duration::from_secs(3600))";
        }
        if let Some(app) = APPS[self.app] {
            chain += &format!(".with_application_name({})", lit(app));
        }
        if let Some(v) = self.version {
            chain += &format!(".with_application_version({})", lit(VERSIONS[v]));
        }
        match self.partition {
            Some(p) => write!(
                f,
                "{{ let mut w = {chain}; w.queue_partition_key = Some({}.to_owned()); w }}",
                lit(PARTITIONS[p])
            ),
            None => write!(f, "{chain}"),
        }
    }
}

fn inputs(n: u8) -> Payload {
    Payload::portable_json(format!("[{n}]"))
}

/// One generated operation; its `Debug` is the Rust call.
#[derive(Clone)]
pub(crate) enum Op {
    Insert {
        wf: Enqueue,
        return_existing: bool,
    },
    Batch(Vec<Enqueue>),
    Debounced {
        wf: usize,
        queue: usize,
        key: usize,
        until: At,
        deadline: Option<At>,
        app: usize,
    },
    Debounce {
        name: usize,
        queue: usize,
        key: usize,
        until: At,
        app: usize,
        input: u8,
    },
    Claim {
        queue: usize,
        partition: Option<usize>,
        limits: usize,
        executor: usize,
        version: usize,
        app: usize,
        local_running: u32,
        max_tasks: Option<u32>,
        token: usize,
    },
    Partitions {
        queue: usize,
        app: usize,
    },
    Release {
        app: usize,
    },
    SetDelay {
        wf: usize,
        until: At,
    },
    Deduplicated {
        queue: usize,
        dedup: usize,
    },
    TimedOut {
        limit: u32,
        app: usize,
    },
    Pending {
        executor: usize,
        version: Option<usize>,
        app: usize,
    },
    Reenqueue {
        wfs: Vec<usize>,
        dead: Vec<usize>,
    },
    DeadLetter {
        wfs: Vec<usize>,
        min_attempts: i64,
    },
    ReturnToQueue {
        wf: usize,
        token: usize,
    },
    Outcome {
        wf: usize,
        token: Option<usize>,
    },
    Cancel {
        wfs: Vec<usize>,
    },
    Resume {
        wfs: Vec<usize>,
        queue: Option<usize>,
    },
    CreateVersion {
        version: usize,
        app: usize,
    },
    PromoteVersion {
        version: usize,
        at: At,
        app: usize,
    },
    Get {
        wfs: Vec<usize>,
    },
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Insert {
                wf,
                return_existing,
            } => {
                let policy = if *return_existing {
                    "ReturnExisting"
                } else {
                    "Reject"
                };
                write!(
                    f,
                    "let _ = store.insert_workflow({wf:?}, \
                     InsertOptions::default().dedup_policy(DedupPolicy::{policy})).await"
                )
            }
            Op::Batch(wfs) => {
                let items: Vec<String> = wfs.iter().map(|w| format!("{w:?}")).collect();
                write!(
                    f,
                    "let _ = store.enqueue_workflows(vec![{}]).await",
                    items.join(", ")
                )
            }
            Op::Debounced {
                wf,
                queue,
                key,
                until,
                deadline,
                app,
            } => {
                write!(
                    f,
                    "let _ = store.insert_workflow(NewWorkflow::new({}, \"f\", \
                     Payload::portable_json({})).with_creator_xid({}).debounced({}, {}, \
                     {until:?}, {})",
                    lit(WORKFLOWS[*wf]),
                    lit(&format!("[{wf}]")),
                    lit(TOKENS[0]),
                    lit(QUEUES[*queue]),
                    lit(DEBOUNCE_KEYS[*key]),
                    match deadline {
                        Some(at) => format!("Some({at:?})"),
                        None => "None".to_owned(),
                    }
                )?;
                if let Some(app) = APPS[*app] {
                    write!(f, ".with_application_name({})", lit(app))?;
                }
                write!(f, ", InsertOptions::default()).await")
            }
            Op::Debounce {
                name,
                queue,
                key,
                until,
                app,
                input,
            } => write!(
                f,
                "let _ = {{ let mut r = DebounceRequest::new({}, {}, {}, {until:?}, \
                 Payload::portable_json({})); r.application_name = {}; \
                 store.debounce_workflow(r).await }}",
                lit(NAMES[*name]),
                lit(QUEUES[*queue]),
                lit(DEBOUNCE_KEYS[*key]),
                lit(&format!("[{input}]")),
                opt_owned(APPS[*app])
            ),
            Op::Claim {
                queue,
                partition,
                limits,
                executor,
                version,
                app,
                local_running,
                max_tasks,
                token,
            } => {
                write!(
                    f,
                    "let _ = store.claim_workflows({{ let mut r = ClaimRequest::new({}, {}, \
                     {}).limits({}).running({local_running}, {local_running})",
                    lit(QUEUES[*queue]),
                    lit(EXECUTORS[*executor]),
                    lit(VERSIONS[*version]),
                    LIMITS[*limits]
                )?;
                if let Some(p) = partition {
                    write!(f, ".partition({})", lit(PARTITIONS[*p]))?;
                }
                if let Some(app) = APPS[*app] {
                    write!(f, ".application_name({})", lit(app))?;
                }
                if let Some(n) = max_tasks {
                    write!(f, ".max_tasks({n})")?;
                }
                write!(
                    f,
                    "; r.owner_xid = {}.to_owned(); r }}).await",
                    lit(TOKENS[*token])
                )
            }
            Op::Partitions { queue, app } => write!(
                f,
                "let _ = store.queue_partitions({}, {}).await",
                lit(QUEUES[*queue]),
                opt(APPS[*app])
            ),
            Op::Release { app } => write!(
                f,
                "let _ = store.release_delayed_workflows({}).await",
                opt(APPS[*app])
            ),
            Op::SetDelay { wf, until } => write!(
                f,
                "let _ = store.set_workflow_delay({}, {until:?}).await",
                lit(WORKFLOWS[*wf])
            ),
            Op::Deduplicated { queue, dedup } => write!(
                f,
                "let _ = store.deduplicated_workflow({}, {}).await",
                lit(QUEUES[*queue]),
                lit(DEDUP_IDS[*dedup])
            ),
            Op::TimedOut { limit, app } => write!(
                f,
                "let _ = store.cancel_timed_out_workflows({limit}, {}).await",
                opt(APPS[*app])
            ),
            Op::Pending {
                executor,
                version,
                app,
            } => write!(
                f,
                "let _ = store.pending_workflows({}, {}, {}).await",
                lit(EXECUTORS[*executor]),
                opt(version.map(|v| VERSIONS[v])),
                opt(APPS[*app])
            ),
            Op::Reenqueue { wfs, dead } => write!(
                f,
                "let _ = store.reenqueue_for_recovery({}, {}).await",
                id_slice(&pick(&WORKFLOWS, wfs)),
                id_slice(&pick(&EXECUTORS, dead))
            ),
            Op::DeadLetter { wfs, min_attempts } => write!(
                f,
                "let _ = store.dead_letter_workflows({}, {min_attempts}).await",
                id_slice(&pick(&WORKFLOWS, wfs))
            ),
            Op::ReturnToQueue { wf, token } => write!(
                f,
                "let _ = store.return_to_queue({}, {}).await",
                lit(WORKFLOWS[*wf]),
                lit(TOKENS[*token])
            ),
            Op::Outcome { wf, token } => write!(
                f,
                "let _ = store.record_outcome({}, Outcome::Output(Payload::portable_json(\"1\")), \
                 {}).await",
                lit(WORKFLOWS[*wf]),
                opt(token.map(|t| TOKENS[t]))
            ),
            Op::Cancel { wfs } => write!(
                f,
                "let _ = store.cancel_workflows({}, CancelOptions::default()).await",
                id_slice(&pick(&WORKFLOWS, wfs))
            ),
            Op::Resume { wfs, queue } => {
                write!(
                    f,
                    "let _ = store.resume_workflows({}, ResumeOptions::default()",
                    id_slice(&pick(&WORKFLOWS, wfs))
                )?;
                if let Some(q) = queue {
                    write!(f, ".queue_name({})", lit(QUEUES[*q]))?;
                }
                write!(f, ").await")
            }
            Op::CreateVersion { version, app } => write!(
                f,
                "let _ = store.create_application_version({}, {}).await",
                lit(VERSIONS[*version]),
                opt(APPS[*app])
            ),
            Op::PromoteVersion { version, at, app } => write!(
                f,
                "let _ = store.set_application_version_timestamp({}, {at:?}, {}).await",
                lit(VERSIONS[*version]),
                opt(APPS[*app])
            ),
            Op::Get { wfs } => write!(
                f,
                "let _ = store.get_workflows({}).await",
                id_slice(&pick(&WORKFLOWS, wfs))
            ),
        }
    }
}

fn wf() -> impl Strategy<Value = usize> {
    0..WORKFLOWS.len()
}

fn wfs() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(wf(), 1..=3)
}

/// A queue, mostly the first, so that claims find work.
fn queue() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0), 1 => Just(1)]
}

fn app() -> impl Strategy<Value = usize> {
    0..APPS.len()
}

fn enqueue() -> impl Strategy<Value = Enqueue> {
    (
        (wf(), 0..NAMES.len(), queue(), 0..3i32),
        (
            proptest::option::weighted(0.3, 0..PARTITIONS.len()),
            proptest::option::weighted(0.3, 0..DEDUP_IDS.len()),
        ),
        (
            any::<bool>(),
            prop_oneof![2 => Just(0), 1 => app()],
            proptest::option::weighted(0.2, 0..VERSIONS.len()),
            0..10i64,
        ),
    )
        .prop_flat_map(|((wf, name, queue, priority), (partition, dedup), rest)| {
            let (timeout, app, version, distinct) = rest;
            // Distinct per workflow, so that "oldest deadline first" never meets a tie.
            let distinct = distinct + 10 * wf as i64;
            (
                proptest::option::weighted(0.2, past_or_future(distinct)),
                proptest::option::weighted(0.2, past_or_future(distinct)),
            )
                .prop_map(move |(delay, deadline)| Enqueue {
                    wf,
                    name,
                    queue,
                    priority,
                    partition,
                    dedup,
                    delay,
                    deadline,
                    timeout,
                    app,
                    version,
                })
        })
}

fn claim() -> impl Strategy<Value = Op> {
    (
        (
            queue(),
            0..PARTITIONS.len(),
            0..LIMITS.len(),
            0..EXECUTORS.len(),
            0..10u8,
        ),
        (
            0..VERSIONS.len(),
            prop_oneof![2 => Just(0), 1 => app()],
            0..=1u32,
            proptest::option::of(1..=3u32),
            1..TOKENS.len(),
        ),
    )
        .prop_map(
            |(
                (queue, partition, limits, executor, dice),
                (version, app, local_running, max_tasks, token),
            )| Op::Claim {
                queue,
                // Mostly a key for the partitioned limits (5 to 8), mostly none for the others.
                partition: ((5..=8).contains(&limits) == (dice < 8)).then_some(partition),
                limits,
                executor,
                version,
                app,
                local_running,
                max_tasks,
                token,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let at = |distinct: std::ops::Range<i64>| {
        (any::<bool>(), distinct)
            .prop_map(|(past, d)| At(if past { -HOUR_MS } else { HOUR_MS } + d))
    };
    prop_oneof![
        8 => (enqueue(), any::<bool>())
            .prop_map(|(wf, return_existing)| Op::Insert { wf, return_existing }),
        3 => proptest::collection::vec(enqueue(), 1..=3).prop_map(Op::Batch),
        2 => (wf(), 0..QUEUES.len(), 0..DEBOUNCE_KEYS.len(), at(0..100), any::<bool>(), app())
            .prop_map(|(wf, queue, key, until, has_deadline, app)| Op::Debounced {
                wf,
                queue,
                key,
                until,
                deadline: has_deadline.then_some(At(until.0.abs() / 2 + 7)),
                app,
            }),
        2 => (0..NAMES.len(), 0..QUEUES.len(), 0..DEBOUNCE_KEYS.len(), at(100..200), app(), any::<u8>())
            .prop_map(|(name, queue, key, until, app, input)| Op::Debounce {
                name, queue, key, until, app, input,
            }),
        8 => claim(),
        1 => (0..QUEUES.len(), app()).prop_map(|(queue, app)| Op::Partitions { queue, app }),
        2 => app().prop_map(|app| Op::Release { app }),
        1 => (wf(), at(200..300)).prop_map(|(wf, until)| Op::SetDelay { wf, until }),
        1 => (0..QUEUES.len(), 0..DEDUP_IDS.len())
            .prop_map(|(queue, dedup)| Op::Deduplicated { queue, dedup }),
        2 => (1..=3u32, app()).prop_map(|(limit, app)| Op::TimedOut { limit, app }),
        1 => (0..EXECUTORS.len(), proptest::option::of(0..VERSIONS.len()), app())
            .prop_map(|(executor, version, app)| Op::Pending { executor, version, app }),
        2 => (wfs(), proptest::collection::vec(0..EXECUTORS.len(), 1..=2))
            .prop_map(|(wfs, dead)| Op::Reenqueue { wfs, dead }),
        1 => (wfs(), 1..=3i64).prop_map(|(wfs, min_attempts)| Op::DeadLetter { wfs, min_attempts }),
        1 => (wf(), 1..TOKENS.len()).prop_map(|(wf, token)| Op::ReturnToQueue { wf, token }),
        2 => (wf(), proptest::option::of(0..TOKENS.len()))
            .prop_map(|(wf, token)| Op::Outcome { wf, token }),
        1 => wfs().prop_map(|wfs| Op::Cancel { wfs }),
        1 => (wfs(), proptest::option::of(0..QUEUES.len()))
            .prop_map(|(wfs, queue)| Op::Resume { wfs, queue }),
        1 => (0..VERSIONS.len(), app()).prop_map(|(version, app)| Op::CreateVersion { version, app }),
        1 => (0..VERSIONS.len(), 0..100i64, app())
            .prop_map(|(version, d, app)| Op::PromoteVersion { version, at: At(HOUR_MS + d), app }),
        1 => wfs().prop_map(|wfs| Op::Get { wfs }),
    ]
}

/// The machine.
pub(crate) struct Queues;

impl Machine for Queues {
    type Op = Op;
    const MAX_OPS: usize = MAX_OPS;

    fn op() -> BoxedStrategy<Op> {
        op().boxed()
    }

    fn pause(op: &Op) -> Duration {
        match op {
            // A batch stamps strictly increasing times, possibly ahead of the clock.
            Op::Batch(wfs) => PAUSE + Duration::from_millis(wfs.len() as u64),
            _ => PAUSE,
        }
    }

    async fn run(store: &dyn SystemStore, op: &Op, now: EpochMs) -> Observed {
        match op {
            Op::Insert {
                wf,
                return_existing,
            } => {
                let policy = if *return_existing {
                    DedupPolicy::ReturnExisting
                } else {
                    DedupPolicy::Reject
                };
                observe(
                    store
                        .insert_workflow(
                            wf.build_at(now),
                            InsertOptions::default().dedup_policy(policy),
                        )
                        .await,
                )
            }
            Op::Batch(wfs) => observe(
                store
                    .enqueue_workflows(wfs.iter().map(|w| w.build_at(now)).collect())
                    .await,
            ),
            Op::Debounced {
                wf,
                queue,
                key,
                until,
                deadline,
                app,
            } => {
                let mut new = NewWorkflow::new(WORKFLOWS[*wf], "f", inputs(*wf as u8))
                    .with_creator_xid(TOKENS[0])
                    .debounced(
                        QUEUES[*queue],
                        DEBOUNCE_KEYS[*key],
                        until.at(now),
                        deadline.map(|d| d.at(now)),
                    );
                if let Some(app) = APPS[*app] {
                    new = new.with_application_name(app);
                }
                observe(store.insert_workflow(new, InsertOptions::default()).await)
            }
            Op::Debounce {
                name,
                queue,
                key,
                until,
                app,
                input,
            } => {
                let mut request = DebounceRequest::new(
                    NAMES[*name],
                    QUEUES[*queue],
                    DEBOUNCE_KEYS[*key],
                    until.at(now),
                    inputs(*input),
                );
                request.application_name = APPS[*app].map(str::to_owned);
                observe(store.debounce_workflow(request).await)
            }
            Op::Claim {
                queue,
                partition,
                limits: l,
                executor,
                version,
                app,
                local_running,
                max_tasks,
                token,
            } => {
                let mut request =
                    ClaimRequest::new(QUEUES[*queue], EXECUTORS[*executor], VERSIONS[*version])
                        .limits(limits(*l))
                        .running(*local_running, *local_running);
                if let Some(p) = partition {
                    request = request.partition(PARTITIONS[*p]);
                }
                if let Some(app) = APPS[*app] {
                    request = request.application_name(app);
                }
                if let Some(n) = max_tasks {
                    request = request.max_tasks(*n);
                }
                request.owner_xid = TOKENS[*token].to_owned();
                observe(store.claim_workflows(request).await)
            }
            Op::Partitions { queue, app } => {
                observe(store.queue_partitions(QUEUES[*queue], APPS[*app]).await)
            }
            Op::Release { app } => observe_set(store.release_delayed_workflows(APPS[*app]).await),
            Op::SetDelay { wf, until } => observe(
                store
                    .set_workflow_delay(WORKFLOWS[*wf], until.at(now))
                    .await,
            ),
            Op::Deduplicated { queue, dedup } => observe(
                store
                    .deduplicated_workflow(QUEUES[*queue], DEDUP_IDS[*dedup])
                    .await,
            ),
            Op::TimedOut { limit, app } => {
                observe_set(store.cancel_timed_out_workflows(*limit, APPS[*app]).await)
            }
            Op::Pending {
                executor,
                version,
                app,
            } => observe_set(
                store
                    .pending_workflows(
                        EXECUTORS[*executor],
                        version.map(|v| VERSIONS[v]),
                        APPS[*app],
                    )
                    .await,
            ),
            Op::Reenqueue { wfs, dead } => observe_set(
                store
                    .reenqueue_for_recovery(&owned(&WORKFLOWS, wfs), &owned(&EXECUTORS, dead))
                    .await,
            ),
            Op::DeadLetter { wfs, min_attempts } => observe_set(
                store
                    .dead_letter_workflows(&owned(&WORKFLOWS, wfs), *min_attempts)
                    .await,
            ),
            Op::ReturnToQueue { wf, token } => {
                observe(store.return_to_queue(WORKFLOWS[*wf], TOKENS[*token]).await)
            }
            Op::Outcome { wf, token } => observe(
                store
                    .record_outcome(
                        WORKFLOWS[*wf],
                        dbos_storage_core::Outcome::Output(Payload::portable_json("1")),
                        token.map(|t| TOKENS[t]),
                    )
                    .await,
            ),
            Op::Cancel { wfs } => observe_set(
                store
                    .cancel_workflows(&owned(&WORKFLOWS, wfs), CancelOptions::default())
                    .await,
            ),
            Op::Resume { wfs, queue } => {
                let mut options = ResumeOptions::default();
                if let Some(q) = queue {
                    options = options.queue_name(QUEUES[*q]);
                }
                observe_set(
                    store
                        .resume_workflows(&owned(&WORKFLOWS, wfs), options)
                        .await,
                )
            }
            Op::CreateVersion { version, app } => observe(
                store
                    .create_application_version(VERSIONS[*version], APPS[*app])
                    .await
                    .map(|v| (v.version_name, v.application_name)),
            ),
            Op::PromoteVersion { version, at, app } => observe(
                store
                    .set_application_version_timestamp(VERSIONS[*version], at.at(now), APPS[*app])
                    .await,
            ),
            Op::Get { wfs } => observe(store.get_workflows(&owned(&WORKFLOWS, wfs)).await.map(
                |rows| {
                    rows.into_iter()
                        .map(crate::normalize::normalize_workflow)
                        .collect::<Vec<_>>()
                },
            )),
        }
    }

    async fn snapshot(store: &dyn SystemStore) -> String {
        let all = owned(&WORKFLOWS, &[0, 1, 2, 3, 4]);
        let rows = Snapshot::take(store, &all).await;
        let mut versions = Vec::new();
        for app in APPS {
            let listed = store.list_application_versions(app).await.map(|list| {
                list.into_iter()
                    .map(|v| (v.version_name, v.application_name))
                    .collect::<Vec<_>>()
            });
            versions.push(observe(listed));
        }
        format!("{rows:?}\nversions: {versions:?}")
    }
}

/// Random sequences of enqueues, debounces, claims under every limit, releases, timed-out
/// cancels, recovery, dead-lettering, cancels, resumes and version registrations give the
/// same results on the store as on the reference model, and leave the same state.
pub async fn queues_match_the_model<F: Factory>(factory: &F) {
    super::harness::check::<F, Queues>(factory, "queues").await;
}
