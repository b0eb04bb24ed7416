//! Classification of SQLite errors: the one place where rusqlite and tokio-rusqlite errors become
//! [`dbos_storage_core::Error`]s.

use std::cell::Cell;
use std::time::Duration;

use dbos_storage_core::{Error, ErrorKind};

/// The backend name attached to every error this crate produces.
pub(crate) const BACKEND: &str = "sqlite";

/// Names this backend in an error built by the driver kit (`dbos_storage_driver_kit::decisions`,
/// `dbos_storage_driver_kit::app_transaction`) or the core, whose errors name none:
/// `.map_err(with_backend)`.
pub(crate) fn with_backend(error: Error) -> Error {
    error.with_backend(BACKEND)
}

/// `SQLITE_BUSY`: another connection holds a lock the statement needs.
const SQLITE_BUSY: i32 = 5;
/// `SQLITE_LOCKED`: a lock conflict inside the same connection or shared cache.
const SQLITE_LOCKED: i32 = 6;
/// `SQLITE_CONSTRAINT`: the primary code of every constraint violation.
const SQLITE_CONSTRAINT: i32 = 19;
/// `SQLITE_CONSTRAINT_UNIQUE`: a UNIQUE constraint or unique index was violated.
const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
/// `SQLITE_CONSTRAINT_PRIMARYKEY`: a PRIMARY KEY was violated.
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
/// `SQLITE_CONSTRAINT_FOREIGNKEY`: a FOREIGN KEY was violated.
const SQLITE_CONSTRAINT_FOREIGNKEY: i32 = 787;
/// `SQLITE_CANTOPEN`: the database file could not be opened.
const SQLITE_CANTOPEN: i32 = 14;
/// `SQLITE_READONLY`: a write to a database (or its `-wal`/`-shm` files) that is read-only.
const SQLITE_READONLY: i32 = 8;
/// `SQLITE_CORRUPT`: the database file is malformed.
const SQLITE_CORRUPT: i32 = 11;
/// `SQLITE_NOTADB`: the file is not a SQLite database.
const SQLITE_NOTADB: i32 = 26;

/// `SQLITE_ERROR`: the generic error, among others of a statement naming a missing table or
/// column.
const SQLITE_ERROR: i32 = 1;

/// The busy timeout named in contention messages when the connection's is unknown (DBOS's
/// default).
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

thread_local! {
    /// The busy timeout of the connection whose thread this is; every connection has its own OS
    /// thread, so [`classify`] can name the right value.
    static BUSY_TIMEOUT: Cell<Duration> = const { Cell::new(DEFAULT_BUSY_TIMEOUT) };
}

/// Records `busy_timeout` as the value of the connection owned by the current thread.
pub(crate) fn set_thread_busy_timeout(busy_timeout: Duration) {
    BUSY_TIMEOUT.with(|t| t.set(busy_timeout));
}

/// Turns a rusqlite error into a store error.
///
/// | SQLite result | kind |
/// |---|---|
/// | `SQLITE_BUSY` (5), `SQLITE_LOCKED` (6) and their extended codes | `Contention` (retryable) |
/// | `SQLITE_CANTOPEN` (14) | `ConnectionLost` (opening a store refines it by the path: see `connection::open_error`) |
/// | `SQLITE_READONLY` (8) and its extended codes | `InvalidConfig`: make the file and its directory writable |
/// | `SQLITE_CORRUPT` (11), `SQLITE_NOTADB` (26) | `Corrupt` |
/// | text that is not UTF-8 | `Corrupt` |
/// | constraint violations (2067, 1555, 787, …) | `Backend` with the extended code; callers that expect a violation map it themselves |
/// | `no such table` / `no such column` / `has no column named` (`SQLITE_ERROR`, 1) for a table or column a shared migration added ([`dbos_storage_core::schema`]) | `SchemaMismatch` naming it, its migration and `dbos-storage migrate` (a database an older DBOS SDK left behind) |
/// | anything else | `Backend` with the extended code when there is one |
///
/// Contention messages name the busy timeout of the connection whose thread runs this.
pub(crate) fn classify(err: rusqlite::Error) -> Error {
    classify_with_timeout(err, BUSY_TIMEOUT.with(Cell::get), SchemaObjects::System)
}

/// As [`classify`], for the application database: a missing table or column there is the
/// user's own, never one of the system schema's, so it stays `Backend`.
pub(crate) fn classify_app(err: rusqlite::Error) -> Error {
    classify_with_timeout(err, BUSY_TIMEOUT.with(Cell::get), SchemaObjects::User)
}

/// Whose tables a statement reads: the system schema's, whose missing objects are a database
/// an older DBOS SDK left behind, or the user's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SchemaObjects {
    System,
    User,
}

/// The [`SchemaMismatch`](ErrorKind::SchemaMismatch) for SQLite's words about a missing table
/// or column (`no such table: main.workflow_input`, `no such column: ws.creator_xid`, `table
/// workflow_status has no column named creator_xid`) when a shared migration adds it.
fn missing_schema_object(detail: &str) -> Option<Error> {
    let last_name = |s: &str| -> String {
        let word = s.split_whitespace().next().unwrap_or("");
        word.rsplit('.').next().unwrap_or(word).to_owned()
    };
    if let Some(rest) = detail.strip_prefix("no such table: ") {
        return dbos_storage_core::schema::missing_object_error(None, &last_name(rest));
    }
    if let Some(rest) = detail.strip_prefix("no such column: ") {
        return dbos_storage_core::schema::missing_object_error(None, &last_name(rest));
    }
    let rest = detail.strip_prefix("table ")?;
    let (table, column) = rest.split_once(" has no column named ")?;
    dbos_storage_core::schema::missing_object_error(Some(&last_name(table)), &last_name(column))
}

/// The body of [`classify`], naming `busy_timeout` in contention messages.
fn classify_with_timeout(
    err: rusqlite::Error,
    busy_timeout: Duration,
    schema_objects: SchemaObjects,
) -> Error {
    match &err {
        rusqlite::Error::SqliteFailure(e, msg) => {
            let extended = e.extended_code;
            let primary = extended & 0xff;
            let detail = msg.clone().unwrap_or_else(|| e.to_string());
            let base = match primary {
                SQLITE_BUSY | SQLITE_LOCKED => Error::new(
                    ErrorKind::Contention,
                    format!(
                        "the SQLite database file is locked by another connection or process \
                         (busy for longer than busy_timeout={}); retry later, or raise \
                         busy_timeout",
                        format_duration(busy_timeout)
                    ),
                ),
                SQLITE_CANTOPEN => Error::new(
                    ErrorKind::ConnectionLost,
                    format!("cannot open the SQLite database file: {detail}"),
                ),
                SQLITE_READONLY => Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "the SQLite database is read-only for this process ({detail}); make the \
                         file and its directory writable (SQLite also writes the -wal and -shm \
                         files beside it)"
                    ),
                ),
                SQLITE_CORRUPT | SQLITE_NOTADB => Error::corrupt(format!(
                    "the file is not a SQLite database or is corrupted ({detail}); restore it \
                     from a backup, or point the URL at another file"
                )),
                SQLITE_CONSTRAINT => Error::new(
                    ErrorKind::Backend,
                    match extended {
                        SQLITE_CONSTRAINT_FOREIGNKEY => format!(
                            "SQLite foreign key violation (a referenced workflow does not \
                             exist): {detail}"
                        ),
                        SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => {
                            format!("SQLite uniqueness violation: {detail}")
                        }
                        _ => format!("SQLite constraint violation: {detail}"),
                    },
                ),
                SQLITE_ERROR => (schema_objects == SchemaObjects::System)
                    .then(|| missing_schema_object(&detail))
                    .flatten()
                    .unwrap_or_else(|| {
                        Error::new(ErrorKind::Backend, format!("SQLite error: {detail}"))
                    }),
                _ => Error::new(ErrorKind::Backend, format!("SQLite error: {detail}")),
            };
            base.with_backend(BACKEND)
                .with_code(extended.to_string())
                .with_source(err)
        }
        rusqlite::Error::SqliteSingleThreadedMode | rusqlite::Error::InvalidPath(_) => Error::new(
            ErrorKind::InvalidConfig,
            format!("cannot use SQLite: {err}"),
        )
        .with_backend(BACKEND)
        .with_source(err),
        rusqlite::Error::Utf8Error(_) => not_utf8(None).with_source(err),
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, source)
            if source.is::<std::str::Utf8Error>() =>
        {
            not_utf8(Some(*column)).with_source(err)
        }
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..) => Error::corrupt(format!(
            "a value read from the SQLite database has an unexpected type: {err}"
        ))
        .with_backend(BACKEND)
        .with_source(err),
        rusqlite::Error::NulError(_) => {
            Error::invalid_input(format!("a text value contains a NUL byte: {err}"))
                .with_backend(BACKEND)
                .with_source(err)
        }
        _ => Error::new(ErrorKind::Backend, format!("SQLite error: {err}"))
            .with_backend(BACKEND)
            .with_source(err),
    }
}

/// The error of text in the database that is not UTF-8 (`column` is the result column index):
/// another program wrote it, since this driver binds only Rust strings.
fn not_utf8(column: Option<usize>) -> Error {
    let at = column.map_or_else(String::new, |c| format!(" (result column {c})"));
    Error::corrupt(format!(
        "a text value read from the SQLite database is not valid UTF-8{at}; another program \
         wrote it, and DBOS stores text as UTF-8"
    ))
    .with_backend(BACKEND)
}

/// The extended result code of a SQLite failure, if `err` is one.
pub(crate) fn extended_code(err: &rusqlite::Error) -> Option<i32> {
    match err {
        rusqlite::Error::SqliteFailure(e, _) => Some(e.extended_code),
        _ => None,
    }
}

/// Whether a SQLite result code (primary or extended) is `SQLITE_BUSY` or `SQLITE_LOCKED`: a
/// lock held by another connection.
pub(crate) fn is_busy_code(code: i32) -> bool {
    matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED)
}

/// Whether `err` is `SQLITE_BUSY` or `SQLITE_LOCKED` (or one of their extended codes).
pub(crate) fn is_busy(err: &rusqlite::Error) -> bool {
    extended_code(err).is_some_and(is_busy_code)
}

/// Whether `err` is a FOREIGN KEY violation.
pub(crate) fn is_foreign_key_violation(err: &rusqlite::Error) -> bool {
    extended_code(err) == Some(SQLITE_CONSTRAINT_FOREIGNKEY)
}

/// Whether a classified error is `SQLITE_CANTOPEN` (or one of its extended codes): the file
/// could not be opened.
pub(crate) fn is_cantopen_error(err: &Error) -> bool {
    err.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == SQLITE_CANTOPEN)
}

/// Whether `err` is a UNIQUE or PRIMARY KEY violation whose message names `column`.
pub(crate) fn is_unique_violation_on(err: &rusqlite::Error, column: &str) -> bool {
    match err {
        rusqlite::Error::SqliteFailure(e, msg) => {
            matches!(
                e.extended_code,
                SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY
            ) && msg.as_deref().is_some_and(|m| m.contains(column))
        }
        _ => false,
    }
}

/// Errors that a connection-thread closure may return.
pub(crate) trait IntoStoreError {
    /// Converts into a store error.
    fn into_store_error(self) -> Error;
}

impl IntoStoreError for rusqlite::Error {
    fn into_store_error(self) -> Error {
        classify(self)
    }
}

impl IntoStoreError for Error {
    fn into_store_error(self) -> Error {
        self
    }
}

/// Turns the error of a `tokio_rusqlite::Connection::call` into a store error: a closed
/// connection thread becomes [`ErrorKind::Closed`], the closure's own error is classified.
pub(crate) fn from_call<E: IntoStoreError>(err: tokio_rusqlite::Error<E>) -> Error {
    match err {
        tokio_rusqlite::Error::ConnectionClosed => connection_closed(),
        tokio_rusqlite::Error::Close((_, e)) => classify(e),
        tokio_rusqlite::Error::Error(e) => e.into_store_error(),
        _ => Error::new(
            ErrorKind::Backend,
            "unexpected error from the SQLite connection thread",
        )
        .with_backend(BACKEND),
    }
}

/// The error of work sent to a connection thread that has stopped (the store was closed).
pub(crate) fn connection_closed() -> Error {
    Error::new(
        ErrorKind::Closed,
        "the SQLite connection is closed (the store was closed, or its connection thread \
         stopped); open a new store",
    )
    .with_backend(BACKEND)
}

/// A copy of `error` for another caller: the same kind, message, backend, code and retry mark,
/// without the source (which cannot be cloned). Used when one failure (a failed group commit)
/// is the answer to several calls.
pub(crate) fn duplicate(error: &Error) -> Error {
    let mut copy = Error::new(error.kind(), error.message().to_owned());
    if let Some(backend) = error.backend() {
        copy = copy.with_backend(backend);
    }
    if let Some(code) = error.code() {
        copy = copy.with_code(code.to_owned());
    }
    if error.retries_exhausted() {
        copy = copy.with_retries_exhausted();
    }
    copy
}

/// `30s`, `250ms`, `1.5s`.
fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// The rusqlite error for a raw extended result code.
#[cfg(test)]
fn failure(extended_code: i32, message: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(extended_code),
        Some(message.to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_table() {
        // (extended code, message, expected kind)
        let cases = [
            (SQLITE_BUSY, "database is locked", ErrorKind::Contention),
            (
                SQLITE_BUSY | (2 << 8),
                "database is locked",
                ErrorKind::Contention,
            ), // BUSY_SNAPSHOT
            (
                SQLITE_LOCKED,
                "database table is locked",
                ErrorKind::Contention,
            ),
            (
                SQLITE_LOCKED | (1 << 8),
                "locked sharedcache",
                ErrorKind::Contention,
            ),
            (
                SQLITE_CANTOPEN,
                "unable to open database file",
                ErrorKind::ConnectionLost,
            ),
            (
                SQLITE_CONSTRAINT_UNIQUE,
                "UNIQUE constraint failed: t.a",
                ErrorKind::Backend,
            ),
            (
                SQLITE_CONSTRAINT_PRIMARYKEY,
                "UNIQUE constraint failed: t.id",
                ErrorKind::Backend,
            ),
            (
                SQLITE_CONSTRAINT_FOREIGNKEY,
                "FOREIGN KEY constraint failed",
                ErrorKind::Backend,
            ),
            (1, "near \"SELEC\": syntax error", ErrorKind::Backend),
            (
                SQLITE_READONLY,
                "attempt to write a readonly database",
                ErrorKind::InvalidConfig,
            ),
            (
                SQLITE_READONLY | (6 << 8),
                "attempt to write a readonly database",
                ErrorKind::InvalidConfig,
            ), // READONLY_DIRECTORY
            (
                SQLITE_CORRUPT,
                "database disk image is malformed",
                ErrorKind::Corrupt,
            ),
            (SQLITE_NOTADB, "file is not a database", ErrorKind::Corrupt),
        ];
        for (code, msg, kind) in cases {
            let e = classify(failure(code, msg));
            assert_eq!(e.kind(), kind, "code {code}: {e}");
            assert_eq!(e.code(), Some(code.to_string().as_str()));
            assert_eq!(e.backend(), Some(BACKEND));
        }
    }

    #[test]
    fn a_missing_system_column_is_a_schema_mismatch_only_for_the_system_store() {
        let missing = || failure(SQLITE_ERROR, "no such column: ws.creator_xid");
        assert_eq!(classify(missing()).kind(), ErrorKind::SchemaMismatch);
        let e = classify_app(missing());
        assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
        assert!(
            e.message().contains("no such column: ws.creator_xid"),
            "{e}"
        );
    }

    #[test]
    fn contention_message_names_the_busy_timeout() {
        let e = classify_with_timeout(
            failure(SQLITE_BUSY, "database is locked"),
            Duration::from_secs(30),
            SchemaObjects::System,
        );
        assert!(e.is_retryable());
        assert!(
            e.message().contains(
                "the SQLite database file is locked by another connection or process \
                 (busy for longer than busy_timeout=30s)"
            ),
            "{e}"
        );
        let e = classify_with_timeout(
            failure(SQLITE_BUSY, "database is locked"),
            Duration::from_millis(250),
            SchemaObjects::System,
        );
        assert!(e.message().contains("busy_timeout=250ms"), "{e}");
    }

    #[test]
    fn classify_names_the_busy_timeout_of_this_connection_thread() {
        std::thread::spawn(|| {
            let e = classify(failure(SQLITE_BUSY, "database is locked"));
            assert!(e.message().contains("busy_timeout=30s"), "{e}");
            set_thread_busy_timeout(Duration::from_secs(5));
            let e = classify(failure(SQLITE_BUSY, "database is locked"));
            assert!(e.message().contains("busy_timeout=5s"), "{e}");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_missing_shared_object_names_its_migration() {
        for detail in [
            "no such column: creator_xid",
            "no such column: ws.creator_xid",
            "table workflow_status has no column named creator_xid",
        ] {
            let e = classify(failure(SQLITE_ERROR, detail));
            assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{detail}: {e}");
            assert!(
                e.message()
                    .contains("column workflow_status.creator_xid, which DBOS migration 123"),
                "{e}"
            );
            assert!(e.message().contains("dbos-storage migrate"), "{e}");
        }
        let e = classify(failure(SQLITE_ERROR, "no such table: main.workflow_output"));
        assert!(e.message().contains("table workflow_output"), "{e}");
        let e = classify(failure(SQLITE_ERROR, "no such table: transaction_outputs"));
        assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
        let e = classify(failure(SQLITE_ERROR, "near \"SELEC\": syntax error"));
        assert_eq!(e.kind(), ErrorKind::Backend, "{e}");
    }

    #[test]
    fn constraint_keeps_the_message() {
        let e = classify(failure(
            SQLITE_CONSTRAINT_FOREIGNKEY,
            "FOREIGN KEY constraint failed",
        ));
        assert!(e.message().contains("FOREIGN KEY constraint failed"), "{e}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn unique_violation_detection() {
        let e = failure(
            SQLITE_CONSTRAINT_UNIQUE,
            "UNIQUE constraint failed: workflow_status.queue_name, workflow_status.deduplication_id",
        );
        assert!(is_unique_violation_on(&e, "deduplication_id"));
        assert!(!is_unique_violation_on(&e, "workflow_uuid"));
        assert_eq!(extended_code(&e), Some(SQLITE_CONSTRAINT_UNIQUE));
        let fk = failure(
            SQLITE_CONSTRAINT_FOREIGNKEY,
            "FOREIGN KEY constraint failed",
        );
        assert!(!is_unique_violation_on(&fk, "deduplication_id"));
    }

    #[test]
    fn non_sqlite_errors() {
        assert_eq!(
            classify(rusqlite::Error::QueryReturnedNoRows).kind(),
            ErrorKind::Backend
        );
        assert_eq!(
            classify(rusqlite::Error::InvalidColumnType(
                0,
                "x".into(),
                rusqlite::types::Type::Real
            ))
            .kind(),
            ErrorKind::Corrupt
        );
        let bad = String::from_utf8(b"caf\xe9".to_vec())
            .unwrap_err()
            .utf8_error();
        let e = classify(rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            Box::new(bad),
        ));
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(
            e.message().starts_with(
                "a text value read from the SQLite database is not valid UTF-8 (result column 2)"
            ),
            "{e}"
        );
    }

    #[test]
    fn closed_connection() {
        let e = from_call::<rusqlite::Error>(tokio_rusqlite::Error::ConnectionClosed);
        assert_eq!(e.kind(), ErrorKind::Closed);
        let e = from_call(tokio_rusqlite::Error::Error(failure(
            SQLITE_BUSY,
            "database is locked",
        )));
        assert_eq!(e.kind(), ErrorKind::Contention);
        let e = from_call(tokio_rusqlite::Error::Error(Error::not_found("x")));
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
