//! [`RawBaseline`]: the raw database doing a store's writes one committed single-row statement at
//! a time, for benchmarks that put a store's rate next to the database's own.
//!
//! The baseline writes into copies of `workflow_status` and `operation_outputs` (`CREATE TABLE …
//! (LIKE … INCLUDING ALL)`: same columns, defaults, constraints and indexes) in a scratch schema
//! of its own, over dedicated connections opened exactly as the store's pooled connections are
//! (same TLS, timeouts and session settings). Each call is one autocommit statement: one
//! committed single-row write.

use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{new_token, now_epoch_ms, Error, Result};
use tokio_postgres::{Client, Statement};

use crate::error::{classify, BACKEND};
use crate::sql::{self, render};
use crate::store::PostgresStore;

/// The output every baseline step writes: the size of a small JSON step result.
const STEP_OUTPUT: &str = r#"{"json":"{\"ok\":true,\"step\":\"bench_step\"}"}"#;

/// One connection of the baseline and its prepared statements.
struct Connection {
    client: Client,
    insert_workflow: Statement,
    insert_step: Statement,
    finish_workflow: Statement,
}

/// Scratch copies of the workflow and step tables in a schema of their own, and dedicated
/// connections writing into them.
///
/// Open one with [`PostgresStore::raw_baseline`]; drop the scratch schema with
/// [`RawBaseline::drop_schema`]. Calls name the connection to use (`connection` modulo the
/// number of connections), so concurrent callers can each have their own.
pub struct RawBaseline {
    schema: String,
    connections: Vec<Connection>,
}

impl std::fmt::Debug for RawBaseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBaseline")
            .field("schema", &self.schema)
            .field("connections", &self.connections.len())
            .finish()
    }
}

impl PostgresStore {
    /// Creates the scratch schema `{schema}_raw_{pid}` (the store's schema name, shortened to
    /// fit) with copies of `workflow_status` and `operation_outputs`, and opens `connections`
    /// (at least one) dedicated connections with the store's settings to write into them, for a
    /// raw-write baseline next to a benchmark of the store.
    ///
    /// # Errors
    /// The server's error (classified) when the scratch schema exists already, the store's
    /// schema has not been migrated, or the user may not create schemas; the errors of opening
    /// a connection.
    pub async fn raw_baseline(&self, connections: usize) -> Result<RawBaseline> {
        let mut base = self.schema().to_owned();
        base.truncate(40);
        let schema = format!("{base}_raw_{}", std::process::id());
        let source = quote_identifier(self.schema());
        let setup = self.pool().dedicated().await?;
        setup
            .batch_execute(&render(sql::bench::CREATE_SCHEMA, &schema))
            .await
            .map_err(classify)?;
        let created = setup
            .batch_execute(&render(sql::bench::CREATE_TABLES, &schema).replace("{source}", &source))
            .await
            .map_err(classify);
        let mut baseline = RawBaseline {
            schema,
            connections: Vec::new(),
        };
        if let Err(e) = created {
            let _ = baseline.drop_with(&setup).await;
            return Err(e);
        }
        for _ in 0..connections.max(1) {
            match baseline.open_connection(self).await {
                Ok(c) => baseline.connections.push(c),
                Err(e) => {
                    let _ = baseline.drop_with(&setup).await;
                    return Err(e);
                }
            }
        }
        Ok(baseline)
    }
}

impl RawBaseline {
    async fn open_connection(&self, store: &PostgresStore) -> Result<Connection> {
        let client = store.pool().dedicated().await?;
        let prepare = |template: &'static str| {
            let text = render(template, &self.schema);
            let client = &client;
            async move { client.prepare(&text).await.map_err(classify) }
        };
        let insert_workflow = prepare(sql::bench::INSERT_WORKFLOW).await?;
        let insert_step = prepare(sql::bench::INSERT_STEP).await?;
        let finish_workflow = prepare(sql::bench::FINISH_WORKFLOW).await?;
        Ok(Connection {
            client,
            insert_workflow,
            insert_step,
            finish_workflow,
        })
    }

    fn connection(&self, n: usize) -> &Connection {
        &self.connections[n % self.connections.len()]
    }

    /// The scratch schema (unquoted).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// How many connections the baseline has.
    pub fn connections(&self) -> usize {
        self.connections.len()
    }

    /// Inserts one `PENDING` workflow row on connection `connection` (one committed statement).
    ///
    /// # Errors
    /// A classified error, e.g. a duplicate id.
    pub async fn insert_workflow(&self, connection: usize, workflow_id: &str) -> Result<()> {
        let c = self.connection(connection);
        let token = new_token();
        c.client
            .execute(&c.insert_workflow, &[&workflow_id, &now_epoch_ms(), &token])
            .await
            .map(drop)
            .map_err(classify)
    }

    /// Inserts one step row with a small output on connection `connection` (one committed
    /// statement).
    ///
    /// # Errors
    /// A classified error, e.g. a step recorded twice.
    pub async fn insert_step(
        &self,
        connection: usize,
        workflow_id: &str,
        function_id: i32,
    ) -> Result<()> {
        let c = self.connection(connection);
        c.client
            .execute(
                &c.insert_step,
                &[&workflow_id, &function_id, &STEP_OUTPUT, &now_epoch_ms()],
            )
            .await
            .map(drop)
            .map_err(classify)
    }

    /// Marks one workflow row `SUCCESS` on connection `connection` (one committed statement).
    ///
    /// # Errors
    /// A classified error.
    pub async fn finish_workflow(&self, connection: usize, workflow_id: &str) -> Result<()> {
        let c = self.connection(connection);
        c.client
            .execute(&c.finish_workflow, &[&workflow_id, &now_epoch_ms()])
            .await
            .map(drop)
            .map_err(classify)
    }

    /// Drops the scratch schema and closes the connections.
    ///
    /// # Errors
    /// A classified error.
    pub async fn drop_schema(mut self) -> Result<()> {
        let Some(first) = self.connections.first() else {
            return Err(Error::closed().with_backend(BACKEND));
        };
        let result = self.drop_with(&first.client).await;
        self.connections.clear();
        result
    }

    async fn drop_with(&self, client: &Client) -> Result<()> {
        client
            .batch_execute(&render(sql::lifecycle::DROP_SCHEMA, &self.schema))
            .await
            .map_err(classify)
    }
}
