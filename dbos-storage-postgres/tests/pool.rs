//! Opening a pool fails fast with the real cause (not a pool timeout), secrets never appear in
//! messages or `Debug` output, and an exhausted pool fails after `pool_timeout` with
//! `PoolExhausted`, recovers when the load drops and leaks no connection. (The pool's own unit
//! tests in `src/pool.rs` hold connections directly; here they are held the way users hold
//! them: statements blocked on a row lock, and application transactions that do not end.)

use std::time::{Duration, Instant};

use dbos_storage_core::{DatabaseUrl, DbosConfig, Driver, ErrorKind, LifecycleStore};
use dbos_storage_postgres::{PostgresConfig, PostgresDriver, PostgresStore};
use dbos_storage_testkit::pg;

const PASSWORD: &str = "s3cret-Pa55";

/// Opens a system store with the default 30 s pool timeout.
async fn open(url: &str) -> dbos_storage_core::Result<PostgresStore> {
    capture_logs();
    let url = DatabaseUrl::parse(url)?;
    PostgresStore::open(PostgresConfig::system(&DbosConfig::new("pool-test"), &url)?).await
}

/// Captures the log lines of this test process (INFO and above, so not the harness's own
/// `CREATE ROLE … PASSWORD` statements, which tokio-postgres logs at DEBUG) and watches
/// [`PASSWORD`] in them; [`assert_no_secret`] fails on a leak by any test so far.
fn capture_logs() {
    dbos_storage_testkit::logs::install(tracing::Level::INFO);
    dbos_storage_testkit::logs::watch(PASSWORD);
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(PASSWORD), "a password leaked: {text}");
    dbos_storage_testkit::logs::assert_clean();
}

/// A TCP port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_wrong_password_fails_at_once_with_the_servers_error() {
    let server = pg::server();
    let role = server.unique_name("pool_user");
    server.create_role(&role, "the-right-one").await;
    let url = server.url_for("postgres", &role, Some(PASSWORD));
    let start = Instant::now();
    let err = open(&url).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert_eq!(err.code(), Some("28P01"), "{err}");
    assert!(err.message().contains("password"), "{err}");
    assert!(!err.is_retryable());
    assert_no_secret(&err.to_string());
    assert_no_secret(&format!("{err:?}"));

    // The right password works, through the driver too.
    let url = server.url_for("postgres", &role, Some("the-right-one"));
    let parsed = DatabaseUrl::parse(&url).unwrap();
    let store = PostgresDriver::new()
        .open_system(&DbosConfig::new("pool-test"), &parsed)
        .await
        .expect("the right password opens");
    store.check_connection().await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_connection_is_connection_lost_with_the_cause() {
    let url = format!(
        "postgresql://someone:{PASSWORD}@127.0.0.1:{}/db?connect_timeout=5",
        closed_port()
    );
    let start = Instant::now();
    let err = open(&url).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
    assert!(err.is_retryable());
    assert!(err.message().to_lowercase().contains("refused"), "{err}");
    assert!(err.message().contains("127.0.0.1"), "{err}");
    assert_no_secret(&err.to_string());
    assert_no_secret(&format!("{err:?}"));
}

#[tokio::test]
async fn an_unknown_host_is_connection_lost_with_the_cause() {
    let url =
        format!("postgresql://someone:{PASSWORD}@no-such-host.invalid:5432/db?connect_timeout=5");
    let err = open(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
    assert!(err.message().contains("no-such-host.invalid"), "{err}");
    assert_no_secret(&err.to_string());
}

#[tokio::test]
async fn a_database_that_cannot_be_created_names_the_cause() {
    let server = pg::server();
    let role = server.unique_name("pool_nocreate");
    server.create_role(&role, PASSWORD).await;
    let database = server.unique_name("pool_never");
    let url = server.url_for(&database, &role, Some(PASSWORD));
    let err = open(&url).await.unwrap_err();
    assert_ne!(err.kind(), ErrorKind::PoolExhausted, "{err}");
    assert!(err.message().contains(&database), "{err}");
    assert!(err.message().contains("cannot be created"), "{err}");
    assert_no_secret(&err.to_string());
}

#[tokio::test]
async fn debug_output_never_shows_the_password() {
    let server = pg::server();
    let role = server.unique_name("pool_debug");
    server.create_role(&role, PASSWORD).await;
    let url = server.url_for("postgres", &role, Some(PASSWORD));
    let store = open(&url).await.expect("open");
    assert_no_secret(&format!("{store:?}"));
    assert_no_secret(&format!("{:?}", store.config()));
    assert_no_secret(&store.config().url().to_string());
    store.close().await.unwrap();

    let config: PostgresConfig = format!("postgresql://u:{PASSWORD}@h/db?password={PASSWORD}")
        .parse()
        .unwrap();
    assert_no_secret(&format!("{config:?}"));
}

#[tokio::test]
async fn a_unix_socket_host_works() {
    let server = pg::server();
    let Some(dir) = server.socket_dir() else {
        return; // an external server: no socket directory known
    };
    let dir = dir.to_str().unwrap().replace('/', "%2F");
    let url = format!("postgresql://postgres@{dir}:{}/postgres", server.port());
    let store = open(&url).await.expect("open over the socket");
    store.check_connection().await.unwrap();
    store.close().await.unwrap();
}

/// Every connection of a store (pooled, and the native one, which is set up the same way) runs
/// with JIT compilation off, `random_page_cost = 1.1` and a one-minute idle-in-transaction
/// timeout, in one setup round trip; settings the user's `options` give win over all three.
#[tokio::test]
async fn sessions_get_the_store_settings_unless_the_options_set_them() {
    let url = DatabaseUrl::parse(&pg::server().create_database("pool_jit").await).unwrap();
    let show = |store: PostgresStore| async move {
        let client = store.native_connection().await.unwrap();
        let mut settings = Vec::new();
        for name in [
            "jit",
            "random_page_cost",
            "idle_in_transaction_session_timeout",
        ] {
            let row = client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .unwrap();
            settings.push(row.get::<_, String>(0));
        }
        store.close().await.unwrap();
        settings
    };
    let defaults = PostgresConfig::system(&DbosConfig::new("pool-jit"), &url).unwrap();
    let store = PostgresStore::open(defaults).await.unwrap();
    store.check_connection().await.unwrap();
    assert_eq!(show(store).await, ["off", "1.1", "1min"]);

    let chosen = DbosConfig::new("pool-jit").with_options(
        "-c jit=on -c random_page_cost=3 -c idle_in_transaction_session_timeout=5000",
    );
    let store = PostgresStore::open(PostgresConfig::system(&chosen, &url).unwrap())
        .await
        .unwrap();
    assert_eq!(show(store).await, ["on", "3", "5s"]);
}

/// DBOS's `sys_db_idle_transaction_timeout_sec` and `sys_db_polling_concurrency` reach the
/// system store's sessions and its polling gate; zero means no limit for both.
#[tokio::test]
async fn system_idle_transaction_timeout_and_polling_concurrency_apply() {
    let url = DatabaseUrl::parse(&pg::server().create_database("pool_sys_tuning").await).unwrap();
    let open = |dbos: DbosConfig| {
        let url = url.clone();
        async move {
            PostgresStore::open(PostgresConfig::system(&dbos, &url).unwrap())
                .await
                .unwrap()
        }
    };
    let idle = |store: PostgresStore| async move {
        let client = store.native_connection().await.unwrap();
        let row = client
            .query_one("SHOW idle_in_transaction_session_timeout", &[])
            .await
            .unwrap();
        store.close().await.unwrap();
        row.get::<_, String>(0)
    };
    let tuned = DbosConfig::new("pool-tuning")
        .with_sys_db_pool_size(6)
        .with_sys_db_polling_concurrency(5)
        .with_sys_db_idle_transaction_timeout(Duration::from_millis(2500));
    let store = open(tuned.clone()).await;
    assert_eq!(store.poll_gate_size(), 5);
    assert_eq!(idle(store).await, "2500ms");

    let unlimited = tuned
        .with_sys_db_polling_concurrency(0)
        .with_sys_db_idle_transaction_timeout(Duration::ZERO);
    let store = open(unlimited).await;
    assert_eq!(store.poll_gate_size(), 6, "the whole pool");
    assert_eq!(idle(store).await, "0");
    pg::server().drop_database(url.expose_secret()).await;
}

/// How long the exhaustion tests may wait for anything before they fail (a hang guard, not a
/// speed requirement).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// The sessions the server has for `application_name`: `(state, wait_event_type)` each.
async fn sessions(url: &str, application_name: &str) -> Vec<(String, String)> {
    let admin = pg::server().connect(url).await.expect("admin connection");
    admin
        .query(
            "SELECT coalesce(state, ''), coalesce(wait_event_type, '') FROM pg_stat_activity \
             WHERE application_name = $1",
            &[&application_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Waits until `sessions` satisfies `done`, failing after [`HANG_GUARD`] with `what`.
async fn wait_for_sessions(
    url: &str,
    application_name: &str,
    what: &str,
    done: impl Fn(&[(String, String)]) -> bool,
) {
    let start = Instant::now();
    loop {
        let now = sessions(url, application_name).await;
        if done(&now) {
            return;
        }
        assert!(start.elapsed() < HANG_GUARD, "{what}: sessions {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// No connection of the pool is in use: every session is idle, at most `max` of them.
fn all_idle(max: usize) -> impl Fn(&[(String, String)]) -> bool {
    move |s| s.len() <= max && s.iter().all(|(state, _)| state == "idle")
}

/// A pool of 2 whose both connections wait on a row lock held by another session: a third
/// caller fails after `pool_timeout` with `PoolExhausted` naming the settings, a caller behind
/// the retry policy waits it out, and once the lock is released every call completes and the
/// pool is back to idle connections only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_system_pool_fails_naming_the_settings_and_recovers() {
    capture_logs();
    use dbos_storage_core::{
        InsertOptions, NewWorkflow, Outcome, Payload, RetryPolicy, RetryingStore, WorkflowStore,
    };
    use std::sync::Arc;

    let server = pg::server();
    let url = server.create_database("pool_exhaust").await;
    let app_name = server.unique_name("pool_exhaust");
    let dbos = DbosConfig::new("pool-test")
        .with_sys_db_pool_size(2)
        .with_pool_timeout(Duration::from_secs(1))
        .with_application_name(app_name.as_str())
        .with_use_listen_notify(false);
    let parsed = DatabaseUrl::parse(&url).unwrap();
    let store = Arc::new(
        PostgresStore::open(PostgresConfig::system(&dbos, &parsed).unwrap())
            .await
            .unwrap(),
    );
    store.migrate().await.unwrap();
    let mut owners = Vec::new();
    for id in ["held-a", "held-b"] {
        let wf = NewWorkflow::new(id, "f", Payload::portable_json("[]"));
        owners.push(wf.creator_xid.clone());
        store
            .insert_workflow(wf, InsertOptions::default())
            .await
            .unwrap();
    }

    // Another session locks both rows; two outcomes then wait on the lock, each holding one of
    // the pool's two connections.
    let locker = server.connect(&url).await.unwrap();
    locker
        .batch_execute(
            "BEGIN; SELECT 1 FROM dbos.workflow_status WHERE workflow_uuid IN ('held-a', \
             'held-b') FOR UPDATE",
        )
        .await
        .unwrap();
    let mut blocked = Vec::new();
    for (id, owner) in ["held-a", "held-b"].into_iter().zip(owners) {
        let store = store.clone();
        blocked.push(tokio::spawn(async move {
            let done = Outcome::Output(Payload::portable_json("1"));
            store.record_outcome(id, done, Some(&owner)).await
        }));
    }
    wait_for_sessions(&url, &app_name, "both connections wait on the lock", |s| {
        s.iter().filter(|(_, wait)| wait == "Lock").count() == 2
    })
    .await;

    // A third caller gets PoolExhausted after pool_timeout.
    let err = tokio::time::timeout(HANG_GUARD, store.get_workflows(&["held-a".to_owned()]))
        .await
        .expect("the checkout ends at pool_timeout")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolExhausted, "{err}");
    assert!(err.is_retryable());
    assert!(
        err.message().starts_with(
            "connection pool limit of size 2 overflow 0 reached, timed out after 1 s; raise \
             pool_size / sys_db_pool_size or reduce concurrency"
        ),
        "{err}"
    );

    // A caller behind the retry policy waits for a connection instead of failing.
    let retrying = RetryingStore::new(store.clone(), RetryPolicy::default());
    let patient = tokio::spawn(async move {
        retrying
            .get_workflows(&["held-b".to_owned()])
            .await
            .map(|w| w.len())
    });

    // The load drops: every call completes.
    locker.batch_execute("COMMIT").await.unwrap();
    for task in blocked {
        let applied = tokio::time::timeout(HANG_GUARD, task)
            .await
            .expect("the blocked outcome ends")
            .unwrap()
            .unwrap();
        assert!(applied);
    }
    let found = tokio::time::timeout(HANG_GUARD, patient)
        .await
        .expect("the retrying caller ends")
        .unwrap()
        .expect("the retrying caller got a connection");
    assert_eq!(found, 1);
    assert_eq!(
        store
            .get_workflows(&["held-a".to_owned(), "held-b".to_owned()])
            .await
            .unwrap()
            .len(),
        2
    );

    // No connection leaked: the pool's sessions are idle, at most its size; closing the store
    // ends them all.
    wait_for_sessions(&url, &app_name, "the pool is back to idle", all_idle(2)).await;
    store.close().await.unwrap();
    wait_for_sessions(&url, &app_name, "closing ends every session", |s| {
        s.is_empty()
    })
    .await;
    drop(locker);
    server.drop_database(&url).await;
    dbos_storage_testkit::logs::assert_clean();
}

/// The same through the application store: two transactions that do not end hold the pool of
/// 2; a third checkout fails with `PoolExhausted`, a transaction started meanwhile waits (its
/// retry policy) and runs once the two finish, and no connection stays checked out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_application_pool_fails_naming_the_settings_and_recovers() {
    capture_logs();
    use dbos_storage_core::app::transaction_body;
    use dbos_storage_core::{AppStore, Outcome, Payload, TransactionCall};
    use dbos_storage_postgres::PostgresAppStore;
    use std::sync::Arc;

    let server = pg::server();
    let url = server.create_database("pool_exhaust_app").await;
    let app_name = server.unique_name("pool_exhaust_app");
    let dbos = DbosConfig::new("pool-test")
        .with_pool_size(2)
        .with_pool_timeout(Duration::from_secs(1))
        .with_application_name(app_name.as_str());
    let parsed = DatabaseUrl::parse(&url).unwrap();
    let app = Arc::new(
        PostgresAppStore::open(PostgresConfig::application(&dbos, &parsed).unwrap())
            .await
            .unwrap(),
    );
    app.migrate().await.unwrap();

    let (release, released) = tokio::sync::watch::channel(false);
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let run = |n: i32| {
        let app = app.clone();
        let released = released.clone();
        let started_tx = started_tx.clone();
        tokio::spawn(async move {
            let mut body = transaction_body(move |_tx| {
                let started_tx = started_tx.clone();
                let mut released = released.clone();
                Box::pin(async move {
                    let _ = started_tx.send(n);
                    let _ = released.wait_for(|r| *r).await;
                    Ok(Outcome::Output(Payload::portable_json(n.to_string())))
                })
            });
            app.run_transaction(TransactionCall::new("wf", n, "held"), &mut body)
                .await
        })
    };
    let holders = vec![run(1), run(2)];
    for _ in 0..2 {
        tokio::time::timeout(HANG_GUARD, started.recv())
            .await
            .expect("both bodies start")
            .unwrap();
    }

    let err = tokio::time::timeout(HANG_GUARD, app.recorded_transaction("wf", 1))
        .await
        .expect("the checkout ends at pool_timeout")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolExhausted, "{err}");
    assert!(
        err.message()
            .starts_with("connection pool limit of size 2 overflow 0 reached, timed out after 1 s"),
        "{err}"
    );

    // A transaction started while the pool is full runs once a connection is free (its retry
    // policy re-tries the checkout).
    let waiting = run(3);
    release.send(true).unwrap();
    for task in holders.into_iter().chain([waiting]) {
        let done = tokio::time::timeout(HANG_GUARD, task)
            .await
            .expect("the transaction ends")
            .unwrap()
            .unwrap();
        assert!(!done.replayed);
    }
    for n in 1..=3 {
        let recorded = app.recorded_transaction("wf", n).await.unwrap().unwrap();
        match recorded.outcome {
            Some(Outcome::Output(p)) => assert_eq!(p.text, n.to_string()),
            other => panic!("transaction {n}: {other:?}"),
        }
    }

    wait_for_sessions(&url, &app_name, "the pool is back to idle", all_idle(2)).await;
    app.close().await.unwrap();
    wait_for_sessions(&url, &app_name, "closing ends every session", |s| {
        s.is_empty()
    })
    .await;
    server.drop_database(&url).await;
    dbos_storage_testkit::logs::assert_clean();
}
