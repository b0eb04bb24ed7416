//! The system-schema migrator: DBOS's single-row `dbos_migrations` version, the pre-100 base
//! schema, and the shared migrations 100..=125, all in one `BEGIN IMMEDIATE` transaction.
//!
//! - An empty database gets the base schema (the state DBOS reaches at the end of its pre-100
//!   history) and then every shared migration, and version 125.
//! - `100 <= recorded < 125`: the missing migrations are applied.
//! - `recorded >= 125`: a newer DBOS peer migrated it; it is accepted untouched.
//! - `recorded < 100`: SQLite versions below 100 are numbered differently by each SDK,
//!   so the database is refused with `SchemaMismatch`.
//!
//! Every statement is safe to re-run: `CREATE … IF NOT EXISTS`, `DROP … IF EXISTS`, and
//! `ALTER TABLE … ADD COLUMN` skipped when the column exists.

use dbos_storage_core::{Error, ErrorKind, Result, SchemaVersion, DBOS_SCHEMA_VERSION};
use rusqlite::{params, OptionalExtension, Transaction};

use crate::error::classify;
use crate::sql;

/// The first version of the series all DBOS SDKs share.
pub(crate) const SHARED_MIGRATION_BASE: i64 = 100;

/// One shared migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Its DBOS version number.
    pub(crate) version: i64,
    /// A short name, for logs.
    pub(crate) name: &'static str,
    /// The SQL; may be empty (PostgreSQL-only content), and the version still advances.
    pub(crate) sql: &'static str,
}

/// The schema an empty database gets before the shared series.
const BASE_SCHEMA: &str = include_str!("../migrations/base.sql");

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                "../migrations/v",
                stringify!($version),
                "_",
                $name,
                ".sql"
            )),
        }
    };
}

/// The shared migrations, in order; the last one is [`DBOS_SCHEMA_VERSION`].
pub(crate) const MIGRATIONS: &[Migration] = &[
    migration!(100, "workflow_status_application_name"),
    migration!(101, "queues_application_name"),
    migration!(102, "schedules_application_name"),
    migration!(103, "versions_application_name"),
    migration!(104, "steps_application_name"),
    migration!(105, "enqueue_function"),
    migration!(106, "versions_owner_unique"),
    migration!(107, "versions_unclaimed_unique"),
    migration!(108, "queue_partition_limits"),
    migration!(109, "payload_tables"),
    migration!(110, "steps_retention_timestamp"),
    migration!(111, "steps_retention_index"),
    migration!(112, "steps_drop_foreign_key"),
    migration!(113, "enqueue_function_inputs"),
    migration!(114, "drop_duplicate_notifications_index"),
    migration!(115, "in_flight_index_v2"),
    migration!(116, "drop_in_flight_index"),
    migration!(117, "partition_dequeue_index_v3"),
    migration!(118, "drop_partition_dequeue_index_v2"),
    migration!(119, "step_index_v2"),
    migration!(120, "drop_step_index"),
    migration!(121, "notifications_consumed_by"),
    migration!(122, "deadline_index"),
    migration!(123, "creator_xid"),
    migration!(124, "versions_timestamp_index"),
    migration!(125, "versions_owner_timestamp_index"),
];

/// The version recorded in `dbos_migrations` (0 when the table is missing or empty) and the
/// number of rows holding it.
pub(crate) fn recorded_version(tx: &Transaction<'_>) -> Result<(i64, i64)> {
    if !table_exists(tx, "dbos_migrations")? {
        return Ok((0, 0));
    }
    let (version, rows): (Option<i64>, i64) = tx
        .query_row(sql::SELECT_MIGRATION_VERSION, [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(classify)?;
    Ok((version.unwrap_or(0), rows))
}

/// Migrates the database inside `tx`, which the caller opened with `BEGIN IMMEDIATE` so that
/// concurrent migrators (threads or processes) serialize and each re-reads the version under
/// the lock.
pub(crate) fn migrate(tx: &Transaction<'_>, location: &str) -> Result<SchemaVersion> {
    migrate_to(tx, location, DBOS_SCHEMA_VERSION)
}

/// [`migrate`], stopping after migration `target` (100..=125): tests build databases at the
/// versions other DBOS SDKs leave behind with it.
pub(crate) fn migrate_to(
    tx: &Transaction<'_>,
    location: &str,
    target: i64,
) -> Result<SchemaVersion> {
    let latest = DBOS_SCHEMA_VERSION;
    if !(SHARED_MIGRATION_BASE..=latest).contains(&target) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "cannot migrate a SQLite system database to version {target}: SQLite versions \
                 run from {SHARED_MIGRATION_BASE} to {latest}"
            ),
        ));
    }
    let (recorded, rows) = recorded_version(tx)?;
    if recorded >= target {
        tracing::debug!(recorded, latest, "SQLite system schema is current");
        return Ok(SchemaVersion::new(recorded, latest));
    }
    if recorded == 0 {
        if table_exists(tx, "workflow_status")? {
            return Err(Error::new(
                ErrorKind::SchemaMismatch,
                format!(
                    "the SQLite database {location} has DBOS tables but no version in \
                     dbos_migrations, so this build cannot tell which migrations it has; \
                     migrate it with the DBOS SDK that created it, or use a new database file"
                ),
            ));
        }
        tracing::info!(
            location,
            "creating the DBOS system schema (version {latest})"
        );
        tx.execute_batch(sql::CREATE_MIGRATIONS_TABLE)
            .map_err(classify)?;
        run_script(tx, BASE_SCHEMA)?;
    } else if recorded < SHARED_MIGRATION_BASE {
        return Err(Error::new(
            ErrorKind::SchemaMismatch,
            format!(
                "the SQLite database {location} records DBOS schema version {recorded}, below \
                 {SHARED_MIGRATION_BASE}; SQLite versions below {SHARED_MIGRATION_BASE} are \
                 numbered differently by each DBOS SDK (DBOS Python numbers them compactly, the \
                 Go SDK like PostgreSQL), so this build cannot tell which migrations were \
                 applied. Open it once with a current release of the DBOS SDK that created it to \
                 bring it to version {SHARED_MIGRATION_BASE} or later, or use a new database file"
            ),
        ));
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > recorded && m.version <= target)
    {
        tracing::info!(
            version = m.version,
            name = m.name,
            "applying DBOS migration"
        );
        run_script(tx, m.sql)?;
    }
    write_version(tx, rows, target)?;
    Ok(SchemaVersion::new(target, latest))
}

/// Records `version` so that exactly one row remains.
fn write_version(tx: &Transaction<'_>, rows: i64, version: i64) -> Result<()> {
    match rows {
        0 => tx.execute(sql::INSERT_MIGRATION_VERSION, params![version]),
        1 => tx.execute(sql::UPDATE_MIGRATION_VERSION, params![version]),
        _ => {
            // Another SDK's migrator left several rows; repair.
            tx.execute(sql::DELETE_MIGRATION_VERSIONS, [])
                .and_then(|_| tx.execute(sql::INSERT_MIGRATION_VERSION, params![version]))
        }
    }
    .map_err(classify)?;
    Ok(())
}

fn table_exists(tx: &Transaction<'_>, table: &str) -> Result<bool> {
    tx.query_row(sql::TABLE_EXISTS, params![table], |r| r.get::<_, i64>(0))
        .optional()
        .map(|n| n.unwrap_or(0) > 0)
        .map_err(classify)
}

fn column_exists(tx: &Transaction<'_>, table: &str, column: &str) -> Result<bool> {
    tx.query_row(sql::COLUMN_EXISTS, params![table, column], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n > 0)
    .map_err(classify)
}

/// Runs a migration script statement by statement, skipping `ADD COLUMN` of existing columns.
fn run_script(tx: &Transaction<'_>, script: &str) -> Result<()> {
    for statement in split_statements(script) {
        if let Some((table, column)) = added_column(&statement) {
            if column_exists(tx, &table, &column)? {
                tracing::debug!(table, column, "column exists; skipping ADD COLUMN");
                continue;
            }
        }
        tx.execute_batch(&statement).map_err(|e| {
            let inner = classify(e);
            Error::new(
                inner.kind(),
                format!(
                    "a DBOS migration statement failed: {}",
                    first_line(&statement)
                ),
            )
            .with_backend(crate::error::BACKEND)
            .with_source(inner)
        })?;
    }
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Splits a script on `;` outside quotes, dropping `--` comments and empty statements.
pub(crate) fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' | '`' => {
                    quote = Some(c);
                    current.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            current.push('\n');
                            break;
                        }
                    }
                }
                ';' => {
                    let s = current.trim();
                    if !s.is_empty() {
                        out.push(s.to_owned());
                    }
                    current.clear();
                }
                _ => current.push(c),
            },
        }
    }
    let s = current.trim();
    if !s.is_empty() {
        out.push(s.to_owned());
    }
    out
}

/// `Some((table, column))` for `ALTER TABLE t ADD [COLUMN] c …`.
fn added_column(statement: &str) -> Option<(String, String)> {
    let words: Vec<&str> = statement.split_whitespace().take(6).collect();
    let unquote = |w: &str| w.trim_matches(|c| c == '"' || c == '`').to_owned();
    if words.len() < 5
        || !words[0].eq_ignore_ascii_case("ALTER")
        || !words[1].eq_ignore_ascii_case("TABLE")
        || !words[3].eq_ignore_ascii_case("ADD")
    {
        return None;
    }
    let column = if words[4].eq_ignore_ascii_case("COLUMN") {
        words.get(5)?
    } else {
        words[4]
    };
    Some((unquote(words[2]), unquote(column)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_contiguous_and_end_at_the_latest_version() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, SHARED_MIGRATION_BASE + i as i64, "{}", m.name);
        }
        assert_eq!(
            MIGRATIONS.last().map(|m| m.version),
            Some(DBOS_SCHEMA_VERSION)
        );
    }

    #[test]
    fn splitting_respects_quotes_and_comments() {
        let s = split_statements(
            "-- a comment; with a semicolon\nCREATE TABLE t (a TEXT DEFAULT 'x;y');\n\n\
             ALTER TABLE \"t\" ADD COLUMN \"b\" TEXT; -- trailing\n",
        );
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].contains("'x;y'"));
        assert_eq!(added_column(&s[1]), Some(("t".into(), "b".into())));
        assert_eq!(
            added_column("ALTER TABLE q ADD p INTEGER"),
            Some(("q".into(), "p".into()))
        );
        assert_eq!(added_column("ALTER TABLE a RENAME TO b"), None);
        assert!(split_statements("-- only a comment\n").is_empty());
    }
}
