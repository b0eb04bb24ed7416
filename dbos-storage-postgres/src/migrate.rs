//! The migration runner of the system database: DBOS's PostgreSQL migrations 1–47 and the shared
//! migrations 100–125, numbered as every DBOS SDK numbers them on PostgreSQL, so a database can be
//! shared with DBOS Python, Go and Java applications.
//!
//! - The single-row `dbos_migrations` table holds the last version applied. A database at or
//!   ahead of [`DBOS_SCHEMA_VERSION`] (written by a newer peer) is accepted untouched.
//! - The session advisory lock `pg_try_advisory_lock(1234567890)` — DBOS Python's and Java's —
//!   is polled every second for up to 30 s; after that the runner proceeds without it, as DBOS
//!   does. The version is re-read once the lock is held.
//! - Each migration runs in its own transaction together with its version bump. That
//!   transaction first locks `dbos_migrations` and re-reads the version, so migrators that run
//!   without the advisory lock still apply each migration exactly once.
//! - Online migrations (`CREATE/DROP INDEX CONCURRENTLY`) cannot run in a transaction: they run
//!   statement by statement in autocommit after dropping any index an interrupted build left
//!   `INVALID`, and the version is bumped afterwards. They are written with `IF [NOT] EXISTS` so
//!   that re-running them is harmless.
//! - Migrations that depend on LISTEN/NOTIFY (the notification triggers of 1, 20, 39, 43, 44)
//!   render empty when `use_listen_notify` is off; an empty migration still uses up its number.
//! - The schema name is rendered, quoted, into every statement (and into the function bodies).
//!
//! A [`Dialect`](crate::Dialect) decides how each migration renders
//! ([`Dialect::render_migration`](crate::Dialect::render_migration)), whether the advisory lock
//! is taken, and whether DDL is transactional. Without transactional DDL the same versions run
//! differently: every statement runs on its own in autocommit, an "already exists" error counts
//! as a concurrent migrator's work, a migration whose probe answers true is skipped, and the
//! version is then bumped in a SERIALIZABLE transaction that never lowers it and is retried on
//! serialization failures.

use std::time::{Duration, Instant};

use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{
    Backoff, Error, ErrorKind, Result, RetryPolicy, SchemaVersion, DBOS_SCHEMA_VERSION,
};
use tokio::sync::Mutex;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::config::PostgresConfig;
use crate::dialect::MigrationScript;
use crate::error::{
    classify, is_already_existing, is_conflict, is_created_concurrently, is_missing_relation,
    is_unique_violation_error, lost_race, BACKEND,
};
use crate::pool::Pool;
use crate::sql::{self, render};

/// The key of the session advisory lock DBOS takes while migrating PostgreSQL.
pub(crate) const MIGRATION_LOCK_KEY: i64 = 1_234_567_890;

/// How long to poll for the advisory lock before migrating without it.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// How often to poll for the advisory lock.
const LOCK_POLL: Duration = Duration::from_secs(1);

/// One DBOS migration of the system database, as PostgreSQL runs it; a
/// [`Dialect`](crate::Dialect) renders it for its server
/// ([`Dialect::render_migration`](crate::Dialect::render_migration)). The list is
/// [`migrations`].
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its DBOS version number.
    pub(crate) version: i64,
    /// A short name, for logs.
    pub(crate) name: &'static str,
    /// The SQL run in every configuration (may be empty).
    pub(crate) sql: &'static str,
    /// The SQL added when `use_listen_notify` is on (may be empty).
    pub(crate) listen_notify_sql: &'static str,
    /// Whether it is online DDL, run in autocommit.
    pub(crate) online: bool,
}

impl Migration {
    /// Its DBOS version number (DBOS's PostgreSQL numbering: 1–47, then 100 and up).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// A short name, for logs (`v040_attributes`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether PostgreSQL runs it as online DDL (`CREATE/DROP INDEX CONCURRENTLY`, in
    /// autocommit); such a migration is written with `IF [NOT] EXISTS`.
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// The PostgreSQL SQL for `schema` (quoted into every statement and function body) and a
    /// LISTEN/NOTIFY setting (when off, the notification triggers are left out); empty when
    /// there is nothing to run.
    pub fn render(&self, schema: &str, listen_notify: bool) -> String {
        let mut sql = String::new();
        if has_statements(self.sql) {
            sql.push_str(self.sql);
        }
        if listen_notify && has_statements(self.listen_notify_sql) {
            sql.push('\n');
            sql.push_str(self.listen_notify_sql);
        }
        render(&sql, schema)
    }
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        migration!(@ $version, $name, include_str!(concat!("../migrations/", $name, ".sql")), "", false)
    };
    ($version:literal, $name:literal, online) => {
        migration!(@ $version, $name, include_str!(concat!("../migrations/", $name, ".sql")), "", true)
    };
    ($version:literal, $name:literal, listen_notify) => {
        migration!(@ $version, $name, include_str!(concat!("../migrations/", $name, ".sql")),
            include_str!(concat!("../migrations/", $name, "_listen_notify.sql")), false)
    };
    ($version:literal, $name:literal, only_listen_notify) => {
        migration!(@ $version, $name, "", include_str!(concat!("../migrations/", $name, ".sql")), false)
    };
    (@ $version:literal, $name:literal, $sql:expr, $listen:expr, $online:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: $sql,
            listen_notify_sql: $listen,
            online: $online,
        }
    };
}

/// Every migration, in order; the last one is [`DBOS_SCHEMA_VERSION`].
pub fn migrations() -> &'static [Migration] {
    MIGRATIONS
}

/// Every migration, in order; the last one is [`DBOS_SCHEMA_VERSION`].
const MIGRATIONS: &[Migration] = &[
    migration!(1, "v001_initial_schema", listen_notify),
    migration!(2, "v002_queue_partition_key"),
    migration!(3, "v003_queue_status_started_index"),
    migration!(4, "v004_forked_from"),
    migration!(5, "v005_step_timestamps"),
    migration!(6, "v006_events_history"),
    migration!(7, "v007_owner_xid"),
    migration!(8, "v008_parent_workflow_id"),
    migration!(9, "v009_workflow_schedules"),
    migration!(10, "v010_notifications_primary_key"),
    migration!(11, "v011_serialization"),
    migration!(12, "v012_notifications_consumed"),
    migration!(13, "v013_application_versions"),
    migration!(14, "v014_enqueue_and_send_functions"),
    migration!(15, "v015_schedule_backfill"),
    migration!(16, "v016_delayed_workflows"),
    migration!(17, "v017_schedule_queue"),
    migration!(18, "v018_was_forked_from"),
    migration!(19, "v019_step_completed_index"),
    migration!(20, "v020_function_search_path", listen_notify),
    migration!(21, "v021_queues"),
    migration!(22, "v022_drop_forked_from_index", online),
    migration!(23, "v023_forked_from_partial_index", online),
    migration!(24, "v024_drop_parent_index", online),
    migration!(25, "v025_parent_partial_index", online),
    migration!(26, "v026_drop_executor_index", online),
    migration!(27, "v027_dedup_partial_unique_index", online),
    migration!(28, "v028_drop_dedup_constraint"),
    migration!(29, "v029_pending_index", online),
    migration!(30, "v030_failed_index", online),
    migration!(31, "v031_drop_status_index", online),
    migration!(32, "v032_in_flight_index", online),
    migration!(33, "v033_rate_limited"),
    migration!(34, "v034_rate_limited_index", online),
    migration!(35, "v035_drop_queue_status_started_index", online),
    migration!(36, "v036_completed_at"),
    migration!(37, "v037_started_at_index", online),
    migration!(38, "v038_enqueue_user_roles_delay"),
    migration!(39, "v039_listen_notify", only_listen_notify),
    migration!(40, "v040_attributes"),
    migration!(41, "v041_schedule_name"),
    migration!(42, "v042_debounce"),
    migration!(43, "v043_listen_notify", only_listen_notify),
    migration!(44, "v044_listen_notify", only_listen_notify),
    migration!(45, "v045_partition_dequeue_index", online),
    migration!(46, "v046_partition_dequeue_index_v2", online),
    migration!(47, "v047_drop_partition_dequeue_index", online),
    migration!(100, "v100_workflow_status_application_name"),
    migration!(101, "v101_queues_application_name"),
    migration!(102, "v102_schedules_application_name"),
    migration!(103, "v103_versions_application_name"),
    migration!(104, "v104_steps_application_name"),
    migration!(105, "v105_enqueue_application_name"),
    migration!(106, "v106_versions_owner_unique"),
    migration!(107, "v107_versions_unclaimed_unique", online),
    migration!(108, "v108_queue_partition_limits"),
    migration!(109, "v109_payload_tables"),
    migration!(110, "v110_steps_retention_timestamp"),
    migration!(111, "v111_steps_retention_index", online),
    migration!(112, "v112_steps_drop_foreign_key"),
    migration!(113, "v113_enqueue_writes_workflow_input"),
    migration!(114, "v114_drop_duplicate_notifications_index", online),
    migration!(115, "v115_in_flight_index_v2", online),
    migration!(116, "v116_drop_in_flight_index", online),
    migration!(117, "v117_partition_dequeue_index_v3", online),
    migration!(118, "v118_drop_partition_dequeue_index_v2", online),
    migration!(119, "v119_step_index_v2", online),
    migration!(120, "v120_drop_step_index", online),
    migration!(121, "v121_notifications_consumed_by"),
    migration!(122, "v122_deadline_index", online),
    migration!(123, "v123_creator_xid"),
    migration!(124, "v124_versions_timestamp_index", online),
    migration!(125, "v125_versions_owner_timestamp_index", online),
];

/// Creates or upgrades the system schema of `pool` to [`DBOS_SCHEMA_VERSION`]; see the module
/// documentation. Uses one dedicated connection, closed at the end.
///
/// # Errors
/// [`SchemaMismatch`](ErrorKind::SchemaMismatch) when the schema holds DBOS tables but no
/// version (a database of an early DBOS release migrated by Alembic); a classified error when a
/// statement fails, naming the migration.
pub(crate) async fn migrate(pool: &Pool) -> Result<SchemaVersion> {
    migrate_to(pool, DBOS_SCHEMA_VERSION).await
}

/// [`migrate`], stopping after migration `target` (tests use it to build databases at the
/// versions older releases left behind).
pub(crate) async fn migrate_to(pool: &Pool, target: i64) -> Result<SchemaVersion> {
    let config = pool.config();
    // The common case, a current schema, costs one statement on a pooled connection (the pool
    // opened one already): no dedicated connection, no lock.
    let recorded = {
        let conn = pool.get().await?;
        current_version(&conn, config.schema()).await?
    };
    if recorded >= target {
        tracing::debug!(recorded, "the PostgreSQL system schema is current");
        return Ok(SchemaVersion::new(recorded, DBOS_SCHEMA_VERSION));
    }
    let mut client = pool.dedicated().await?;
    // Online index builds can take long: the user's statement_timeout must not cut them.
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .map_err(classify)?;
    // Without working advisory locks the migrator converges without one.
    let locked = if config.dialect().uses_advisory_locks() {
        acquire_lock(&client).await?
    } else {
        false
    };
    let result = run(&mut client, config, target).await;
    if locked && !client.is_closed() {
        if let Err(e) = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
            .await
        {
            tracing::debug!("cannot release the migration lock (the session ends anyway): {e}");
        }
    }
    result
}

/// The recorded version, without changing anything.
///
/// # Errors
/// The transient kinds.
pub(crate) async fn schema_version(pool: &Pool) -> Result<SchemaVersion> {
    let conn = pool.get().await?;
    let recorded = current_version(&conn, pool.schema()).await?;
    Ok(SchemaVersion::new(recorded, DBOS_SCHEMA_VERSION))
}

/// Polls the advisory lock every second for up to 30 s; returns whether it is held.
///
/// This loop waits for a lock another process holds, as DBOS's migrators do; it is not a retry:
/// an error of the poll ends it at once.
async fn acquire_lock(client: &Client) -> Result<bool> {
    let start = Instant::now();
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(classify)?;
        if got {
            return Ok(true);
        }
        if start.elapsed() >= LOCK_WAIT {
            tracing::warn!(
                "another process has held the DBOS migration lock for {} s; migrating without it",
                LOCK_WAIT.as_secs()
            );
            return Ok(false);
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

/// The body of [`migrate`], on a session that holds the lock (or gave up waiting for it).
async fn run(client: &mut Client, config: &PostgresConfig, target: i64) -> Result<SchemaVersion> {
    let schema = config.schema();
    let listen_notify = config.use_listen_notify();
    let q = quote_identifier(schema);
    create_if_missing(client, &format!("CREATE SCHEMA IF NOT EXISTS {q}")).await?;
    create_if_missing(
        client,
        &format!(
            "CREATE TABLE IF NOT EXISTS {q}.dbos_migrations (version BIGINT NOT NULL PRIMARY KEY)"
        ),
    )
    .await?;
    let (recorded, _) = read_version(client, schema).await?;
    if recorded >= target {
        return Ok(SchemaVersion::new(recorded, DBOS_SCHEMA_VERSION));
    }
    if recorded == 0 && relation_exists(client, schema, "workflow_status").await? {
        return Err(Error::new(
            ErrorKind::SchemaMismatch,
            format!(
                "the schema {q} has DBOS tables but no version in dbos_migrations (a database of \
                 an early DBOS release): migrate it once with a current DBOS SDK, or use another \
                 schema or database"
            ),
        )
        .with_backend(BACKEND));
    }
    if recorded == 0 {
        tracing::info!(
            schema,
            "creating the DBOS system schema (version {DBOS_SCHEMA_VERSION})"
        );
    } else {
        tracing::info!(
            schema,
            recorded,
            "upgrading the DBOS system schema to {DBOS_SCHEMA_VERSION}"
        );
    }
    if !config.dialect().transactional_ddl() {
        return run_autocommit(client, config, target, recorded).await;
    }
    if recorded == 0 && install_fresh(client, config, target).await? {
        let (recorded, _) = read_version(client, schema).await?;
        return Ok(SchemaVersion::new(recorded, DBOS_SCHEMA_VERSION));
    }
    let mut bumped_to = recorded;
    let mut pending_empty = None;
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > recorded && m.version <= target)
    {
        let script = config.dialect().render_migration(m, schema, listen_notify);
        let sql = script.sql.as_str();
        if sql.trim().is_empty() || skips(client, m, &script).await? {
            pending_empty = Some(m.version);
            continue;
        }
        tracing::debug!(
            version = m.version,
            name = m.name,
            "applying DBOS migration"
        );
        if m.online {
            apply_online(client, schema, m, sql).await?;
        } else {
            apply_in_transaction(client, schema, m, sql).await?;
        }
        bumped_to = m.version;
    }
    if let Some(version) = pending_empty.filter(|v| *v > bumped_to) {
        bump(client, schema, version).await?;
    }
    let (recorded, _) = read_version(client, schema).await?;
    Ok(SchemaVersion::new(recorded, DBOS_SCHEMA_VERSION))
}

/// The migrations after `recorded` up to `target` for a dialect without transactional DDL; see
/// the module documentation.
async fn run_autocommit(
    client: &mut Client,
    config: &PostgresConfig,
    target: i64,
    recorded: i64,
) -> Result<SchemaVersion> {
    let schema = config.schema();
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > recorded && m.version <= target)
    {
        // A concurrent migrator may have moved on meanwhile.
        let (now, _) = read_version(client, schema).await?;
        if now >= m.version {
            continue;
        }
        let script = config
            .dialect()
            .render_migration(m, schema, config.use_listen_notify());
        if !skips(client, m, &script).await? {
            tracing::debug!(
                version = m.version,
                name = m.name,
                "applying DBOS migration (statement by statement)"
            );
            for statement in &script.statements() {
                match client.batch_execute(statement).await {
                    Ok(()) => {}
                    Err(e) if created_by_a_peer(&e) => {
                        tracing::debug!(
                            version = m.version,
                            "object already created (by a concurrent migrator or an interrupted run): {e}"
                        );
                    }
                    Err(e) => return Err(migration_error(m, e)),
                }
            }
        }
        bump_guarded(client, schema, m.version).await?;
    }
    let (recorded, _) = read_version(client, schema).await?;
    Ok(SchemaVersion::new(recorded, DBOS_SCHEMA_VERSION))
}

/// Whether the script's probe answers true (no probe: false).
async fn skips(client: &Client, m: &Migration, script: &MigrationScript) -> Result<bool> {
    match &script.skip_if {
        Some(probe) => client
            .query_one(probe.as_str(), &[])
            .await
            .and_then(|row| row.try_get::<_, bool>(0))
            .map_err(|e| migration_error(m, e)),
        None => Ok(false),
    }
}

/// Whether a DDL error says the object already exists: duplicate table or index, column,
/// object (constraint), function, schema or database.
fn created_by_a_peer(e: &tokio_postgres::Error) -> bool {
    is_already_existing(e)
}

/// How [`bump_guarded`] retries a bump that lost a race with a concurrent migrator: 10 ms
/// doubling up to 200 ms, for at most 20 attempts.
fn bump_retries() -> RetryPolicy {
    RetryPolicy::none()
        .conflict(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(200),
            2.0,
            20,
        ))
        .max_elapsed(Duration::from_secs(30))
}

/// Records `version` without a table lock (no transactional DDL): a SERIALIZABLE transaction that
/// re-reads the version and never lowers it, retried when it loses a race with a concurrent
/// migrator (serialization failure, or a duplicate first row).
async fn bump_guarded(client: &mut Client, schema: &str, version: i64) -> Result<()> {
    // Each attempt needs the client mutably (a transaction); the lock lends it to one at a time.
    let client = Mutex::new(client);
    // Conflicts go to the retry policy; any other error goes back to the caller as it is (the
    // outer `Result` is the policy's, the inner one the bump's outcome).
    bump_retries()
        .run(false, || async {
            let mut client = client.lock().await;
            match try_bump(&mut client, schema, version).await {
                Ok(()) => Ok(Ok(())),
                Err(e) if is_unique_violation_error(&e) => Err(lost_race(
                    e,
                    "a concurrent migrator recorded the first version row",
                )),
                Err(e) if is_conflict(&e) => Err(e),
                Err(e) => Ok(Err(e)),
            }
        })
        .await
        .and_then(|bumped| bumped)
}

/// One attempt of [`bump_guarded`].
async fn try_bump(client: &mut Client, schema: &str, version: i64) -> Result<()> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::Serializable)
        .start()
        .await
        .map_err(classify)?;
    let (recorded, rows) = read_version(&tx, schema).await?;
    if recorded < version || rows > 1 {
        write_version(&tx, schema, rows, version).await?;
    }
    tx.commit().await.map_err(classify)
}

/// Runs a `CREATE … IF NOT EXISTS`, which can still fail when a concurrent session creates the
/// same object at the same moment; that failure counts as success.
async fn create_if_missing(client: &Client, sql: &str) -> Result<()> {
    match client.batch_execute(sql).await {
        Ok(()) => Ok(()),
        Err(e) if is_created_concurrently(&e) => Ok(()),
        Err(e) => Err(classify(e)),
    }
}

/// Applies a transactional migration with its version bump, unless a concurrent migrator
/// already did (the version is re-read under a lock on `dbos_migrations`).
async fn apply_in_transaction(
    client: &mut Client,
    schema: &str,
    m: &Migration,
    sql: &str,
) -> Result<()> {
    let q = quote_identifier(schema);
    let tx = client.transaction().await.map_err(classify)?;
    tx.batch_execute(&format!("LOCK TABLE {q}.dbos_migrations IN EXCLUSIVE MODE"))
        .await
        .map_err(classify)?;
    let (recorded, rows) = read_version(&tx, schema).await?;
    if recorded >= m.version {
        return Ok(());
    }
    tx.batch_execute(sql)
        .await
        .map_err(|e| migration_error(m, e))?;
    write_version(&tx, schema, rows, m.version).await?;
    tx.commit().await.map_err(classify)
}

/// Creates the whole schema of a new database in one transaction: every migration up to
/// `target`, online ones without `CONCURRENTLY` (nobody else can see tables created in the same
/// transaction, and an index build inside a transaction cannot be concurrent), then the version.
/// One commit instead of one per migration, and no waiting for concurrent index builds: on a
/// new database the migrations are most of a short-lived process's start-up.
///
/// Returns `false`, having changed nothing, when another migrator recorded a version first
/// (the regular path then applies what is left).
async fn install_fresh(client: &mut Client, config: &PostgresConfig, target: i64) -> Result<bool> {
    let schema = config.schema();
    let q = quote_identifier(schema);
    let tx = client.transaction().await.map_err(classify)?;
    tx.batch_execute(&format!("LOCK TABLE {q}.dbos_migrations IN EXCLUSIVE MODE"))
        .await
        .map_err(classify)?;
    let (recorded, rows) = read_version(&tx, schema).await?;
    if recorded != 0 {
        return Ok(false);
    }
    let mut last = 0;
    for m in MIGRATIONS.iter().filter(|m| m.version <= target) {
        last = m.version;
        let script = config
            .dialect()
            .render_migration(m, schema, config.use_listen_notify());
        if script.sql.trim().is_empty() {
            continue;
        }
        if let Some(probe) = &script.skip_if {
            let skip = tx
                .query_one(probe.as_str(), &[])
                .await
                .and_then(|row| row.try_get::<_, bool>(0))
                .map_err(|e| migration_error(m, e))?;
            if skip {
                continue;
            }
        }
        let sql = if m.online {
            script.sql.replace(" CONCURRENTLY", "")
        } else {
            script.sql
        };
        tx.batch_execute(&sql)
            .await
            .map_err(|e| migration_error(m, e))?;
    }
    write_version(&tx, schema, rows, last).await?;
    tx.commit().await.map_err(classify)?;
    Ok(true)
}

/// Applies an online migration statement by statement in autocommit, then bumps the version.
async fn apply_online(client: &mut Client, schema: &str, m: &Migration, sql: &str) -> Result<()> {
    drop_invalid_indexes(client, schema).await?;
    for statement in split_statements(sql) {
        match client.batch_execute(&statement).await {
            Ok(()) => {}
            // A concurrent migrator (one that gave up waiting for the lock) built the same
            // index at the same moment.
            Err(e) if is_created_concurrently(&e) && !m.sql.contains("UNIQUE INDEX") => {
                tracing::debug!(
                    version = m.version,
                    "index created concurrently by another migrator"
                );
            }
            Err(e) => return Err(migration_error(m, e)),
        }
    }
    bump(client, schema, m.version).await
}

/// Drops the indexes of `schema` that an interrupted `CREATE INDEX CONCURRENTLY` left invalid.
async fn drop_invalid_indexes(client: &Client, schema: &str) -> Result<()> {
    let rows = client
        .query(
            "SELECT i.relname::text FROM pg_catalog.pg_index x \
             JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace \
             WHERE NOT x.indisvalid AND n.nspname = $1",
            &[&schema],
        )
        .await
        .map_err(classify)?;
    for row in rows {
        let name: String = row.try_get(0).map_err(classify)?;
        tracing::warn!(schema, index = %name, "dropping an invalid index left by an interrupted migration");
        client
            .batch_execute(&format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {}.{}",
                quote_identifier(schema),
                quote_identifier(&name)
            ))
            .await
            .map_err(classify)?;
    }
    Ok(())
}

/// Records `version` in its own transaction (never lowering it).
async fn bump(client: &mut Client, schema: &str, version: i64) -> Result<()> {
    let q = quote_identifier(schema);
    let tx = client.transaction().await.map_err(classify)?;
    tx.batch_execute(&format!("LOCK TABLE {q}.dbos_migrations IN EXCLUSIVE MODE"))
        .await
        .map_err(classify)?;
    let (_, rows) = read_version(&tx, schema).await?;
    write_version(&tx, schema, rows, version).await?;
    tx.commit().await.map_err(classify)
}

/// Writes `version` so that exactly one row remains and the version never goes down. The caller
/// holds the table lock.
async fn write_version(
    tx: &tokio_postgres::Transaction<'_>,
    schema: &str,
    rows: i64,
    version: i64,
) -> Result<()> {
    let q = quote_identifier(schema);
    let result = match rows {
        0 => {
            tx.execute(
                &format!("INSERT INTO {q}.dbos_migrations (version) VALUES ($1)"),
                &[&version],
            )
            .await
        }
        1 => {
            tx.execute(
                &format!("UPDATE {q}.dbos_migrations SET version = $1 WHERE version < $1"),
                &[&version],
            )
            .await
        }
        _ => {
            // Another SDK's migrator left several rows: repair.
            tx.execute(
                &format!(
                    "WITH gone AS (DELETE FROM {q}.dbos_migrations RETURNING version) \
                     INSERT INTO {q}.dbos_migrations (version) \
                     SELECT GREATEST(MAX(version), $1) FROM gone"
                ),
                &[&version],
            )
            .await
        }
    };
    result.map(|_| ()).map_err(classify)
}

/// The recorded version (0 when the table is missing or empty) and the number of rows.
/// The recorded version in one round trip (a simple query, nothing prepared): 0 when the
/// schema or its `dbos_migrations` table does not exist.
async fn current_version(client: &Client, schema: &str) -> Result<i64> {
    let sql = render(sql::lifecycle::SELECT_VERSION, schema);
    match client.simple_query(&sql).await {
        Ok(messages) => {
            for message in messages {
                if let SimpleQueryMessage::Row(row) = message {
                    let text = row.get(0).unwrap_or("0");
                    return text.parse().map_err(|_| {
                        Error::new(
                            ErrorKind::Corrupt,
                            format!(
                                "dbos_migrations holds a version that is not a number: {text:?}"
                            ),
                        )
                        .with_backend(BACKEND)
                    });
                }
            }
            Ok(0)
        }
        Err(e) if is_missing_relation(&e) => Ok(0),
        Err(e) => Err(classify(e)),
    }
}

async fn read_version<C: tokio_postgres::GenericClient>(
    client: &C,
    schema: &str,
) -> Result<(i64, i64)> {
    if !relation_exists(client, schema, "dbos_migrations").await? {
        return Ok((0, 0));
    }
    let row = client
        .query_one(
            &format!(
                "SELECT COALESCE(MAX(version), 0), COUNT(*) FROM {}.dbos_migrations",
                quote_identifier(schema)
            ),
            &[],
        )
        .await
        .map_err(classify)?;
    Ok((
        row.try_get(0).map_err(classify)?,
        row.try_get(1).map_err(classify)?,
    ))
}

/// Whether `schema.name` is a table (or other relation).
async fn relation_exists<C: tokio_postgres::GenericClient>(
    client: &C,
    schema: &str,
    name: &str,
) -> Result<bool> {
    let qualified = format!("{}.{}", quote_identifier(schema), quote_identifier(name));
    let row = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified])
        .await
        .map_err(classify)?;
    row.try_get(0).map_err(classify)
}

/// The error of a failed migration statement, naming the migration.
fn migration_error(m: &Migration, err: tokio_postgres::Error) -> Error {
    let inner = classify(err);
    let mut out = Error::new(
        inner.kind(),
        format!(
            "DBOS migration {} ({}) failed: {}",
            m.version,
            m.name,
            inner.message()
        ),
    )
    .with_backend(BACKEND);
    if let Some(code) = inner.code() {
        out = out.with_code(code.to_owned());
    }
    out.with_source(inner)
}

/// Whether a script has anything but comments and whitespace.
fn has_statements(script: &str) -> bool {
    !split_statements(script).is_empty()
}

/// Splits a script on `;` outside quotes, dollar quotes and `--` comments; drops empty
/// statements and comments.
pub(crate) fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut rest = script;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("--") {
            let end = rest.find('\n').unwrap_or(rest.len());
            rest = &rest[end..];
            continue;
        }
        if c == '\'' || c == '"' {
            let end = rest[1..].find(c).map_or(rest.len(), |i| i + 2);
            current.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        if c == '$' {
            if let Some(tag_end) = rest[1..].find('$') {
                let tag = &rest[..tag_end + 2];
                if tag[1..tag.len() - 1]
                    .chars()
                    .all(|t| t.is_ascii_alphanumeric() || t == '_')
                {
                    let body = &rest[tag.len()..];
                    let end = body
                        .find(tag)
                        .map_or(rest.len(), |i| tag.len() + i + tag.len());
                    current.push_str(&rest[..end]);
                    rest = &rest[end..];
                    continue;
                }
            }
        }
        if c == ';' {
            let s = current.trim();
            if !s.is_empty() {
                out.push(s.to_owned());
            }
            current.clear();
        } else {
            current.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    let s = current.trim();
    if !s.is_empty() {
        out.push(s.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_is_dbos_postgres_numbering() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        let expected: Vec<i64> = (1..=47).chain(100..=DBOS_SCHEMA_VERSION).collect();
        assert_eq!(versions, expected);
        for m in MIGRATIONS {
            assert!(
                m.name.starts_with(&format!("v{:03}_", m.version)),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn online_migrations_are_dbos_online_set() {
        let online: Vec<i64> = MIGRATIONS
            .iter()
            .filter(|m| m.online)
            .map(|m| m.version)
            .collect();
        assert_eq!(
            online,
            [
                22, 23, 24, 25, 26, 27, 29, 30, 31, 32, 34, 35, 37, 45, 46, 47, 107, 111, 114, 115,
                116, 117, 118, 119, 120, 122, 124, 125
            ]
        );
        for m in MIGRATIONS {
            let sql = m.render("dbos", true);
            assert_eq!(
                m.online,
                sql.contains("CONCURRENTLY"),
                "migration {} online flag",
                m.version
            );
            if m.online {
                assert!(sql.contains("IF EXISTS") || sql.contains("IF NOT EXISTS"));
            }
        }
    }

    #[test]
    fn listen_notify_migrations_render_empty_without_it() {
        for v in [39, 43, 44] {
            let m = MIGRATIONS.iter().find(|m| m.version == v).unwrap();
            assert!(m.render("dbos", false).trim().is_empty(), "{v}");
            assert!(!m.render("dbos", true).trim().is_empty(), "{v}");
        }
        let all: String = MIGRATIONS.iter().map(|m| m.render("x", false)).collect();
        assert!(!all.contains("notifications_function"));
        assert!(!all.contains("{schema}"));
    }

    /// A description of the objects of schema `dbos` (columns, constraints, indexes, functions
    /// with their settings, triggers), for comparing two databases.
    async fn describe(client: &Client) -> Vec<String> {
        let sql = "SELECT 'column ' || c.relname || '.' || a.attname || ' ' \
                          || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull \
                          || COALESCE(' ' || pg_get_expr(d.adbin, d.adrelid), '') \
                   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                   WHERE n.nspname = 'dbos' AND c.relkind = 'r' AND a.attnum > 0 \
                     AND NOT a.attisdropped \
                   UNION ALL \
                   SELECT 'constraint ' || k.conname || ' ' || pg_get_constraintdef(k.oid) \
                   FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace \
                   WHERE n.nspname = 'dbos' \
                   UNION ALL \
                   SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'dbos' \
                   UNION ALL \
                   SELECT 'function ' || p.proname || '(' || pg_get_function_arguments(p.oid) \
                          || ') ' || pg_get_function_result(p.oid) \
                          || COALESCE(' ' || array_to_string(p.proconfig, ','), '') \
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                   WHERE n.nspname = 'dbos' \
                   UNION ALL \
                   SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t \
                   JOIN pg_class c ON c.oid = t.tgrelid \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE n.nspname = 'dbos' AND NOT t.tgisinternal \
                   ORDER BY 1";
        client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    async fn open_pool(url: &str, listen_notify: bool) -> Pool {
        let dbos = dbos_storage_core::DbosConfig::new("migrate-unit")
            .with_pool_size(2)
            .with_use_listen_notify(listen_notify);
        let url = dbos_storage_core::DatabaseUrl::parse(url).unwrap();
        let config = crate::config::PostgresConfig::system(&dbos, &url).unwrap();
        Pool::connect(&config).await.unwrap()
    }

    /// The schema of `target` brought forward equals the schema of a fresh database, for
    /// versions that older DBOS releases (Python, Go, Java: same PostgreSQL numbering) leave.
    #[tokio::test]
    async fn upgrades_from_older_versions_reach_the_same_schema() {
        let server = dbos_storage_testkit::pg::server();
        for listen_notify in [true, false] {
            let fresh_url = server.create_database("pg_upgrade_fresh").await;
            let fresh = open_pool(&fresh_url, listen_notify).await;
            migrate(&fresh).await.unwrap();
            let expected = describe(&fresh.dedicated().await.unwrap()).await;
            fresh.close().await;
            server.drop_database(&fresh_url).await;
            for target in [1, 14, 21, 38, 41, 47, 104, 108, 112, 122, 123] {
                let url = server.create_database("pg_upgrade").await;
                let pool = open_pool(&url, listen_notify).await;
                let at = migrate_to(&pool, target).await.unwrap();
                assert_eq!(at.recorded, target);
                let done = migrate(&pool).await.unwrap();
                assert_eq!(done.recorded, DBOS_SCHEMA_VERSION);
                let client = pool.dedicated().await.unwrap();
                assert_eq!(
                    describe(&client).await,
                    expected,
                    "upgrade from {target} (listen_notify {listen_notify})"
                );
                let rows: i64 = client
                    .query_one("SELECT count(*) FROM dbos.dbos_migrations", &[])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(rows, 1);
                drop(client);
                pool.close().await;
                server.drop_database(&url).await;
            }
        }
    }

    /// An index left INVALID by an interrupted online build is dropped before the next online
    /// migration.
    #[tokio::test]
    async fn invalid_indexes_are_swept_before_online_migrations() {
        let server = dbos_storage_testkit::pg::server();
        let url = server.create_database("pg_invalid_index").await;
        let pool = open_pool(&url, true).await;
        migrate_to(&pool, 113).await.unwrap();
        let client = pool.dedicated().await.unwrap();
        client
            .batch_execute(
                "INSERT INTO dbos.workflow_status (workflow_uuid, status) \
                 VALUES ('a', 'PENDING'), ('b', 'PENDING')",
            )
            .await
            .unwrap();
        // A unique build over duplicates fails and leaves the index behind, INVALID.
        assert!(client
            .batch_execute(
                "CREATE UNIQUE INDEX CONCURRENTLY idx_left_invalid ON dbos.workflow_status (status)"
            )
            .await
            .is_err());
        let invalid = "SELECT count(*) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                       WHERE i.relname = 'idx_left_invalid'";
        let n: i64 = client.query_one(invalid, &[]).await.unwrap().get(0);
        assert_eq!(n, 1);
        migrate(&pool).await.unwrap();
        let n: i64 = client.query_one(invalid, &[]).await.unwrap().get(0);
        assert_eq!(n, 0);
        drop(client);
        pool.close().await;
        server.drop_database(&url).await;
    }

    #[test]
    fn no_migration_declares_a_bare_integer() {
        // On some PostgreSQL-family servers INT and INTEGER are INT8: widths are spelled INT4
        // or BIGINT.
        let all = MIGRATIONS
            .iter()
            .map(|m| format!("{}\n{}", m.sql, m.listen_notify_sql));
        for sql in all {
            for word in sql.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
                let upper = word.to_ascii_uppercase();
                assert!(
                    !matches!(upper.as_str(), "INT" | "INTEGER" | "SERIAL" | "BIGSERIAL"),
                    "a bare {word} in:\n{sql}"
                );
            }
        }
    }

    #[test]
    fn splitting() {
        let s = split_statements(
            "-- a; comment\nCREATE TABLE t (a TEXT DEFAULT 'x;y');\n\
             CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END; $body$;\n\
             SELECT \"a;b\" FROM t -- trailing; comment\n",
        );
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[0].contains("'x;y'"));
        assert!(s[1].ends_with("$body$"));
        assert!(s[2].starts_with("SELECT \"a;b\""));
        assert!(split_statements("-- only a comment\n").is_empty());
    }
}
