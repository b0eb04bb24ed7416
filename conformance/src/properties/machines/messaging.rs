//! The messaging machine: messages (single and bulk sends, from clients, workflows and steps,
//! with idempotency keys; receives without waiting; listings), events (set from workflows and
//! steps, get with and without a calling workflow, the current map and the history) and streams
//! (writes, closes, reads from an offset, checkpointed reads), on three workflows and one id
//! that is never inserted, with step positions 1 to 5 so that replays and collisions are common.
//!
//! Receives and event reads use a zero timeout: they never wait, so each answer is decided by
//! the operations before it. Messages of one batch share a send time, which the contract does
//! not order, so a generated batch never holds two messages a receive could tell apart only by
//! that order (same destination and topic).

use std::fmt;
use std::time::Duration;

use dbos_storage_core::{
    AwaitOptions, Caller, EpochMs, GetEventRequest, InsertOptions, NewWorkflow, Outcome,
    OutgoingMessage, Payload, RecvRequest, SendOptions, StreamReadOptions, StreamStepRequest,
    SystemStore,
};
use proptest::prelude::*;

use super::harness::{observe, observe_set, Machine, Observed};
use super::render::{id_slice, lit};
use super::views::{notifications, published};
use crate::normalize::Snapshot;
use crate::Factory;

/// Workflows; the last is never inserted.
pub(crate) const WORKFLOWS: [&str; 4] = ["m0", "m1", "m2", "missing"];
const TOPICS: [Option<&str>; 2] = [None, Some("t")];
const KEYS: [&str; 2] = ["k0", "k1"];
const IDEMPOTENCY_KEYS: [&str; 2] = ["i0", "i1"];
/// Ownership tokens: the creator's, and a stranger's.
const TOKENS: [&str; 2] = ["o", "x"];
/// The longest generated sequence.
const MAX_OPS: usize = 24;

/// Who makes a call that may be checkpointed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who {
    wf: usize,
    fid: i32,
    in_step: bool,
    owner: Option<usize>,
}

impl Who {
    pub(crate) fn caller(self, workflows: &[&str]) -> Caller {
        let caller = if self.in_step {
            Caller::step(workflows[self.wf], self.fid)
        } else {
            Caller::workflow(workflows[self.wf], self.fid)
        };
        match self.owner {
            Some(o) => caller.with_owner(TOKENS[o]),
            None => caller,
        }
    }

    pub(crate) fn render(self, workflows: &[&str]) -> String {
        let mut text = format!(
            "Caller::{}({}, {})",
            if self.in_step { "step" } else { "workflow" },
            lit(workflows[self.wf]),
            self.fid
        );
        if let Some(o) = self.owner {
            text += &format!(".with_owner({})", lit(TOKENS[o]));
        }
        text
    }
}

/// A workflow of the first `workflows`, mostly the first, so that sends, receives, events and
/// streams meet on one workflow often.
fn mostly_first(workflows: usize) -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(0), 1 => 0..workflows]
}

pub(crate) fn who(workflows: usize) -> impl Strategy<Value = Who> {
    (
        mostly_first(workflows),
        1..=5i32,
        any::<bool>(),
        proptest::option::weighted(0.3, 0..TOKENS.len()),
    )
        .prop_map(|(wf, fid, in_step, owner)| Who {
            wf,
            fid,
            in_step,
            owner,
        })
}

/// One message of a send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Message {
    dest: usize,
    topic: usize,
    key: Option<usize>,
    value: u8,
}

impl Message {
    fn build(self, workflows: &[&str]) -> OutgoingMessage {
        let m = OutgoingMessage::new(workflows[self.dest], TOPICS[self.topic], value(self.value));
        match self.key {
            Some(k) => m.with_idempotency_key(IDEMPOTENCY_KEYS[k]),
            None => m,
        }
    }

    fn render(self, workflows: &[&str]) -> String {
        let mut text = format!(
            "OutgoingMessage::new({}, {}, Payload::portable_json({}))",
            lit(workflows[self.dest]),
            topic(self.topic),
            lit(&self.value.to_string())
        );
        if let Some(k) = self.key {
            text += &format!(".with_idempotency_key({})", lit(IDEMPOTENCY_KEYS[k]));
        }
        text
    }
}

fn topic(index: usize) -> String {
    match TOPICS[index] {
        Some(t) => format!("Some({t:?})"),
        None => "None::<&str>".to_owned(),
    }
}

fn value(v: u8) -> Payload {
    Payload::portable_json(v.to_string())
}

/// A batch of one to three messages to the first `workflows` ids, without two that only their
/// (unordered) send time would tell apart: same destination and topic, unless they are the
/// same idempotent message (which the store refuses).
pub(crate) fn messages(workflows: usize) -> impl Strategy<Value = Vec<Message>> {
    proptest::collection::vec(
        (
            mostly_first(workflows),
            prop_oneof![2 => Just(0), 1 => Just(1)],
            proptest::option::of(0..IDEMPOTENCY_KEYS.len()),
            0..4u8,
        )
            .prop_map(|(dest, topic, key, value)| Message {
                dest,
                topic,
                key,
                value,
            }),
        1..=3,
    )
    .prop_map(|list| {
        let mut kept: Vec<Message> = Vec::new();
        for m in list {
            let clash = kept.iter().any(|k| {
                k.dest == m.dest && k.topic == m.topic && (k.key.is_none() || k.key != m.key)
            });
            if !clash {
                kept.push(m);
            }
        }
        kept
    })
}

/// Sends `messages` as `who` (a client when `None`).
pub(crate) async fn send(
    store: &dyn SystemStore,
    workflows: &[&str],
    messages: &[Message],
    who: Option<Who>,
    to_forks: bool,
) -> Observed {
    observe(
        store
            .send_messages(
                messages.iter().map(|m| m.build(workflows)).collect(),
                who.map(|w| w.caller(workflows)),
                SendOptions::default().send_to_forks(to_forks),
            )
            .await,
    )
}

/// [`send`] as Rust.
pub(crate) fn render_send(
    f: &mut fmt::Formatter<'_>,
    workflows: &[&str],
    messages: &[Message],
    who: Option<Who>,
    to_forks: bool,
) -> fmt::Result {
    let list: Vec<String> = messages.iter().map(|m| m.render(workflows)).collect();
    write!(
        f,
        "let _ = store.send_messages(vec![{}], {}, SendOptions::default().send_to_forks({to_forks})).await",
        list.join(", "),
        match who {
            Some(w) => format!("Some({})", w.render(workflows)),
            None => "None".to_owned(),
        }
    )
}

/// One generated operation; its `Debug` is the Rust call.
#[derive(Clone)]
pub(crate) enum Op {
    Insert {
        wf: usize,
    },
    Send {
        messages: Vec<Message>,
        who: Option<Who>,
    },
    Recv {
        who: Who,
        timeout_fid: i32,
        topic: usize,
    },
    Notifications {
        wf: usize,
    },
    SetEvent {
        who: Who,
        key: usize,
        value: u8,
    },
    GetEvent {
        target: usize,
        key: usize,
        reader: Option<(Who, i32)>,
    },
    AllEvents {
        wf: usize,
    },
    Write {
        who: Who,
        key: usize,
        value: u8,
    },
    Close {
        who: Who,
        key: usize,
    },
    Read {
        wf: usize,
        key: usize,
        from: i32,
        limit: u32,
    },
    ReadStep {
        who: Who,
        target: usize,
        key: usize,
        offset: i32,
    },
    Outcome {
        wf: usize,
    },
    Cancel {
        wf: usize,
    },
}

fn wait_rendered(zero: bool) -> &'static str {
    if zero {
        "AwaitOptions::default().poll_interval(Duration::from_millis(20)).timeout(Duration::ZERO)"
    } else {
        "AwaitOptions::default().poll_interval(Duration::from_millis(20))"
    }
}

fn wait() -> AwaitOptions {
    AwaitOptions::default().poll_interval(Duration::from_millis(20))
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, &WORKFLOWS)
    }
}

impl Op {
    /// The Rust call, over `w` (the world's workflow ids).
    pub(crate) fn render(&self, f: &mut fmt::Formatter<'_>, w: &[&str]) -> fmt::Result {
        match self {
            Op::Insert { wf } => write!(
                f,
                "let _ = store.insert_workflow(NewWorkflow::new({}, \"f\", \
                 Payload::portable_json(\"[]\")).with_creator_xid({}), \
                 InsertOptions::default()).await",
                lit(w[*wf]),
                lit(TOKENS[0])
            ),
            Op::Send { messages, who } => render_send(f, w, messages, *who, false),
            Op::Recv {
                who,
                timeout_fid,
                topic: t,
            } => write!(
                f,
                "let _ = store.recv(RecvRequest::new({}.with_timeout_step({timeout_fid}), {}, \
                 Duration::ZERO), {}).await",
                who.render(w),
                topic(*t),
                wait_rendered(false)
            ),
            Op::Notifications { wf } => {
                write!(f, "let _ = store.list_notifications({}).await", lit(w[*wf]))
            }
            Op::SetEvent { who, key, value } => write!(
                f,
                "let _ = store.set_event({}, {}, Payload::portable_json({})).await",
                who.render(w),
                lit(KEYS[*key]),
                lit(&value.to_string())
            ),
            Op::GetEvent {
                target,
                key,
                reader,
            } => {
                write!(
                    f,
                    "let _ = store.get_event(GetEventRequest::new({}, {}, Duration::ZERO)",
                    lit(w[*target]),
                    lit(KEYS[*key])
                )?;
                if let Some((who, tfid)) = reader {
                    write!(
                        f,
                        ".from_workflow({}.with_timeout_step({tfid}))",
                        who.render(w)
                    )?;
                }
                write!(f, ", {}).await", wait_rendered(false))
            }
            Op::AllEvents { wf } => {
                write!(f, "let _ = store.get_all_events({}).await", lit(w[*wf]))
            }
            Op::Write { who, key, value } => write!(
                f,
                "let _ = store.write_stream({}, {}, Payload::portable_json({})).await",
                who.render(w),
                lit(KEYS[*key]),
                lit(&value.to_string())
            ),
            Op::Close { who, key } => write!(
                f,
                "let _ = store.close_stream({}, {}).await",
                who.render(w),
                lit(KEYS[*key])
            ),
            Op::Read {
                wf,
                key,
                from,
                limit,
            } => write!(
                f,
                "let _ = store.read_stream({}, {}, \
                 StreamReadOptions::default().from_offset({from}).limit({limit})).await",
                lit(w[*wf]),
                lit(KEYS[*key])
            ),
            Op::ReadStep {
                who,
                target,
                key,
                offset,
            } => write!(
                f,
                "let _ = store.read_stream_step(StreamStepRequest::new({}, {}, {}, {offset}), \
                 {}).await",
                who.render(w),
                lit(w[*target]),
                lit(KEYS[*key]),
                wait_rendered(true)
            ),
            Op::Outcome { wf } => write!(
                f,
                "let _ = store.record_outcome({}, \
                 Outcome::Output(Payload::portable_json(\"1\")), None).await",
                lit(w[*wf])
            ),
            Op::Cancel { wf } => write!(
                f,
                "let _ = store.cancel_workflows({}, CancelOptions::default()).await",
                id_slice(&[w[*wf]])
            ),
        }
    }
}

/// One operation over a world of [`WORKFLOWS`]' size (the last id never inserted by
/// [`Op::Insert`]).
pub(crate) fn op() -> impl Strategy<Value = Op> {
    let n = WORKFLOWS.len();
    let workflow = || 0..WORKFLOWS.len() - 1;
    let any_wf = move || 0..n;
    // Workflow callers: not in a step (recv, event reads and checkpointed reads need one).
    let direct = || {
        who(WORKFLOWS.len()).prop_map(|w| Who {
            in_step: false,
            ..w
        })
    };
    prop_oneof![
        4 => workflow().prop_map(|wf| Op::Insert { wf }),
        5 => (messages(n), proptest::option::of(who(n)))
            .prop_map(|(messages, who)| Op::Send { messages, who }),
        4 => (direct(), 1..=5i32, prop_oneof![2 => Just(0), 1 => Just(1)])
            .prop_map(|(who, timeout_fid, topic)| Op::Recv { who, timeout_fid, topic }),
        1 => any_wf().prop_map(|wf| Op::Notifications { wf }),
        3 => (who(n), 0..KEYS.len(), 0..4u8)
            .prop_map(|(who, key, value)| Op::SetEvent { who, key, value }),
        2 => (any_wf(), 0..KEYS.len(), proptest::option::of((direct(), 1..=5i32)))
            .prop_map(|(target, key, reader)| Op::GetEvent { target, key, reader }),
        1 => any_wf().prop_map(|wf| Op::AllEvents { wf }),
        3 => (who(n), 0..KEYS.len(), 0..4u8)
            .prop_map(|(who, key, value)| Op::Write { who, key, value }),
        1 => (who(n), 0..KEYS.len()).prop_map(|(who, key)| Op::Close { who, key }),
        2 => (any_wf(), 0..KEYS.len(), 0..3i32, 1..=3u32)
            .prop_map(|(wf, key, from, limit)| Op::Read { wf, key, from, limit }),
        1 => (direct(), any_wf(), 0..KEYS.len(), 0..3i32)
            .prop_map(|(who, target, key, offset)| Op::ReadStep { who, target, key, offset }),
        1 => workflow().prop_map(|wf| Op::Outcome { wf }),
        1 => workflow().prop_map(|wf| Op::Cancel { wf }),
    ]
}

/// Runs one operation of the messaging machine on `store`, over `workflows`.
pub(crate) async fn run(store: &dyn SystemStore, workflows: &[&str], op: &Op) -> Observed {
    let w = workflows;
    match op {
        Op::Insert { wf } => observe(
            store
                .insert_workflow(
                    NewWorkflow::new(w[*wf], "f", Payload::portable_json("[]"))
                        .with_creator_xid(TOKENS[0]),
                    InsertOptions::default(),
                )
                .await,
        ),
        Op::Send { messages, who } => send(store, w, messages, *who, false).await,
        Op::Recv {
            who,
            timeout_fid,
            topic,
        } => {
            let request = RecvRequest::new(
                who.caller(w).with_timeout_step(*timeout_fid),
                TOPICS[*topic],
                Duration::ZERO,
            );
            observe(store.recv(request, wait()).await)
        }
        Op::Notifications { wf } => notifications(store, w[*wf]).await,
        Op::SetEvent { who, key, value: v } => {
            observe(store.set_event(who.caller(w), KEYS[*key], value(*v)).await)
        }
        Op::GetEvent {
            target,
            key,
            reader,
        } => {
            let mut request = GetEventRequest::new(w[*target], KEYS[*key], Duration::ZERO);
            if let Some((who, tfid)) = reader {
                request = request.from_workflow(who.caller(w).with_timeout_step(*tfid));
            }
            observe(store.get_event(request, wait()).await)
        }
        Op::AllEvents { wf } => observe(store.get_all_events(w[*wf]).await),
        Op::Write { who, key, value: v } => observe(
            store
                .write_stream(who.caller(w), KEYS[*key], value(*v))
                .await,
        ),
        Op::Close { who, key } => observe(store.close_stream(who.caller(w), KEYS[*key]).await),
        Op::Read {
            wf,
            key,
            from,
            limit,
        } => observe(
            store
                .read_stream(
                    w[*wf],
                    KEYS[*key],
                    StreamReadOptions::default()
                        .from_offset(*from)
                        .limit(*limit),
                )
                .await,
        ),
        Op::ReadStep {
            who,
            target,
            key,
            offset,
        } => observe(
            store
                .read_stream_step(
                    StreamStepRequest::new(who.caller(w), w[*target], KEYS[*key], *offset),
                    wait().timeout(Duration::ZERO),
                )
                .await,
        ),
        Op::Outcome { wf } => observe(
            store
                .record_outcome(w[*wf], Outcome::Output(Payload::portable_json("1")), None)
                .await,
        ),
        Op::Cancel { wf } => observe_set(
            store
                .cancel_workflows(&[w[*wf].to_owned()], Default::default())
                .await,
        ),
    }
}

/// Everything a caller can read about `workflows`: rows, results and steps, messages, events
/// (current and history) and streams.
pub(crate) async fn snapshot(store: &dyn SystemStore, workflows: &[&str]) -> String {
    let ids: Vec<String> = workflows.iter().map(|s| (*s).to_owned()).collect();
    let mut text = format!("{:?}", Snapshot::take(store, &ids).await);
    for id in workflows {
        text += &format!(
            "\n{id}: messages {:?} published {:?} events {:?}",
            notifications(store, id).await,
            published(store, id).await,
            observe(store.get_all_events(id).await)
        );
        for key in KEYS {
            let read = store
                .read_stream(id, key, StreamReadOptions::default())
                .await;
            text += &format!(" stream {key} {:?}", observe(read));
        }
    }
    text
}

/// The machine.
pub(crate) struct Messaging;

impl Machine for Messaging {
    type Op = Op;
    const MAX_OPS: usize = MAX_OPS;

    fn op() -> BoxedStrategy<Op> {
        op().boxed()
    }

    async fn run(store: &dyn SystemStore, op: &Op, _now: EpochMs) -> Observed {
        run(store, &WORKFLOWS, op).await
    }

    async fn snapshot(store: &dyn SystemStore) -> String {
        snapshot(store, &WORKFLOWS).await
    }
}

/// Random sequences of sends, receives, event writes and reads, stream writes, closes and
/// reads, outcomes and cancels give the same results on the store as on the reference model,
/// and leave the same messages, events, event history and streams.
pub async fn messaging_matches_the_model<F: Factory>(factory: &F) {
    super::harness::check::<F, Messaging>(factory, "messaging").await;
}
