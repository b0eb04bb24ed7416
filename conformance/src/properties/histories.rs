//! Histories of concurrent clients, checked against the reference model.
//!
//! Each case starts a few clients at once on one store. Every client runs a short sequence
//! of operations of one area (inserts of one id, records of one workflow's steps racing its
//! outcome and its cancellation, sends and receives, claims racing cancellations, events, or
//! all of them mixed) and keeps what each call returned and when it was made and answered. The
//! history is then explained or refuted: some serial order of the same calls, keeping each
//! client's own order and the real-time order (a call that returned before another started
//! comes first, `real_time`), run one at a time on a fresh [`MemoryStore`] after the same
//! setup, must return exactly what every call returned on the store and leave the same final
//! state (`final_state`). A history no serial order explains fails the property, printed
//! client by client with each call and its result.
//!
//! A call that fails with a retryable error (`Contention`, `SerializationFailure`, …) changed
//! nothing, as the trait docs promise; the client tries it again at once, as an executor
//! would, and only its final answer enters the history.
//!
//! One relaxation, which the contract states: a claim without a shared budget passes over rows
//! another session holds locked. A claim that overlapped in time a claim or cancellation of
//! another client may therefore skip rows (two overlapping claims can each skip rows the other
//! locked first, which no serial order of plain claims explains); the serial explanation lets it
//! take any claimable rows, at most its `max_tasks` (`MemoryStore::claim_passing_over`). A claim
//! that overlapped none takes exactly the first rows, and no claim may take a row that is not
//! claimable at its place in the order.

mod final_state;
mod real_time;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dbos_storage_core::{
    Caller, CancelOptions, ClaimRequest, ErrorKind, GetEventRequest, InsertOptions, Outcome,
    OutgoingMessage, Payload, RecvRequest, Result, SendOptions, StepRecord, SystemStore,
};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};

use crate::checks::*;
use crate::model::MemoryStore;
use crate::runner::{block_in_place, proptest_config};
use crate::Factory;
use final_state::final_state;
use real_time::{may_go_next, Span};

/// The workflow whose step 1 and 2 the clients race to record (owner token [`OWNER`]).
const STEPPED: &str = "h-stepped";
/// The creator token of [`STEPPED`] and [`MAILBOX`].
const OWNER: &str = "h-owner";
/// The one id every insert of an insert history uses.
const INSERTED: &str = "h-inserted";
/// The workflow messages are sent to, which receives them and sets events.
const MAILBOX: &str = "h-mailbox";
/// The queue the claims take from.
const QUEUE: &str = "h-queue";
/// How many workflows are queued on [`QUEUE`] before the clients start.
const QUEUED: usize = 4;
/// How many times a client tries a call that keeps failing with a retryable error.
const ATTEMPTS: usize = 200;

/// The workflow a [`Call::Cancel`] cancels.
fn cancelled_id(queued: Option<u8>) -> String {
    match queued {
        None => STEPPED.to_owned(),
        Some(i) => queued_id(usize::from(i)),
    }
}

/// The id of the `i`-th workflow queued on [`QUEUE`].
fn queued_id(i: usize) -> String {
    format!("h-queued-{i}")
}

/// The completion time of a step record with output `value`: the attempt's identity (a record
/// with the same time is the same attempt, another time a rival), fixed so that the model's
/// answers do not depend on when its calls ran.
fn attempt_time(value: u8) -> i64 {
    1_000 + i64::from(value)
}

/// One call of a client.
#[derive(Clone, PartialEq, Eq)]
enum Call {
    /// `insert_workflow` of [`INSERTED`], created by token `h-creator-{creator}`.
    Insert { creator: u8 },
    /// `record_step` of step `function_id` of [`STEPPED`] with output `value`, completed at
    /// [`attempt_time`]`(value)`.
    RecordStep { function_id: i32, value: u8 },
    /// `record_outcome` of [`STEPPED`] with output `value`, as its owner.
    Finish { value: u8 },
    /// `cancel_workflows` of one workflow: [`STEPPED`] (`None`) or the `i`-th queued one.
    Cancel { queued: Option<u8> },
    /// `send_messages` of `value` to [`MAILBOX`] on `topic`, with an idempotency key if set.
    Send {
        topic: u8,
        value: u8,
        key: Option<u8>,
    },
    /// `recv` on `topic` by [`MAILBOX`] without waiting.
    Recv { topic: u8 },
    /// `claim_workflows` of at most `max_tasks` from [`QUEUE`].
    Claim { max_tasks: u32 },
    /// `set_event` of `key` to `value` by [`MAILBOX`].
    SetEvent { key: u8, value: u8 },
    /// `get_event` of `key` of [`MAILBOX`] without waiting.
    GetEvent { key: u8 },
}

impl fmt::Debug for Call {
    /// The call as the Rust that makes it (`step` is the call's own function id where the call
    /// is a step of [`MAILBOX`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Insert { creator } => write!(
                f,
                "store.insert_workflow(NewWorkflow::new({INSERTED:?}, \"wf_fn\", inputs())\
                 .with_creator_xid(\"h-creator-{creator}\"), InsertOptions::default())"
            ),
            Call::RecordStep { function_id, value } => write!(
                f,
                "store.record_step(StepRecord::output({STEPPED:?}, {function_id}, \"s\", \
                 Payload::portable_json(\"{value}\")).with_times(None, {}), Some({OWNER:?}))",
                attempt_time(*value)
            ),
            Call::Finish { value } => write!(
                f,
                "store.record_outcome({STEPPED:?}, Outcome::Output(Payload::portable_json(\
                 \"{value}\")), Some({OWNER:?}))"
            ),
            Call::Cancel { queued } => write!(
                f,
                "store.cancel_workflows(&[{:?}.to_owned()], CancelOptions::default())",
                cancelled_id(*queued)
            ),
            Call::Send { topic, value, key } => {
                write!(
                    f,
                    "store.send_messages(vec![OutgoingMessage::new({MAILBOX:?}, \
                     Some(\"t{topic}\"), Payload::portable_json(\"{value}\"))"
                )?;
                if let Some(key) = key {
                    write!(f, ".with_idempotency_key(\"k{key}\")")?;
                }
                write!(f, "], None, SendOptions::default())")
            }
            Call::Recv { topic } => write!(
                f,
                "store.recv(RecvRequest::new(Caller::workflow({MAILBOX:?}, step)\
                 .with_timeout_step(step + 100), Some(\"t{topic}\"), Duration::ZERO), quick_wait())"
            ),
            Call::Claim { max_tasks } => write!(
                f,
                "store.claim_workflows(ClaimRequest::new({QUEUE:?}, \"h-executor\", \"v1\")\
                 .max_tasks({max_tasks}))"
            ),
            Call::SetEvent { key, value } => write!(
                f,
                "store.set_event(Caller::workflow({MAILBOX:?}, step), \"e{key}\", \
                 Payload::portable_json(\"{value}\"))"
            ),
            Call::GetEvent { key } => write!(
                f,
                "store.get_event(GetEventRequest::new({MAILBOX:?}, \"e{key}\", \
                 Duration::ZERO), quick_wait())"
            ),
        }
    }
}

/// What a call returned, in the terms the trait docs promise (no timestamps, no tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// An error of this kind.
    Failed(ErrorKind),
    /// An insert's outcome.
    Inserted {
        should_execute: bool,
        existed: bool,
        status: String,
    },
    /// A step record, send or event write that succeeded (replayed or not, or how many
    /// messages a send delivered).
    Done(String),
    /// A read: the value's text, or `None`.
    Read(Option<String>),
    /// The ids a claim took, sorted.
    Claimed(Vec<String>),
}

/// A call and the function id it uses where it is a step of [`MAILBOX`] (unique in the case,
/// so that no call replays another's step).
#[derive(Debug, Clone)]
struct Planned {
    call: Call,
    step: i32,
}

/// One case: the calls of each client, in that client's order.
#[derive(Clone)]
struct Case {
    clients: Vec<Vec<Planned>>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (c, calls) in self.clients.iter().enumerate() {
            writeln!(f, "client {c}:")?;
            for planned in calls {
                writeln!(f, "    {:?}; // step = {}", planned.call, planned.step)?;
            }
        }
        Ok(())
    }
}

/// The calls of one area, so that the clients of a case contend for the same rows.
fn area_call() -> BoxedStrategy<BoxedStrategy<Call>> {
    let inserts = (0u8..3)
        .prop_map(|creator| Call::Insert { creator })
        .boxed();
    let steps = prop_oneof![
        4 => (1i32..=2, 0u8..4)
            .prop_map(|(function_id, value)| Call::RecordStep { function_id, value }),
        1 => (0u8..2).prop_map(|value| Call::Finish { value }),
        1 => Just(Call::Cancel { queued: None }),
    ]
    .boxed();
    let messages =
        prop_oneof![
            (0u8..2, 0u8..8, proptest::option::of(0u8..2))
                .prop_map(|(topic, value, key)| Call::Send { topic, value, key }),
            (0u8..2).prop_map(|topic| Call::Recv { topic }),
        ]
        .boxed();
    let claims = prop_oneof![
        3 => (1u32..=3).prop_map(|max_tasks| Call::Claim { max_tasks }),
        1 => (0..QUEUED as u8).prop_map(|i| Call::Cancel { queued: Some(i) }),
    ]
    .boxed();
    let events = prop_oneof![
        (0u8..2, 0u8..4).prop_map(|(key, value)| Call::SetEvent { key, value }),
        (0u8..2).prop_map(|key| Call::GetEvent { key }),
    ]
    .boxed();
    let mixed = prop_oneof![
        inserts.clone(),
        steps.clone(),
        messages.clone(),
        claims.clone(),
        events.clone()
    ]
    .boxed();
    prop_oneof![
        Just(inserts),
        Just(steps),
        Just(messages),
        Just(claims),
        Just(events),
        Just(mixed),
    ]
    .boxed()
}

/// Two or three clients of one to three calls each, all of one area.
fn cases() -> impl Strategy<Value = Case> {
    area_call().prop_flat_map(|call| {
        proptest::collection::vec(proptest::collection::vec(call, 1..=3), 2..=3).prop_map(
            |clients| {
                let mut step = 10;
                let clients = clients
                    .into_iter()
                    .map(|calls| {
                        calls
                            .into_iter()
                            .map(|call| {
                                step += 1;
                                Planned { call, step }
                            })
                            .collect()
                    })
                    .collect();
                Case { clients }
            },
        )
    })
}

/// The rows every case starts from, written the same way on the store and on the model.
async fn set_up<S: SystemStore + ?Sized>(store: &S) {
    for id in [STEPPED, MAILBOX] {
        ok(
            store
                .insert_workflow(pending(id, OWNER), InsertOptions::default())
                .await,
            &format!("insert {id}"),
        );
    }
    let queued = (0..QUEUED)
        .map(|i| enqueued(&queued_id(i), QUEUE))
        .collect();
    ok(store.enqueue_workflows(queued).await, "enqueue the queue");
}

/// Makes one call, once.
async fn call_once<S: SystemStore + ?Sized>(store: &S, planned: &Planned) -> Result<Answer> {
    let wait = quick_wait();
    Ok(match &planned.call {
        Call::Insert { creator } => {
            let workflow = pending(INSERTED, &format!("h-creator-{creator}"));
            let outcome = store
                .insert_workflow(workflow, InsertOptions::default())
                .await?;
            Answer::Inserted {
                should_execute: outcome.should_execute,
                existed: outcome.existed,
                status: outcome.status.to_string(),
            }
        }
        Call::RecordStep { function_id, value } => {
            let step = StepRecord::output(
                STEPPED,
                *function_id,
                "s",
                Payload::portable_json(value.to_string()),
            )
            .with_times(None, attempt_time(*value));
            store.record_step(step, Some(OWNER)).await?;
            Answer::Done("recorded".to_owned())
        }
        Call::Finish { value } => {
            let outcome = Outcome::Output(Payload::portable_json(value.to_string()));
            let applied = store.record_outcome(STEPPED, outcome, Some(OWNER)).await?;
            Answer::Done(format!("applied {applied}"))
        }
        Call::Cancel { queued } => {
            let mut cancelled = store
                .cancel_workflows(&[cancelled_id(*queued)], CancelOptions::default())
                .await?;
            cancelled.sort();
            Answer::Done(format!("cancelled {cancelled:?}"))
        }
        Call::Send { topic, value, key } => {
            let mut message = OutgoingMessage::new(
                MAILBOX,
                Some(format!("t{topic}")),
                Payload::portable_json(value.to_string()),
            );
            if let Some(key) = key {
                message = message.with_idempotency_key(format!("k{key}"));
            }
            let sent = store
                .send_messages(vec![message], None, SendOptions::default())
                .await?;
            Answer::Done(format!("delivered {}", sent.delivered))
        }
        Call::Recv { topic } => {
            let request = RecvRequest::new(
                Caller::workflow(MAILBOX, planned.step).with_timeout_step(planned.step + 100),
                Some(format!("t{topic}")),
                Duration::ZERO,
            );
            let value = store.recv(request, wait).await?;
            Answer::Read(value.map(|p| p.text))
        }
        Call::Claim { max_tasks } => claimed_answer(
            store
                .claim_workflows(claim_request(*max_tasks))
                .await?
                .claimed,
        ),
        Call::SetEvent { key, value } => {
            let set = store
                .set_event(
                    Caller::workflow(MAILBOX, planned.step),
                    &format!("e{key}"),
                    Payload::portable_json(value.to_string()),
                )
                .await?;
            Answer::Done(format!("set, replayed {}", set.replayed))
        }
        Call::GetEvent { key } => {
            let request = GetEventRequest::new(MAILBOX, format!("e{key}"), Duration::ZERO);
            let value = store.get_event(request, wait).await?;
            Answer::Read(value.map(|p| p.text))
        }
    })
}

/// The claim every claim call makes.
fn claim_request(max_tasks: u32) -> ClaimRequest {
    ClaimRequest::new(QUEUE, "h-executor", "v1").max_tasks(max_tasks)
}

/// A claim's answer: the ids it claimed, sorted (a history compares which rows, not their
/// order).
fn claimed_answer(mut claimed: Vec<String>) -> Answer {
    claimed.sort();
    Answer::Claimed(claimed)
}

/// Makes one call, again while it fails with a retryable error; its final answer.
async fn call<S: SystemStore + ?Sized>(store: &S, planned: &Planned) -> Answer {
    for _ in 0..ATTEMPTS {
        match call_once(store, planned).await {
            Ok(answer) => return answer,
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(1)).await,
            Err(e) => return Answer::Failed(e.kind()),
        }
    }
    panic!(
        "{:?} failed with a retryable error {ATTEMPTS} times in a row",
        planned.call
    )
}

/// What the clients saw: each client's answers and the spans of its calls, in its own order;
/// and the state the store was left in.
struct History {
    answers: Vec<Vec<Answer>>,
    spans: Vec<Vec<Span>>,
    final_state: String,
}

/// Every workflow a case's calls can touch.
fn touched_workflows() -> Vec<String> {
    let mut ids: Vec<String> = [STEPPED, MAILBOX, INSERTED]
        .into_iter()
        .map(str::to_owned)
        .collect();
    ids.extend((0..QUEUED).map(queued_id));
    ids
}

/// Runs every client at once on `store`; each client's answers and spans in its own order.
async fn run_clients<S: SystemStore + 'static>(
    store: &Arc<S>,
    case: &Case,
) -> (Vec<Vec<Answer>>, Vec<Vec<Span>>) {
    let start = Arc::new(tokio::sync::Barrier::new(case.clients.len()));
    let tasks: Vec<_> = case
        .clients
        .iter()
        .cloned()
        .map(|calls| {
            let store = store.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let mut answers = Vec::with_capacity(calls.len());
                let mut spans = Vec::with_capacity(calls.len());
                for planned in &calls {
                    let start = Instant::now();
                    answers.push(call(store.as_ref(), planned).await);
                    spans.push(Span {
                        start,
                        end: Instant::now(),
                    });
                }
                (answers, spans)
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(case.clients.len());
    let mut spans = Vec::with_capacity(case.clients.len());
    for task in tasks {
        match task.await {
            Ok((client_answers, client_spans)) => {
                answers.push(client_answers);
                spans.push(client_spans);
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a client was cancelled: {e}"),
        }
    }
    (answers, spans)
}

/// Every order of the clients' calls that keeps each client's own order, as client indices.
#[cfg(test)]
fn serial_orders(lengths: &[usize]) -> Vec<Vec<usize>> {
    serial_orders_where(lengths, &|_, _| true)
}

/// Every order of the clients' calls that keeps each client's own order and in which
/// `may_go_next(placed, client)` holds for each call when it is placed (`placed[c]` calls of
/// each client `c` before it), as client indices.
fn serial_orders_where(
    lengths: &[usize],
    may_go_next: &dyn Fn(&[usize], usize) -> bool,
) -> Vec<Vec<usize>> {
    fn extend(
        lengths: &[usize],
        placed: &mut [usize],
        may_go_next: &dyn Fn(&[usize], usize) -> bool,
        order: &mut Vec<usize>,
        orders: &mut Vec<Vec<usize>>,
    ) {
        if placed == lengths {
            orders.push(order.clone());
            return;
        }
        for client in 0..lengths.len() {
            if placed[client] < lengths[client] && may_go_next(placed, client) {
                placed[client] += 1;
                order.push(client);
                extend(lengths, placed, may_go_next, order, orders);
                order.pop();
                placed[client] -= 1;
            }
        }
    }
    let mut orders = Vec::new();
    let mut placed = vec![0; lengths.len()];
    extend(
        lengths,
        &mut placed,
        may_go_next,
        &mut Vec::new(),
        &mut orders,
    );
    orders
}

/// For each call of each client, the rows it may have passed over: for a claim that overlapped
/// in real time a claim or cancellation of another client, every queued row it did not return
/// (empty otherwise, and for calls that are not claims).
///
/// A claim without a shared budget passes over rows another session holds locked, and which
/// rows those were is not in the history: an overlapping claim may lock rows in an attempt that
/// fails and is retried (and then returns others), and a cancellation locks the row it cancels.
/// So such a claim is explained by any serial position at which every row it returned was
/// claimable, at most `max_tasks` of them; its effect (those rows claimed) is then checked like
/// any other call's, and a claim that overlapped none of those calls must take exactly the
/// first rows.
fn passed_over(case: &Case, history: &History) -> Vec<Vec<HashSet<String>>> {
    let locks_queued_rows =
        |call: &Call| matches!(call, Call::Claim { .. } | Call::Cancel { queued: Some(_) });
    case.clients
        .iter()
        .enumerate()
        .map(|(c, calls)| {
            calls
                .iter()
                .enumerate()
                .map(|(i, planned)| {
                    let Answer::Claimed(returned) = &history.answers[c][i] else {
                        return HashSet::new();
                    };
                    let span = &history.spans[c][i];
                    let contended = case.clients.iter().enumerate().any(|(other, calls)| {
                        other != c
                            && calls
                                .iter()
                                .zip(&history.spans[other])
                                .any(|(call, s)| locks_queued_rows(&call.call) && span.overlaps(s))
                    });
                    if !matches!(planned.call, Call::Claim { .. }) || !contended {
                        return HashSet::new();
                    }
                    (0..QUEUED)
                        .map(queued_id)
                        .filter(|id| !returned.contains(id))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The answers the model gives when the calls run one at a time in `order`, and the model.
/// A claim passes over the rows `held` names for it ([`passed_over`]).
async fn model_answers(
    case: &Case,
    order: &[usize],
    held: &[Vec<HashSet<String>>],
) -> (Vec<Vec<Answer>>, MemoryStore) {
    let model = MemoryStore::migrated();
    set_up(&model).await;
    let mut next = vec![0; case.clients.len()];
    let mut answers: Vec<Vec<Answer>> = case.clients.iter().map(|_| Vec::new()).collect();
    for &client in order {
        let index = next[client];
        let planned = &case.clients[client][index];
        next[client] += 1;
        let answer = match planned.call {
            Call::Claim { max_tasks } if !held[client][index].is_empty() => {
                let request = claim_request(max_tasks);
                match model
                    .claim_passing_over(request, &held[client][index])
                    .await
                {
                    Ok(outcome) => claimed_answer(outcome.claimed),
                    Err(e) => Answer::Failed(e.kind()),
                }
            }
            _ => call(&model, planned).await,
        };
        answers[client].push(answer);
    }
    (answers, model)
}

/// Whether some serial order explains `history` (same answers, same final state); otherwise
/// the failure, printed.
async fn explain(case: &Case, history: &History, backend: &str) -> Result<(), String> {
    let observed = &history.answers;
    let lengths: Vec<usize> = case.clients.iter().map(Vec::len).collect();
    let orders = serial_orders_where(&lengths, &|placed, client| {
        may_go_next(&history.spans, placed, client)
    });
    let held = passed_over(case, history);
    let mut first_model = None;
    let mut answering_state = None;
    for order in &orders {
        let (answers, model) = model_answers(case, order, &held).await;
        if answers == *observed {
            let state = final_state(&model, &touched_workflows()).await;
            if state == history.final_state {
                return Ok(());
            }
            answering_state.get_or_insert((order.clone(), state));
        }
        first_model.get_or_insert(answers);
    }
    let mut report = match &answering_state {
        Some(_) => format!(
            "serial orders of the calls (of {} in real-time order) give every answer the \
             {backend} store gave, but none leaves its final state:\n",
            orders.len()
        ),
        None => format!(
            "no serial order of the calls (of {} in real-time order) explains what the \
             {backend} store answered:\n",
            orders.len()
        ),
    };
    for (c, calls) in case.clients.iter().enumerate() {
        report.push_str(&format!("client {c}:\n"));
        for (planned, answer) in calls.iter().zip(&observed[c]) {
            report.push_str(&format!(
                "    {:?}; // step = {} → {answer:?}\n",
                planned.call, planned.step
            ));
        }
    }
    match (answering_state, first_model) {
        (Some((order, state)), _) => report.push_str(&format!(
            "the store was left in:\n{}the model, after the calls of clients {order:?} in that \
             order, in:\n{state}",
            history.final_state
        )),
        (None, Some(model)) => report.push_str(&format!(
            "the model, in the first real-time order, answered {model:?}"
        )),
        (None, None) => {}
    }
    Err(report)
}

/// One case on a fresh store.
async fn run_case<F: Factory>(factory: &F, case: &Case) -> Result<(), TestCaseError> {
    let store = Arc::new(factory.create().await);
    set_up(store.as_ref()).await;
    let (answers, spans) = run_clients(&store, case).await;
    let history = History {
        answers,
        spans,
        final_state: final_state(store.as_ref(), &touched_workflows()).await,
    };
    let verdict = explain(case, &history, store.backend())
        .await
        .map_err(TestCaseError::fail);
    let store = Arc::try_unwrap(store)
        .unwrap_or_else(|_| panic!("every client has ended, so the store has one owner"));
    factory.destroy(store).await;
    verdict
}

/// Concurrent clients' histories — inserts of one id, records of one step, sends and
/// receives, claims, events, and all of them mixed — are each explained by a serial order of
/// the same calls on the reference model (each client's order and the real-time order kept)
/// that gives the same answers and leaves the same final state.
pub async fn concurrent_histories_have_a_serial_explanation<F: Factory>(factory: &F) {
    let outcome = block_in_place(|rt| {
        let mut runner = TestRunner::new(proptest_config());
        runner.run(&cases(), |case| rt.block_on(run_case(factory, &case)))
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => panic!(
            "a concurrent history has no serial explanation.\n{reason}\nminimal case:\n\
             {case:?}"
        ),
        Err(TestError::Abort(reason)) => panic!("the history property aborted: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_orders_keep_each_clients_order_and_cover_every_interleaving() {
        let orders = serial_orders(&[2, 1]);
        assert_eq!(orders, vec![vec![0, 0, 1], vec![0, 1, 0], vec![1, 0, 0]]);
        assert_eq!(serial_orders(&[3, 3, 3]).len(), 1680);
        assert_eq!(serial_orders(&[1]).len(), 1);
    }

    /// The history the CockroachDB dialect produced (two overlapping claims, each passing over
    /// rows the other had locked, then cancellations): explained when the claims overlap, and
    /// refuted when the same answers came from claims one after the other.
    #[tokio::test]
    async fn overlapping_claims_may_pass_over_rows_and_claims_alone_may_not() {
        let planned = |call| Planned { call, step: 11 };
        let claim = |max_tasks| planned(Call::Claim { max_tasks });
        let cancel = |i| planned(Call::Cancel { queued: Some(i) });
        let case = Case {
            clients: vec![
                vec![claim(3), claim(3)],
                vec![claim(1), claim(3)],
                vec![cancel(3), cancel(1), claim(2)],
            ],
        };
        let ids = |list: &[usize]| Answer::Claimed(list.iter().map(|&i| queued_id(i)).collect());
        let cancelled = |i| Answer::Done(format!("cancelled [{:?}]", queued_id(i)));
        let answers = vec![
            vec![ids(&[3]), ids(&[])],
            vec![ids(&[0]), ids(&[1, 2])],
            vec![cancelled(3), cancelled(1), ids(&[])],
        ];
        // The state those calls leave: replayed with the passing over they needed.
        let model = MemoryStore::migrated();
        set_up(&model).await;
        let held = |list: &[usize]| list.iter().map(|&i| queued_id(i)).collect::<HashSet<_>>();
        for (max_tasks, passed_over) in [(1, held(&[])), (3, held(&[0, 1, 2])), (3, held(&[3]))] {
            model
                .claim_passing_over(claim_request(max_tasks), &passed_over)
                .await
                .unwrap();
        }
        for c in [cancel(3), cancel(1), claim(3), claim(2)] {
            call(&model, &c).await;
        }
        let state = final_state(&model, &touched_workflows()).await;

        let base = Instant::now();
        let at = |start: u64, end: u64| Span {
            start: base + Duration::from_millis(start),
            end: base + Duration::from_millis(end),
        };
        let history = |spans: Vec<Vec<Span>>| History {
            answers: answers.clone(),
            spans,
            final_state: state.clone(),
        };
        // Clients 0 and 1 claim at the same time; client 2 comes after both.
        let overlapping = history(vec![
            vec![at(0, 10), at(11, 12)],
            vec![at(1, 4), at(5, 9)],
            vec![at(20, 21), at(22, 23), at(24, 25)],
        ]);
        assert_eq!(explain(&case, &overlapping, "test").await, Ok(()));
        // Client 0's claims before client 1's: the first claim of three had three rows to take.
        let one_after_the_other = history(vec![
            vec![at(0, 1), at(2, 3)],
            vec![at(4, 5), at(6, 7)],
            vec![at(20, 21), at(22, 23), at(24, 25)],
        ]);
        let refuted = explain(&case, &one_after_the_other, "test").await;
        assert!(
            refuted
                .as_ref()
                .is_err_and(|e| e.contains("no serial order")),
            "{refuted:?}"
        );
    }

    /// Overlapping claims may pass over rows, never take one twice, take a cancelled row, or
    /// take more than their `max_tasks`.
    #[tokio::test]
    async fn overlapping_claims_still_never_double_claim_or_take_a_cancelled_row() {
        let planned = |call| Planned { call, step: 11 };
        let claim = |max_tasks| planned(Call::Claim { max_tasks });
        let ids = |list: &[usize]| Answer::Claimed(list.iter().map(|&i| queued_id(i)).collect());
        let base = Instant::now();
        let at = |start: u64, end: u64| Span {
            start: base + Duration::from_millis(start),
            end: base + Duration::from_millis(end),
        };
        let refuted = |case: Case, answers: Vec<Vec<Answer>>, spans: Vec<Vec<Span>>| async move {
            let history = History {
                answers,
                spans,
                final_state: String::new(),
            };
            let verdict = explain(&case, &history, "test").await;
            assert!(
                verdict
                    .as_ref()
                    .is_err_and(|e| e.contains("no serial order")),
                "{verdict:?}"
            );
        };
        // Both claims took h-queued-0.
        refuted(
            Case {
                clients: vec![vec![claim(1)], vec![claim(1)]],
            },
            vec![vec![ids(&[0])], vec![ids(&[0])]],
            vec![vec![at(0, 10)], vec![at(1, 9)]],
        )
        .await;
        // A claim took h-queued-1 after its cancellation had returned.
        refuted(
            Case {
                clients: vec![
                    vec![planned(Call::Cancel { queued: Some(1) }), claim(2)],
                    vec![claim(1)],
                ],
            },
            vec![
                vec![
                    Answer::Done(format!("cancelled [{:?}]", queued_id(1))),
                    ids(&[1, 2]),
                ],
                vec![ids(&[0])],
            ],
            vec![vec![at(0, 1), at(2, 10)], vec![at(3, 9)]],
        )
        .await;
        // A claim of at most one took two.
        refuted(
            Case {
                clients: vec![vec![claim(1)], vec![claim(1)]],
            },
            vec![vec![ids(&[1, 2])], vec![ids(&[0])]],
            vec![vec![at(0, 10)], vec![at(1, 9)]],
        )
        .await;
    }

    #[test]
    fn serial_orders_where_skips_what_the_rule_forbids() {
        // Client 1 may not start before client 0 has placed both its calls.
        let orders = serial_orders_where(&[2, 1], &|placed, client| client == 0 || placed[0] == 2);
        assert_eq!(orders, vec![vec![0, 0, 1]]);
    }
}
