//! The real binary on PostgreSQL (the test harness's server: `DBOS_TEST_POSTGRES_URL`,
//! or a throwaway local cluster): every command, `--json`, TLS, app-role grants, a missing
//! database, a wrong schema version, and passwords that never print.

mod common;

use common::*;
use dbos_storage::DatabaseUrl;
use dbos_storage_testkit::pg;
use serde_json::Value;

/// A fresh database's URL, and a scratch directory to run the binary in.
async fn database(prefix: &str) -> (String, tempfile::TempDir) {
    let url = pg::server().create_database(prefix).await;
    (url, tempfile::tempdir().unwrap())
}

/// A database that does not exist on the test server.
fn absent_database() -> String {
    let name = pg::server().unique_name("cli_absent");
    let admin = DatabaseUrl::parse(&pg::server().admin_url()).unwrap();
    admin.with_database(&name).expose_secret().to_owned()
}

async fn database_exists(name: &str) -> bool {
    let client = pg::server()
        .connect(&pg::server().admin_url())
        .await
        .unwrap();
    client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
        == 1
}

#[tokio::test]
async fn migrate_creates_the_database_and_grants_an_app_role() {
    let url = absent_database();
    let dir = tempfile::tempdir().unwrap();
    let name = pg::database_name(&url);
    let v = json(&run(dir.path(), &["--url", &url, "migrate", "--json"]));
    assert_eq!(v["backend"], "postgres");
    assert_eq!(v["schema"], "dbos");
    assert_eq!(v["previous_version"], 0);
    assert_eq!(v["version"], 125);
    assert!(database_exists(&name).await);

    let role = pg::server().unique_name("cli_app");
    pg::server().create_role(&role, "app-pass-123").await;
    let out = ok(&run(
        dir.path(),
        &["--url", &url, "migrate", "--app-role", &role],
    ));
    assert!(
        out.contains("schema version  125 (already current)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("app role        {role} (granted")),
        "{out}"
    );
    // The role can now use the schema: read commands work as that role.
    let as_app = pg::server().url_for(&name, &role, Some("app-pass-123"));
    let out = ok(&run(dir.path(), &["--url", &as_app, "workflow", "list"]));
    assert_eq!(out, "no workflows\n");

    let out = run(
        dir.path(),
        &["--url", &url, "migrate", "--app-role", "no_such_role_q"],
    );
    fails(&out, 1, &["no_such_role_q", "does not exist"]);
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn migrate_into_a_named_schema() {
    let (url, dir) = database("cli_schema").await;
    let v = json(&run(
        dir.path(),
        &["--url", &url, "--schema", "ops_dbos", "migrate", "--json"],
    ));
    assert_eq!(v["schema"], "ops_dbos");
    let v = json(&run(
        dir.path(),
        &["--url", &url, "--schema", "ops_dbos", "check", "--json"],
    ));
    assert_eq!(v["settings"]["schema"], "ops_dbos");
    // The default schema of the same database is still empty.
    let out = run(dir.path(), &["--url", &url, "check"]);
    fails(&out, 1, &["no DBOS system schema"]);
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn check_reports_server_tls_schema_and_pool() {
    let (url, dir) = database("cli_check").await;
    ok(&run(dir.path(), &["--url", &url, "migrate"]));
    // Key-value lines are compared with their padding squeezed: the key column is as wide as
    // the longest setting name.
    let out = squeeze(&ok(&run(dir.path(), &["--url", &url, "check"])));
    for needle in [
        "connection            ok",
        "dialect               postgres",
        "server                PostgreSQL ",
        "tls                   no",
        "schema version        125 (this build: 125) ok",
        "schema                dbos",
        "sslmode               prefer",
        "pool max connections  8",
        "listen notify         true",
    ] {
        let needle = squeeze(needle);
        assert!(out.contains(&needle), "{needle:?} missing:\n{out}");
    }
    let v = json(&run(dir.path(), &["--url", &url, "check", "--json"]));
    assert_eq!(v["backend"], "postgres");
    assert_eq!(v["tls"], false);
    assert_eq!(v["schema_version"]["status"], "current");
    assert_eq!(v["capabilities"]["skip_locked"], true);
    assert!(v["server_version"]
        .as_str()
        .unwrap()
        .starts_with("PostgreSQL "));
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn check_sees_tls_in_use() {
    let server = pg::tls_server();
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=verify-ca&sslrootcert={}",
        server.port(),
        server.ca_cert_path().display()
    );
    let dir = tempfile::tempdir().unwrap();
    ok(&run(dir.path(), &["--url", &url, "migrate"]));
    let v = json(&run(dir.path(), &["--url", &url, "check", "--json"]));
    assert_eq!(v["tls"], true, "{v}");
    assert!(
        v["tls_detail"].as_str().unwrap().starts_with("TLSv1"),
        "{v}"
    );
    assert_eq!(v["settings"]["sslmode"], "verify-ca");
    let out = squeeze(&ok(&run(dir.path(), &["--url", &url, "check"])));
    assert!(out.contains("tls yes (TLSv1"), "{out}");
}

#[tokio::test]
async fn a_missing_database_is_reported_not_created_by_read_commands() {
    let url = absent_database();
    let name = pg::database_name(&url);
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["check"],
        vec!["workflow", "list"],
        vec!["queue", "list"],
    ] {
        let mut full = vec!["--url", url.as_str()];
        full.extend(args);
        let out = run(dir.path(), &full);
        fails(&out, 1, &["does not exist", &name]);
    }
    assert!(
        !database_exists(&name).await,
        "read commands must not create it"
    );
}

#[tokio::test]
async fn a_wrong_password_fails_without_printing_it() {
    let (url, dir) = database("cli_password").await;
    let role = pg::server().unique_name("cli_pw");
    pg::server().create_role(&role, "right-horse-battery").await;
    let name = pg::database_name(&url);
    let wrong = pg::server().url_for(&name, &role, Some("Wr0ng-Secret-Staple"));
    let out = run(dir.path(), &["--url", &wrong, "check"]);
    let err = fails(&out, 1, &["password authentication failed", "***"]);
    assert!(!err.contains("Wr0ng-Secret-Staple"), "{err}");
    assert!(!stdout(&out).contains("Wr0ng-Secret-Staple"));
    // Through the environment too.
    let out = cmd(dir.path())
        .env("DBOS_SYSTEM_DATABASE_URL", &wrong)
        .args(["workflow", "list"])
        .output()
        .unwrap();
    let err = fails(&out, 1, &["password"]);
    assert!(!err.contains("Wr0ng-Secret-Staple"), "{err}");
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn the_verbose_log_never_prints_the_password() {
    let (url, dir) = database("cli_log_pw").await;
    let role = pg::server().unique_name("cli_log");
    pg::server().create_role(&role, "Right-Log-Secret").await;
    let name = pg::database_name(&url);
    pg::server()
        .execute(&format!("ALTER DATABASE \"{name}\" OWNER TO \"{role}\""))
        .await;
    let right = pg::server().url_for(&name, &role, Some("Right-Log-Secret"));
    let out = run(dir.path(), &["--url", &right, "-vv", "migrate"]);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| is_log_line(l) && l.contains("dbos_storage_postgres::migrate")),
        "the driver's log lines:\n{err}"
    );
    assert!(!err.contains("Right-Log-Secret"), "{err}");
    // Everything every crate logs, through RUST_LOG and the DBOS spelling of the option.
    let out = cmd(dir.path())
        .env("RUST_LOG", "trace")
        .args(["--sys-db-url", &right, "migrate"])
        .output()
        .unwrap();
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| is_log_line(l) && l.contains(" DEBUG ")),
        "{err}"
    );
    assert!(!err.contains("Right-Log-Secret"), "{err}");
    // A refused password, logged at every level.
    let wrong = pg::server().url_for(&name, &role, Some("Wr0ng-Log-Secret"));
    let out = cmd(dir.path())
        .env("RUST_LOG", "trace")
        .args(["--url", &wrong, "check"])
        .output()
        .unwrap();
    let err = fails(&out, 1, &["password authentication failed"]);
    assert!(!err.contains("Wr0ng-Log-Secret"), "{err}");
    pg::server().drop_database(&url).await;
}

/// Migrates the database at `url` with our own migrations stopped at `version`.
async fn migrate_to(url: &str, version: i64) {
    use dbos_storage::postgres::{PostgresConfig, PostgresStore};
    use dbos_storage::LifecycleStore;
    let parsed = DatabaseUrl::parse(url).unwrap();
    let config = dbos_storage::DbosConfig::new("cli-test").with_pool_size(2);
    let store = PostgresStore::open(PostgresConfig::system(&config, &parsed).unwrap())
        .await
        .unwrap();
    assert_eq!(store.migrate_to(version).await.unwrap().recorded, version);
    store.close().await.unwrap();
}

/// Below 109 (DBOS Python 2.31 stops at 108) read commands refuse, naming what is missing; at
/// 123 (DBOS Transact for TypeScript 5.3) they read it as it is with a warning, and `check`
/// reports the version and succeeds; `migrate` brings it to 125.
#[tokio::test]
async fn a_schema_behind_this_build_is_read_from_109_on() {
    let (url, dir) = database("cli_behind").await;
    migrate_to(&url, 108).await;
    let out = run(dir.path(), &["--url", &url, "workflow", "list"]);
    fails(
        &out,
        1,
        &[
            "schema version 108, below 109",
            "table workflow_input (migration 109)",
            "dbos-storage migrate",
        ],
    );
    let out = run(dir.path(), &["--url", &url, "check"]);
    fails(&out, 1, &["below 109"]);

    migrate_to(&url, 123).await;
    let db = dbos_storage::connect(
        &dbos_storage::DbosConfig::new("cli-test")
            .with_system_database_url(&url)
            .with_run_migrations(false),
    )
    .await
    .unwrap()
    .system;
    seed(db.as_ref()).await;
    db.close().await.unwrap();
    let out = run(dir.path(), &["--url", &url, "workflow", "list"]);
    let listed = ok(&out);
    assert!(listed.contains("wf-done-1"), "{listed}");
    assert!(
        stderr(&out).contains("schema version 123, behind this build's 125"),
        "{}",
        stderr(&out)
    );
    let out = ok(&run(
        dir.path(),
        &["--url", &url, "workflow", "get", "wf-done-1"],
    ));
    assert!(out.contains("SUCCESS"), "{out}");
    let out = ok(&run(dir.path(), &["--url", &url, "check"]));
    assert!(
        out.contains("123 (this build: 125) behind, read and written as it is"),
        "{out}"
    );

    let out = ok(&run(dir.path(), &["--url", &url, "migrate"]));
    assert!(out.contains("125 (was 123)"), "{out}");
    let out = run(dir.path(), &["--url", &url, "workflow", "list"]);
    ok(&out);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn the_application_url_derives_the_system_database() {
    let (url, dir) = database("cli_app").await;
    let app_name = pg::database_name(&url);
    let out = ok(&run(dir.path(), &["--app-url", &url, "migrate"]));
    assert!(out.contains(&format!("/{app_name}_dbos")), "{out}");
    assert!(database_exists(&format!("{app_name}_dbos")).await);
    // DBOS's spellings of the option: --db-url and -D.
    for option in ["--db-url", "-D"] {
        let out = ok(&run(dir.path(), &[option, &url, "check"]));
        assert!(
            out.contains(&format!("/{app_name}_dbos")),
            "{option}: {out}"
        );
    }
    pg::server()
        .drop_database(&format!("{app_name}_dbos"))
        .await;
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn a_cockroachdb_url_reaching_postgresql_is_refused() {
    let (url, dir) = database("cli_crdb").await;
    let crdb = url.replacen("postgresql://", "cockroachdb://", 1);
    let crdb = crdb.replacen("postgres://", "cockroachdb://", 1);
    let out = run(dir.path(), &["--url", &crdb, "check"]);
    fails(&out, 1, &["PostgreSQL server"]);
    // A SQLAlchemy driver suffix reaches the CockroachDB driver too.
    for scheme in ["cockroachdb+psycopg2", "cockroachdb+asyncpg"] {
        let out = run(dir.path(), &["--url", &with_scheme(&url, scheme), "check"]);
        fails(&out, 1, &["PostgreSQL server"]);
    }
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn workflow_and_queue_commands_on_postgresql() {
    let (url, dir) = database("cli_workflows").await;
    let store = store(&url).await;
    seed(store.as_ref()).await;
    store.close().await.unwrap();
    let d = dir.path();

    let out = ok(&run(d, &["--url", &url, "workflow", "list"]));
    assert!(
        out.lines().next().unwrap().starts_with("WORKFLOW ID"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 7, "{out}");
    let v = json(&run(
        d,
        &["--url", &url, "workflow", "list", "--json", "--sort", "asc"],
    ));
    assert_eq!(v[0]["workflow_id"], "wf-done-1");
    let v = json(&run(
        d,
        &[
            "--url", &url, "workflow", "list", "--json", "--status", "ENQUEUED", "--limit", "2",
        ],
    ));
    assert_eq!(v.as_array().unwrap().len(), 2);
    // PostgreSQL filters by attributes.
    let v = json(&run(
        d,
        &[
            "--url",
            &url,
            "workflow",
            "list",
            "--json",
            "--attribute",
            "tier=\"gold\"",
        ],
    ));
    assert_eq!(v.as_array().unwrap().len(), 0);

    let v = json(&run(
        d,
        &["--url", &url, "workflow", "get", "wf-done-2", "--json"],
    ));
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["output"], r#""ok""#);
    let v = json(&run(
        d,
        &["--url", &url, "workflow", "steps", "wf-done-2", "--json"],
    ));
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["function_name"], "charge");

    let v = json(&run(
        d,
        &["--url", &url, "workflow", "cancel", "wf-pending", "--json"],
    ));
    assert_eq!(v["changed"], serde_json::json!(["wf-pending"]));
    let v = json(&run(
        d,
        &["--url", &url, "workflow", "resume", "wf-pending", "--json"],
    ));
    assert_eq!(v["changed"], serde_json::json!(["wf-pending"]));
    let out = ok(&run(d, &["--url", &url, "workflow", "get", "wf-pending"]));
    assert!(out.contains("status         ENQUEUED"), "{out}");

    let v = json(&run(d, &["--url", &url, "queue", "list", "--json"]));
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["_dbos_internal_queue", "emails"]);
    assert_eq!(v[1]["enqueued"], 3);
    assert_eq!(v[1]["concurrency"], 4);
    let out = ok(&run(d, &["--url", &url, "queue", "list"]));
    assert!(
        out.contains("_dbos_internal_queue (not registered)"),
        "{out}"
    );
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn bench_scale_fills_its_scratch_schema_and_compares() {
    let (url, dir) = database("cli_bench_scale").await;
    let args = [
        "--url",
        url.as_str(),
        "bench",
        "--workflows",
        "5",
        "--concurrency",
        "2",
        "--steps",
        "2",
        "--checkpoints",
        "10",
        "--claims",
        "12",
        "--recovery",
        "4",
        "--waits",
        "30",
        "--scale",
        "--scale-finished",
        "2000",
        "--fair-seconds",
        "2",
        "--json",
    ];
    let v = json(&run(dir.path(), &args));
    let big = &v["big_database"];
    assert_eq!(big["dataset"]["finished"], 2000, "{v}");
    let figures = big["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 16, "{v}");
    for f in figures {
        for key in ["store", "raw", "ratio"] {
            assert!(f[key].as_f64().unwrap() > 0.0, "{f}");
        }
        assert_eq!(f["target"], "≥ 0.8× empty", "{f}");
        let id = f["id"].as_str().unwrap();
        if ["scale_get_workflow", "scale_claim", "scale_enqueue"].contains(&id)
            || id.starts_with("scale_list_")
        {
            assert!(f["raw_ratio"].as_f64().unwrap() > 0.0, "{f}");
        } else {
            assert!(f["raw_ratio"].is_null(), "{f}");
        }
        // The first-queue claims' note gives both the times and the server's WAL.
        if id == "scale_claim" {
            let note = f["note"].as_str().unwrap();
            assert!(
                note.contains("through the store") && note.contains("WAL the server wrote"),
                "{f}"
            );
        }
    }
    let queues = big["fairness"]["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 10, "{v}");
    for q in queues {
        assert_eq!(q["backlog"], 40, "{q}");
        assert!(
            q["claims"].as_u64().unwrap() > 0,
            "every queue claimed: {q}"
        );
    }
    let retention = &big["retention"];
    assert!(
        retention["workflows"].as_u64().unwrap() >= 2000,
        "{retention}"
    );
    // The server's view of the collection: sampled, with the collector's statements seen.
    let server = &retention["server"];
    assert!(server["samples"].as_u64().unwrap() > 0, "{retention}");
    for key in [
        "longest_lock_wait_ms",
        "longest_wait_on_collector_ms",
        "longest_statement_ms",
        "longest_transaction_ms",
    ] {
        assert!(server[key].as_f64().is_some(), "{retention}");
    }
    // The scratch schema, big database and all, is gone.
    let client = pg::server().connect(&url).await.unwrap();
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'dbos_bench_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn bench_runs_in_a_scratch_schema_it_drops() {
    let (url, dir) = database("cli_bench").await;
    let scale = [
        "--workflows",
        "5",
        "--concurrency",
        "2",
        "--steps",
        "2",
        "--checkpoints",
        "8",
        "--claims",
        "12",
        "--recovery",
        "4",
        "--waits",
        "30",
    ];
    let mut args = vec!["--url", url.as_str(), "bench"];
    args.extend_from_slice(&scale);
    let mut json_args = args.clone();
    json_args.push("--json");
    let v = json(&run(dir.path(), &json_args));
    assert_eq!(v["backend"], "postgres");
    let figures = v["figures"].as_array().unwrap();
    let ids: Vec<&str> = figures.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "insert_workflow",
            "step_checkpoint_1",
            "step_checkpoint_concurrent",
            "workflow_1",
            "workflow_concurrent",
            "dequeue",
            "recovery",
            "startup",
            "wait_memory",
            "wait_connections",
        ]
    );
    for f in &figures[..6] {
        assert!(f["store"].as_f64().unwrap() > 0.0, "{f}");
        assert!(f["raw"].as_f64().unwrap() > 0.0, "{f}");
    }
    // Every figure has a target on PostgreSQL except inserting a workflow.
    for f in &figures[1..] {
        assert!(f["target"].is_string() && f["met"].is_boolean(), "{f}");
    }
    let figure = |id: &str| figures.iter().find(|f| f["id"] == id).unwrap();
    assert_eq!(figure("workflow_concurrent")["target"], "≥ 0.8× raw");
    assert_eq!(figure("dequeue")["target"], "≥ 5,000 claims/s");
    assert_eq!(figure("startup")["target"], "≤ 50 ms");
    assert!(figure("startup")["raw"].is_number(), "the bare connection");
    // The pool is counted while the waits are parked.
    assert!(figure("wait_connections")["store"].is_number());
    assert_eq!(figure("wait_connections")["target"], "0");
    assert_eq!(v["targets"], 9);

    let mut md_args = args.clone();
    md_args.push("--markdown");
    let out = ok(&run(dir.path(), &md_args));
    assert!(out.contains("- database: postgres (PostgreSQL"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("| ")).count(),
        11,
        "{out}"
    );
    let out = ok(&run(dir.path(), &args));
    assert!(out.contains("temporary schema dbos_bench_"), "{out}");
    assert!(out.contains("TARGET"), "{out}");
    let client = pg::server().connect(&url).await.unwrap();
    let schemas: Vec<String> = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'dbos%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(schemas.is_empty(), "left behind: {schemas:?}");
    drop(client);
    pg::server().drop_database(&url).await;
}

#[tokio::test]
async fn json_output_of_every_read_command_parses() {
    let (url, dir) = database("cli_json").await;
    ok(&run(dir.path(), &["--url", &url, "migrate"]));
    for args in [
        vec!["check"],
        vec!["workflow", "list"],
        vec!["queue", "list"],
        vec!["migrate"],
    ] {
        let mut full = vec!["--url", url.as_str(), "--json"];
        full.extend(args);
        let v: Value = json(&run(dir.path(), &full));
        assert!(v.is_object() || v.is_array(), "{v}");
    }
    pg::server().drop_database(&url).await;
}

/// `url` with its scheme replaced by `scheme` (e.g. `postgresql+psycopg`).
fn with_scheme(url: &str, scheme: &str) -> String {
    let (_, rest) = url.split_once("://").expect("a server URL");
    format!("{scheme}://{rest}")
}

#[tokio::test]
async fn dbos_python_projects_run_on_postgres_with_driver_suffixed_urls() {
    let (url, _scratch) = database("cli_dbos_project").await;
    let password = DatabaseUrl::parse(&url)
        .unwrap()
        .password()
        .map(str::to_owned);

    // DBOS's template, its variable set to a SQLAlchemy URL.
    let dir = project("dbos-python-template");
    let psycopg = with_scheme(&url, "postgresql+psycopg");
    let out = cmd(dir.path())
        .env("DBOS_SYSTEM_DATABASE_URL", &psycopg)
        .args(["migrate", "--json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["backend"], "postgres");
    assert_eq!(v["version"], 125);
    assert!(!dir.path().join("dbos_app.sqlite").exists());

    // The full key set: the pool and connection settings of `database` are used.
    let dir = project("dbos-3.4-full-keys");
    let out = cmd(dir.path())
        .env(
            "DBOS_SYSTEM_DATABASE_URL",
            with_scheme(&url, "postgresql+psycopg2"),
        )
        .args(["check", "--json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["schema_version"]["status"], "current");
    let settings = &v["settings"];
    for (key, value) in [
        ("pool_size", "3"),
        ("max_overflow", "2"),
        ("pool_max_connections", "5"),
        ("pool_timeout_s", "12"),
        ("connect_timeout_s", "7"),
        ("pool_pre_ping", "true"),
        ("schema", "dbos"),
    ] {
        assert_eq!(settings[key], value, "{key}: {settings}");
    }

    // --url with any suffix works next to a file this build cannot read.
    std::fs::write(
        dir.path().join("dbos-config.yaml"),
        "name: app\nnot_dbos: 1\n",
    )
    .unwrap();
    for scheme in ["postgresql+asyncpg", "postgres+psycopg"] {
        let out = run(
            dir.path(),
            &["--url", &with_scheme(&url, scheme), "workflow", "list"],
        );
        assert_eq!(ok(&out), "no workflows\n", "{scheme}");
        if let Some(password) = &password {
            assert!(!stdout(&out).contains(password.as_str()));
            assert!(!stderr(&out).contains(password.as_str()));
        }
    }
    let out = run(dir.path(), &["check"]);
    fails(&out, 1, &["unknown key \"not_dbos\""]);
    pg::server().drop_database(&url).await;
}
