//! DBOS Python projects as they are, on real SQLite files: the `dbos-config.yaml` files DBOS's
//! templates write and one with DBOS 3.4's whole key set, read by the library and by the
//! command (with and without their variables set, and next to `--url`), unknown keys refused by
//! name, and SQLAlchemy `+driver` URLs. The PostgreSQL rows are in `postgres.rs`.

mod common;

use std::time::Duration;

use common::*;
use dbos_storage::{DbosConfig, ErrorKind};

/// A lookup of no variables at all.
fn no_variables(_: &str) -> Option<String> {
    None
}

fn sqlite_url(dir: &std::path::Path, file: &str) -> String {
    format!("sqlite:///{}", dir.join(file).display())
}

// ---- the library ----------------------------------------------------------------------------

#[test]
fn the_template_files_load_with_their_variables_unset() {
    let text = std::fs::read_to_string(fixture("dbos-python-template")).unwrap();
    let c = DbosConfig::from_yaml_str_with_env(&text, no_variables).unwrap();
    c.validate().unwrap();
    assert_eq!(c.name, "dbos-app");
    assert_eq!(c.system_database_url, None);
    assert_eq!(
        c.system_database_url().unwrap().to_string(),
        "sqlite:///dbos_app.sqlite"
    );

    let text = std::fs::read_to_string(fixture("dbos-db-starter")).unwrap();
    let c = DbosConfig::from_yaml_str_with_env(&text, no_variables).unwrap();
    assert_eq!(c.name, "dbos-starter");
    assert!(c.application_database_url().unwrap().is_none());
    assert_eq!(
        c.system_database_url().unwrap().to_string(),
        "sqlite:///dbos_starter.sqlite"
    );
    let c = DbosConfig::from_yaml_str_with_env(&text, |var| {
        (var == "DBOS_DATABASE_URL").then(|| "postgresql+psycopg://u:hunter2@db/shop".to_owned())
    })
    .unwrap();
    c.validate().unwrap();
    assert_eq!(
        c.system_database_url().unwrap().to_string(),
        "postgresql+psycopg://u:***@db/shop_dbos"
    );
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn the_full_dbos_key_set_loads_and_its_storage_settings_are_read() {
    let c = DbosConfig::from_yaml_file(fixture("dbos-3.4-full-keys")).unwrap();
    c.validate().unwrap();
    assert_eq!(c.name, "full-keys-app");
    assert_eq!(c.sys_db_pool_size, Some(3));
    assert_eq!(c.system_pool_size(), 3);
    assert_eq!(c.sys_db_polling_concurrency, Some(2));
    assert_eq!(
        c.sys_db_idle_transaction_timeout,
        Some(Duration::from_secs(30))
    );
    assert_eq!((c.pool_size, c.max_overflow), (6, 2));
    assert_eq!(c.pool_timeout, Duration::from_secs(12));
    assert!(c.pool_pre_ping);
    assert!(!c.echo);
    assert_eq!(c.connect_timeout, Duration::from_secs(7));
    assert_eq!(c.application_name, "full-keys");
    assert_eq!(c.dbos_system_schema, "dbos");
    assert!(c.use_listen_notify && c.run_migrations);
}

#[test]
fn unknown_keys_are_refused_by_their_full_path() {
    let full = std::fs::read_to_string(fixture("dbos-3.4-full-keys")).unwrap();
    for (from, to, path) in [
        ("sharding:", "shardingg:", "shardingg"),
        (
            "  sys_db_pool_size: 3",
            "  sys_db_pool_sizes: 3",
            "database.sys_db_pool_sizes",
        ),
        ("  setup:", "  set_up:", "runtimeConfig.set_up"),
        (
            "    otlpLogLevel:",
            "    otlpLevel:",
            "telemetry.logs.otlpLevel",
        ),
    ] {
        let text = full.replacen(from, to, 1);
        assert_ne!(text, full, "{from}");
        let e = DbosConfig::from_yaml_str_with_env(&text, no_variables).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(
            e.message()
                .starts_with(&format!("unknown key {path:?} in the config file")),
            "{e}"
        );
    }
    // The same setting under two keys is refused, naming both.
    let text = full.replacen("language: python", "language: python\npool_size: 4", 1);
    let e = DbosConfig::from_yaml_str_with_env(&text, no_variables).unwrap_err();
    assert_eq!(
        e.message(),
        "the config file sets pool_size twice, with pool_size and \
         database.db_engine_kwargs.pool_size: keep one"
    );
}

// ---- the command ----------------------------------------------------------------------------

#[test]
fn a_template_project_falls_back_to_sqlite_like_dbos_when_its_variable_is_unset() {
    let dir = project("dbos-python-template");
    let out = ok(&run(dir.path(), &["migrate"]));
    assert!(out.contains("sqlite:///dbos_app.sqlite"), "{out}");
    assert!(dir.path().join("dbos_app.sqlite").exists());
    assert_eq!(
        ok(&run(dir.path(), &["workflow", "list"])),
        "no workflows\n"
    );
}

#[test]
fn a_template_project_uses_its_variable_when_set() {
    let dir = project("dbos-python-template");
    let sys = format!(
        "sqlite+pysqlite:///{}",
        dir.path().join("from-env.sqlite").display()
    );
    let out = cmd(dir.path())
        .env("DBOS_SYSTEM_DATABASE_URL", &sys)
        .arg("migrate")
        .output()
        .unwrap();
    let out = ok(&out);
    assert!(out.contains("from-env.sqlite"), "{out}");
    assert!(dir.path().join("from-env.sqlite").exists());
    assert!(!dir.path().join("dbos_app.sqlite").exists());
    let out = cmd(dir.path())
        .env("DBOS_SYSTEM_DATABASE_URL", &sys)
        .args(["workflow", "list"])
        .output()
        .unwrap();
    assert_eq!(ok(&out), "no workflows\n");
}

#[test]
fn a_starter_project_keeps_its_system_tables_in_its_sqlite_application_database() {
    let dir = project("dbos-db-starter");
    let app = sqlite_url(dir.path(), "app.sqlite");
    let out = cmd(dir.path())
        .env("DBOS_DATABASE_URL", &app)
        .arg("migrate")
        .output()
        .unwrap();
    ok(&out);
    assert!(dir.path().join("app.sqlite").exists());
    assert!(!dir.path().join("dbos_starter.sqlite").exists());
}

#[test]
fn the_full_key_set_runs_every_command_it_needs() {
    let dir = project("dbos-3.4-full-keys");
    let out = ok(&run(dir.path(), &["migrate"]));
    assert!(out.contains("sqlite:///full_keys_app.sqlite"), "{out}");
    let v = json(&run(dir.path(), &["check", "--json"]));
    assert_eq!(v["schema_version"]["status"], "current");
    let out = ok(&run(dir.path(), &["queue", "list"]));
    assert!(out.starts_with("no queues"), "{out}");
}

#[test]
fn a_command_given_a_url_never_reads_the_project_file() {
    for broken in [
        "name: app\nnot_a_dbos_key: 1\n",
        "name: [unclosed\n",
        "name: app\nsystem_database_url: ${UNTERMINATED\n",
        "name: ${UNSET_APP_NAME}\n",
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dbos-config.yaml"), broken).unwrap();
        // Without --url the file is read, and its fault reported.
        let out = run(dir.path(), &["check"]);
        fails(&out, 1, &["config file"]);
        // With --url (and a SQLAlchemy driver suffix) the command works.
        let url = format!(
            "sqlite+pysqlite:///{}",
            dir.path().join("flag.sqlite").display()
        );
        let out = ok(&run(dir.path(), &["--url", &url, "migrate"]));
        assert!(out.contains("flag.sqlite"), "{broken}: {out}");
        ok(&run(dir.path(), &["--url", &url, "check"]));
        // --app-url names the database too.
        let app = sqlite_url(dir.path(), "app.sqlite");
        ok(&run(dir.path(), &["--app-url", &app, "migrate"]));
        // An explicit --config is still read, and its fault reported.
        let out = run(
            dir.path(),
            &["--url", &url, "--config", "dbos-config.yaml", "check"],
        );
        fails(&out, 1, &["config file"]);
    }
}

#[test]
fn an_unknown_key_fails_the_command_naming_it() {
    let dir = project("dbos-3.4-full-keys");
    let path = dir.path().join("dbos-config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("  migrate:", "  migrations:", 1)).unwrap();
    let out = run(dir.path(), &["check"]);
    fails(
        &out,
        1,
        &["unknown key \"database.migrations\"", "dbos-config.yaml"],
    );
}

#[test]
fn an_empty_required_value_names_the_key_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dbos-config.yaml"),
        "name: ${MY_APP_NAME}\nlanguage: python\n",
    )
    .unwrap();
    fails(
        &run(dir.path(), &["check"]),
        1,
        &["name is empty", "${MY_APP_NAME}", "not set"],
    );
    std::fs::write(
        dir.path().join("dbos-config.yaml"),
        "name: app\nsystem_database_url: postgresql+psycopg://u:pw-secret-1@${PGHOST_X}/${PGDB_X}\n",
    )
    .unwrap();
    let err = fails(
        &run(dir.path(), &["check"]),
        1,
        &[
            "system_database_url",
            "${PGHOST_X} and ${PGDB_X}",
            "not set",
        ],
    );
    assert!(!err.contains("pw-secret-1"), "{err}");
}

#[test]
fn driver_suffixed_urls_open_real_sqlite_files_and_never_print_passwords() {
    let dir = tempfile::tempdir().unwrap();
    for (scheme, file) in [
        ("sqlite+pysqlite", "a.sqlite"),
        ("sqlite+aiosqlite", "b.sqlite"),
    ] {
        let url = format!("{scheme}:///{}", dir.path().join(file).display());
        ok(&run(dir.path(), &["--url", &url, "migrate"]));
        assert!(dir.path().join(file).exists());
        assert_eq!(
            ok(&run(dir.path(), &["--url", &url, "workflow", "list"])),
            "no workflows\n"
        );
    }
    let err = fails(
        &run(
            dir.path(),
            &["--url", "mysql+pymysql://u:pw-secret-2@h/db", "check"],
        ),
        1,
        &["unknown database URL scheme mysql+pymysql://", "sqlite://"],
    );
    assert!(!err.contains("pw-secret-2"), "{err}");
    let err = fails(
        &run(
            dir.path(),
            &["--url", "postgresql+://u:pw-secret-3@h/db", "check"],
        ),
        1,
        &["invalid driver suffix"],
    );
    assert!(!err.contains("pw-secret-3"), "{err}");
}
