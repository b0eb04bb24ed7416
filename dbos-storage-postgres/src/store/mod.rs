//! [`PostgresStore`]: the DBOS system database on PostgreSQL. One file per area trait.

mod calls;
mod events;
mod export;
mod forks;
mod group_commit;
mod lifecycle;
mod management;
mod messages;
mod metrics;
mod queues;
mod recovery;
mod rename;
mod retention;
mod schedules;
mod steps;
mod streams;
mod versions;
mod workflow_steps;
mod workflows;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dbos_storage_core::messages::wake_key;
use dbos_storage_core::{
    AwaitOptions, DatabaseUrl, Error, Isolation, Payload, Result, Serialization, WorkflowInfo,
};
use dbos_storage_driver_kit::decisions::column_values::{attributes, roles, status_of};
use dbos_storage_driver_kit::decisions::ownership_check::{self, WorkflowOwner};
use dbos_storage_driver_kit::wait::{PollGate, WaitContext, WaitRegistry, WakeChannel, WakeSignal};
use futures::future::BoxFuture;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Row, Transaction};

use crate::config::PostgresConfig;
use crate::error::{classify, with_backend, BACKEND};
use crate::notify::Notifications;
use crate::pool::{Conn, Pool, PooledClient, TxOptions};
use crate::sql::{self, render};

pub use group_commit::CombinedCheckpoints;

/// The most ids bound in one statement (as one `text[]` parameter), as DBOS chunks its id
/// lists.
pub(crate) const ID_CHUNK: usize = 4096;

/// Declares [`Queries`]: one field per statement, rendered from its constant with the quoted
/// schema name.
macro_rules! queries {
    ($($field:ident = $module:ident :: $name:ident;)*) => {
        /// Every statement of the system store, rendered once for the store's schema.
        pub(crate) struct Queries {
            $(
                #[doc = concat!("[`sql::", stringify!($module), "::", stringify!($name), "`].")]
                pub(crate) $field: String,
            )*
        }

        impl Queries {
            /// Renders every statement for `schema`.
            pub(crate) fn new(schema: &str) -> Queries {
                Queries {
                    $($field: render(sql::$module::$name, schema),)*
                }
            }

            /// Renders every statement for `schema` and `dialect`: claims keep a plain
            /// `LIMIT $4` where the dialect does not hide it
            /// ([`Dialect::hides_claim_limit`](crate::Dialect::hides_claim_limit)).
            pub(crate) fn for_dialect(schema: &str, dialect: &dyn crate::Dialect) -> Queries {
                let mut queries = Queries::new(schema);
                if !dialect.hides_claim_limit() {
                    for claim in [
                        &mut queries.claim_skip_locked,
                        &mut queries.claim_head_window,
                        &mut queries.claim_partition_skip_locked,
                        &mut queries.claim_partition_head_window,
                    ] {
                        *claim = claim.replace(
                            sql::queues::HIDDEN_CLAIM_LIMIT,
                            sql::queues::PLAIN_CLAIM_LIMIT,
                        );
                    }
                }
                queries
            }
        }
    };
}

queries! {
    select_one = lifecycle::SELECT_ONE;
    select_ids_sort_by_code_point = lifecycle::SELECT_IDS_SORT_BY_CODE_POINT;
    select_now_ms = workflows::SELECT_NOW_MS;
    insert_workflow = workflows::INSERT_WORKFLOW;
    select_workflows_by_ids = workflows::SELECT_WORKFLOWS_BY_IDS;
    list_workflows = workflows::LIST_WORKFLOWS;
    record_outcome = workflows::RECORD_OUTCOME;
    select_workflow_result = workflows::SELECT_WORKFLOW_RESULT;
    select_first_finished = workflows::SELECT_FIRST_FINISHED;
    select_children = workflows::SELECT_CHILDREN;
    select_status_and_step = steps::SELECT_STATUS_AND_STEP;
    lock_workflow_owner = steps::LOCK_WORKFLOW_OWNER;
    select_workflow_owner = steps::SELECT_WORKFLOW_OWNER;
    select_step = steps::SELECT_STEP;
    insert_step = steps::INSERT_STEP;
    record_step = steps::RECORD_STEP;
    record_steps = steps::RECORD_STEPS;
    insert_step_if_absent = steps::INSERT_STEP_IF_ABSENT;
    list_steps = steps::LIST_STEPS;
    cancel_workflows = management::CANCEL_WORKFLOWS;
    select_existing_ids = management::SELECT_EXISTING_IDS;
    resume_workflows = management::RESUME_WORKFLOWS;
    delete_inputs = management::DELETE_INPUTS;
    delete_outputs = management::DELETE_OUTPUTS;
    delete_steps = management::DELETE_STEPS;
    delete_statuses = management::DELETE_STATUSES;
    update_attributes = management::UPDATE_ATTRIBUTES;
    lock_workflow_status = forks::LOCK_WORKFLOW_STATUS;
    select_forked_from = forks::SELECT_FORKED_FROM;
    select_step_outcomes = forks::SELECT_STEP_OUTCOMES;
    insert_fork = forks::INSERT_FORK;
    copy_fork_input = forks::COPY_FORK_INPUT;
    delete_stale_fork_steps = forks::DELETE_STALE_FORK_STEPS;
    delete_stale_fork_output = forks::DELETE_STALE_FORK_OUTPUT;
    mark_forked_from = forks::MARK_FORKED_FROM;
    copy_fork_steps = forks::COPY_FORK_STEPS;
    copy_fork_event_history = forks::COPY_FORK_EVENT_HISTORY;
    rebuild_fork_events = forks::REBUILD_FORK_EVENTS;
    copy_fork_streams = forks::COPY_FORK_STREAMS;
    delete_rewound_events = forks::DELETE_REWOUND_EVENTS;
    restore_rewound_events = forks::RESTORE_REWOUND_EVENTS;
    delete_rewound_stream_closes = forks::DELETE_REWOUND_STREAM_CLOSES;
    delete_rewound_steps = forks::DELETE_REWOUND_STEPS;
    delete_rewound_event_history = forks::DELETE_REWOUND_EVENT_HISTORY;
    delete_rewound_messages = forks::DELETE_REWOUND_MESSAGES;
    delete_rewound_output = forks::DELETE_REWOUND_OUTPUT;
    reenqueue_rewound = forks::REENQUEUE_REWOUND;
    take_lease = retention::TAKE_LEASE;
    select_lease = retention::SELECT_LEASE;
    release_lease = retention::RELEASE_LEASE;
    select_collectable = retention::SELECT_COLLECTABLE;
    lock_finished = retention::LOCK_FINISHED;
    sweep_window_end = retention::SWEEP_WINDOW_END;
    sweep_orphan_inputs = retention::SWEEP_ORPHAN_INPUTS;
    sweep_orphan_outputs = retention::SWEEP_ORPHAN_OUTPUTS;
    sweep_orphan_steps = retention::SWEEP_ORPHAN_STEPS;
    export_statuses = export::EXPORT_STATUSES;
    export_children = export::EXPORT_CHILDREN;
    export_inputs = export::EXPORT_INPUTS;
    export_outputs = export::EXPORT_OUTPUTS;
    export_steps = export::EXPORT_STEPS;
    export_events = export::EXPORT_EVENTS;
    export_event_history = export::EXPORT_EVENT_HISTORY;
    export_streams = export::EXPORT_STREAMS;
    import_status = export::IMPORT_STATUS;
    import_input = export::IMPORT_INPUT;
    import_output = export::IMPORT_OUTPUT;
    import_step = export::IMPORT_STEP;
    import_event = export::IMPORT_EVENT;
    import_event_history = export::IMPORT_EVENT_HISTORY;
    import_stream = export::IMPORT_STREAM;
    workflow_counts = metrics::WORKFLOW_COUNTS;
    step_counts = metrics::STEP_COUNTS;
    select_taken_version = rename::SELECT_TAKEN_VERSION;
    select_double_version = rename::SELECT_DOUBLE_VERSION;
    move_queues = rename::MOVE_QUEUES;
    move_schedules = rename::MOVE_SCHEDULES;
    move_versions = rename::MOVE_VERSIONS;
    move_active_workflows = rename::MOVE_ACTIVE_WORKFLOWS;
    move_workflow_batch = rename::MOVE_WORKFLOW_BATCH;
    move_step_batch = rename::MOVE_STEP_BATCH;
    lock_schedule_owner = schedules::LOCK_SCHEDULE_OWNER;
    schedule_id_exists = schedules::SCHEDULE_ID_EXISTS;
    insert_schedule = schedules::INSERT_SCHEDULE;
    upsert_schedule = schedules::UPSERT_SCHEDULE;
    list_schedules = schedules::LIST_SCHEDULES;
    select_schedule = schedules::SELECT_SCHEDULE;
    set_schedule_status = schedules::SET_SCHEDULE_STATUS;
    set_schedule_fired = schedules::SET_SCHEDULE_FIRED;
    delete_schedule = schedules::DELETE_SCHEDULE;
    select_claim_budget = queues::SELECT_CLAIM_BUDGET;
    claim_skip_locked = queues::CLAIM_SKIP_LOCKED;
    claim_head_window = queues::CLAIM_HEAD_WINDOW;
    claim_partition_skip_locked = queues::CLAIM_PARTITION_SKIP_LOCKED;
    claim_partition_head_window = queues::CLAIM_PARTITION_HEAD_WINDOW;
    select_queue_partitions = queues::SELECT_QUEUE_PARTITIONS;
    select_partition_heads = queues::SELECT_PARTITION_HEADS;
    claim_partition_heads = queues::CLAIM_PARTITION_HEADS;
    enqueue_workflows = queues::ENQUEUE_WORKFLOWS;
    release_delayed = queues::RELEASE_DELAYED;
    set_workflow_delay = queues::SET_WORKFLOW_DELAY;
    debounce_workflow = queues::DEBOUNCE_WORKFLOW;
    select_dedup_holder = queues::SELECT_DEDUP_HOLDER;
    cancel_timed_out = queues::CANCEL_TIMED_OUT;
    select_pending_workflows = queues::SELECT_PENDING_WORKFLOWS;
    reenqueue_for_recovery = queues::REENQUEUE_FOR_RECOVERY;
    dead_letter_workflows = queues::DEAD_LETTER_WORKFLOWS;
    select_recovery_candidate = recovery::SELECT_RECOVERY_CANDIDATE;
    take_over_workflow = recovery::TAKE_OVER_WORKFLOW;
    return_to_queue = recovery::RETURN_TO_QUEUE;
    lock_queue = queues::LOCK_QUEUE;
    insert_queue = queues::INSERT_QUEUE;
    update_queue = queues::UPDATE_QUEUE;
    select_queue = queues::SELECT_QUEUE;
    lock_queue_definition = queues::LOCK_QUEUE_DEFINITION;
    list_queues = queues::LIST_QUEUES;
    delete_queue = queues::DELETE_QUEUE;
    claim_unclaimed_version = versions::CLAIM_UNCLAIMED_VERSION;
    insert_version = versions::INSERT_VERSION;
    select_version_by_name = versions::SELECT_VERSION_BY_NAME;
    list_versions = versions::LIST_VERSIONS;
    latest_version = versions::LATEST_VERSION;
    set_version_timestamp = versions::SET_VERSION_TIMESTAMP;
    lock_caller = messaging::LOCK_CALLER;
    send_messages = messaging::SEND_MESSAGES;
    select_missing_destinations = messaging::SELECT_MISSING_DESTINATIONS;
    message_waiting = messaging::MESSAGE_WAITING;
    consume_message = messaging::CONSUME_MESSAGE;
    upsert_event = messaging::UPSERT_EVENT;
    select_event = messaging::SELECT_EVENT;
    select_all_events = messaging::SELECT_ALL_EVENTS;
    append_stream = messaging::APPEND_STREAM;
    read_stream = messaging::READ_STREAM;
    list_notifications = messaging::LIST_NOTIFICATIONS;
}

/// The DBOS system database (schema v125) on PostgreSQL.
///
/// Cheap to clone: clones share the connection pool. Every method is one transaction (READ
/// COMMITTED) on a pooled connection; ownership checks lock the workflow row with `SELECT … FOR
/// NO KEY UPDATE`, as DBOS does. Writes that finish, cancel or resume a workflow wake the
/// `await_*` calls of this process at once; other processes are seen at the poll interval.
///
/// Waits for messages, events and stream values are woken at once by writes of this store, and
/// — with LISTEN/NOTIFY — by other processes through one dedicated listener connection (see the
/// crate documentation). Their polling reads share a gate of half the pool (or
/// `sys_db_polling_concurrency`), so waiters never
/// take every connection, and they hold no connection while they sleep.
///
/// Open it with [`PostgresStore::connect`] (or through the facade's driver registry), then call
/// [`migrate`](dbos_storage_core::LifecycleStore::migrate) once.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    config: PostgresConfig,
    queries: Arc<Queries>,
    wake: WakeSignal,
    closed: AtomicBool,
    /// The waiters of messages, events and streams.
    waits: Arc<WaitRegistry>,
    /// Caps the polling reads of those waits.
    gate: PollGate,
    /// The listener and the notifier (PostgreSQL with LISTEN/NOTIFY only).
    notifications: Option<Notifications>,
    /// Group commit of step checkpoints (when the dialect combines them).
    combiner: Option<group_commit::Combiner>,
    /// Whether workflow ids sort by code point, asked once (see
    /// [`PostgresStore::ids_sort_by_code_point`]).
    ids_by_code_point: tokio::sync::OnceCell<bool>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("config", &self.inner.config)
            .field("pool", &self.inner.pool)
            .field("poll_gate", &self.inner.gate.size())
            .field("listener", &self.inner.notifications.is_some())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl PostgresStore {
    /// A store over an open pool.
    pub(crate) fn new(pool: Pool, config: PostgresConfig) -> PostgresStore {
        let queries = Arc::new(Queries::for_dialect(config.schema(), config.dialect()));
        let waits = Arc::new(WaitRegistry::new());
        let gate = PollGate::new(config.polling_concurrency);
        let combiner = config
            .dialect()
            .combines_step_checkpoints()
            .then(|| group_commit::Combiner::new(group_commit::statement_slots()));
        let notifications = if config.use_listen_notify() {
            Notifications::start(&pool, waits.clone())
        } else {
            None
        };
        PostgresStore {
            inner: Arc::new(Inner {
                pool,
                config,
                queries,
                wake: WakeSignal::new(),
                closed: AtomicBool::new(false),
                waits,
                gate,
                notifications,
                combiner,
                ids_by_code_point: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// Opens the system database of a `postgresql://` or `postgres://` URL with every other
    /// setting at its DBOS default (schema `dbos`, a pool of 20 connections). It creates the
    /// database when it does not exist, but does not migrate: call
    /// [`migrate`](dbos_storage_core::LifecycleStore::migrate) next.
    ///
    /// # Errors
    /// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for a malformed URL, bad
    /// credentials or an unknown key;
    /// [`ConnectionLost`](dbos_storage_core::ErrorKind::ConnectionLost) when the server cannot be
    /// reached; [`Unsupported`](dbos_storage_core::ErrorKind::Unsupported) for a server the
    /// PostgreSQL dialect does not serve (CockroachDB).
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let url = DatabaseUrl::parse(url)?;
        Self::open(PostgresConfig::from_url(&url)?).await
    }

    /// Opens the system database described by `config` (build it with
    /// [`PostgresConfig::system`] from a [`DbosConfig`](dbos_storage_core::DbosConfig) to choose
    /// the schema, pool size and the other settings). It creates the database when it does not
    /// exist — unless the config was built with `run_migrations = false` (verify mode), which
    /// reports a missing database instead — but does not migrate.
    ///
    /// # Errors
    /// As [`PostgresStore::connect`].
    pub async fn open(config: PostgresConfig) -> Result<PostgresStore> {
        let pool = crate::driver::open_pool(&config).await?;
        Ok(PostgresStore::new(pool, config))
    }

    /// The settings the store was opened with.
    pub fn config(&self) -> &PostgresConfig {
        &self.inner.config
    }

    /// The schema of the system tables (unquoted).
    pub fn schema(&self) -> &str {
        self.inner.config.schema()
    }

    /// Opens a connection of the caller's own to the store's database, outside the pool, with
    /// the settings of the store's pooled connections (TLS, connect timeout, session settings),
    /// for work the store does not offer: reports, maintenance, a benchmark's baseline. The
    /// connection is the caller's: it counts against the server's connection limit, not the
    /// pool's, and closes when the client is dropped. Statements on it name the store's tables
    /// by their schema ([`schema`](Self::schema)), as the store's own statements do.
    ///
    /// # Errors
    /// [`Closed`](dbos_storage_core::ErrorKind::Closed) after `close`; the errors of opening a
    /// connection, as for [`PostgresStore::connect`].
    pub async fn native_connection(&self) -> Result<tokio_postgres::Client> {
        self.ensure_open()?;
        self.inner.pool.dedicated().await
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn queries(&self) -> &Queries {
        &self.inner.queries
    }

    /// Whether workflow ids sort by code point here, so that the ids starting with a prefix
    /// are one range of the primary key: the dialect's answer, else the server's (asked once
    /// per store, on `client`).
    pub(crate) async fn ids_sort_by_code_point(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<bool> {
        if let Some(known) = self.inner.config.dialect().ids_sort_by_code_point() {
            return Ok(known);
        }
        self.inner
            .ids_by_code_point
            .get_or_try_init(|| async {
                client
                    .query_one(self.queries().select_ids_sort_by_code_point.as_str(), &[])
                    .await
                    .map(|row| row.get::<_, bool>(0))
                    .map_err(crate::error::classify)
            })
            .await
            .copied()
    }

    /// Group commit of step checkpoints; `None` when the dialect does not combine them.
    pub(crate) fn combiner(&self) -> Option<&group_commit::Combiner> {
        self.inner.combiner.as_ref()
    }

    /// A free statement slot for a single-statement write that never waits for one (see
    /// [`group_commit`]), held until the permit drops; `None` when all are taken or the dialect
    /// does not combine.
    pub(crate) fn free_statement_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.combiner().and_then(group_commit::Combiner::occupy)
    }

    pub(crate) fn wake(&self) -> &WakeSignal {
        &self.inner.wake
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Marks the store closed, stops the listener and the notifier (which sends the wake-ups
    /// still queued) and closes the pool; later calls fail with `Closed`.
    pub(crate) async fn shut_down(&self) {
        self.inner.closed.store(true, Ordering::Release);
        if let Some(notifications) = &self.inner.notifications {
            notifications.stop().await;
        }
        self.inner.pool.close().await;
        // Wake waiters so they notice the closed store at once.
        self.inner.wake.notify();
        self.inner.waits.wake_all();
    }

    /// What the shared waits of messages, events and streams need.
    pub(crate) fn wait_context(&self) -> WaitContext<'_> {
        WaitContext::new(BACKEND, &self.inner.waits, Some(&self.inner.gate))
    }

    /// `options` for a wait whose every wake-up is signalled (a message or an event): with a
    /// proven listener the re-check interval stretches to the configured fallback
    /// (60 s by default), otherwise it stays the caller's poll interval.
    pub(crate) fn signalled_wait(&self, options: &AwaitOptions) -> AwaitOptions {
        let mut options = options.clone();
        if self.listener_proven() {
            options.poll_interval = options
                .poll_interval
                .max(self.inner.config.listener_recheck_interval());
        }
        options
    }

    /// After a commit: wakes the waiters of `"{workflow_id}::{key}"` on `channel` in this
    /// process at once, and (with LISTEN/NOTIFY) queues the same key for the notifier, which
    /// signals other processes.
    pub(crate) fn signal(&self, channel: WakeChannel, workflow_id: &str, key: &str) {
        let payload = wake_key(workflow_id, key);
        self.inner.waits.wake(channel, &payload);
        // Messages are also signalled by DBOS's trigger when the schema has it; signalling them
        // here too keeps a schema migrated without LISTEN/NOTIFY (no trigger) from leaving
        // receivers with a stretched re-check unwoken. A duplicate hint costs nothing.
        if let Some(notifications) = &self.inner.notifications {
            notifications.signal(channel, payload);
        }
    }

    /// Whether the LISTEN connection is up and received its own probe: waits for messages and
    /// events then re-check the database only at the listener re-check interval
    /// ([`PostgresConfig::listener_recheck_interval`]). Always `false` without LISTEN/NOTIFY
    /// (a dialect without it, or `use_listen_notify` off). For diagnostics and tests of
    /// wake-ups.
    pub fn listener_proven(&self) -> bool {
        self.inner
            .notifications
            .as_ref()
            .is_some_and(Notifications::is_proven)
    }

    /// The backend process id of the LISTEN connection while it is connected (its
    /// `pg_stat_activity.pid`, for diagnostics); `None` without LISTEN/NOTIFY.
    pub fn listener_backend_pid(&self) -> Option<i32> {
        self.inner
            .notifications
            .as_ref()
            .and_then(Notifications::backend_pid)
    }

    /// How many times the listener subscribed: 1 after its first connection, one more after
    /// each reconnection; 0 without LISTEN/NOTIFY. For diagnostics of a flapping listener.
    pub fn listener_sessions(&self) -> u64 {
        self.inner
            .notifications
            .as_ref()
            .map_or(0, Notifications::sessions)
    }

    /// How many step checkpoints went in combined statements so far, and in how many
    /// statements (see the crate docs on checkpoint batching). Always zero in a dialect that
    /// does not combine ([`Dialect::combines_step_checkpoints`](crate::Dialect::combines_step_checkpoints)).
    pub fn combined_checkpoints(&self) -> CombinedCheckpoints {
        self.combiner()
            .map_or_else(CombinedCheckpoints::default, group_commit::Combiner::counts)
    }

    /// How many single-statement writes (checkpoints, inserts, outcomes) run before step
    /// checkpoints queue and combine: twice the processors, at least 4; 0 in a dialect that
    /// does not combine.
    pub fn statement_slots(&self) -> usize {
        self.combiner().map_or(0, group_commit::Combiner::size)
    }

    /// How many polling reads of waits may run at once (`sys_db_polling_concurrency`, else half
    /// the pool, at least 1), so that waiting calls never take every connection.
    pub fn poll_gate_size(&self) -> usize {
        self.inner.gate.size()
    }

    /// Fails with `Closed` after `close`.
    pub(crate) fn ensure_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::closed().with_backend(BACKEND))
        } else {
            Ok(())
        }
    }

    /// A pooled connection for a single statement (autocommit).
    pub(crate) async fn client(&self) -> Result<PooledClient<'_>> {
        self.ensure_open()?;
        self.inner.pool.get().await
    }

    /// Runs `f` in one READ COMMITTED read-write transaction. `f` gets the rendered statements.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send,
        F: for<'t> FnOnce(&'t Transaction<'t>, Arc<Queries>) -> BoxFuture<'t, Result<R>> + Send,
    {
        self.run(TxOptions::default(), f).await
    }

    /// Runs `f` in one read-write transaction at `isolation`.
    pub(crate) async fn write_at<R, F>(&self, isolation: Isolation, f: F) -> Result<R>
    where
        R: Send,
        F: for<'t> FnOnce(&'t Transaction<'t>, Arc<Queries>) -> BoxFuture<'t, Result<R>> + Send,
    {
        let options = TxOptions {
            isolation: Some(isolation),
            ..TxOptions::default()
        };
        self.run(options, f).await
    }

    /// Runs `f` in one READ ONLY transaction (one snapshot per statement, READ COMMITTED).
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send,
        F: for<'t> FnOnce(&'t Transaction<'t>, Arc<Queries>) -> BoxFuture<'t, Result<R>> + Send,
    {
        let options = TxOptions {
            read_only: true,
            ..TxOptions::default()
        };
        self.run(options, f).await
    }

    async fn run<R, F>(&self, options: TxOptions, f: F) -> Result<R>
    where
        R: Send,
        F: for<'t> FnOnce(&'t Transaction<'t>, Arc<Queries>) -> BoxFuture<'t, Result<R>> + Send,
    {
        self.ensure_open()?;
        let queries = self.inner.queries.clone();
        self.inner
            .pool
            .transaction(options, move |tx| f(tx, queries))
            .await
    }
}

/// Where a statement shared by autocommit and transactional callers runs.
#[derive(Clone, Copy)]
pub(crate) enum Exec<'a> {
    /// A pooled connection in autocommit: the statement is one implicit transaction, run with
    /// the connection's cached prepared statement (one round trip).
    Cached(&'a Conn),
    /// A transaction (the statement is prepared for the call).
    Tx(&'a Transaction<'a>),
}

impl Exec<'_> {
    /// The one row `sql` returns.
    pub(crate) async fn query_one(
        self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Row, tokio_postgres::Error> {
        match self {
            Exec::Cached(conn) => conn.query_one_cached(sql, params).await,
            Exec::Tx(tx) => tx.query_one(sql, params).await,
        }
    }

    /// The rows `sql` returns, its parameters typed explicitly.
    pub(crate) async fn query_typed(
        self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
        match self {
            Exec::Cached(conn) => {
                let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
                let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
                conn.query_cached(sql, &types, &values).await
            }
            Exec::Tx(tx) => tx.query_typed(sql, params).await,
        }
    }
}

/// Reads column `idx` of `row`, classifying a type mismatch as `Corrupt`.
pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    row.try_get(idx).map_err(classify)
}

/// Reads a `WorkflowInfo` from a row of `workflow_columns!()` followed by inputs, output and
/// error (NULL when not loaded).
pub(crate) fn read_workflow(row: &Row) -> Result<WorkflowInfo> {
    let id: String = col(row, 0)?;
    let status: Option<String> = col(row, 1)?;
    let name: Option<String> = col(row, 2)?;
    let mut w = WorkflowInfo::new(id, name.unwrap_or_default(), status_of(status.as_deref()));
    w.class_name = col(row, 3)?;
    w.config_name = col(row, 4)?;
    w.authenticated_user = col(row, 5)?;
    w.assumed_role = col(row, 6)?;
    w.authenticated_roles = roles(&w.workflow_id, col(row, 7)?);
    w.executor_id = col(row, 8)?;
    w.created_at = col(row, 9)?;
    w.updated_at = col(row, 10)?;
    w.application_version = col(row, 11)?;
    w.application_id = col(row, 12)?;
    w.application_name = col(row, 13)?;
    w.recovery_attempts = col::<Option<i64>>(row, 14)?.unwrap_or(0);
    w.queue_name = col(row, 15)?;
    w.workflow_timeout_ms = col(row, 16)?;
    w.workflow_deadline_epoch_ms = col(row, 17)?;
    w.started_at_epoch_ms = col(row, 18)?;
    w.deduplication_id = col(row, 19)?;
    w.priority = col(row, 20)?;
    w.queue_partition_key = col(row, 21)?;
    w.forked_from = col(row, 22)?;
    w.was_forked_from = col(row, 23)?;
    w.parent_workflow_id = col(row, 24)?;
    w.delay_until_epoch_ms = col(row, 25)?;
    w.completed_at = col(row, 26)?;
    w.schedule_name = col(row, 27)?;
    w.attributes = attributes(&w.workflow_id, col(row, 28)?);
    w.serialization = col::<Option<String>>(row, 29)?
        .as_deref()
        .map(Serialization::parse_label);
    w.owner_xid = col(row, 30)?;
    w.rate_limited = col(row, 31)?;
    w.is_debounced = col(row, 32)?;
    w.debounce_deadline_epoch_ms = col(row, 33)?;
    w.inputs = col(row, 34)?;
    w.output = col(row, 35)?;
    w.error = col(row, 36)?;
    Ok(w)
}

/// Reads a workflow's owner inside a transaction; with `lock` the row is locked `FOR NO KEY
/// UPDATE` until the transaction ends. `None` when the workflow is missing.
pub(crate) async fn workflow_owner(
    tx: &Transaction<'_>,
    queries: &Queries,
    workflow_id: &str,
    lock: bool,
) -> Result<Option<WorkflowOwner>> {
    let statement = if lock {
        &queries.lock_workflow_owner
    } else {
        &queries.select_workflow_owner
    };
    let row = tx
        .query_opt(statement.as_str(), &[&workflow_id])
        .await
        .map_err(classify)?;
    row.map(|r| {
        Ok(WorkflowOwner {
            owner_xid: col(&r, 0)?,
            deadline_epoch_ms: col(&r, 1)?,
            application_name: col(&r, 2)?,
        })
    })
    .transpose()
}

/// Checks that `owner_xid` (when given) still owns the workflow, holding the row lock until
/// the transaction ends. Returns the owner row (`None` only when no check was asked and the
/// workflow is missing).
///
/// # Errors
/// [`NotFound`](dbos_storage_core::ErrorKind::NotFound) when the workflow is missing (with or
/// without a token); [`NotOwner`](dbos_storage_core::ErrorKind::NotOwner) when another token owns
/// it.
pub(crate) async fn check_owner(
    tx: &Transaction<'_>,
    queries: &Queries,
    workflow_id: &str,
    owner_xid: Option<&str>,
    what: &str,
) -> Result<Option<WorkflowOwner>> {
    let Some(expected) = owner_xid else {
        return workflow_owner(tx, queries, workflow_id, false).await;
    };
    let found = workflow_owner(tx, queries, workflow_id, true).await?;
    ownership_check::verify(workflow_id, expected, found, what)
        .map(Some)
        .map_err(with_backend)
}

/// Runs a query whose `$1` is a `text[]` of ids over `ids` in chunks and returns every id it
/// returns, in the order the database returned them.
pub(crate) async fn select_ids(
    tx: &Transaction<'_>,
    statement: &str,
    ids: &[String],
) -> Result<Vec<String>> {
    let statement = tx.prepare(statement).await.map_err(classify)?;
    let mut out = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        for row in tx.query(&statement, &[&chunk]).await.map_err(classify)? {
            out.push(col::<String>(&row, 0)?);
        }
    }
    Ok(out)
}

/// A payload read from a `(text, serialization)` pair of columns.
pub(crate) fn payload(text: String, serialization: Option<String>) -> Payload {
    Payload::new(
        text,
        serialization.as_deref().map(Serialization::parse_label),
    )
}

/// The database clock in epoch milliseconds (the transaction's start time).
pub(crate) async fn now_ms(tx: &Transaction<'_>, queries: &Queries) -> Result<i64> {
    let row = tx
        .query_one(queries.select_now_ms.as_str(), &[])
        .await
        .map_err(classify)?;
    col(&row, 0)
}

#[cfg(test)]
pub(crate) mod plan_check {
    //! Plans of the driver's statements on a real server, for tests that pin which index a
    //! statement uses (see `crate::sql`).

    use dbos_storage_core::{DatabaseUrl, DbosConfig, LifecycleStore};
    use dbos_storage_testkit::pg;

    use super::PostgresStore;

    /// A migrated store in a new database of its own, never analyzed (no LISTEN).
    pub(crate) async fn fresh_store(name: &str) -> PostgresStore {
        fresh_store_with(name, "").await
    }

    /// As [`fresh_store`], the database created with `options` (`TEMPLATE template0
    /// LC_COLLATE …`).
    pub(crate) async fn fresh_store_with(name: &str, options: &str) -> PostgresStore {
        let url = pg::server().create_database_with(name, options).await;
        let dbos = DbosConfig::new(name).with_use_listen_notify(false);
        let config =
            crate::PostgresConfig::system(&dbos, &DatabaseUrl::parse(&url).unwrap()).unwrap();
        let store = PostgresStore::open(config).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// As [`fresh_store`], with `n` pending workflows `w0`, `w1`, … inserted through the store:
    /// to a planner without statistics, the partial index of pending workflows then looks as
    /// cheap as the primary key, and a scan of the table as cheap as either.
    pub(crate) async fn fresh_store_with_pending(name: &str, n: usize) -> PostgresStore {
        use dbos_storage_core::{InsertOptions, NewWorkflow, Payload, WorkflowStore};

        let store = fresh_store(name).await;
        for i in 0..n {
            let wf = NewWorkflow::new(format!("w{i}"), "f", Payload::portable_json("1"));
            store
                .insert_workflow(wf, InsertOptions::default())
                .await
                .unwrap();
        }
        store
    }

    /// Asserts that the custom and generic plans of every `(statement, args)` contain
    /// `key_access` (how the primary key is used) and never the partial index of pending
    /// workflows.
    pub(crate) async fn assert_found_by_key(
        store: &PostgresStore,
        statements: &[(&str, &str)],
        key_access: &str,
    ) {
        for (statement, args) in statements {
            for plan in plans(store, statement, args).await {
                assert!(
                    plan.contains(key_access),
                    "the rows must be found by id:\n{statement}\n{plan}"
                );
                assert!(!plan.contains("idx_workflow_status_pending"), "{plan}");
            }
        }
    }

    /// How many rows of `workflow_status` one execution of a statement read, and how many it
    /// returned, by the server's own count (`EXPLAIN (ANALYZE)`), not by a timing.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct RowsRead {
        /// Rows the scans of `workflow_status` produced or filtered out, over all their loops.
        pub(crate) read: u64,
        /// Rows the scans of every table produced or filtered out, over all their loops.
        pub(crate) read_of_all_tables: u64,
        /// Rows the statement returned.
        pub(crate) returned: u64,
        /// Whether the server JIT-compiled the statement.
        pub(crate) jit_compiled: bool,
        /// Buffers (8 kB pages of tables and indexes) the statement's plan touched, found in
        /// shared buffers or read (`EXPLAIN (BUFFERS)`): what its scans cost, dead index
        /// entries included, which no row count shows.
        pub(crate) blocks: u64,
    }

    /// Runs `statement` (prepared as `q`) for `args` once with a custom and once with a generic
    /// plan, each in a transaction that is rolled back, and returns the rows each read, with
    /// the plan for messages.
    pub(crate) async fn rows_read(
        store: &PostgresStore,
        statement: &str,
        args: &str,
    ) -> Vec<(RowsRead, String)> {
        let client = store.client().await.unwrap();
        client
            .batch_execute(&format!("PREPARE q AS {statement}"))
            .await
            .unwrap();
        let mut out = Vec::new();
        for mode in ["force_custom_plan", "force_generic_plan"] {
            client
                .batch_execute(&format!("BEGIN; SET LOCAL plan_cache_mode = {mode}"))
                .await
                .unwrap();
            let mut text = String::new();
            for row in client
                .simple_query(&format!(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE q({args})"
                ))
                .await
                .unwrap()
            {
                if let tokio_postgres::SimpleQueryMessage::Row(r) = row {
                    text.push_str(r.get(0).unwrap_or_default());
                }
            }
            client.batch_execute("ROLLBACK").await.unwrap();
            let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
            let root = &plan[0]["Plan"];
            let counted = RowsRead {
                read: rows_scanned(root, Some("workflow_status")),
                read_of_all_tables: rows_scanned(root, None),
                returned: root["Actual Rows"].as_u64().unwrap_or(0),
                jit_compiled: plan[0].get("JIT").is_some(),
                blocks: root["Shared Hit Blocks"].as_u64().unwrap_or(0)
                    + root["Shared Read Blocks"].as_u64().unwrap_or(0),
            };
            out.push((counted, serde_json::to_string_pretty(root).unwrap()));
        }
        client.batch_execute("DEALLOCATE q").await.unwrap();
        out
    }

    /// The rows the scans of `relation` (of every table for `None`) under `node` produced or
    /// filtered out.
    fn rows_scanned(node: &serde_json::Value, relation: Option<&str>) -> u64 {
        let own = if relation.is_none_or(|name| node["Relation Name"] == name)
            && node["Node Type"]
                .as_str()
                .is_some_and(|t| t.ends_with("Scan"))
        {
            let field = |name: &str| node[name].as_u64().unwrap_or(0);
            (field("Actual Rows")
                + field("Rows Removed by Filter")
                + field("Rows Removed by Index Recheck"))
                * field("Actual Loops").max(1)
        } else {
            0
        };
        let children = node["Plans"].as_array().map_or(0, |plans| {
            plans.iter().map(|plan| rows_scanned(plan, relation)).sum()
        });
        own + children
    }

    /// The plan of `statement` (prepared as `q`, parameter types as the server infers them)
    /// for `args`, as a custom and as a generic plan, on a pooled connection of `store`.
    async fn plans(store: &PostgresStore, statement: &str, args: &str) -> [String; 2] {
        let client = store.client().await.unwrap();
        client
            .batch_execute(&format!("PREPARE q AS {statement}"))
            .await
            .unwrap();
        let mut out = [String::new(), String::new()];
        for (mode, plan) in ["force_custom_plan", "force_generic_plan"]
            .iter()
            .zip(out.iter_mut())
        {
            client
                .batch_execute(&format!("SET plan_cache_mode = {mode}"))
                .await
                .unwrap();
            for row in client
                .simple_query(&format!("EXPLAIN EXECUTE q({args})"))
                .await
                .unwrap()
            {
                if let tokio_postgres::SimpleQueryMessage::Row(r) = row {
                    plan.push_str(r.get(0).unwrap_or_default());
                    plan.push('\n');
                }
            }
        }
        client
            .batch_execute("DEALLOCATE q; RESET plan_cache_mode")
            .await
            .unwrap();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dialect that keeps claim limits plain, as CockroachDB's does.
    #[derive(Debug)]
    struct PlainLimits;

    impl crate::Dialect for PlainLimits {
        fn name(&self) -> &'static str {
            "plain"
        }
        fn product(&self) -> &'static str {
            "Plain"
        }
        fn hides_claim_limit(&self) -> bool {
            false
        }
    }

    #[test]
    fn claims_hide_their_limit_unless_the_dialect_does_not() {
        let claims = |q: &Queries| {
            [
                q.claim_skip_locked.clone(),
                q.claim_head_window.clone(),
                q.claim_partition_skip_locked.clone(),
                q.claim_partition_head_window.clone(),
            ]
        };
        let hidden = Queries::for_dialect("dbos", &crate::PostgresDialect);
        for claim in claims(&hidden) {
            assert!(claim.contains(sql::queues::HIDDEN_CLAIM_LIMIT), "{claim}");
        }
        let plain = Queries::for_dialect("dbos", &PlainLimits);
        for claim in claims(&plain) {
            assert!(!claim.contains(sql::queues::HIDDEN_CLAIM_LIMIT), "{claim}");
            assert!(claim.contains(sql::queues::PLAIN_CLAIM_LIMIT), "{claim}");
        }
    }

    #[test]
    fn queries_are_rendered_with_the_quoted_schema() {
        let q = Queries::new("My$Schema");
        assert!(q
            .insert_workflow
            .contains("INSERT INTO \"My$Schema\".workflow_status"));
        assert!(q
            .list_workflows
            .contains("FROM \"My$Schema\".workflow_status ws"));
        for text in [
            &q.insert_workflow,
            &q.record_outcome,
            &q.cancel_workflows,
            &q.lock_caller,
            &q.send_messages,
            &q.select_missing_destinations,
            &q.message_waiting,
            &q.consume_message,
            &q.upsert_event,
            &q.select_event,
            &q.select_all_events,
            &q.append_stream,
            &q.read_stream,
        ] {
            assert!(!text.contains("{schema}"), "{text}");
        }
        assert!(q
            .send_messages
            .contains("INSERT INTO \"My$Schema\".notifications"));
    }
}
