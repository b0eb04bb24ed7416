//! Classification of PostgreSQL errors: the one place where tokio-postgres and bb8 errors become
//! [`dbos_storage_core::Error`]s.

use std::error::Error as _;

use dbos_storage_core::{DatabaseUrl, Error, ErrorKind};
use tokio_postgres::error::{DbError, SqlState};

/// The backend name attached to every error this crate produces.
pub(crate) const BACKEND: &str = "postgres";

/// Names this backend in an error built by the driver kit (`dbos_storage_driver_kit::decisions`,
/// `dbos_storage_driver_kit::app_transaction`) or the core, whose errors name none:
/// `.map_err(with_backend)`.
pub(crate) fn with_backend(error: Error) -> Error {
    error.with_backend(BACKEND)
}

/// Turns a tokio-postgres error into a store error.
///
/// | PostgreSQL error | kind |
/// |---|---|
/// | `40001` serialization failure, `40P01` deadlock | `SerializationFailure` |
/// | `55P03` lock not available | `Contention` |
/// | `40003` statement completion unknown | `AmbiguousCommit` |
/// | class `08` (connection), `53` (resources), `57` (operator intervention) except `57014`, `25P03` (idle-in-transaction timeout) | `ConnectionLost` |
/// | `57014` query canceled (statement timeout) | `Timeout` |
/// | `3D000` unknown database, `28P01` / `28000` authentication | `InvalidConfig` (not transient) |
/// | `42P01` undefined table, `42703` undefined column, for a table or column a shared migration added ([`dbos_storage_core::schema`]), in the system store's statements ([`classify_app`] leaves the user's own to `Backend`) | `SchemaMismatch` naming it, its migration and `dbos-storage migrate` (a database an older DBOS SDK left behind) |
/// | any other server error (`42P01`, `23505`, …) | `Backend` |
/// | no server error: I/O, closed connection, connect failure, protocol error | `ConnectionLost` |
/// | TLS: certificate rejected, server without TLS under `require` | `InvalidConfig` |
/// | client-side authentication error (no password given), invalid configuration | `InvalidConfig` |
/// | a value that does not encode | `InvalidInput` |
/// | a value that does not decode | `Corrupt` |
///
/// Server errors carry their SQLSTATE as the error code; every error names the backend
/// `postgres` and keeps the tokio-postgres error as its source.
pub(crate) fn classify(err: tokio_postgres::Error) -> Error {
    classify_with(err, None, SchemaObjects::System)
}

/// As [`classify`], for the application database: a missing table or column there is the
/// user's own, never one of the system schema's, so it stays `Backend`.
pub(crate) fn classify_app(err: tokio_postgres::Error) -> Error {
    classify_with(err, None, SchemaObjects::User)
}

/// Whose tables a statement reads: the system schema's, whose missing objects are a database
/// an older DBOS SDK left behind, or the user's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SchemaObjects {
    System,
    User,
}

/// As [`classify`], for an error of opening a connection: the message names the database URL
/// (its password redacted).
pub(crate) fn classify_connect(err: tokio_postgres::Error, url: &DatabaseUrl) -> Error {
    classify_with(
        err,
        Some(&format!("cannot connect to {url}")),
        SchemaObjects::System,
    )
}

/// As [`classify`], with `context` leading the message.
pub(crate) fn classify_context(err: tokio_postgres::Error, context: &str) -> Error {
    classify_with(err, Some(context), SchemaObjects::System)
}

/// As [`classify`], for an error of `COMMIT`: a connection lost while the commit was in flight
/// leaves its outcome unknown, so it becomes [`ErrorKind::AmbiguousCommit`].
pub(crate) fn classify_commit(err: tokio_postgres::Error) -> Error {
    if err.as_db_error().is_none() {
        let (kind, message) = client_error(&err);
        if kind == ErrorKind::ConnectionLost {
            return Error::new(
                ErrorKind::AmbiguousCommit,
                format!(
                    "the connection was lost during COMMIT, so the transaction may or may not \
                     have been applied: {message}"
                ),
            )
            .with_backend(BACKEND)
            .with_source(err);
        }
    }
    classify(err)
}

/// The body of [`classify`]: `prefix`, when given, leads the message.
fn classify_with(
    err: tokio_postgres::Error,
    prefix: Option<&str>,
    schema_objects: SchemaObjects,
) -> Error {
    let (kind, message) = match err.as_db_error() {
        Some(db) => match (schema_objects == SchemaObjects::System)
            .then(|| missing_schema_object(db))
            .flatten()
        {
            Some(missing) => (missing.kind(), missing.message().to_owned()),
            None => {
                let kind = kind_of_code(db.code());
                (kind, db_message(kind, db))
            }
        },
        None => client_error(&err),
    };
    let message = match prefix {
        Some(p) => format!("{p}: {message}"),
        None => message,
    };
    let mut out = Error::new(kind, message).with_backend(BACKEND);
    if let Some(code) = err.code() {
        out = out.with_code(code.code());
    }
    out.with_source(err)
}

/// The [`SchemaMismatch`](ErrorKind::SchemaMismatch) for a missing table or column
/// (`relation "dbos.workflow_input" does not exist`, `column "creator_xid" of relation
/// "workflow_status" does not exist`, `column ws.creator_xid does not exist`) when a shared
/// migration adds it.
fn missing_schema_object(db: &DbError) -> Option<Error> {
    let last_name = |s: &str| -> String {
        let word = s.split_whitespace().next().unwrap_or("");
        let word = word.rsplit('.').next().unwrap_or(word);
        word.trim_matches('"').to_owned()
    };
    let message = db.message();
    if *db.code() == SqlState::UNDEFINED_TABLE {
        let rest = message.strip_prefix("relation ")?;
        return dbos_storage_core::schema::missing_object_error(None, &last_name(rest));
    }
    if *db.code() != SqlState::UNDEFINED_COLUMN {
        return None;
    }
    let rest = message.strip_prefix("column ")?;
    let table = rest
        .split_once(" of relation ")
        .map(|(_, table)| last_name(table));
    dbos_storage_core::schema::missing_object_error(table.as_deref(), &last_name(rest))
}

/// The kind of a server error by its SQLSTATE.
pub(crate) fn kind_of_code(code: &SqlState) -> ErrorKind {
    let class = code.code().get(..2).unwrap_or("");
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        ErrorKind::SerializationFailure
    } else if *code == SqlState::LOCK_NOT_AVAILABLE {
        ErrorKind::Contention
    } else if *code == SqlState::T_R_STATEMENT_COMPLETION_UNKNOWN {
        ErrorKind::AmbiguousCommit
    } else if *code == SqlState::QUERY_CANCELED {
        ErrorKind::Timeout
    } else if *code == SqlState::PROTOCOL_VIOLATION {
        // Class 08 but not a lost connection: the statement or its parameters are malformed,
        // and re-running it would fail the same way.
        ErrorKind::Backend
    } else if *code == SqlState::INVALID_CATALOG_NAME
        || *code == SqlState::INVALID_PASSWORD
        || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        ErrorKind::InvalidConfig
    } else if *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
        || matches!(class, "08" | "53" | "57")
    {
        ErrorKind::ConnectionLost
    } else {
        ErrorKind::Backend
    }
}

/// The message of a server error: what it means for the user, then the server's own words.
fn db_message(kind: ErrorKind, db: &DbError) -> String {
    let mut text = db.message().to_owned();
    if let Some(detail) = db.detail() {
        text.push_str(" (");
        text.push_str(detail);
        text.push(')');
    }
    if let Some(hint) = db.hint() {
        text.push_str("; hint: ");
        text.push_str(hint);
    }
    let code = db.code();
    let lead = if *code == SqlState::INVALID_CATALOG_NAME {
        "the database does not exist; create it or fix the database name in the URL"
    } else if *code == SqlState::INVALID_PASSWORD
        || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        "PostgreSQL refused the credentials; check the user name and password in the URL"
    } else {
        match kind {
            ErrorKind::SerializationFailure => {
                "PostgreSQL aborted the transaction (serialization failure or deadlock); re-run it"
            }
            ErrorKind::Contention => "a row or table lock is held by another transaction",
            ErrorKind::AmbiguousCommit => "the outcome of the commit is unknown",
            ErrorKind::Timeout => "the statement was cancelled (statement timeout or cancel)",
            ErrorKind::ConnectionLost => "the PostgreSQL connection was lost or refused",
            _ => "PostgreSQL error",
        }
    };
    format!("{lead}: {text}")
}

/// The kind and message of an error that carries no server error. tokio-postgres does not expose
/// its error kind, so it is read from the error's `Display`, which names it.
fn client_error(err: &tokio_postgres::Error) -> (ErrorKind, String) {
    let kind_text = err.to_string();
    if kind_text.starts_with("error performing TLS handshake") {
        return tls_error(err, &chain(err));
    }
    let kind = kind_of_client_text(&kind_text);
    let text = chain(err);
    let message = match kind {
        ErrorKind::ConnectionLost if err.is_closed() => {
            "the PostgreSQL connection is closed (the server ended it or the network failed)"
                .to_owned()
        }
        ErrorKind::ConnectionLost => format!("cannot reach PostgreSQL: {text}"),
        ErrorKind::InvalidConfig => format!("cannot connect to PostgreSQL: {text}"),
        ErrorKind::InvalidInput => format!("a value cannot be sent to PostgreSQL: {text}"),
        ErrorKind::Corrupt => format!("a value read from PostgreSQL cannot be decoded: {text}"),
        _ => format!("PostgreSQL client error: {text}"),
    };
    (kind, message)
}

/// An error and its sources, joined with `: `.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let t = e.to_string();
        if !text.ends_with(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        next = e.source();
    }
    text
}

/// The kind of a tokio-postgres error without a server error, from its `Display` text.
fn kind_of_client_text(text: &str) -> ErrorKind {
    const LOST: &[&str] = &[
        "error communicating with the server",
        "connection closed",
        "error connecting to server",
        "timeout waiting for server",
        "unexpected message from server",
        "error parsing response from server",
        "error encoding message to server",
    ];
    if LOST.iter().any(|p| text.starts_with(p)) {
        ErrorKind::ConnectionLost
    } else if text.starts_with("authentication error")
        || text.starts_with("invalid connection string")
        || text.starts_with("invalid configuration")
    {
        ErrorKind::InvalidConfig
    } else if text.starts_with("error serializing parameter") {
        ErrorKind::InvalidInput
    } else if text.starts_with("error deserializing column") {
        ErrorKind::Corrupt
    } else {
        ErrorKind::Backend
    }
}

/// A TLS handshake failure: a rejected certificate or a server without TLS is a configuration
/// problem; an I/O error during the handshake is a lost connection.
fn tls_error(err: &tokio_postgres::Error, cause: &str) -> (ErrorKind, String) {
    let source = err.source();
    let rustls = source.and_then(find_rustls_error);
    if let Some(rustls_err) = rustls {
        let message = match rustls_err {
            rustls::Error::InvalidCertificate(c) => format!(
                "TLS certificate verification failed: the server's certificate was rejected \
                 ({c:?}); check sslrootcert (the CA that signed the server certificate), the host \
                 name in the URL (sslmode=verify-full checks it), or use sslmode=verify-ca"
            ),
            other => format!("TLS handshake with the PostgreSQL server failed: {other}"),
        };
        return (ErrorKind::InvalidConfig, message);
    }
    if cause.contains("server does not support TLS") {
        return (
            ErrorKind::InvalidConfig,
            "the PostgreSQL server does not support TLS, but the sslmode requires it; enable \
             ssl on the server or use sslmode=prefer / disable"
                .to_owned(),
        );
    }
    (
        ErrorKind::ConnectionLost,
        format!("TLS handshake with the PostgreSQL server failed: {cause}"),
    )
}

/// The rustls error somewhere in a chain of sources (tokio-postgres-rustls reports it as an
/// `io::Error` wrapping the rustls error).
fn find_rustls_error<'a>(
    mut err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    loop {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                    return Some(r);
                }
            }
        }
        err = err.source()?;
    }
}

/// A race lost to a concurrent session, as a retryable [`ErrorKind::Contention`]: `what` says
/// what the other session did first. The error keeps `err`'s SQLSTATE and has `err` as its
/// source.
pub(crate) fn lost_race(err: Error, what: &str) -> Error {
    let mut out = Error::new(ErrorKind::Contention, format!("{what}: {}", err.message()))
        .with_backend(BACKEND);
    if let Some(code) = err.code() {
        out = out.with_code(code.to_owned());
    }
    out.with_source(err)
}

/// Whether `err` is a conflict with a concurrent transaction (a serialization failure, a
/// deadlock or lock contention): what a driver's own retry of a lost race retries.
pub(crate) fn is_conflict(err: &Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::SerializationFailure | ErrorKind::Contention
    )
}

// ------------------------------------------------------------------------------------------
// SQLSTATE predicates: every comparison of a server error's code outside `kind_of_code`.
// ------------------------------------------------------------------------------------------

/// The DDL errors that say the object exists already: a table or index, a column, a constraint
/// or other object, a function, a schema, a database.
const ALREADY_EXISTS: &[SqlState] = &[
    SqlState::DUPLICATE_TABLE,
    SqlState::DUPLICATE_COLUMN,
    SqlState::DUPLICATE_OBJECT,
    SqlState::DUPLICATE_FUNCTION,
    SqlState::DUPLICATE_SCHEMA,
    SqlState::DUPLICATE_DATABASE,
];

/// The errors of a relation that does not exist: an unknown table, or an unknown schema.
const MISSING_RELATION: &[SqlState] = &[SqlState::UNDEFINED_TABLE, SqlState::INVALID_SCHEMA_NAME];

/// The SQLSTATE prefix of the server ending a session (`57P01` admin shutdown, `57P02` crash
/// shutdown, `57P03` cannot connect now, `57P04` database dropped, `57P05` idle session
/// timeout), sent as FATAL.
const SESSION_TERMINATED: &str = "57P";

/// The SQLSTATE of `err`, or `""` for an error without a server error.
pub(crate) fn sqlstate(err: &tokio_postgres::Error) -> &str {
    err.code().map_or("", SqlState::code)
}

/// Whether `err` carries one of `codes`.
fn code_in(err: &tokio_postgres::Error, codes: &[SqlState]) -> bool {
    err.code().is_some_and(|code| codes.contains(code))
}

/// Whether `err` is a unique violation (`23505`).
pub(crate) fn is_unique_violation(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Whether a DDL error says the object exists already (see [`ALREADY_EXISTS`]).
pub(crate) fn is_already_existing(err: &tokio_postgres::Error) -> bool {
    code_in(err, ALREADY_EXISTS)
}

/// Whether a `CREATE … [IF NOT EXISTS]` failed because a concurrent session created the same
/// object at the same moment: the object exists already, or the insert into the catalog failed
/// on its unique index (`23505`).
pub(crate) fn is_created_concurrently(err: &tokio_postgres::Error) -> bool {
    is_already_existing(err) || is_unique_violation(err)
}

/// As [`is_created_concurrently`], for an error classified already.
pub(crate) fn is_created_concurrently_error(err: &Error) -> bool {
    ALREADY_EXISTS
        .iter()
        .chain([&SqlState::UNIQUE_VIOLATION])
        .any(|code| has_code(err, code))
}

/// Whether `err` names a table or schema that does not exist (`42P01`, `3F000`).
pub(crate) fn is_missing_relation(err: &tokio_postgres::Error) -> bool {
    code_in(err, MISSING_RELATION)
}

/// Whether `err` says the database does not exist (`3D000`).
pub(crate) fn is_unknown_database(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::INVALID_CATALOG_NAME)
}

/// As [`is_unknown_database`], for an error classified already.
pub(crate) fn is_unknown_database_error(err: &Error) -> bool {
    has_code(err, &SqlState::INVALID_CATALOG_NAME)
}

/// Whether `err` says the transaction was aborted by an earlier error (`25P02`).
pub(crate) fn is_failed_transaction(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION)
}

/// Whether `err` refuses a statement for lack of a privilege (`42501`).
pub(crate) fn is_insufficient_privilege(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
}

/// Whether `CREATE DATABASE` failed because its template database is being copied by a
/// concurrent `CREATE DATABASE` (`55006` "source database template1 is being accessed by other
/// users"): the copy ends in a moment.
pub(crate) fn is_template_in_use(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::OBJECT_IN_USE)
}

/// Whether `err` says that a prepared statement of this connection is no longer usable: it is
/// gone (`26000` invalid_sql_statement_name: a pooler in front of the server ran `DISCARD ALL`
/// or `DEALLOCATE ALL`, or handed the session to another server after a failover), or its
/// result shape changed under it (`0A000` "cached plan must not change result type", after a
/// schema change). Either error is raised at `Bind`, before the statement runs.
pub(crate) fn is_stale_statement(err: &tokio_postgres::Error) -> bool {
    match err.code() {
        Some(code) if *code == SqlState::INVALID_SQL_STATEMENT_NAME => true,
        Some(code) if *code == SqlState::FEATURE_NOT_SUPPORTED => {
            err.as_db_error().is_some_and(|db| {
                db.message()
                    .contains("cached plan must not change result type")
            })
        }
        _ => false,
    }
}

/// Whether `err` of a transaction says its session is over: the connection failed with no
/// server error (a closed socket), or the server ended the backend (class `57P`, sent as FATAL).
/// A server error that leaves the session open — even an injected `40003` at commit — does not:
/// the server sends such an error before it releases the transaction's locks, so the next
/// statement must run on the same session to find them released.
pub(crate) fn ends_session(err: &Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ConnectionLost | ErrorKind::AmbiguousCommit
    ) && err
        .code()
        .is_none_or(|code| code.starts_with(SESSION_TERMINATED))
}

/// Whether a classified error carries SQLSTATE `code` (for errors that come back out of a
/// transaction, where the tokio-postgres error is already classified).
pub(crate) fn has_code(err: &Error, code: &SqlState) -> bool {
    err.code() == Some(code.code())
}

/// Whether a classified error is a foreign-key violation (`23503`): a row names a workflow that
/// does not exist.
pub(crate) fn is_foreign_key_violation(err: &Error) -> bool {
    has_code(err, &SqlState::FOREIGN_KEY_VIOLATION)
}

/// Whether a classified error is a unique violation (`23505`).
pub(crate) fn is_unique_violation_error(err: &Error) -> bool {
    has_code(err, &SqlState::UNIQUE_VIOLATION)
}

/// The name of the constraint a server error names (a unique index, a foreign key…), if any.
pub(crate) fn constraint(err: &tokio_postgres::Error) -> Option<&str> {
    err.as_db_error().and_then(DbError::constraint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_table() {
        let cases: &[(&str, ErrorKind)] = &[
            ("40001", ErrorKind::SerializationFailure),
            ("40P01", ErrorKind::SerializationFailure),
            ("55P03", ErrorKind::Contention),
            ("40003", ErrorKind::AmbiguousCommit),
            ("08000", ErrorKind::ConnectionLost),
            ("08006", ErrorKind::ConnectionLost),
            ("08001", ErrorKind::ConnectionLost),
            ("08P01", ErrorKind::Backend),
            ("53300", ErrorKind::ConnectionLost),
            ("53100", ErrorKind::ConnectionLost),
            ("57P01", ErrorKind::ConnectionLost),
            ("57P02", ErrorKind::ConnectionLost),
            ("57P03", ErrorKind::ConnectionLost),
            ("25P03", ErrorKind::ConnectionLost),
            ("57014", ErrorKind::Timeout),
            ("3D000", ErrorKind::InvalidConfig),
            ("28P01", ErrorKind::InvalidConfig),
            ("28000", ErrorKind::InvalidConfig),
            ("42P01", ErrorKind::Backend),
            ("23505", ErrorKind::Backend),
            ("23503", ErrorKind::Backend),
            ("40002", ErrorKind::Backend),
            ("XX000", ErrorKind::Backend),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of_code(&SqlState::from_code(code)), *kind, "{code}");
        }
    }

    #[test]
    fn client_errors() {
        let cases: &[(&str, ErrorKind)] = &[
            (
                "error communicating with the server",
                ErrorKind::ConnectionLost,
            ),
            ("connection closed", ErrorKind::ConnectionLost),
            (
                "error connecting to server: Connection refused",
                ErrorKind::ConnectionLost,
            ),
            ("timeout waiting for server", ErrorKind::ConnectionLost),
            ("authentication error", ErrorKind::InvalidConfig),
            ("invalid configuration", ErrorKind::InvalidConfig),
            ("error serializing parameter 0", ErrorKind::InvalidInput),
            ("error deserializing column 1", ErrorKind::Corrupt),
            ("invalid column `x`", ErrorKind::Backend),
        ];
        for (text, kind) in cases {
            assert_eq!(kind_of_client_text(text), *kind, "{text}");
        }
    }

    #[test]
    fn classified_errors_keep_their_sqlstate() {
        let fk = Error::new(ErrorKind::Backend, "fk").with_code("23503");
        assert!(is_foreign_key_violation(&fk));
        assert!(!is_unique_violation_error(&fk));
        let unique = Error::new(ErrorKind::Backend, "dup").with_code("23505");
        assert!(is_unique_violation_error(&unique));
        assert!(!has_code(
            &Error::new(ErrorKind::Backend, "none"),
            &SqlState::UNIQUE_VIOLATION
        ));
    }

    #[test]
    fn only_errors_that_end_the_session_retire_a_connection() {
        let lost = |kind| Error::new(kind, "x");
        assert!(ends_session(&lost(ErrorKind::ConnectionLost)));
        assert!(ends_session(&lost(ErrorKind::AmbiguousCommit)));
        assert!(ends_session(
            &lost(ErrorKind::ConnectionLost).with_code("57P01")
        ));
        // An error the server reports on a live session: it releases the locks after sending.
        assert!(!ends_session(
            &lost(ErrorKind::AmbiguousCommit).with_code("40003")
        ));
        assert!(!ends_session(
            &lost(ErrorKind::ConnectionLost).with_code("53300")
        ));
        assert!(!ends_session(
            &lost(ErrorKind::SerializationFailure).with_code("40001")
        ));
        assert!(!ends_session(&lost(ErrorKind::Backend)));
    }

    #[test]
    fn classified_errors_tell_a_concurrent_create_and_an_unknown_database() {
        for code in [
            "42P07", "42701", "42710", "42723", "42P06", "42P04", "23505",
        ] {
            let e = Error::new(ErrorKind::Backend, "exists").with_code(code);
            assert!(is_created_concurrently_error(&e), "{code}");
        }
        let other = Error::new(ErrorKind::Backend, "x").with_code("42P01");
        assert!(!is_created_concurrently_error(&other));
        let unknown = Error::new(ErrorKind::InvalidConfig, "x").with_code("3D000");
        assert!(is_unknown_database_error(&unknown));
        assert!(!is_unknown_database_error(&other));
    }

    #[test]
    fn unique_and_retryable() {
        assert!(kind_of_code(&SqlState::T_R_SERIALIZATION_FAILURE).is_retryable());
        assert!(kind_of_code(&SqlState::ADMIN_SHUTDOWN).is_retryable());
        assert!(!kind_of_code(&SqlState::INVALID_PASSWORD).is_retryable());
        assert!(!kind_of_code(&SqlState::T_R_STATEMENT_COMPLETION_UNKNOWN).is_retryable());
    }
}
