//! The PostgreSQL (and CockroachDB) raw baseline: copies of `workflow_status` and
//! `operation_outputs` (`CREATE TABLE … (LIKE … INCLUDING ALL)`: same columns, defaults,
//! constraints and indexes) in a scratch schema of their own, written over connections opened
//! as the store's pooled connections are ([`PostgresStore::native_connection`]: same TLS,
//! timeouts and session settings). Each call is one autocommit statement: one committed
//! single-row write.

use dbos_storage::postgres::tokio_postgres::{self, Client, Statement};
use dbos_storage::postgres::PostgresStore;
use dbos_storage::{new_token, now_epoch_ms};

use super::{raw_error, STEP_OUTPUT};
use crate::error::CliError;

// language=SQL
/// Creates the scratch schema (fails when it exists, so nothing of the user's is reused).
const CREATE_SCHEMA: &str = "CREATE SCHEMA {schema}";

// language=SQL
/// Copies of the workflow and step tables: same columns, defaults, constraints and indexes.
const CREATE_TABLES: &str = "\
CREATE TABLE {schema}.workflow_status (LIKE {source}.workflow_status INCLUDING ALL);
CREATE TABLE {schema}.operation_outputs (LIKE {source}.operation_outputs INCLUDING ALL);";

// language=SQL
/// One workflow row, as a direct start writes it (`$1` id, `$2` now, `$3` token).
const INSERT_WORKFLOW: &str = "\
INSERT INTO {schema}.workflow_status (
    workflow_uuid, status, name, executor_id, application_version, created_at, updated_at,
    recovery_attempts, owner_xid, creator_xid)
VALUES ($1, 'PENDING', 'bench_workflow', 'bench', 'bench', $2, $2, 1, $3, $3)";

// language=SQL
/// One step row (`$1` workflow, `$2` function id, `$3` output, `$4` now).
const INSERT_STEP: &str = "\
INSERT INTO {schema}.operation_outputs (
    workflow_uuid, function_id, function_name, output, started_at_epoch_ms,
    completed_at_epoch_ms)
VALUES ($1, $2, 'bench_step', $3, $4, $4)";

// language=SQL
/// A workflow's outcome (`$1` id, `$2` now).
const FINISH_WORKFLOW: &str = "\
UPDATE {schema}.workflow_status
SET status = 'SUCCESS', owner_xid = NULL, updated_at = $2, completed_at = $2
WHERE workflow_uuid = $1";

// language=SQL
/// Drops the scratch schema with its tables.
const DROP_SCHEMA: &str = "DROP SCHEMA IF EXISTS {schema} CASCADE";

/// One connection of the baseline and its prepared statements.
struct Connection {
    client: Client,
    insert_workflow: Statement,
    insert_step: Statement,
    finish_workflow: Statement,
}

/// Scratch copies of the workflow and step tables in a schema of their own, and dedicated
/// connections writing into them. Calls name the connection to use (`connection` modulo the
/// number of connections), so concurrent callers can each have their own.
pub(crate) struct PostgresRaw {
    /// The scratch schema, quoted.
    schema: String,
    connections: Vec<Connection>,
}

impl PostgresRaw {
    /// Creates the scratch schema `{schema}_raw_{pid}` (the store's schema name, shortened to
    /// fit) with copies of the store's `workflow_status` and `operation_outputs`, and opens
    /// `connections` (at least one) native connections of the store to write into them.
    pub(crate) async fn open(
        store: &PostgresStore,
        connections: usize,
    ) -> Result<PostgresRaw, CliError> {
        let mut base = store.schema().to_owned();
        base.truncate(40);
        let schema = quote(&format!("{base}_raw_{}", std::process::id()));
        let setup = store.native_connection().await?;
        setup
            .batch_execute(&CREATE_SCHEMA.replace("{schema}", &schema))
            .await
            .map_err(pg_error)?;
        let mut raw = PostgresRaw {
            schema,
            connections: Vec::new(),
        };
        let tables = CREATE_TABLES
            .replace("{schema}", &raw.schema)
            .replace("{source}", &quote(store.schema()));
        let mut opened = setup.batch_execute(&tables).await.map_err(pg_error);
        for _ in 0..connections.max(1) {
            if opened.is_err() {
                break;
            }
            match raw.connect(store).await {
                Ok(c) => raw.connections.push(c),
                Err(e) => opened = Err(e),
            }
        }
        if let Err(e) = opened {
            let _ = raw.drop_with(&setup).await;
            return Err(e);
        }
        Ok(raw)
    }

    async fn connect(&self, store: &PostgresStore) -> Result<Connection, CliError> {
        let client = store.native_connection().await?;
        let prepare = |template: &'static str| {
            let text = template.replace("{schema}", &self.schema);
            let client = &client;
            async move { client.prepare(&text).await.map_err(pg_error) }
        };
        let insert_workflow = prepare(INSERT_WORKFLOW).await?;
        let insert_step = prepare(INSERT_STEP).await?;
        let finish_workflow = prepare(FINISH_WORKFLOW).await?;
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

    /// Inserts one `PENDING` workflow row on connection `connection` (one committed statement).
    pub(crate) async fn insert_workflow(
        &self,
        connection: usize,
        workflow_id: &str,
    ) -> Result<(), CliError> {
        let c = self.connection(connection);
        c.client
            .execute(
                &c.insert_workflow,
                &[&workflow_id, &now_epoch_ms(), &new_token()],
            )
            .await
            .map(drop)
            .map_err(pg_error)
    }

    /// Inserts one step row with a small output on connection `connection` (one committed
    /// statement).
    pub(crate) async fn insert_step(
        &self,
        connection: usize,
        workflow_id: &str,
        function_id: i32,
    ) -> Result<(), CliError> {
        let c = self.connection(connection);
        c.client
            .execute(
                &c.insert_step,
                &[&workflow_id, &function_id, &STEP_OUTPUT, &now_epoch_ms()],
            )
            .await
            .map(drop)
            .map_err(pg_error)
    }

    /// Marks one workflow row `SUCCESS` on connection `connection` (one committed statement).
    pub(crate) async fn finish_workflow(
        &self,
        connection: usize,
        workflow_id: &str,
    ) -> Result<(), CliError> {
        let c = self.connection(connection);
        c.client
            .execute(&c.finish_workflow, &[&workflow_id, &now_epoch_ms()])
            .await
            .map(drop)
            .map_err(pg_error)
    }

    /// Drops the scratch schema and closes the connections.
    pub(crate) async fn drop_schema(self) -> Result<(), CliError> {
        self.drop_with(&self.connection(0).client).await
    }

    async fn drop_with(&self, client: &Client) -> Result<(), CliError> {
        client
            .batch_execute(&DROP_SCHEMA.replace("{schema}", &self.schema))
            .await
            .map_err(pg_error)
    }
}

/// The error of a raw statement, with the server's message and SQLSTATE when it sent one.
fn pg_error(e: tokio_postgres::Error) -> CliError {
    match e.as_db_error() {
        Some(db) => raw_error(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
        None => raw_error(e),
    }
}

/// `name` as a quoted SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use dbos_storage::postgres::PostgresConfig;
    use dbos_storage::{DatabaseUrl, DbosConfig, LifecycleStore};
    use dbos_storage_testkit::pg;

    use super::*;

    #[tokio::test]
    async fn the_baseline_writes_into_a_scratch_schema_it_drops() {
        let url = pg::server().create_database("cli_raw").await;
        let config = DbosConfig::new("raw-test");
        let parsed = DatabaseUrl::parse(&url).unwrap();
        let store = PostgresStore::open(PostgresConfig::system(&config, &parsed).unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let raw = PostgresRaw::open(&store, 2).await.unwrap();
        assert_eq!(raw.connections.len(), 2);
        let schema = raw.schema.trim_matches('"').to_owned();
        raw.insert_workflow(0, "w1").await.unwrap();
        raw.insert_step(1, "w1", 1).await.unwrap();
        raw.finish_workflow(0, "w1").await.unwrap();
        let e = raw.insert_workflow(1, "w1").await.unwrap_err();
        assert!(
            e.to_string().contains("SQLSTATE 23505"),
            "the primary key is copied: {e}"
        );
        raw.drop_schema().await.unwrap();
        let client = pg::server().connect(&url).await.unwrap();
        let left: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                &[&schema],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
        store.close().await.unwrap();
        pg::server().drop_database(&url).await;
    }
}
