//! Malformed input, table-driven: configuration, URLs and operations. Each row names the input,
//! the [`ErrorKind`] it must fail with and text the message must contain (what is wrong and,
//! where useful, how to fix it). After every operation row the database is checked: the schema
//! version is intact, the rows written before are unchanged, and a normal insert and read work.
//!
//! The operation rows run on a SQLite file and, with the `postgres` feature, on PostgreSQL (the
//! test harness's server).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use dbos_storage::payload::portable;
use dbos_storage::{
    connect, Caller, DatabaseUrl, DbosConfig, ErrorKind, EventStore, InsertOptions, LifecycleStore,
    ListStepsOptions, ListWorkflowsQuery, MessageStore, NewWorkflow, Outcome, OutgoingMessage,
    Payload, QueueDefinition, Result, SendOptions, StepRecord, StreamReadOptions, StreamStore,
    SystemStore, WorkflowStore,
};

/// The password in every URL of this file; no message may contain it.
const PASSWORD: &str = "Bad-Input-pw-7731";

type Run = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// One malformed input: its name, the kind it must fail with, and what the message must say.
struct Row {
    name: String,
    kind: ErrorKind,
    says: Vec<&'static str>,
    run: Run,
}

fn row<T, F>(name: impl Into<String>, kind: ErrorKind, says: &[&'static str], run: F) -> Row
where
    F: Future<Output = Result<T>> + Send + 'static,
{
    Row {
        name: name.into(),
        kind,
        says: says.to_vec(),
        run: Box::pin(async move { run.await.map(|_| ()) }),
    }
}

/// Runs `row` and checks its error; returns a failure description instead of panicking, so one
/// run reports every broken row.
async fn check(row: Row) -> Option<String> {
    let name = row.name;
    let err = match row.run.await {
        Ok(()) => return Some(format!("{name}: succeeded, expected {}", row.kind)),
        Err(e) => e,
    };
    let text = err.to_string();
    let debug = format!("{err:?}");
    if text.contains(PASSWORD) || debug.contains(PASSWORD) {
        return Some(format!("{name}: the password leaked: {debug}"));
    }
    if err.kind() != row.kind {
        return Some(format!(
            "{name}: kind {} instead of {}: {text}",
            err.kind(),
            row.kind
        ));
    }
    let missing: Vec<_> = row.says.iter().filter(|s| !text.contains(**s)).collect();
    if !missing.is_empty() {
        return Some(format!("{name}: message lacks {missing:?}: {text}"));
    }
    None
}

async fn check_all(rows: Vec<Row>) -> usize {
    let count = rows.len();
    let mut failures = Vec::new();
    for row in rows {
        if let Some(f) = check(row).await {
            failures.push(f);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    count
}

fn config() -> DbosConfig {
    DbosConfig::new("bad-input")
}

/// Opens the stores of `config` (no server is reached by rows that fail validation).
async fn open(config: DbosConfig) -> Result<()> {
    connect(&config).await.map(|_| ())
}

/// A PostgreSQL URL on 127.0.0.1 with the test password and extra query text. A row whose
/// check passed by mistake would reach a closed port and fail with `ConnectionLost` instead.
fn pg_url(rest: &str) -> String {
    format!("postgresql://app:{PASSWORD}@127.0.0.1:1/orders{rest}")
}

fn yaml_in(dir: &Path, file: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Configuration, URL and config-file rows: no database is touched.
fn config_rows(dir: &Path) -> Vec<Row> {
    let mut rows = vec![
        row(
            "unknown scheme",
            ErrorKind::InvalidConfig,
            &[
                "unknown database URL scheme mysql://",
                "available schemes: sqlite://",
            ],
            open(config().with_system_database_url(format!("mysql://u:{PASSWORD}@h/db"))),
        ),
        row(
            "no scheme",
            ErrorKind::InvalidConfig,
            &["system_database_url", "sqlite://"],
            open(config().with_system_database_url("localhost/orders")),
        ),
        row(
            "empty URL",
            ErrorKind::InvalidConfig,
            &["database URL is empty"],
            async { DatabaseUrl::parse(" ") },
        ),
        row(
            "missing database name",
            ErrorKind::InvalidConfig,
            &["Database name must be specified in the connection URL"],
            open(config().with_system_database_url(format!("postgresql://u:{PASSWORD}@h:5432"))),
        ),
        row(
            "port out of range",
            ErrorKind::InvalidConfig,
            &["invalid port"],
            open(
                config().with_system_database_url(format!("postgresql://u:{PASSWORD}@h:99999/db")),
            ),
        ),
        row(
            "port not a number",
            ErrorKind::InvalidConfig,
            &["invalid port"],
            open(config().with_system_database_url(format!("postgresql://u:{PASSWORD}@h:abc/db"))),
        ),
        row(
            "bad percent-encoding",
            ErrorKind::InvalidConfig,
            &["percent-encoding"],
            open(config().with_system_database_url(format!("postgresql://u:{PASSWORD}@h/d%zzb"))),
        ),
        row(
            "several hosts",
            ErrorKind::Unsupported,
            &["several hosts", "exactly one host"],
            open(
                config().with_system_database_url(format!(
                    "postgresql://u:{PASSWORD}@h1:5432,h2:5433/db"
                )),
            ),
        ),
        row(
            "name too short",
            ErrorKind::InvalidConfig,
            &["3-30 characters"],
            open(DbosConfig::new("ab")),
        ),
        row(
            "name too long",
            ErrorKind::InvalidConfig,
            &["3-30 characters"],
            open(DbosConfig::new("a".repeat(31))),
        ),
        row(
            "name with capitals",
            ErrorKind::InvalidConfig,
            &["3-30 characters", "lowercase letters"],
            open(DbosConfig::new("MyApp")),
        ),
        row(
            "name with a space",
            ErrorKind::InvalidConfig,
            &["3-30 characters"],
            open(DbosConfig::new("my app")),
        ),
        row(
            "hostile schema name",
            ErrorKind::InvalidConfig,
            &["invalid schema name", "letters, digits"],
            open(config().with_dbos_system_schema("dbos\"; DROP TABLE workflow_status; --")),
        ),
        row(
            "schema name with a dot",
            ErrorKind::InvalidConfig,
            &["invalid schema name"],
            open(config().with_dbos_system_schema("public.dbos")),
        ),
        row(
            "empty schema name",
            ErrorKind::InvalidConfig,
            &["invalid schema name"],
            open(config().with_dbos_system_schema("")),
        ),
        row(
            "schema name over 63 bytes",
            ErrorKind::InvalidConfig,
            &["1-63 characters"],
            open(config().with_dbos_system_schema("s".repeat(64))),
        ),
        row(
            "pool_size 0",
            ErrorKind::InvalidConfig,
            &["pool_size must be at least 1"],
            open(config().with_pool_size(0)),
        ),
        row(
            "SQLite system, PostgreSQL application",
            ErrorKind::InvalidConfig,
            &["must be the same database type"],
            open(
                config()
                    .with_system_database_url("sqlite:///x.sqlite")
                    .with_application_database_url(pg_url("")),
            ),
        ),
        row(
            "PostgreSQL system, SQLite application",
            ErrorKind::InvalidConfig,
            &["must be the same database type"],
            open(
                config()
                    .with_system_database_url(pg_url(""))
                    .with_application_database_url("sqlite:///x.sqlite"),
            ),
        ),
        row(
            "SQLite busy_timeout not a number",
            ErrorKind::InvalidConfig,
            &["busy_timeout", "not a number of milliseconds"],
            open(config().with_system_database_url(format!(
                "sqlite:///{}?busy_timeout=soon",
                dir.join("busy.sqlite").display()
            ))),
        ),
        row(
            "SQLite too many readers",
            ErrorKind::InvalidConfig,
            &["readers=1000 is too many"],
            open(config().with_system_database_url(format!(
                "sqlite:///{}?readers=1000",
                dir.join("readers.sqlite").display()
            ))),
        ),
        row(
            "YAML: unset ${VAR} in a URL that is used",
            ErrorKind::InvalidConfig,
            &[
                "system_database_url: Database name must be specified",
                "system_database_url uses ${DBOS_BAD_INPUT_UNSET_VARIABLE}, which is not set",
            ],
            async {
                DbosConfig::from_yaml_str_with_env(
                    "name: bad-input\nsystem_database_url: \
                     postgresql://u@localhost/${DBOS_BAD_INPUT_UNSET_VARIABLE}\n",
                    |_| None,
                )?
                .validate()
            },
        ),
        row(
            "YAML: unknown key",
            ErrorKind::InvalidConfig,
            &["pool_sise"],
            async { DbosConfig::from_yaml_str("name: bad-input\npool_sise: 3\n") },
        ),
        row(
            "YAML: pool_size not a number",
            ErrorKind::InvalidConfig,
            &["pool_size"],
            async { DbosConfig::from_yaml_str("name: bad-input\npool_size: lots\n") },
        ),
        row(
            "YAML: not YAML",
            ErrorKind::InvalidConfig,
            &["not valid YAML"],
            async { DbosConfig::from_yaml_str("name: [bad-input\n") },
        ),
        row(
            "YAML: no name",
            ErrorKind::InvalidConfig,
            &["name"],
            async { DbosConfig::from_yaml_str("pool_size: 3\n") },
        ),
        row(
            "environment: DBOS_POOL_SIZE not a number",
            ErrorKind::InvalidConfig,
            &["DBOS_POOL_SIZE"],
            async {
                config().apply_env_with(|v| (v == "DBOS_POOL_SIZE").then(|| "many".to_owned()))
            },
        ),
        row(
            "environment: DBOS_USE_LISTEN_NOTIFY not a boolean",
            ErrorKind::InvalidConfig,
            &["DBOS_USE_LISTEN_NOTIFY"],
            async {
                config().apply_env_with(|v| {
                    (v == "DBOS_USE_LISTEN_NOTIFY").then(|| "perhaps".to_owned())
                })
            },
        ),
    ];
    let invalid_utf8 = yaml_in(dir, "latin1.yaml", b"name: caf\xe9-app\n");
    rows.push(row(
        "config file: invalid UTF-8",
        ErrorKind::InvalidConfig,
        &["latin1.yaml", "not valid UTF-8", "offset 9"],
        async move { DbosConfig::from_yaml_file(invalid_utf8) },
    ));
    let missing = dir.join("no-such-config.yaml");
    rows.push(row(
        "config file: missing",
        ErrorKind::InvalidConfig,
        &["cannot read the config file", "no-such-config.yaml"],
        async move { DbosConfig::from_yaml_file(missing) },
    ));
    let unset = yaml_in(
        dir,
        "unset.yaml",
        b"name: ${DBOS_BAD_INPUT_UNSET_VARIABLE}\n",
    );
    rows.push(row(
        "config file: unset ${VAR} as the name",
        ErrorKind::InvalidConfig,
        &[
            "name is empty",
            "${DBOS_BAD_INPUT_UNSET_VARIABLE}, which is not set",
            "unset.yaml",
        ],
        async move { DbosConfig::from_yaml_file(unset) },
    ));
    rows.extend(postgres_config_rows(dir));
    rows
}

/// PostgreSQL URL rows: each fails before a connection is tried.
#[cfg(feature = "postgres")]
fn postgres_config_rows(dir: &Path) -> Vec<Row> {
    let not_a_cert = yaml_in(dir, "not-a-cert.pem", b"this is not a certificate\n");
    vec![
        row(
            "bad sslmode",
            ErrorKind::InvalidConfig,
            &["sslmode", "maybe", "verify-full"],
            open(config().with_system_database_url(pg_url("?sslmode=maybe"))),
        ),
        row(
            "unreadable sslrootcert",
            ErrorKind::InvalidConfig,
            &["sslrootcert", "/nonexistent/ca.pem"],
            open(config().with_system_database_url(pg_url(
                "?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            ))),
        ),
        row(
            "sslrootcert that is not a certificate",
            ErrorKind::InvalidConfig,
            &["sslrootcert", "not-a-cert.pem"],
            open(config().with_system_database_url(pg_url(&format!(
                "?sslmode=verify-full&sslrootcert={}",
                not_a_cert.display()
            )))),
        ),
        row(
            "unknown URL parameter",
            ErrorKind::InvalidConfig,
            &["unknown parameter \"pool\"", "known keys"],
            open(config().with_system_database_url(pg_url("?pool=9"))),
        ),
        row(
            "connect_timeout not seconds",
            ErrorKind::InvalidConfig,
            &["connect_timeout", "not seconds"],
            open(config().with_system_database_url(pg_url("?connect_timeout=soon"))),
        ),
    ]
}

#[cfg(not(feature = "postgres"))]
fn postgres_config_rows(_dir: &Path) -> Vec<Row> {
    vec![row(
        "PostgreSQL without the postgres feature",
        ErrorKind::Unsupported,
        &["enable the `postgres` feature"],
        open(config().with_system_database_url(pg_url(""))),
    )]
}

#[tokio::test]
async fn configuration_and_url_rows_fail_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let count = check_all(config_rows(dir.path())).await;
    assert!(count >= 30, "{count} rows");
    // Nothing was created by a refused configuration.
    let created: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sqlite"))
        .collect();
    assert!(created.is_empty(), "{created:?}");
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Every area a row may call.
trait Store: SystemStore + MessageStore + EventStore + StreamStore {}
impl<T: SystemStore + MessageStore + EventStore + StreamStore> Store for T {}

fn input() -> Payload {
    Payload::portable_json(r#"{"positionalArgs":[1],"namedArgs":{}}"#)
}

fn wf(id: impl Into<String>) -> NewWorkflow {
    NewWorkflow::new(id, "bad_input_wf", input())
}

/// A store with one workflow (`base`, with one step) written before the rows run.
async fn seed(store: &dyn Store) {
    store
        .insert_workflow(wf("base"), InsertOptions::default())
        .await
        .unwrap();
    store
        .record_step(
            StepRecord::output("base", 1, "step", Payload::portable_json("1")),
            None,
        )
        .await
        .unwrap();
}

/// What the database must still hold after a row: the schema version, the seeded rows and the
/// rows of earlier checks. A normal insert and read must work; it adds one workflow.
async fn assert_intact(store: &dyn Store, after: &str, expected_workflows: &mut usize) {
    let version = store
        .schema_version()
        .await
        .unwrap_or_else(|e| panic!("after {after}: schema version: {e}"));
    assert!(version.is_current(), "after {after}: {version:?}");
    let all = store
        .list_workflows(ListWorkflowsQuery::default())
        .await
        .unwrap_or_else(|e| panic!("after {after}: list: {e}"));
    assert_eq!(all.len(), *expected_workflows, "after {after}: {all:?}");
    let steps = store
        .list_steps("base", ListStepsOptions::default().load_output(true))
        .await
        .unwrap();
    assert_eq!(steps.len(), 1, "after {after}: {steps:?}");
    assert_eq!(
        steps[0].outcome,
        Some(Outcome::Output(Payload::portable_json("1"))),
        "after {after}"
    );
    let id = format!("after-{}", *expected_workflows);
    let outcome = store
        .insert_workflow(wf(&id), InsertOptions::default())
        .await
        .unwrap_or_else(|e| panic!("after {after}: a normal insert fails: {e}"));
    assert!(outcome.should_execute);
    let read = store.get_workflows(&[id]).await.unwrap();
    assert_eq!(read.len(), 1, "after {after}");
    *expected_workflows += 1;
}

/// The operation rows, on `store`.
fn operation_rows(store: &Arc<dyn Store>) -> Vec<Row> {
    fn op<T, F, Fut>(
        store: &Arc<dyn Store>,
        name: &str,
        kind: ErrorKind,
        says: &[&'static str],
        f: F,
    ) -> Row
    where
        F: FnOnce(Arc<dyn Store>) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        row(name, kind, says, f(store.clone()))
    }
    let invalid = ErrorKind::InvalidInput;
    let big = "x".repeat(dbos_storage::payload::MAX_PAYLOAD_BYTES + 1);
    let mut rows = vec![
        op(
            store,
            "empty workflow id",
            invalid,
            &["workflow id is empty"],
            |s| async move { s.insert_workflow(wf(""), InsertOptions::default()).await },
        ),
        op(
            store,
            "oversized workflow id",
            invalid,
            &["workflow id is 1025 bytes", "limit of 1024"],
            |s| async move {
                s.insert_workflow(wf("w".repeat(1025)), InsertOptions::default())
                    .await
            },
        ),
        op(
            store,
            "NUL in workflow id",
            invalid,
            &["workflow id contains a NUL byte"],
            |s| async move {
                s.insert_workflow(wf("a\0b"), InsertOptions::default())
                    .await
            },
        ),
        op(
            store,
            "NUL in workflow input",
            invalid,
            &["workflow input contains a NUL byte", "base64"],
            |s| async move {
                let w = NewWorkflow::new("nul-input", "f", Payload::portable_json("\"a\0\""));
                s.insert_workflow(w, InsertOptions::default()).await
            },
        ),
        op(
            store,
            "empty workflow name",
            invalid,
            &["empty name"],
            |s| async move {
                let w = NewWorkflow::new("no-name", "", input());
                s.insert_workflow(w, InsertOptions::default()).await
            },
        ),
        op(
            store,
            "enqueued without a queue",
            invalid,
            &["enqueued without a queue name"],
            |s| async move {
                s.insert_workflow(wf("no-queue").enqueued(""), InsertOptions::default())
                    .await
            },
        ),
        op(
            store,
            "payload over 256 MiB",
            invalid,
            &["workflow input is 268435457 bytes", "over the limit"],
            |s| async move {
                let w = NewWorkflow::new("too-big", "f", Payload::portable_json(big));
                s.insert_workflow(w, InsertOptions::default()).await
            },
        ),
        op(
            store,
            "NUL in step name",
            invalid,
            &["step name contains a NUL byte"],
            |s| async move {
                s.record_step(
                    StepRecord::output("base", 2, "st\0ep", Payload::portable_json("1")),
                    None,
                )
                .await
            },
        ),
        op(
            store,
            "negative step position",
            invalid,
            &["function_id -1 is negative"],
            |s| async move {
                s.record_step(
                    StepRecord::output("base", -1, "step", Payload::portable_json("1")),
                    None,
                )
                .await
            },
        ),
        op(
            store,
            "NUL in step output",
            invalid,
            &["step output contains a NUL byte"],
            |s| async move {
                s.record_step(
                    StepRecord::output("base", 2, "step", Payload::portable_json("\0")),
                    None,
                )
                .await
            },
        ),
        op(
            store,
            "NUL in workflow output",
            invalid,
            &["workflow outcome contains a NUL byte"],
            |s| async move {
                s.record_outcome(
                    "base",
                    Outcome::Output(Payload::portable_json("\"\0\"")),
                    None,
                )
                .await
            },
        ),
        op(
            store,
            "empty id among ids",
            invalid,
            &["workflow id is empty"],
            |s| async move { s.get_workflows(&["base".to_owned(), String::new()]).await },
        ),
        op(
            store,
            "check_step with an empty id",
            invalid,
            &["workflow id is empty"],
            |s| async move { s.check_step("", 1, "step").await },
        ),
        op(
            store,
            "negative sleep position",
            invalid,
            &["is negative"],
            |s| async move {
                s.record_sleep("base", -5, std::time::Duration::from_secs(1), None)
                    .await
            },
        ),
        op(
            store,
            "child of an empty parent id",
            invalid,
            &["workflow id is empty"],
            |s| async move {
                s.start_child_workflow("", 3, wf("child"), InsertOptions::default(), None)
                    .await
            },
        ),
        op(
            store,
            "step of a missing workflow",
            ErrorKind::NotFound,
            &["no-such-workflow"],
            |s| async move { s.check_step("no-such-workflow", 1, "step").await },
        ),
        op(
            store,
            "empty message batch",
            invalid,
            &["at least one message"],
            |s| async move {
                s.send_messages(Vec::new(), None, SendOptions::default())
                    .await
            },
        ),
        op(
            store,
            "message to a missing workflow",
            ErrorKind::NotFound,
            &["nobody-home"],
            |s| async move {
                let m = OutgoingMessage::new("nobody-home", Some("t"), Payload::portable_json("1"));
                s.send_messages(vec![m], None, SendOptions::default()).await
            },
        ),
        op(
            store,
            "NUL in message topic",
            invalid,
            &["message topic contains a NUL byte"],
            |s| async move {
                let m = OutgoingMessage::new("base", Some("t\0"), Payload::portable_json("1"));
                s.send_messages(vec![m], None, SendOptions::default()).await
            },
        ),
        op(
            store,
            "empty event key",
            invalid,
            &["event key must not be empty"],
            |s| async move {
                s.set_event(Caller::step("base", 1), "", Payload::portable_json("1"))
                    .await
            },
        ),
        op(
            store,
            "negative stream offset",
            invalid,
            &["stream offset must be 0 or more, not -1"],
            |s| async move {
                s.read_stream("base", "k", StreamReadOptions::default().from_offset(-1))
                    .await
            },
        ),
        op(
            store,
            "zero stream limit",
            invalid,
            &["limit must be at least 1"],
            |s| async move {
                s.read_stream("base", "k", StreamReadOptions::default().limit(0))
                    .await
            },
        ),
        op(
            store,
            "NUL in queue name",
            invalid,
            &["queue name contains a NUL byte"],
            |s| async move {
                s.upsert_queue(QueueDefinition::new("q\0"), Default::default())
                    .await
            },
        ),
    ];
    if store.backend() == "sqlite" {
        let mut attrs = serde_json::Map::new();
        attrs.insert("team".into(), "a".into());
        rows.push(op(
            store,
            "attribute filter on SQLite",
            ErrorKind::Unsupported,
            &["attribute"],
            |s| async move {
                let mut q = ListWorkflowsQuery::default();
                q.attributes = Some(attrs);
                s.list_workflows(q).await
            },
        ));
    }
    rows
}

/// Runs every operation row on `store`, checking the database after each; then rows that must
/// be *accepted* (huge limits, a multi-megabyte payload, non-JSON `portable_json`).
async fn operations_on(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let mut expected = 1;
    let rows = operation_rows(&store);
    let count = rows.len();
    let mut failures = Vec::new();
    for row in rows {
        let name = row.name.clone();
        if let Some(f) = check(row).await {
            failures.push(f);
        }
        assert_intact(store.as_ref(), &name, &mut expected).await;
    }
    assert!(
        failures.is_empty(),
        "{}: {} of {count} rows failed:\n{}",
        store.backend(),
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 20, "{count}");

    // Huge limits and offsets are not errors: they return what there is.
    let all = store
        .list_workflows(ListWorkflowsQuery::default().limit(u64::MAX))
        .await
        .expect("limit u64::MAX");
    assert_eq!(all.len(), expected);
    let none = store
        .list_workflows(ListWorkflowsQuery::default().offset(u64::MAX))
        .await
        .expect("offset u64::MAX");
    assert!(none.is_empty());
    let steps = store
        .list_steps("base", ListStepsOptions::default().limit(u64::MAX))
        .await
        .expect("step limit u64::MAX");
    assert_eq!(steps.len(), 1);
    let read = store
        .read_stream(
            "base",
            "k",
            StreamReadOptions::default()
                .from_offset(i32::MAX)
                .limit(u32::MAX),
        )
        .await
        .expect("stream limit u32::MAX");
    assert!(read.values.is_empty());

    // A multi-megabyte payload round-trips byte for byte.
    let text = format!("\"{}\"", "é".repeat(3 * 1024 * 1024));
    let w = NewWorkflow::new("big-input", "f", Payload::portable_json(text.clone()));
    store
        .insert_workflow(w, InsertOptions::default())
        .await
        .unwrap();
    let mut q = ListWorkflowsQuery::default().workflow_ids(["big-input"]);
    q.load_input = true;
    let got = store.list_workflows(q).await.unwrap();
    assert_eq!(got[0].inputs.as_deref(), Some(text.as_str()));
    expected += 1;

    // Stores never parse payloads (DBOS peers decode them): `portable_json` text that is not
    // JSON is stored as written, and decoding it is what fails, with `Corrupt`.
    let w = NewWorkflow::new("not-json", "f", Payload::portable_json("{not json"));
    store
        .insert_workflow(w, InsertOptions::default())
        .await
        .unwrap();
    let mut q = ListWorkflowsQuery::default().workflow_ids(["not-json"]);
    q.load_input = true;
    let got = store.list_workflows(q).await.unwrap();
    let stored = Payload::new(got[0].inputs.clone().unwrap(), got[0].serialization.clone());
    let e = portable::WorkflowInputs::decode(&stored).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(
        e.message()
            .contains("cannot decode the portable_json payload"),
        "{e}"
    );
    expected += 1;
    assert_intact(store.as_ref(), "the accepted rows", &mut expected).await;
}

#[tokio::test]
async fn operation_rows_fail_cleanly_and_leave_sqlite_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad-input.sqlite");
    let store =
        dbos_storage::sqlite::SqliteStore::open(dbos_storage::sqlite::SqliteConfig::file(&path))
            .await
            .unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    operations_on(store.clone()).await;
    store.close().await.unwrap();

    // The file is sound and reopens at the same version with the same rows.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let config = DbosConfig::new("bad-input")
        .with_system_database_url(format!("sqlite:///{}", path.display()))
        .with_run_migrations(false);
    let stores = connect(&config).await.expect("reopen in verify mode");
    let all = stores
        .system
        .list_workflows(ListWorkflowsQuery::default())
        .await
        .unwrap();
    assert!(all.iter().any(|w| w.workflow_id == "base"));
    assert!(!all
        .iter()
        .any(|w| w.workflow_id.contains('\0') || w.workflow_id.is_empty()));
}

/// SQLite text that is not UTF-8, written by another program into the file, reads as
/// `Corrupt` naming the column's table, not as a panic or a wrong value.
#[tokio::test]
async fn invalid_utf8_in_the_database_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.sqlite");
    let store =
        dbos_storage::sqlite::SqliteStore::open(dbos_storage::sqlite::SqliteConfig::file(&path))
            .await
            .unwrap();
    store.migrate().await.unwrap();
    store
        .insert_workflow(wf("latin1"), InsertOptions::default())
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE workflow_status SET name = CAST(X'636166E9' AS TEXT) WHERE workflow_uuid = 'latin1'",
        [],
    )
    .unwrap();
    drop(conn);
    let e = store
        .get_workflows(&["latin1".to_owned()])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.message().contains("not valid UTF-8"), "{e}");
    assert!(e.message().contains("another program"), "{e}");
    // The other rows still read.
    store
        .insert_workflow(wf("fine"), InsertOptions::default())
        .await
        .unwrap();
    assert_eq!(
        store
            .get_workflows(&["fine".to_owned()])
            .await
            .unwrap()
            .len(),
        1
    );
    store.close().await.unwrap();
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn operation_rows_fail_cleanly_and_leave_postgres_intact() {
    use dbos_storage::postgres::{PostgresConfig, PostgresStore};
    use dbos_storage_testkit::pg;

    let url = pg::server().create_database("bad_input").await;
    let dbos = DbosConfig::new("bad-input").with_sys_db_pool_size(4);
    let parsed = DatabaseUrl::parse(&url).unwrap();
    let store = PostgresStore::open(PostgresConfig::system(&dbos, &parsed).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    operations_on(store.clone()).await;
    store.close().await.unwrap();

    // Reopened in verify mode, the schema is current and the rows are there.
    let config = dbos
        .with_system_database_url(url.clone())
        .with_run_migrations(false);
    let stores = connect(&config).await.expect("reopen in verify mode");
    let base = stores
        .system
        .get_workflows(&["base".to_owned()])
        .await
        .unwrap();
    assert_eq!(base.len(), 1);
    stores.system.close().await.unwrap();
    pg::server().drop_database(&url).await;
}
