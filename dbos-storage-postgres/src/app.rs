//! [`PostgresAppStore`]: the application database on PostgreSQL.
//!
//! A transaction step runs the user's body and records its output in `transaction_outputs` (the
//! DBOS Python 2.x table in schema `dbos`) in the same
//! PostgreSQL transaction as the body's writes. The public docs of [`PostgresAppStore`] and
//! [`PostgresTransaction`] describe the rules; the SQL is in `sql/app.rs`.

mod migrations;
mod retention;
mod values;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use dbos_storage_core::app::{column_names, positional_sql, unbound_parameter};
use dbos_storage_core::payload::validate_text;
use dbos_storage_core::{
    validate, AppStore, AppTransaction, DatabaseUrl, DbosConfig, EpochMs, Error, ErrorKind,
    Isolation, Outcome, Params, Payload, RecordedTransaction, Result, Row, TransactionBody,
    TransactionCall, TransactionOutcome, Value,
};
use dbos_storage_driver_kit::app_transaction::attempt::{run_attempts, Attempt, SharedBody};
use dbos_storage_driver_kit::app_transaction::{outputs, refuse_transaction_control};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::config::PostgresConfig;
use crate::driver::open_pool;
use crate::error::{
    classify_app, classify_commit, is_created_concurrently_error, is_failed_transaction,
    is_missing_relation, is_unique_violation, sqlstate, with_backend, BACKEND,
};
use crate::pool::{Pool, PooledClient, TxOptions};
use crate::sql::{app as q, render};

/// The application database on PostgreSQL: exactly-once transactions recorded in
/// `transaction_outputs`, and the user's own migrations with refinery.
///
/// A transaction step runs the body and inserts its output **in the same PostgreSQL
/// transaction** as the body's writes, so a replay finds the row and returns it instead of
/// running the body again. The table lives in the schema named by `dbos_system_schema`
/// (`dbos` by default) of the application database.
///
/// # Transactions
///
/// - Each attempt checks out a pooled connection and runs `BEGIN ISOLATION LEVEL …` with the
///   call's [`Isolation`] (SERIALIZABLE by default; REPEATABLE READ and READ COMMITTED on
///   request), plus `READ ONLY` for read-only calls.
/// - Serialization failures (`40001`), deadlocks (`40P01`) and lost connections roll the
///   attempt back and re-run it, body included, with
///   [`RetryPolicy::transactions`](dbos_storage_core::RetryPolicy::transactions); the
///   outcome's `attempts` counts the runs of the body. A failure to commit because a concurrent
///   execution recorded the same step first is a serialization failure under SERIALIZABLE (the
///   re-run then replays the rival's result) and [`ErrorKind::StepConflict`] under the weaker
///   levels.
/// - [`Outcome::Error`] rolls the body's writes back and records the error in a transaction of
///   its own. Read-only calls record nothing (they cannot write); their result is checkpointed
///   by the system store alone.
/// - The body must not end the transaction: the neutral handle refuses `BEGIN`, `START`,
///   `COMMIT`, `END`, `ABORT`, `ROLLBACK` (but `ROLLBACK TO` a savepoint) and `PREPARE
///   TRANSACTION`, and a transaction ended through the native client is noticed before the
///   output is recorded (the store marks its transaction with a transaction-local setting).
/// - The driver sets `idle_in_transaction_session_timeout` (60 s unless the URL's `options`
///   set it) on its connections: a body that waits that long between statements loses its
///   connection, and the attempt is re-run.
///
/// # Interrupted callers
///
/// A body that panics, or a caller that drops the future (a timeout), leaves the attempt's
/// transaction open. Dropping the handle queues a `ROLLBACK` on its connection before the
/// connection returns to the pool, so the next user of the connection starts clean and the
/// abandoned writes are discarded.
///
/// # Migrations
///
/// [`AppStore::migrate`] creates the schema, the table and its index when missing (and adds
/// `function_name` to an old table), serialized across replicas by a transaction-scoped
/// advisory lock; when everything exists it changes nothing and needs no privilege.
/// [`AppStore::run_migrations`] applies the user's refinery files on a connection of its own
/// while holding a session advisory lock, so concurrent replicas apply each migration once;
/// refinery's history is kept in `<schema>.refinery_schema_history`, while the migrations
/// themselves run with the connection's `search_path` (normally `public`).
///
/// # Example
///
/// ```no_run
/// # use dbos_storage_core::{AppStore, Outcome, Params, Payload};
/// # use dbos_storage_core::{TransactionBody, TransactionCall};
/// # use dbos_storage_postgres::PostgresAppStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dbos_storage_core::Result<()> {
/// let store = PostgresAppStore::connect("postgresql://postgres@localhost:5432/app").await?;
/// store.migrate().await?;
/// // The body may run more than once (after a serialization failure); only one run commits.
/// let greet: &mut TransactionBody<'_> = &mut |tx| {
///     Box::pin(async move {
///         tx.execute(
///             "INSERT INTO greetings (text) VALUES (:text)",
///             Params::new().bind("text", "hello"),
///         )
///         .await?;
///         Ok(Outcome::Output(Payload::new("\"hello\"", None)))
///     })
/// };
/// let call = TransactionCall::new("wf-1", 1, "greet");
/// let first = store.run_transaction(call.clone(), greet).await?;
/// // Running the same step again replays the recorded output without running the body.
/// let again = store.run_transaction(call, greet).await?;
/// assert!(again.replayed);
/// assert_eq!(again.outcome, first.outcome);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresAppStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    config: PostgresConfig,
    sql: Statements,
}

/// The store's statements with the schema rendered in.
struct Statements {
    create_schema: String,
    create_table: String,
    add_function_name: String,
    create_index: String,
    select_recorded: String,
    insert_output: String,
    insert_error: String,
    delete_outputs_from: String,
    select_output_workflows: String,
}

impl Statements {
    fn new(schema: &str) -> Statements {
        Statements {
            create_schema: render(q::CREATE_SCHEMA, schema),
            create_table: render(q::CREATE_TRANSACTION_OUTPUTS, schema),
            add_function_name: render(q::ADD_FUNCTION_NAME_COLUMN, schema),
            create_index: render(q::CREATE_CREATED_AT_INDEX, schema),
            select_recorded: render(q::SELECT_RECORDED, schema),
            insert_output: render(q::INSERT_OUTPUT, schema),
            insert_error: render(q::INSERT_ERROR, schema),
            delete_outputs_from: render(q::DELETE_OUTPUTS_FROM, schema),
            select_output_workflows: render(q::SELECT_OUTPUT_WORKFLOWS, schema),
        }
    }
}

impl fmt::Debug for PostgresAppStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresAppStore")
            .field("config", &self.inner.config)
            .field("pool", &self.inner.pool)
            .finish()
    }
}

/// What the four existence checks of [`q::SELECT_MIGRATION_STATE`] found.
#[derive(Debug, Clone, Copy)]
struct MigrationState {
    schema: bool,
    table: bool,
    function_name: bool,
    index: bool,
}

impl MigrationState {
    fn from_rows(rows: &[tokio_postgres::Row]) -> Result<MigrationState> {
        let row = rows.first().ok_or_else(|| {
            Error::corrupt("the migration state query returned no row").with_backend(BACKEND)
        })?;
        let get = |i: usize| row.try_get::<_, bool>(i).map_err(classify_app);
        Ok(MigrationState {
            schema: get(0)?,
            table: get(1)?,
            function_name: get(2)?,
            index: get(3)?,
        })
    }

    fn complete(self) -> bool {
        self.schema && self.table && self.function_name && self.index
    }
}

impl PostgresAppStore {
    /// The store over an open pool (the driver builds it).
    pub(crate) fn new(pool: Pool, config: PostgresConfig) -> PostgresAppStore {
        let sql = Statements::new(config.schema());
        PostgresAppStore {
            inner: Arc::new(Inner { pool, config, sql }),
        }
    }

    /// Opens the application database at `url` (`postgresql://user:password@host/db?…`) with
    /// every other setting at its DBOS default (a pool of 20, schema `dbos`), creating the
    /// database when it does not exist. To choose the settings, open the store through
    /// [`crate::PostgresDriver`] with a [`DbosConfig`].
    ///
    /// Call [`AppStore::migrate`] once before running transactions.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] for a malformed URL, bad credentials or an unknown database
    /// that cannot be created; [`ErrorKind::ConnectionLost`] when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<PostgresAppStore> {
        let url = DatabaseUrl::parse(url)?;
        let config = PostgresConfig::application(&DbosConfig::new("dbos"), &url)?;
        let pool = open_pool(&config).await?;
        Ok(PostgresAppStore::new(pool, config))
    }

    /// Opens the application database described by `config` (build it with
    /// [`PostgresConfig::application`]), creating the database when it does not exist.
    ///
    /// # Errors
    /// As [`PostgresAppStore::connect`].
    pub async fn open(config: PostgresConfig) -> Result<PostgresAppStore> {
        let pool = open_pool(&config).await?;
        Ok(PostgresAppStore::new(pool, config))
    }

    /// The settings the store was opened with.
    pub fn config(&self) -> &PostgresConfig {
        &self.inner.config
    }

    fn schema(&self) -> &str {
        self.inner.config.schema()
    }

    /// Reads what exists of the table and its index.
    async fn migration_state(&self) -> Result<MigrationState> {
        let conn = self.inner.pool.get().await?;
        let schema = self.schema();
        let rows = conn
            .query_typed(q::SELECT_MIGRATION_STATE, &[(&schema, Type::TEXT)])
            .await
            .map_err(classify_app)?;
        MigrationState::from_rows(&rows)
    }

    /// Creates what is missing, under the advisory lock, in one transaction.
    async fn migrate_locked(&self) -> Result<()> {
        let inner = self.inner.clone();
        self.inner
            .pool
            .transaction(TxOptions::default(), move |tx| {
                Box::pin(async move {
                    let schema = inner.config.schema();
                    // Without working advisory locks, every step below is idempotent.
                    if inner.config.dialect().uses_advisory_locks() {
                        let key = migrations::migrate_lock_key(schema);
                        tx.query_typed(q::ADVISORY_XACT_LOCK, &[(&key, Type::INT8)])
                            .await
                            .map_err(classify_app)?;
                    }
                    let rows = tx
                        .query_typed(q::SELECT_MIGRATION_STATE, &[(&schema, Type::TEXT)])
                        .await
                        .map_err(classify_app)?;
                    let state = MigrationState::from_rows(&rows)?;
                    let sql = &inner.sql;
                    let mut steps: Vec<&str> = Vec::new();
                    if !state.schema {
                        steps.push(&sql.create_schema);
                    }
                    if !state.table {
                        steps.push(&sql.create_table);
                    } else if !state.function_name {
                        tracing::info!(schema, "adding function_name to transaction_outputs");
                        steps.push(&sql.add_function_name);
                    }
                    if !state.index {
                        steps.push(&sql.create_index);
                    }
                    for step in steps {
                        inner.config.log_statement(step);
                        tx.batch_execute(step).await.map_err(classify_app)?;
                    }
                    Ok(())
                })
            })
            .await
    }

    /// One attempt of a transaction: check for a recorded row, run the body, record and commit.
    async fn attempt(&self, call: &TransactionCall, body: &SharedBody<'_, '_>) -> Result<Attempt> {
        let mut tx =
            PostgresTransaction::begin(self.inner.clone(), call.isolation, call.read_only).await?;
        let recorded = match tx.read_recorded(&call.workflow_id, call.function_id).await {
            Ok(recorded) => recorded,
            Err(e) => {
                tx.rollback().await;
                return Err(e);
            }
        };
        if let Some(recorded) = recorded {
            tx.rollback().await;
            return outputs::replayed_outcome(call, recorded)
                .map(Attempt::Replayed)
                .map_err(with_backend);
        }

        let ran = body.run(&mut tx).await;

        match ran {
            Err(error) => {
                tx.rollback().await;
                Err(error)
            }
            Ok(Outcome::Error(payload)) => {
                tx.rollback().await;
                if call.read_only {
                    Ok(Attempt::Finished(Outcome::Error(payload)))
                } else {
                    Ok(Attempt::RecordError(payload))
                }
            }
            Ok(Outcome::Void) => {
                tx.rollback().await;
                Err(with_backend(outputs::void_output(call)))
            }
            Ok(Outcome::Output(payload)) => {
                let recorded = if call.read_only {
                    tx.ensure_open().await
                } else {
                    match validate_text("transaction output", &payload.text) {
                        Ok(()) => tx.record_output(call, &payload.text).await,
                        Err(e) => Err(e),
                    }
                };
                if let Err(e) = recorded {
                    tx.rollback().await;
                    return Err(e);
                }
                tx.commit().await?;
                Ok(Attempt::Finished(Outcome::Output(payload)))
            }
        }
    }

    /// Records an error outcome in its own transaction and returns what is recorded.
    async fn record_error(&self, call: &TransactionCall, error: Payload) -> Result<Outcome> {
        let inner = self.inner.clone();
        let workflow_id = call.workflow_id.clone();
        let function_id = call.function_id;
        let function_name = call.function_name.clone();
        let text = error.text;
        let rows = self
            .inner
            .pool
            .transaction(TxOptions::default(), move |tx| {
                Box::pin(async move {
                    inner.config.log_statement(&inner.sql.insert_error);
                    tx.execute_typed(
                        &inner.sql.insert_error,
                        &[
                            (&workflow_id, Type::TEXT),
                            (&function_id, Type::INT4),
                            (&text, Type::TEXT),
                            (&function_name, Type::TEXT),
                        ],
                    )
                    .await
                    .map_err(|e| missing_table(e, inner.config.schema()))?;
                    tx.query_typed(
                        &inner.sql.select_recorded,
                        &[(&workflow_id, Type::TEXT), (&function_id, Type::INT4)],
                    )
                    .await
                    .map_err(|e| missing_table(e, inner.config.schema()))
                })
            })
            .await?;
        let recorded =
            parse_recorded(&rows)?.ok_or_else(|| with_backend(outputs::vanished(call)))?;
        outputs::replayed_outcome(call, recorded).map_err(with_backend)
    }
}

#[async_trait]
impl AppStore for PostgresAppStore {
    fn backend(&self) -> &'static str {
        self.inner.config.dialect().name()
    }

    /// Creates the schema, `transaction_outputs` and `transaction_outputs_created_at_index` if
    /// missing, and adds `function_name` to a table created before it existed, in one
    /// transaction holding an advisory lock. Does nothing, and needs no privilege, when all of
    /// them exist.
    async fn migrate(&self) -> Result<()> {
        if self.migration_state().await?.complete() {
            return Ok(());
        }
        match self.migrate_locked().await {
            // A migrator that does not take the lock (another DBOS SDK) created an object
            // between the check and the DDL: run again, finding it this time.
            Err(e) if is_created_concurrently_error(&e) => self.migrate_locked().await,
            result => result,
        }
    }

    /// Applies the refinery migrations (`V{n}__{name}.sql`) found in `folder` and returns the
    /// names applied now (`V1__create_accounts`).
    ///
    /// The run uses a connection of its own, holding a session advisory lock so that concurrent
    /// replicas apply each migration once; each migration commits with its history row in
    /// `<schema>.refinery_schema_history` (the schema is created first if needed).
    async fn run_migrations(&self, folder: &Path) -> Result<Vec<String>> {
        let loaded = migrations::load(folder)?;
        let mut client = self.inner.pool.dedicated().await?;
        migrations::apply(
            &mut client,
            self.schema(),
            self.inner.config.dialect().uses_advisory_locks(),
            folder,
            &loaded,
        )
        .await
    }

    /// Runs `body` as transaction `call.function_id` of `call.workflow_id`.
    ///
    /// A row recorded without a `function_name` (by a DBOS version before the column existed)
    /// matches any name. Retryable errors re-run the whole attempt with
    /// [`RetryPolicy::transactions`](dbos_storage_core::RetryPolicy::transactions); `attempts`
    /// counts the runs of `body`.
    async fn run_transaction(
        &self,
        call: TransactionCall,
        body: &mut TransactionBody<'_>,
    ) -> Result<TransactionOutcome> {
        call.validate()?;
        begin_statement(call.isolation, call.read_only)?;
        let body = SharedBody::new(body);
        run_attempts(
            &body,
            || self.attempt(&call, &body),
            |error| self.record_error(&call, error),
        )
        .await
    }

    async fn recorded_transaction(
        &self,
        workflow_id: &str,
        function_id: i32,
    ) -> Result<Option<RecordedTransaction>> {
        validate::workflow_id(workflow_id)?;
        validate::function_id(function_id)?;
        let conn = self.inner.pool.get().await?;
        let rows = conn
            .query_typed(
                &self.inner.sql.select_recorded,
                &[(&workflow_id, Type::TEXT), (&function_id, Type::INT4)],
            )
            .await
            .map_err(|e| missing_table(e, self.schema()))?;
        parse_recorded(&rows)
    }

    /// Deletes in one transaction, `ids` bound as `text[]` chunks of 4096.
    async fn delete_transaction_outputs(
        &self,
        workflow_ids: &[String],
        from_function_id: i32,
        created_before: Option<dbos_storage_core::EpochMs>,
    ) -> Result<u64> {
        validate::workflow_ids(workflow_ids)?;
        if from_function_id < 0 {
            return Err(Error::invalid_input(format!(
                "transaction outputs are deleted from step 0 or later, not {from_function_id}"
            )));
        }
        if workflow_ids.is_empty() {
            return Ok(0);
        }
        let inner = self.inner.clone();
        let ids = workflow_ids.to_vec();
        self.inner
            .pool
            .transaction(TxOptions::default(), move |tx| {
                Box::pin(async move {
                    retention::delete_outputs(
                        tx,
                        &inner.sql.delete_outputs_from,
                        &ids,
                        from_function_id,
                        created_before,
                    )
                    .await
                    .map_err(|e| missing_table(e, inner.config.schema()))
                })
            })
            .await
    }

    async fn transaction_output_workflows(
        &self,
        created_before: EpochMs,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        if let Some(after) = after {
            validate::workflow_id(after)?;
        }
        let conn = self.inner.pool.get().await?;
        retention::output_workflows(
            &conn,
            &self.inner.sql.select_output_workflows,
            created_before,
            after,
            limit,
        )
        .await
        .map_err(|e| missing_table(e, self.schema()))
    }

    /// Closes the pool: later calls fail with [`ErrorKind::Closed`]; connections checked out
    /// by running transactions close when those finish.
    async fn close(&self) -> Result<()> {
        self.inner.pool.close().await;
        Ok(())
    }
}

/// The transaction handle [`PostgresAppStore`] passes to a transaction body, and the type
/// [`AppTransaction::as_any_mut`] returns on PostgreSQL.
///
/// # Statements
///
/// - Parameters are named, `:name`, and bound with [`Params::bind`]`("name", value)` (a leading
///   `:` in the bound name is accepted). Every parameter of a statement must be bound; bindings
///   the statement does not use are ignored. Positional `$1` parameters are refused with
///   [`ErrorKind::InvalidInput`]. `::type` casts are not parameters.
/// - Each statement is prepared, and every value is sent as the type PostgreSQL inferred for
///   its parameter: [`Value::Int`] fills `int2`, `int4` and `int8` (range-checked), `float4` and
///   `float8`; [`Value::Float`] fills floats, and integers when it is a whole number;
///   [`Value::Bool`] fills `bool` (and integers as 0/1; `Int` 0/1 fills `bool`);
///   [`Value::Bytes`] fills only `bytea`; [`Value::Text`] fills anything but `bytea` and is read
///   by the server with the type's input function (`text`, `json`, `jsonb`, `numeric`, `uuid`,
///   dates, enums, arrays written `{1,2}`). Where the server cannot infer a type (`SELECT
///   :x + :x`), cast the parameter (`CAST(:x AS bigint)`).
/// - Rows come back as `bool` → [`Value::Bool`]; `int2`/`int4`/`int8`/`oid` → [`Value::Int`];
///   `float4`/`float8` → [`Value::Float`]; `text`, `varchar`, `char`, `name`, `citext`, `xml`,
///   enums, `json`/`jsonb` (the document), `numeric` (the exact decimal) and `uuid` →
///   [`Value::Text`]; `bytea` → [`Value::Bytes`]. Other types (timestamps, arrays, …) are
///   refused with [`ErrorKind::Unsupported`] naming the column: cast them in the SQL
///   (`created::text`) or use [`client`](Self::client).
/// - One statement per call. `RETURNING` works with [`AppTransaction::query`] (and with
///   [`AppTransaction::execute`], which then counts the changed rows; for a plain query
///   PostgreSQL reports the number of rows returned).
/// - Statements that begin or end a transaction are refused; use `SAVEPOINT` / `ROLLBACK TO`
///   for nested work. Session settings changed with `SET` outlive the transaction on the pooled
///   connection: use `SET LOCAL`.
///
/// # The native client
///
/// [`client`](Self::client) is the connection's [`tokio_postgres::Client`], inside the open
/// transaction, for anything the neutral handle cannot express (typed parameters, `COPY`,
/// arrays, timestamps):
///
/// ```no_run
/// # use dbos_storage_core::{AppStore, Outcome, Payload};
/// # use dbos_storage_core::{TransactionBody, TransactionCall};
/// # use dbos_storage_postgres::{PostgresAppStore, PostgresTransaction};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> dbos_storage_core::Result<()> {
/// # let store = PostgresAppStore::connect("postgresql://postgres@localhost/app").await?;
/// let now: &mut TransactionBody<'_> = &mut |tx| {
///     Box::pin(async move {
///         let pg = tx
///             .as_any_mut()
///             .downcast_mut::<PostgresTransaction>()
///             .expect("a PostgreSQL transaction");
///         let row = pg
///             .client()
///             .query_one("SELECT now()::text", &[])
///             .await
///             .map_err(PostgresTransaction::classify)?;
///         let now: String = row.get(0);
///         Ok(Outcome::Output(Payload::new(format!("{now:?}"), None)))
///     })
/// };
/// store
///     .run_transaction(TransactionCall::new("wf-2", 1, "now"), now)
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// The client must not end the transaction (`COMMIT`, `ROLLBACK`): the store commits it
/// together with the recorded output, and fails the step with [`ErrorKind::Backend`] ("no
/// longer open") when the transaction was ended behind its back. Errors of the native client
/// are `tokio_postgres::Error`s: turn them into store errors with
/// [`PostgresTransaction::classify`], so that a serialization failure re-runs the body.
pub struct PostgresTransaction {
    conn: PooledClient<'static>,
    store: Arc<Inner>,
    /// The value of the transaction-local mark set right after `BEGIN`.
    mark: String,
    isolation: Isolation,
    read_only: bool,
    /// Whether a transaction may be open on the connection (`BEGIN` sent, no `COMMIT` or
    /// `ROLLBACK` finished since).
    open: bool,
}

impl fmt::Debug for PostgresTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresTransaction")
            .field("isolation", &self.isolation)
            .field("read_only", &self.read_only)
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl PostgresTransaction {
    /// The native client, inside the open transaction. See the type's docs for the rules.
    pub fn client(&self) -> &Client {
        &self.conn
    }

    /// Whether the transaction is read-only (`BEGIN … READ ONLY`).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The isolation level the transaction runs at.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// Classifies an error of the [`client`](Self::client) the way the store classifies its
    /// own: return it from the body, and a serialization failure (`40001`), a deadlock (`40P01`)
    /// or a lost connection re-runs the body, while other errors fail the step.
    pub fn classify(error: tokio_postgres::Error) -> Error {
        classify_app(error)
    }

    /// Checks out a connection and begins a transaction on it, marked as the store's.
    async fn begin(
        store: Arc<Inner>,
        isolation: Isolation,
        read_only: bool,
    ) -> Result<PostgresTransaction> {
        let begin = begin_statement(isolation, read_only)?;
        let conn = store.pool.get_owned().await?;
        let mark = uuid::Uuid::new_v4().simple().to_string();
        let sql = format!("{begin}; {}", q::SET_MARK.replace("{mark}", &mark));
        // Open from here on: a drop while BEGIN is in flight queues the ROLLBACK too.
        let tx = PostgresTransaction {
            conn,
            store,
            mark,
            isolation,
            read_only,
            open: true,
        };
        tx.store.config.log_statement(&sql);
        if let Err(e) = tx.conn.batch_execute(&sql).await {
            let mut tx = tx;
            tx.rollback().await;
            return Err(classify_app(e));
        }
        Ok(tx)
    }

    /// Reads the recorded row of a step.
    async fn read_recorded(
        &self,
        workflow_id: &str,
        function_id: i32,
    ) -> Result<Option<RecordedTransaction>> {
        let sql = &self.store.sql.select_recorded;
        self.store.config.log_statement(sql);
        let rows = self
            .conn
            .query_typed(
                sql,
                &[(&workflow_id, Type::TEXT), (&function_id, Type::INT4)],
            )
            .await
            .map_err(|e| missing_table(e, self.store.config.schema()))?;
        parse_recorded(&rows)
    }

    /// Inserts the output row, if the transaction is still the store's.
    async fn record_output(&self, call: &TransactionCall, output: &str) -> Result<()> {
        let sql = &self.store.sql.insert_output;
        self.store.config.log_statement(sql);
        let inserted = self
            .conn
            .execute_typed(
                sql,
                &[
                    (&call.workflow_id, Type::TEXT),
                    (&call.function_id, Type::INT4),
                    (&output, Type::TEXT),
                    (&call.function_name, Type::TEXT),
                    (&self.mark, Type::TEXT),
                ],
            )
            .await;
        match inserted {
            Ok(1) => Ok(()),
            Ok(_) => Err(not_open()),
            Err(e) if is_unique_violation(&e) => {
                Err(with_backend(outputs::recorded_concurrently(call))
                    .with_code(sqlstate(&e).to_owned())
                    .with_source(e))
            }
            Err(e) => Err(failed_transaction(e, self.store.config.schema())),
        }
    }

    /// Fails unless the open transaction is still the store's.
    async fn ensure_open(&self) -> Result<()> {
        let rows = self
            .conn
            .query_typed(q::IS_MARKED, &[(&self.mark, Type::TEXT)])
            .await
            .map_err(|e| failed_transaction(e, self.store.config.schema()))?;
        let marked = rows
            .first()
            .map(|r| r.try_get::<_, bool>(0))
            .transpose()
            .map_err(classify_app)?
            .unwrap_or(false);
        if marked {
            Ok(())
        } else {
            Err(not_open())
        }
    }

    /// Commits. The transaction is over whatever the result.
    async fn commit(&mut self) -> Result<()> {
        self.store.config.log_statement(q::COMMIT);
        let result = self.conn.batch_execute(q::COMMIT).await;
        self.open = false;
        result.map_err(classify_commit)
    }

    /// Rolls back, logging (not returning) a failure: a connection that failed is discarded by
    /// the pool, and the server discards its transaction.
    async fn rollback(&mut self) {
        if !self.open {
            return;
        }
        self.store.config.log_statement(q::ROLLBACK);
        let result = self.conn.batch_execute(q::ROLLBACK).await;
        self.open = false;
        if let Err(e) = result {
            tracing::debug!(error = %e, "ROLLBACK of an application transaction failed");
        }
    }

    /// Prepares `sql` (with `:name` parameters) and converts `params` to the types the server
    /// inferred.
    async fn prepare<'p>(
        &self,
        sql: &str,
        params: &'p Params,
    ) -> Result<(tokio_postgres::Statement, Vec<values::Param<'p>>)> {
        refuse_transaction_control(sql).map_err(with_backend)?;
        if let Some(found) = positional_parameter(sql) {
            return Err(Error::invalid_input(format!(
                "the statement uses the positional parameter {found}; write named parameters \
                 (`:name`) and bind them with Params::bind"
            ))
            .with_backend(BACKEND));
        }
        let (text, names) = positional_sql(sql);
        let bound = names
            .iter()
            .map(|name| bound_value(params, name))
            .collect::<Result<Vec<&Value>>>()?;
        self.store.config.log_statement(&text);
        let stmt = self.conn.prepare(&text).await.map_err(classify_app)?;
        if stmt.params().len() != names.len() {
            return Err(Error::invalid_input(format!(
                "the statement has {} parameters but {} named ones (`:name`); write every \
                 parameter as `:name`",
                stmt.params().len(),
                names.len()
            ))
            .with_backend(BACKEND));
        }
        let args = stmt
            .params()
            .iter()
            .zip(names.iter().zip(bound))
            .map(|(ty, (name, value))| values::to_param(value, ty, name))
            .collect::<Result<Vec<_>>>()?;
        Ok((stmt, args))
    }
}

impl Drop for PostgresTransaction {
    fn drop(&mut self) {
        if self.open {
            tracing::warn!(
                "rolling back an application transaction abandoned by its caller (a panic or a \
                 dropped future)"
            );
            queue_rollback(&self.conn);
        }
    }
}

/// Sends `ROLLBACK` on `client` without waiting for the answer, so that it reaches the server
/// before any later request on the connection (requests are sent in order).
///
/// tokio-postgres writes a request to the connection's queue on the first poll of the future,
/// before awaiting the answer; the connection task then sends it and discards the answer when
/// the future is gone. This is what `tokio_postgres::Transaction` does on drop.
fn queue_rollback(client: &Client) {
    let mut rollback = pin!(client.batch_execute(q::ROLLBACK));
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    if let Poll::Ready(Err(e)) = rollback.as_mut().poll(&mut cx) {
        tracing::debug!(error = %e, "queueing the ROLLBACK of an abandoned transaction failed");
    }
}

#[async_trait]
impl AppTransaction for PostgresTransaction {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn execute(&mut self, sql: &str, params: Params) -> Result<u64> {
        let (stmt, args) = self.prepare(sql, &params).await?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        self.conn.execute(&stmt, &refs).await.map_err(classify_app)
    }

    async fn query(&mut self, sql: &str, params: Params) -> Result<Vec<Row>> {
        let (stmt, args) = self.prepare(sql, &params).await?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = self.conn.query(&stmt, &refs).await.map_err(classify_app)?;
        let columns = column_names(stmt.columns().iter().map(|c| c.name().to_owned()));
        rows.iter()
            .map(|row| {
                let values = (0..columns.len())
                    .map(|i| values::column_value(row, i, &columns[i]))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Row::new(columns.clone(), values))
            })
            .collect()
    }

    /// Returns this [`PostgresTransaction`].
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The `BEGIN` of a transaction at `isolation`, read-only or not.
fn begin_statement(isolation: Isolation, read_only: bool) -> Result<String> {
    let begin = match isolation {
        Isolation::Serializable => q::BEGIN_SERIALIZABLE,
        Isolation::RepeatableRead => q::BEGIN_REPEATABLE_READ,
        Isolation::ReadCommitted => q::BEGIN_READ_COMMITTED,
        other => {
            return Err(Error::unsupported(format!(
                "the PostgreSQL application store does not support isolation level {other:?}"
            ))
            .with_backend(BACKEND))
        }
    };
    Ok(if read_only {
        format!("{begin}{}", q::READ_ONLY)
    } else {
        begin.to_owned()
    })
}

/// The value bound to `:name` (the last binding wins; a bound name may start with `:`).
fn bound_value<'p>(params: &'p Params, name: &str) -> Result<&'p Value> {
    params
        .bound(name)
        .ok_or_else(|| with_backend(unbound_parameter(&format!(":{name}"), name)))
}

/// The error of a transaction ended behind the store's back.
fn not_open() -> Error {
    Error::new(
        ErrorKind::Backend,
        "the application transaction is no longer open: a statement ended it (COMMIT or ROLLBACK \
         through the native client); transaction bodies must not end the transaction, the store \
         commits the writes together with the output",
    )
    .with_backend(BACKEND)
}

/// Classifies an error of the store's own statement inside the body's transaction: an
/// aborted transaction means the body ignored an error.
fn failed_transaction(e: tokio_postgres::Error, schema: &str) -> Error {
    if is_failed_transaction(&e) {
        return Error::new(
            ErrorKind::Backend,
            "the application transaction was aborted by an earlier error that the transaction \
             body ignored; return that error from the body (a retryable one re-runs it)",
        )
        .with_backend(BACKEND)
        .with_code(sqlstate(&e).to_owned())
        .with_source(e);
    }
    missing_table(e, schema)
}

/// Classifies an error of a statement on `transaction_outputs`: a missing table or schema
/// means `migrate()` was not called.
fn missing_table(e: tokio_postgres::Error, schema: &str) -> Error {
    if !is_missing_relation(&e) {
        return classify_app(e);
    }
    let code = sqlstate(&e).to_owned();
    let table = format!("{schema}.transaction_outputs");
    with_backend(outputs::missing_table(&table))
        .with_code(code)
        .with_source(e)
}

/// The recorded row among `rows` (at most one).
fn parse_recorded(rows: &[tokio_postgres::Row]) -> Result<Option<RecordedTransaction>> {
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let function_name: String = row.try_get(0).map_err(classify_app)?;
    let output: Option<String> = row.try_get(1).map_err(classify_app)?;
    let error: Option<String> = row.try_get(2).map_err(classify_app)?;
    Ok(Some(outputs::recorded_transaction(
        function_name,
        output,
        error,
    )))
}

/// The first positional parameter (`$1`) of `sql` outside literals, quoted identifiers,
/// dollar-quoted strings and comments.
fn positional_parameter(sql: &str) -> Option<&str> {
    let bytes = sql.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
    let mut i = 0;
    while i < bytes.len() {
        // Only sliced at ASCII bytes below, which are always character boundaries.
        let rest = |at: usize| &sql[at..];
        match bytes[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += 1;
                }
                i += 1;
            }
            b'-' if rest(i).starts_with("--") => {
                let rest = rest(i);
                i += rest.find('\n').unwrap_or(rest.len());
            }
            b'/' if rest(i).starts_with("/*") => {
                let rest = rest(i);
                i += rest.find("*/").map_or(rest.len(), |end| end + 2);
            }
            b'$' if i == 0 || !word(bytes[i - 1]) => {
                let rest = rest(i);
                let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
                if digits > 0 {
                    return Some(&rest[..=digits]);
                }
                // A dollar-quoted string: `$tag$ … $tag$`.
                let tag_len = rest[1..]
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80)
                    .count();
                if rest.as_bytes().get(1 + tag_len) == Some(&b'$') {
                    let tag = &rest[..tag_len + 2];
                    let body = &rest[tag.len()..];
                    i += tag.len() + body.find(tag).map_or(body.len(), |end| end + tag.len());
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_parameters_are_found_outside_quotes() {
        assert_eq!(positional_parameter("SELECT $1"), Some("$1"));
        assert_eq!(positional_parameter("SELECT :a, $12 + 1"), Some("$12"));
        assert_eq!(positional_parameter("SELECT '$1', \"$2\", a$3"), None);
        assert_eq!(positional_parameter("SELECT 1 -- $1\n, 2 /* $2 */"), None);
        assert_eq!(
            positional_parameter("SELECT $$ $1 $$, $f$ $2 $f$, :x"),
            None
        );
        assert_eq!(positional_parameter("SELECT $$ $1 $$ + $3"), Some("$3"));
        assert_eq!(positional_parameter("SELECT x::int, :y"), None);
        assert_eq!(
            positional_parameter("SELECT 'é', \"ü\", ß, :x, $2"),
            Some("$2")
        );
        assert_eq!(
            positional_parameter("SELECT $ü$ $1 $ü$, 'ünterminated"),
            None
        );
    }

    #[test]
    fn begin_statements() {
        assert_eq!(
            begin_statement(Isolation::Serializable, false).unwrap(),
            "BEGIN ISOLATION LEVEL SERIALIZABLE"
        );
        assert_eq!(
            begin_statement(Isolation::ReadCommitted, true).unwrap(),
            "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
        );
        assert_eq!(
            begin_statement(Isolation::RepeatableRead, false).unwrap(),
            "BEGIN ISOLATION LEVEL REPEATABLE READ"
        );
    }

    #[test]
    fn bound_values_accept_a_leading_colon_and_the_last_wins() {
        let params = Params::new().bind(":a", 1).bind("a", 2).bind("b", "x");
        assert_eq!(bound_value(&params, "a").unwrap(), &Value::Int(2));
        let e = bound_value(&params, "missing").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains(":missing"), "{e}");
    }
}
