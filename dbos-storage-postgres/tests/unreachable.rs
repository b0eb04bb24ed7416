//! Bounded retries: with the database unreachable, every operation of the contract, wrapped in
//! [`RetryingStore`] with a short time bound, returns with an error that names the cause.
//!
//! The store reaches the server through a TCP proxy in this file, opened while the server is
//! reachable; then the proxy is cut: *refused* (the port closes and open connections are
//! dropped, as when the server goes down) or *blackholed* (connections stay open but nothing
//! comes back, as when the network drops packets). Every call is bounded by a hang guard of
//! three times the retry bound; nothing asserts speed.
//!
//! What bounds a call against an unreachable server: the retry policy's total time, plus at most
//! one attempt, whose connection checkout is bounded by `pool_timeout` (which includes the
//! `pool_pre_ping` health check), and a connection's whole startup by `connect_timeout`. A
//! statement already sent on a connection that goes silent waits for TCP (`keepalives_*`,
//! `tcp_user_timeout`), not for the retry bound; so does every statement with
//! `pool_pre_ping = false`.
//!
//! The stores here set `pool_pre_ping_window` to zero, so every checkout is health-checked as
//! the cut meets it. With the default window (500 ms) a connection used just before the cut is
//! handed out unchecked, and the call that gets it is a statement sent on a connection that
//! goes silent: reported as a lost connection (`AmbiguousCommit` for a write whose outcome is
//! unknown, which `RetryingStore` re-runs only for idempotent methods; `faults.rs` drops
//! connections right after their commit under the default window), and, against a silent
//! network, bounded by the `tcp_user_timeout` the driver derives from `connect_timeout`. This
//! proxy cannot show that bound: its blackhole swallows bytes in user space, so the kernel
//! acknowledges them and answers keepalives, and no TCP timer can see the silence (a real
//! network blackhole leaves the bytes unacknowledged). The window is therefore zero here,
//! which keeps these tests about what they check — that retries and checkouts are bounded —
//! without a race between the cut and the last use of each connection.

use std::sync::Arc;
use std::time::Duration;

use dbos_storage_core::{
    AwaitOptions, Caller, CancelOptions, ClaimRequest, DatabaseUrl, DbosConfig, DebounceRequest,
    Error, ErrorKind, EventStore, GetEventRequest, InsertOptions, LifecycleStore, ListStepsOptions,
    ListWorkflowsQuery, ManagementStore, MessageStore, NewWorkflow, Outcome, OutgoingMessage,
    Payload, QueueDefinition, QueueStore, QueueUpdate, RecoveryRequest, RecvRequest, ResumeOptions,
    RetryPolicy, RetryingStore, SendOptions, StepOperation, StepRecord, StepStore,
    StreamReadOptions, StreamStepRequest, StreamStore, VersionStore, WorkflowStore,
};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The retry policy's total time bound in these tests.
const BOUND: Duration = Duration::from_secs(2);

/// What the proxy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forward both ways.
    Open,
    /// Close the port and every connection.
    Refuse,
    /// Keep every connection (and accept new ones) but forward nothing.
    Blackhole,
}

/// A TCP proxy to the test server that can be cut.
struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start(upstream: (String, u16)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, rx) = watch::channel(Mode::Open);
        tokio::spawn(accept(listener, upstream, rx));
        Proxy { port, mode }
    }

    fn cut(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

async fn accept(listener: TcpListener, upstream: (String, u16), mut mode: watch::Receiver<Mode>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { return };
                let rx = mode.clone();
                let now = *mode.borrow();
                match now {
                    Mode::Open => {
                        let Ok(server) = TcpStream::connect((upstream.0.as_str(), upstream.1)).await
                        else {
                            continue;
                        };
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        tokio::spawn(pump(cr, sw, rx.clone()));
                        tokio::spawn(pump(sr, cw, rx));
                    }
                    Mode::Blackhole => {
                        let (cr, cw) = client.into_split();
                        tokio::spawn(async move {
                            let _keep = cw;
                            pump_nowhere(cr, rx).await;
                        });
                    }
                    Mode::Refuse => return,
                }
            }
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow() == Mode::Refuse {
                    return; // the listener closes: new connections are refused
                }
            }
        }
    }
}

/// Copies `from` to `to` while the proxy is open; discards while blackholed; returns (closing
/// both halves) when refused.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = from.read(&mut buf) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                let now = *mode.borrow();
                match now {
                    Mode::Open => {}
                    Mode::Blackhole => continue,
                    Mode::Refuse => return,
                }
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow() == Mode::Refuse {
                    return;
                }
            }
        }
    }
}

/// Reads and discards until refused.
async fn pump_nowhere(mut from: tokio::net::tcp::OwnedReadHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = from.read(&mut buf) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return;
                }
            }
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow() == Mode::Refuse {
                    return;
                }
            }
        }
    }
}

type Op<'a> = (&'static str, BoxFuture<'a, Result<(), Error>>);

fn op<'a, T>(
    name: &'static str,
    f: impl std::future::Future<Output = Result<T, Error>> + Send + 'a,
) -> Op<'a> {
    (name, Box::pin(async move { f.await.map(|_| ()) }))
}

fn input() -> Payload {
    Payload::portable_json("[]")
}

/// One call of every method of the contract (every area trait of `SystemStore`, plus messages,
/// events and streams), in trait order. `close` is left out: it is called last by the test.
fn every_operation<S>(s: &S) -> Vec<Op<'_>>
where
    S: WorkflowStore
        + StepStore
        + ManagementStore
        + QueueStore
        + VersionStore
        + LifecycleStore
        + MessageStore
        + EventStore
        + StreamStore,
{
    let ids = || vec!["seed".to_owned()];
    let short = AwaitOptions::default()
        .poll_interval(Duration::from_millis(100))
        .timeout(Duration::from_secs(60));
    vec![
        // LifecycleStore
        op("migrate", s.migrate()),
        op("schema_version", s.schema_version()),
        op("check_connection", s.check_connection()),
        // WorkflowStore
        op(
            "insert_workflow",
            s.insert_workflow(
                NewWorkflow::new("w2", "f", input()),
                InsertOptions::default(),
            ),
        ),
        op(
            "get_workflows",
            async move { s.get_workflows(&ids()).await },
        ),
        op(
            "list_workflows",
            s.list_workflows(ListWorkflowsQuery::default()),
        ),
        op(
            "record_outcome",
            s.record_outcome("seed", Outcome::Output(input()), None),
        ),
        op("workflow_result", s.workflow_result("seed")),
        op(
            "await_workflow_result",
            s.await_workflow_result("seed", short.clone()),
        ),
        op(
            "first_finished",
            async move { s.first_finished(&ids()).await },
        ),
        op("await_first_finished", {
            let short = short.clone();
            async move { s.await_first_finished(&ids(), short).await }
        }),
        op("workflow_children", s.workflow_children("seed")),
        // StepStore
        op("check_step", s.check_step("seed", 1, "s")),
        op(
            "record_step",
            s.record_step(StepRecord::output("seed", 1, "s", input()), None),
        ),
        op(
            "list_steps",
            s.list_steps("seed", ListStepsOptions::default()),
        ),
        op(
            "run_as_step",
            s.run_as_step(
                Caller::workflow("seed", 6),
                StepOperation::CancelWorkflows {
                    workflow_ids: ids(),
                    options: CancelOptions::default(),
                },
            ),
        ),
        op(
            "start_child_workflow",
            s.start_child_workflow(
                "seed",
                2,
                NewWorkflow::new("child", "f", input()),
                InsertOptions::default(),
                None,
            ),
        ),
        op(
            "record_sleep",
            s.record_sleep("seed", 3, Duration::from_secs(1), None),
        ),
        // ManagementStore
        op("cancel_workflows", async move {
            s.cancel_workflows(&ids(), CancelOptions::default()).await
        }),
        op("resume_workflows", async move {
            s.resume_workflows(&ids(), ResumeOptions::default()).await
        }),
        // QueueStore
        op(
            "enqueue_workflows",
            s.enqueue_workflows(vec![NewWorkflow::new("q1", "f", input()).enqueued("q")]),
        ),
        op(
            "claim_workflows",
            s.claim_workflows(ClaimRequest::new("q", "exec", "v1")),
        ),
        op("queue_partitions", s.queue_partitions("q", None)),
        op(
            "release_delayed_workflows",
            s.release_delayed_workflows(None),
        ),
        op("set_workflow_delay", s.set_workflow_delay("seed", 0)),
        op(
            "debounce_workflow",
            s.debounce_workflow(DebounceRequest::new("f", "q", "k", 0, input())),
        ),
        op("deduplicated_workflow", s.deduplicated_workflow("q", "d")),
        op(
            "cancel_timed_out_workflows",
            s.cancel_timed_out_workflows(10, None),
        ),
        op("pending_workflows", s.pending_workflows("exec", None, None)),
        op("reenqueue_for_recovery", async move {
            s.reenqueue_for_recovery(&ids(), &["exec".to_owned()]).await
        }),
        op("dead_letter_workflows", async move {
            s.dead_letter_workflows(&ids(), 5).await
        }),
        op(
            "recover_workflow",
            s.recover_workflow(RecoveryRequest::from_dead_executors("seed", ids(), "exec")),
        ),
        op("return_to_queue", s.return_to_queue("seed", "token")),
        op(
            "upsert_queue",
            s.upsert_queue(QueueDefinition::new("q"), Default::default()),
        ),
        op("get_queue", s.get_queue("q")),
        op("list_queues", s.list_queues(None)),
        op("update_queue", s.update_queue("q", QueueUpdate::default())),
        op("delete_queue", s.delete_queue("q")),
        // VersionStore
        op(
            "create_application_version",
            s.create_application_version("v1", None),
        ),
        op(
            "list_application_versions",
            s.list_application_versions(None),
        ),
        op(
            "latest_application_version",
            s.latest_application_version(None),
        ),
        op(
            "set_application_version_timestamp",
            s.set_application_version_timestamp("v1", 1, None),
        ),
        // MessageStore
        op(
            "send_messages",
            s.send_messages(
                vec![OutgoingMessage::new("seed", Some("t"), input())],
                None,
                SendOptions::default(),
            ),
        ),
        op(
            "recv",
            s.recv(
                RecvRequest::new(
                    Caller::workflow("seed", 4).with_timeout_step(5),
                    Some("t"),
                    Duration::from_secs(60),
                ),
                short.clone(),
            ),
        ),
        op("list_notifications", s.list_notifications("seed")),
        // EventStore
        op(
            "set_event",
            s.set_event(Caller::workflow("seed", 6), "k", input()),
        ),
        op(
            "get_event",
            s.get_event(
                GetEventRequest::new("seed", "k", Duration::from_secs(60)),
                short.clone(),
            ),
        ),
        op("get_all_events", s.get_all_events("seed")),
        // StreamStore
        op(
            "write_stream",
            s.write_stream(Caller::workflow("seed", 7), "k", input()),
        ),
        op(
            "close_stream",
            s.close_stream(Caller::workflow("seed", 8), "k"),
        ),
        op(
            "read_stream",
            s.read_stream("seed", "k", StreamReadOptions::default()),
        ),
        op(
            "read_stream_step",
            s.read_stream_step(
                StreamStepRequest::new(Caller::workflow("seed", 9), "seed", "k", 0),
                short.clone(),
            ),
        ),
        op(
            "await_stream",
            s.await_stream("seed", "k", StreamReadOptions::default(), short),
        ),
    ]
}

/// Opens a store through a proxy, cuts it with `mode`, and runs every operation through a
/// `RetryingStore` bounded at [`BOUND`]: each must fail with a retryable connection error that
/// names `cause`, marked `retries_exhausted` (except `claim_workflows`, which is never
/// retried), within the hang guard.
async fn every_operation_gives_up_within_the_bound(mode: Mode, cause: &[&str]) {
    let server = pg::server();
    let url = server.create_database("unreachable").await;
    let proxy = Proxy::start((server.host(), server.port())).await;
    let through = pg::faults::url_through(&url, "127.0.0.1", proxy.port);
    let dbos = DbosConfig::new("unreachable")
        .with_sys_db_pool_size(2)
        .with_pool_timeout(Duration::from_millis(500))
        .with_connect_timeout(Duration::from_secs(1))
        .with_use_listen_notify(false);
    let parsed = DatabaseUrl::parse(&through).unwrap();
    // Every checkout health-checked: see the module documentation.
    let config = PostgresConfig::system(&dbos, &parsed)
        .unwrap()
        .with_pool_pre_ping_window(Duration::ZERO);
    let store = PostgresStore::open(config).await.unwrap();
    store.migrate().await.unwrap();
    store
        .insert_workflow(
            NewWorkflow::new("seed", "f", input()),
            InsertOptions::default(),
        )
        .await
        .unwrap();

    proxy.cut(mode);
    let retrying = RetryingStore::new(Arc::new(store), RetryPolicy::default().max_elapsed(BOUND));
    // All at once: each call is independent, and the run takes one bound instead of 49.
    let ops = every_operation(&retrying);
    let count = ops.len();
    let outcomes =
        futures::future::join_all(ops.into_iter().map(|(name, call)| async move {
            (name, tokio::time::timeout(BOUND * 3, call).await)
        }))
        .await;
    let mut failures = Vec::new();
    for (name, outcome) in outcomes {
        let err = match outcome {
            Err(_) => {
                failures.push(format!("{name}: still running after {:?}", BOUND * 3));
                continue;
            }
            Ok(Ok(())) => {
                failures.push(format!("{name}: succeeded against an unreachable server"));
                continue;
            }
            Ok(Err(e)) => e,
        };
        let text = err.to_string();
        if !matches!(
            err.kind(),
            ErrorKind::ConnectionLost | ErrorKind::PoolExhausted
        ) {
            failures.push(format!("{name}: kind {}: {text}", err.kind()));
        } else if err.retries_exhausted() != (name != "claim_workflows") {
            failures.push(format!("{name}: retries_exhausted is wrong: {text}"));
        } else if !cause.iter().any(|c| text.contains(c)) {
            failures.push(format!(
                "{name}: the message names none of {cause:?}: {text}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{mode:?}: {} of {count} operations:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(count, 53, "one call per method of the contract but close");
    tokio::time::timeout(BOUND * 3, retrying.close())
        .await
        .expect("close ends")
        .unwrap();
    proxy.cut(Mode::Refuse);
    server.drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_server_fails_every_operation_within_the_retry_bound() {
    every_operation_gives_up_within_the_bound(Mode::Refuse, &["refused"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_server_fails_every_operation_within_the_retry_bound() {
    every_operation_gives_up_within_the_bound(
        Mode::Blackhole,
        &[
            "got no answer to its health check",
            "did not complete within connect_timeout",
        ],
    )
    .await;
}
