//! Which schema version each table and column the stores use needs: the tables and columns the
//! shared DBOS migrations (100 and up) added, the lowest version this build reads, and the
//! [`SchemaMismatch`](ErrorKind::SchemaMismatch) errors that name a missing object.
//!
//! Every DBOS SDK that uses the shared numbering (Python, TypeScript, Go, Java) may have left a
//! database at an earlier version than [`DBOS_SCHEMA_VERSION`]: DBOS Transact for TypeScript 5.3
//! stops at 123, for instance. Such a database is read as it is, from
//! [`MIN_READ_SCHEMA_VERSION`] on, and never rewritten without `migrate`. Migrations that only
//! add, swap or drop indexes (111, 114–120, 122, 124, 125), drop a foreign key (112) or change
//! PostgreSQL functions (105, 113) add nothing a store reads or writes, so they are not listed.

use std::fmt;

use crate::{Error, ErrorKind, SchemaVersion, DBOS_SCHEMA_VERSION};

/// A table or column that a shared DBOS migration added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaObject {
    /// The table (unqualified).
    pub table: &'static str,
    /// The column, or `None` for the whole table.
    pub column: Option<&'static str>,
    /// The migration that adds it: the object exists from this version on.
    pub since: i64,
}

impl fmt::Display for SchemaObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "column {}.{column}", self.table),
            None => write!(f, "table {}", self.table),
        }
    }
}

const fn column(table: &'static str, column: &'static str, since: i64) -> SchemaObject {
    SchemaObject {
        table,
        column: Some(column),
        since,
    }
}

const fn table(table: &'static str, since: i64) -> SchemaObject {
    SchemaObject {
        table,
        column: None,
        since,
    }
}

/// Every table and column of the system schema that a shared migration added, by version (the
/// drivers' tests check each against their migrations: absent one version before, present at
/// it).
pub const SCHEMA_OBJECTS: &[SchemaObject] = &[
    column("workflow_status", "application_name", 100),
    column("queues", "application_name", 101),
    column("workflow_schedules", "application_name", 102),
    column("application_versions", "application_name", 103),
    column("operation_outputs", "application_name", 104),
    column("queues", "partition_concurrency", 108),
    column("queues", "partition_worker_concurrency", 108),
    column("queues", "partition_rate_limit_max", 108),
    column("queues", "partition_rate_limit_period_sec", 108),
    table("workflow_input", 109),
    table("workflow_output", 109),
    column("operation_outputs", "retention_timestamp", 110),
    column("notifications", "consumed_by_function_id", 121),
    column("workflow_status", "creator_xid", 123),
];

/// The lowest schema version this build reads: the version from which every column that
/// reading workflows (`list_workflows`, `get_workflows`, steps, queues, schedules, versions)
/// reads exists. Migration 109 added the payload tables `workflow_input` and `workflow_output`,
/// from which inputs and outcomes are read.
///
/// Writes need more, depending on what they write (see the crate README): a database behind
/// [`DBOS_SCHEMA_VERSION`] but at or above this version is read as it is, and a write that needs
/// an object it lacks fails with [`SchemaMismatch`](ErrorKind::SchemaMismatch) naming it.
pub const MIN_READ_SCHEMA_VERSION: i64 = 109;

/// The objects a database recorded at `recorded` lacks, oldest first.
pub fn missing_at(recorded: i64) -> impl Iterator<Item = &'static SchemaObject> {
    SCHEMA_OBJECTS.iter().filter(move |o| o.since > recorded)
}

/// Why a database at `version` cannot be read, or `None` when it can
/// ([`SchemaVersion::is_readable`]). `database` names it in the message (a backend name or a
/// redacted URL).
pub fn read_refusal(database: &str, version: SchemaVersion) -> Option<Error> {
    if version.is_readable() {
        return None;
    }
    let message = if version.recorded == 0 {
        format!(
            "{database} has no DBOS system schema (schema version 0; this build reads version \
             {MIN_READ_SCHEMA_VERSION} or later and creates {DBOS_SCHEMA_VERSION}): run \
             `dbos-storage migrate` (or connect with run_migrations = true)"
        )
    } else {
        let lacks: Vec<String> = missing_at(version.recorded)
            .filter(|o| o.since <= MIN_READ_SCHEMA_VERSION)
            .map(|o| format!("{o} (migration {})", o.since))
            .collect();
        format!(
            "{database} is at schema version {}, below {MIN_READ_SCHEMA_VERSION}, the lowest \
             this build reads: it lacks {}; run `dbos-storage migrate` (or connect with \
             run_migrations = true) to bring it to version {}",
            version.recorded,
            lacks.join(", "),
            version.latest
        )
    };
    Some(Error::new(ErrorKind::SchemaMismatch, message))
}

/// The warning for a database that is read although it is behind this build, or `None` when it
/// is current.
pub fn behind_warning(database: &str, version: SchemaVersion) -> Option<String> {
    if version.is_current() {
        return None;
    }
    let lacks: Vec<String> = missing_at(version.recorded)
        .map(|o| format!("{o} (migration {})", o.since))
        .collect();
    let writes = if lacks.is_empty() {
        "every read and write works (the later migrations add only indexes)".to_owned()
    } else {
        format!(
            "reads work; writes that need {} fail until it is migrated",
            lacks.join(", ")
        )
    };
    Some(format!(
        "{database} is at schema version {}, behind this build's {}: {writes}; \
         `dbos-storage migrate` brings it to {}",
        version.recorded, version.latest, version.latest
    ))
}

/// The error for a statement that failed because the schema lacks `name` (a table, or a
/// column of `table` when the backend names it), when `name` is one of [`SCHEMA_OBJECTS`];
/// `None` otherwise (the failure is not one of an older schema, and the driver reports it as
/// it is).
///
/// Drivers call it from their error classification with the object the backend's error names.
pub fn missing_object_error(table: Option<&str>, name: &str) -> Option<Error> {
    let name = name.trim_matches(|c| c == '"' || c == '`');
    let table = table.map(|t| t.trim_matches(|c| c == '"' || c == '`'));
    let matches: Vec<&SchemaObject> = SCHEMA_OBJECTS
        .iter()
        .filter(|o| match o.column {
            Some(column) => column == name && table.is_none_or(|t| t == o.table),
            None => o.table == name && table.is_none(),
        })
        .collect();
    let what = match matches.as_slice() {
        [] => return None,
        [one] => format!("{one}, which DBOS migration {} adds", one.since),
        several => {
            let tables: Vec<&str> = several.iter().map(|o| o.table).collect();
            let versions: Vec<String> = several.iter().map(|o| o.since.to_string()).collect();
            format!(
                "column {name} (of {}, added by DBOS migrations {})",
                tables.join(", "),
                versions.join(", ")
            )
        }
    };
    Some(Error::new(
        ErrorKind::SchemaMismatch,
        format!(
            "the system database lacks {what}: its schema is older than this operation needs; \
             run `dbos-storage migrate` (or connect with run_migrations = true) to bring it to \
             version {DBOS_SCHEMA_VERSION}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_in_version_order_and_within_the_shared_series() {
        let versions: Vec<i64> = SCHEMA_OBJECTS.iter().map(|o| o.since).collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        assert_eq!(versions, sorted);
        assert!(versions
            .iter()
            .all(|v| (100..=DBOS_SCHEMA_VERSION).contains(v)));
    }

    #[test]
    fn the_read_floor_is_the_payload_tables() {
        assert!(SchemaVersion::new(123, 125).is_readable());
        assert!(SchemaVersion::new(109, 125).is_readable());
        assert!(!SchemaVersion::new(108, 125).is_readable());
        let e = read_refusal("db", SchemaVersion::new(108, 125)).unwrap();
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
        assert_eq!(
            e.message(),
            "db is at schema version 108, below 109, the lowest this build reads: it lacks \
             table workflow_input (migration 109), table workflow_output (migration 109); run \
             `dbos-storage migrate` (or connect with run_migrations = true) to bring it to \
             version 125"
        );
        let e = read_refusal("db", SchemaVersion::new(0, 125)).unwrap();
        assert!(e.message().contains("no DBOS system schema"), "{e}");
        assert!(read_refusal("db", SchemaVersion::new(109, 125)).is_none());
    }

    #[test]
    fn the_warning_names_what_writes_lack() {
        let w = behind_warning("db", SchemaVersion::new(122, 125)).unwrap();
        assert!(
            w.contains("schema version 122, behind this build's 125"),
            "{w}"
        );
        assert!(
            w.contains("column workflow_status.creator_xid (migration 123)"),
            "{w}"
        );
        assert!(!w.contains("consumed_by_function_id"), "{w}");
        let w = behind_warning("db", SchemaVersion::new(123, 125)).unwrap();
        assert!(w.contains("every read and write works"), "{w}");
        assert!(behind_warning("db", SchemaVersion::new(125, 125)).is_none());
        assert!(behind_warning("db", SchemaVersion::new(126, 125)).is_none());
    }

    #[test]
    fn a_missing_object_is_named_with_its_migration() {
        let e = missing_object_error(Some("workflow_status"), "creator_xid").unwrap();
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
        assert!(
            e.message().starts_with(
                "the system database lacks column workflow_status.creator_xid, which DBOS \
                 migration 123 adds"
            ),
            "{e}"
        );
        assert!(e.message().contains("dbos-storage migrate"), "{e}");
        let e = missing_object_error(None, "\"consumed_by_function_id\"").unwrap();
        assert!(e
            .message()
            .contains("notifications.consumed_by_function_id"));
        let e = missing_object_error(None, "workflow_input").unwrap();
        assert!(e
            .message()
            .contains("table workflow_input, which DBOS migration 109"));
        let e = missing_object_error(None, "application_name").unwrap();
        assert!(
            e.message().contains("migrations 100, 101, 102, 103, 104"),
            "{e}"
        );
        assert!(missing_object_error(None, "transaction_outputs").is_none());
        assert!(missing_object_error(Some("workflow_status"), "no_such").is_none());
    }
}
