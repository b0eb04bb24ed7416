//! The mixed machine: the areas together on one small world, so that operations of one area
//! meet the rows of another — deletes of workflows that have messages, events and streams (and
//! children); forks and rewinds of workflows with steps, events and streams, and sends to forks;
//! garbage collection (leases, collectable listings, fenced deletes) and orphan sweeps while
//! work is queued, claimed or running; attribute updates; and export followed by import (over
//! the same rows, or after a delete); direct recovery of running workflows (take-overs fenced
//! by the previous owner's token, dead-lettering past a limit); application renames of the
//! workflows and their steps; and metrics over the case.
//!
//! Forks and rewinds start at a step number, at the last failure or at a step's name (steps are
//! named `s` or `t`; `u` names none).
//!
//! The world is three workflows (`x0`, `x1`, `x2`) and the id every fork takes (`f0`); every
//! messaging operation of [`super::messaging`] runs here too, over this world. Leases live one
//! hour or one millisecond: a short lease has expired by the next operation, so lease expiry is
//! exercised without waiting.

use std::fmt;
use std::time::Duration;

use dbos_storage_core::{
    AttributeUpdate, CancelOptions, ClaimRequest, DeleteOptions, EpochMs, ForkRequest, ForkStart,
    ImportOptions, InsertOptions, Lease, NewWorkflow, Outcome, Payload, RecoveryRequest,
    ResumeOptions, RetentionPolicy, RewindRequest, StepRecord, SystemStore, INTERNAL_QUEUE,
};
use proptest::prelude::*;

use super::harness::{observe, observe_set, Machine, Observed};
use super::maintenance::{
    metrics, ownership, rename, sweep, MetricsCall, Rename, Sweep, APPLICATIONS,
};
use super::messaging::{self, messages, render_send, send, who, Message, Who};
use super::render::{id_slice, lit, owned, pick, At, HOUR_MS};
use crate::Factory;

/// Workflows; the last is the id of every fork (never inserted directly).
const WORKFLOWS: [&str; messaging::WORKFLOWS.len()] = ["x0", "x1", "x2", "f0"];
const FORK: usize = 3;
const QUEUES: [&str; 2] = ["q0", INTERNAL_QUEUE];
const HOLDERS: [&str; 2] = ["h0", "h1"];
/// The longest generated sequence.
const MAX_OPS: usize = 28;

/// One generated operation; its `Debug` is the Rust call.
#[derive(Clone)]
pub(crate) enum Op {
    Messaging(messaging::Op),
    Insert {
        wf: usize,
        parent: Option<usize>,
        queued: bool,
        app: Option<usize>,
    },
    Step {
        wf: usize,
        fid: i32,
        name: usize,
        error: bool,
    },
    SendToForks {
        messages: Vec<Message>,
        who: Option<Who>,
    },
    Fork {
        source: usize,
        start: Start,
    },
    Rewind {
        wf: usize,
        start: Start,
    },
    Delete {
        wfs: Vec<usize>,
        children: bool,
    },
    Claim {
        queue: usize,
    },
    Outcome {
        wf: usize,
        error: bool,
    },
    Cancel {
        wfs: Vec<usize>,
        children: bool,
    },
    Resume {
        wfs: Vec<usize>,
    },
    Attributes {
        wf: usize,
        mode: u8,
        key: u8,
        value: u8,
    },
    Acquire {
        holder: usize,
        long: bool,
    },
    Release {
        holder: usize,
    },
    Collect {
        holder: usize,
        cutoff: Option<At>,
        keep_newest: Option<u64>,
        limit: u32,
    },
    Reimport {
        wf: usize,
        delete_first: bool,
        replace: bool,
    },
    Recover {
        wf: usize,
        expected: usize,
        token: usize,
        max_attempts: Option<i64>,
    },
    Rename(Rename),
    Metrics(MetricsCall),
    Sweep(Sweep),
}

/// Step names: recorded steps take the first two; the third names no step.
const STEP_NAMES: [&str; 3] = ["s", "t", "u"];

/// Where a fork or rewind starts ([`ForkStart`]).
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Start {
    Step(i32),
    LastFailure,
    Named(usize),
}

impl Start {
    fn build(self) -> ForkStart {
        match self {
            Start::Step(n) => ForkStart::Step(n),
            Start::LastFailure => ForkStart::LastFailure,
            Start::Named(name) => ForkStart::NamedStep(STEP_NAMES[name].to_owned()),
        }
    }
}

impl fmt::Debug for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Start::Step(n) => write!(f, "ForkStart::Step({n})"),
            Start::LastFailure => write!(f, "ForkStart::LastFailure"),
            Start::Named(name) => {
                write!(
                    f,
                    "ForkStart::NamedStep({}.to_owned())",
                    lit(STEP_NAMES[*name])
                )
            }
        }
    }
}

/// A start: a step number half the time, else the last failure or a step name.
fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        2 => (1..=6i32).prop_map(Start::Step),
        1 => Just(Start::LastFailure),
        1 => (0..STEP_NAMES.len()).prop_map(Start::Named),
    ]
}

/// Owner tokens of direct recovery: the creator's, then the recoverers'.
const RECOVERY_TOKENS: [&str; 3] = ["o", "r0", "r1"];

fn recovery(wf: &str, expected: usize, token: usize, max_attempts: Option<i64>) -> RecoveryRequest {
    RecoveryRequest::from_owner(wf, RECOVERY_TOKENS[expected], "e1")
        .owner_xid(RECOVERY_TOKENS[token])
        .max_recovery_attempts(max_attempts)
}

fn lease(holder: usize, long: bool) -> Lease {
    let ttl = if long {
        Duration::from_secs(3600)
    } else {
        Duration::from_millis(1)
    };
    Lease::new("gc", HOLDERS[holder], ttl)
}

fn render_lease(holder: usize, long: bool) -> String {
    format!(
        "&Lease::new(\"gc\", {}, {})",
        lit(HOLDERS[holder]),
        if long {
            "Duration::from_secs(3600)"
        } else {
            "Duration::from_millis(1)"
        }
    )
}

fn attribute_mode(mode: u8) -> (AttributeUpdate, &'static str) {
    match mode % 3 {
        0 => (AttributeUpdate::Merge, "AttributeUpdate::Merge"),
        1 => (AttributeUpdate::Replace, "AttributeUpdate::Replace"),
        _ => (AttributeUpdate::Clear, "AttributeUpdate::Clear"),
    }
}

fn policy(cutoff: Option<At>, keep_newest: Option<u64>, now: EpochMs) -> RetentionPolicy {
    let mut policy = RetentionPolicy::default();
    policy.completed_before = cutoff.map(|c| c.at(now));
    policy.keep_newest = keep_newest;
    policy
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &WORKFLOWS;
        match self {
            Op::Messaging(op) => op.render(f, w),
            Op::Insert {
                wf,
                parent,
                queued,
                app,
            } => {
                write!(
                    f,
                    "let _ = store.insert_workflow(NewWorkflow::new({}, \"f\", \
                     Payload::portable_json(\"[]\")).with_creator_xid(\"o\")",
                    lit(w[*wf])
                )?;
                if let Some(a) = app {
                    write!(f, ".with_application_name({})", lit(APPLICATIONS[*a]))?;
                }
                if *queued {
                    write!(f, ".enqueued(\"q0\")")?;
                }
                if let Some(p) = parent {
                    write!(f, ".with_parent({})", lit(w[*p]))?;
                }
                write!(f, ", InsertOptions::default()).await")
            }
            Op::Step {
                wf,
                fid,
                name,
                error,
            } => write!(
                f,
                "let _ = store.record_step(StepRecord::{}({}, {fid}, {}, \
                 Payload::portable_json(\"{fid}\")), None).await",
                if *error { "error" } else { "output" },
                lit(w[*wf]),
                lit(STEP_NAMES[*name])
            ),
            Op::SendToForks { messages, who } => render_send(f, w, messages, *who, true),
            Op::Fork { source, start } => write!(
                f,
                "let _ = store.fork_workflows(vec![ForkRequest::new({}, {start:?})\
                 .with_fork_id({})]).await",
                lit(w[*source]),
                lit(w[FORK])
            ),
            Op::Rewind { wf, start } => write!(
                f,
                "let _ = store.rewind_workflow(RewindRequest::new({}, {start:?})).await",
                lit(w[*wf])
            ),
            Op::Delete { wfs, children } => write!(
                f,
                "let _ = store.delete_workflows({}, \
                 DeleteOptions::default().delete_children({children})).await",
                id_slice(&pick(w, wfs))
            ),
            Op::Claim { queue } => write!(
                f,
                "let _ = store.claim_workflows({{ let mut r = ClaimRequest::new({}, \"e0\", \
                 \"v1\"); r.owner_xid = \"c0\".to_owned(); r }}).await",
                lit(QUEUES[*queue])
            ),
            Op::Outcome { wf, error } => write!(
                f,
                "let _ = store.record_outcome({}, Outcome::{}(Payload::portable_json(\"1\")), \
                 None).await",
                lit(w[*wf]),
                if *error { "Error" } else { "Output" }
            ),
            Op::Cancel { wfs, children } => write!(
                f,
                "let _ = store.cancel_workflows({}, \
                 CancelOptions::default().cancel_children({children})).await",
                id_slice(&pick(w, wfs))
            ),
            Op::Resume { wfs } => write!(
                f,
                "let _ = store.resume_workflows({}, ResumeOptions::default()).await",
                id_slice(&pick(w, wfs))
            ),
            Op::Attributes {
                wf,
                mode,
                key,
                value,
            } => {
                let (_, mode) = attribute_mode(*mode);
                let map = if mode.ends_with("Clear") {
                    "serde_json::Map::new()".to_owned()
                } else {
                    format!(
                        "serde_json::json!({{\"a{key}\": {value}}}).as_object().unwrap().clone()"
                    )
                };
                write!(
                    f,
                    "let _ = store.update_workflow_attributes({}, {map}, {mode}).await",
                    lit(w[*wf])
                )
            }
            Op::Acquire { holder, long } => write!(
                f,
                "let _ = store.acquire_lease({}).await",
                render_lease(*holder, *long)
            ),
            Op::Release { holder } => write!(
                f,
                "let _ = store.release_lease({}).await",
                render_lease(*holder, true)
            ),
            Op::Collect {
                holder,
                cutoff,
                keep_newest,
                limit,
            } => write!(
                f,
                "let collectable = store.collectable_workflows({{ let mut p = \
                 RetentionPolicy::default(); p.completed_before = {}; p.keep_newest = {:?}; p \
                 }}, None, {limit}).await.unwrap_or_default(); let _ = \
                 store.delete_collected({}, &collectable.workflow_ids).await",
                match cutoff {
                    Some(at) => format!("Some({at:?})"),
                    None => "None".to_owned(),
                },
                keep_newest,
                render_lease(*holder, true)
            ),
            Op::Reimport {
                wf,
                delete_first,
                replace,
            } => {
                write!(
                    f,
                    "let exported = store.export_workflows({}, false).await.unwrap_or_default(); ",
                    id_slice(&[w[*wf]])
                )?;
                if *delete_first {
                    write!(
                        f,
                        "let _ = store.delete_workflows({}, DeleteOptions::default()).await; ",
                        id_slice(&[w[*wf]])
                    )?;
                }
                write!(
                    f,
                    "let _ = store.import_workflows(exported, \
                     ImportOptions::default().replace_existing({replace})).await"
                )
            }
            Op::Recover {
                wf,
                expected,
                token,
                max_attempts,
            } => write!(
                f,
                "let _ = store.recover_workflow(RecoveryRequest::from_owner({}, {}, \"e1\")\
                 .owner_xid({}).max_recovery_attempts({max_attempts:?})).await",
                lit(w[*wf]),
                lit(RECOVERY_TOKENS[*expected]),
                lit(RECOVERY_TOKENS[*token])
            ),
            Op::Rename(rename) => write!(f, "{rename:?}"),
            Op::Metrics(metrics) => write!(f, "{metrics:?}"),
            Op::Sweep(sweep) => sweep.render(f, &render_lease(sweep.holder, true), w),
        }
    }
}

fn wf() -> impl Strategy<Value = usize> {
    0..WORKFLOWS.len()
}

/// A workflow, mostly `x0`, the usual source of forks: so that the steps a fork copies, and
/// the failures and names it starts from, pile up on one workflow.
fn mostly_x0() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(0), 1 => wf()]
}

fn wfs() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(wf(), 1..=2)
}

fn op() -> impl Strategy<Value = Op> {
    let n = WORKFLOWS.len();
    prop_oneof![
        12 => messaging::op().prop_map(Op::Messaging),
        4 => (0..FORK, any::<prop::sample::Index>(), any::<bool>(), any::<bool>())
            .prop_flat_map(|(wf, pick, has_parent, queued)| {
                proptest::option::weighted(0.7, 0..2usize).prop_map(move |app| Op::Insert {
                    wf,
                    parent: (has_parent && wf > 0).then(|| pick.index(wf)),
                    queued,
                    app,
                })
            }),
        3 => (mostly_x0(), 1..=5i32, 0..2usize, prop::bool::weighted(0.35))
            .prop_map(|(wf, fid, name, error)| Op::Step { wf, fid, name, error }),
        1 => (messages(n), proptest::option::of(who(n)))
            .prop_map(|(messages, who)| Op::SendToForks { messages, who }),
        3 => (prop_oneof![2 => Just(0), 1 => 0..FORK], start())
            .prop_map(|(source, start)| Op::Fork { source, start }),
        1 => (wf(), start()).prop_map(|(wf, start)| Op::Rewind { wf, start }),
        2 => (wfs(), any::<bool>()).prop_map(|(wfs, children)| Op::Delete { wfs, children }),
        2 => (0..QUEUES.len()).prop_map(|queue| Op::Claim { queue }),
        3 => (wf(), prop::bool::weighted(0.3)).prop_map(|(wf, error)| Op::Outcome { wf, error }),
        1 => (wfs(), any::<bool>()).prop_map(|(wfs, children)| Op::Cancel { wfs, children }),
        1 => wfs().prop_map(|wfs| Op::Resume { wfs }),
        1 => (wf(), any::<u8>(), 0..2u8, 0..3u8)
            .prop_map(|(wf, mode, key, value)| Op::Attributes { wf, mode, key, value }),
        2 => (0..HOLDERS.len(), any::<bool>()).prop_map(|(holder, long)| Op::Acquire { holder, long }),
        1 => (0..HOLDERS.len()).prop_map(|holder| Op::Release { holder }),
        3 => (
            0..HOLDERS.len(),
            proptest::option::of(any::<bool>().prop_map(|past| At(if past { -HOUR_MS } else { HOUR_MS }))),
            proptest::option::of(0..4u64),
            1..=4u32,
        )
            .prop_map(|(holder, cutoff, keep_newest, limit)| Op::Collect {
                holder,
                cutoff,
                keep_newest,
                limit,
            }),
        2 => (wf(), any::<bool>(), any::<bool>())
            .prop_map(|(wf, delete_first, replace)| Op::Reimport { wf, delete_first, replace }),
        2 => (wf(), 0..RECOVERY_TOKENS.len(), 1..RECOVERY_TOKENS.len(), proptest::option::of(0..=1i64))
            .prop_map(|(wf, expected, token, max_attempts)| Op::Recover {
                wf,
                expected,
                token,
                max_attempts,
            }),
        2 => rename().prop_map(Op::Rename),
        1 => metrics().prop_map(Op::Metrics),
        2 => sweep(WORKFLOWS.len(), HOLDERS.len()).prop_map(Op::Sweep),
    ]
}

async fn run(store: &dyn SystemStore, op: &Op, now: EpochMs) -> Observed {
    let w = &WORKFLOWS;
    match op {
        Op::Messaging(op) => messaging::run(store, w, op).await,
        Op::Insert {
            wf,
            parent,
            queued,
            app,
        } => {
            let mut new =
                NewWorkflow::new(w[*wf], "f", Payload::portable_json("[]")).with_creator_xid("o");
            if let Some(a) = app {
                new = new.with_application_name(APPLICATIONS[*a]);
            }
            if *queued {
                new = new.enqueued("q0");
            }
            if let Some(p) = parent {
                new = new.with_parent(w[*p]);
            }
            observe(store.insert_workflow(new, InsertOptions::default()).await)
        }
        Op::Step {
            wf,
            fid,
            name,
            error,
        } => {
            // A step of a workflow that does not exist is not specified: each side checks its
            // own rows (a difference between them shows up in the rows themselves).
            let exists = store.get_workflows(&[w[*wf].to_owned()]).await;
            if !matches!(&exists, Ok(rows) if !rows.is_empty()) {
                return observe(exists.map(|_| "not run: no such workflow"));
            }
            let value = Payload::portable_json(fid.to_string());
            let name = STEP_NAMES[*name];
            let step = if *error {
                StepRecord::error(w[*wf], *fid, name, value)
            } else {
                StepRecord::output(w[*wf], *fid, name, value)
            };
            observe(store.record_step(step, None).await)
        }
        Op::SendToForks { messages, who } => send(store, w, messages, *who, true).await,
        Op::Fork { source, start } => observe(
            store
                .fork_workflows(vec![
                    ForkRequest::new(w[*source], start.build()).with_fork_id(w[FORK])
                ])
                .await,
        ),
        Op::Rewind { wf, start } => observe(
            store
                .rewind_workflow(RewindRequest::new(w[*wf], start.build()))
                .await,
        ),
        Op::Delete { wfs, children } => observe_set(
            store
                .delete_workflows(
                    &owned(w, wfs),
                    DeleteOptions::default().delete_children(*children),
                )
                .await,
        ),
        Op::Claim { queue } => {
            let mut request = ClaimRequest::new(QUEUES[*queue], "e0", "v1");
            request.owner_xid = "c0".to_owned();
            observe(store.claim_workflows(request).await)
        }
        Op::Outcome { wf, error } => {
            let value = Payload::portable_json("1");
            let outcome = if *error {
                Outcome::Error(value)
            } else {
                Outcome::Output(value)
            };
            observe(store.record_outcome(w[*wf], outcome, None).await)
        }
        Op::Cancel { wfs, children } => observe_set(
            store
                .cancel_workflows(
                    &owned(w, wfs),
                    CancelOptions::default().cancel_children(*children),
                )
                .await,
        ),
        Op::Resume { wfs } => observe_set(
            store
                .resume_workflows(&owned(w, wfs), ResumeOptions::default())
                .await,
        ),
        Op::Attributes {
            wf,
            mode,
            key,
            value,
        } => {
            let (mode, _) = attribute_mode(*mode);
            let mut map = serde_json::Map::new();
            if mode != AttributeUpdate::Clear {
                map.insert(format!("a{key}"), serde_json::Value::from(*value));
            }
            observe(store.update_workflow_attributes(w[*wf], map, mode).await)
        }
        Op::Acquire { holder, long } => observe(
            store
                .acquire_lease(&lease(*holder, *long))
                .await
                .map(|state| (state.acquired, state.holder)),
        ),
        Op::Release { holder } => observe(store.release_lease(&lease(*holder, true)).await),
        Op::Collect {
            holder,
            cutoff,
            keep_newest,
            limit,
        } => {
            let window = store
                .collectable_workflows(policy(*cutoff, *keep_newest, now), None, *limit)
                .await;
            let deleted = match &window {
                Ok(window) => observe_set(
                    store
                        .delete_collected(&lease(*holder, true), &window.workflow_ids)
                        .await,
                ),
                Err(_) => Ok("not run".to_owned()),
            };
            // The next window's start is compared by id: creation times are each store's own.
            observe(window.map(|window| {
                let next = window.next_from.map(|position| position.workflow_id);
                (window.workflow_ids, next, deleted)
            }))
        }
        Op::Reimport {
            wf,
            delete_first,
            replace,
        } => {
            let ids = [w[*wf].to_owned()];
            let exported = store.export_workflows(&ids, false).await;
            let Ok(exported) = exported else {
                return observe(exported.map(|_| ()));
            };
            let deleted = if *delete_first {
                observe(store.delete_workflows(&ids, DeleteOptions::default()).await)
            } else {
                Ok("not deleted".to_owned())
            };
            let imported = store
                .import_workflows(
                    exported,
                    ImportOptions::default().replace_existing(*replace),
                )
                .await;
            observe(kind_pair(deleted, imported))
        }
        Op::Recover {
            wf,
            expected,
            token,
            max_attempts,
        } => observe(
            store
                .recover_workflow(recovery(w[*wf], *expected, *token, *max_attempts))
                .await,
        ),
        Op::Rename(rename) => rename.run(store).await,
        Op::Metrics(metrics) => metrics.run(store, now).await,
        Op::Sweep(sweep) => sweep.run(store, &lease(sweep.holder, true), w).await,
    }
}

fn kind_pair(
    deleted: Observed,
    imported: dbos_storage_core::Result<Vec<String>>,
) -> dbos_storage_core::Result<(Observed, Observed)> {
    Ok((deleted, observe(imported)))
}

/// The machine.
pub(crate) struct Mixed;

impl Machine for Mixed {
    type Op = Op;
    const MAX_OPS: usize = MAX_OPS;

    fn op() -> BoxedStrategy<Op> {
        op().boxed()
    }

    async fn run(store: &dyn SystemStore, op: &Op, now: EpochMs) -> Observed {
        run(store, op, now).await
    }

    async fn snapshot(store: &dyn SystemStore) -> String {
        messaging::snapshot(store, &WORKFLOWS).await + &ownership(store, &WORKFLOWS).await
    }
}

/// Random sequences over every area at once — messages, events and streams with inserts,
/// steps, forks, rewinds, deletes, claims, outcomes, cancels, resumes, attribute updates,
/// leases, garbage collection and export/import — give the same results on the store as on the
/// reference model, and leave the same state.
pub async fn mixed_matches_the_model<F: Factory>(factory: &F) {
    super::harness::check::<F, Mixed>(factory, "mixed").await;
}
