//! The one error type every store returns.
//!
//! An [`Error`] carries an [`ErrorKind`] chosen by *what the caller must do*, not by the
//! database's error code, plus a message written for the user, the backend's own code
//! (SQLSTATE or SQLite extended code) when there is one, and the underlying cause.
//! Drivers classify their native errors in one function each (`error.rs` in every driver).

use std::borrow::Cow;
use std::fmt;

/// A specialized `Result` for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, grouped by what the caller should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration or a URL is invalid: fix it and restart. Never retryable.
    InvalidConfig,
    /// An argument is invalid (an empty id, a NUL byte, an oversized payload…). Never retryable.
    InvalidInput,
    /// The connection to the database was lost or could not be made. Retryable.
    ConnectionLost,
    /// No connection became free within the pool timeout. The message names the pool settings to
    /// raise. Retryable.
    PoolExhausted,
    /// The database aborted the transaction to keep it serializable (SQLSTATE 40001, 40P01):
    /// re-run the whole operation. Retryable.
    SerializationFailure,
    /// Another writer holds a lock (SQLite busy/locked, PostgreSQL 55P03): back off and re-run.
    /// Retryable.
    Contention,
    /// The commit may or may not have applied (CockroachDB 40003, a connection lost during
    /// COMMIT). Only operations documented as idempotent may be re-run.
    AmbiguousCommit,
    /// The workflow id is already used by a workflow with another name, class or config
    /// (DBOS `DBOSConflictingWorkflowError`).
    WorkflowConflict,
    /// The workflow id is taken and the reuse policy forbids attaching to it
    /// (DBOS `DBOSWorkflowIDInUseError`).
    WorkflowIdInUse,
    /// This execution no longer owns the workflow: it was cancelled, recovered or handed to
    /// another executor (DBOS `DBOSWorkflowConflictIDError`). Stop and adopt the recorded outcome.
    NotOwner,
    /// A rival execution recorded this step (or another child at this position) first
    /// (DBOS `DBOSStepNondeterminismError`).
    StepConflict,
    /// The step recorded at this position has another name: the workflow is not deterministic
    /// (DBOS `DBOSUnexpectedStepError`).
    UnexpectedStep,
    /// The addressed workflow (or other object) does not exist (DBOS
    /// `DBOSNonExistentWorkflowError`).
    NotFound,
    /// The workflow was cancelled (DBOS `DBOSWorkflowCancelledError`).
    Cancelled,
    /// The queue's deduplication id is held by another workflow (DBOS
    /// `DBOSQueueDeduplicatedError`).
    Deduplicated,
    /// The database schema is too old for the operation: below the lowest version read (verify
    /// mode), or lacking a table or column a later migration adds (a write on a database another
    /// DBOS SDK left behind; the message names it and `dbos-storage migrate`); or at a version
    /// this build cannot interpret.
    SchemaMismatch,
    /// The backend does not support this operation or option.
    Unsupported,
    /// The operation conflicts with the current state: a name or id already exists, a workflow
    /// is not in a state that allows it (rewinding a running workflow), or another process holds
    /// a maintenance lease. Nothing was changed; not retryable as is.
    Conflict,
    /// An operation or a wait did not finish in time.
    Timeout,
    /// The caller cancelled a wait through its cancellation token; nothing was consumed or
    /// recorded by the wait itself.
    Interrupted,
    /// Data read from the database could not be interpreted.
    Corrupt,
    /// The store was closed.
    Closed,
    /// Any other database error; the backend code says more.
    Backend,
}

impl ErrorKind {
    /// Whether re-running the same operation later can succeed without any change by the caller.
    ///
    /// True for [`ConnectionLost`](Self::ConnectionLost), [`PoolExhausted`](Self::PoolExhausted),
    /// [`SerializationFailure`](Self::SerializationFailure) and
    /// [`Contention`](Self::Contention). [`AmbiguousCommit`](Self::AmbiguousCommit) is *not*
    /// retryable in general: only idempotent operations may be re-run after it.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::ConnectionLost
                | ErrorKind::PoolExhausted
                | ErrorKind::SerializationFailure
                | ErrorKind::Contention
        )
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A store error: a kind, a message for the user, the backend code, and the cause.
///
/// Messages never contain passwords: everything that prints a URL goes through
/// [`crate::DatabaseUrl`], whose `Display` redacts them.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    backend: Option<&'static str>,
    code: Option<String>,
    retries_exhausted: bool,
    source: Option<Source>,
}

impl Error {
    /// A new error of `kind` with a message that tells the user what happened and what to do.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                backend: None,
                code: None,
                retries_exhausted: false,
                source: None,
            }),
        }
    }

    /// Names the backend that produced the error (`"sqlite"`, `"postgres"`, …).
    #[must_use]
    pub fn with_backend(mut self, backend: &'static str) -> Self {
        self.inner.backend = Some(backend);
        self
    }

    /// Attaches the backend's own error code (SQLSTATE, or SQLite's extended result code).
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.inner.code = Some(code.into());
        self
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Marks the error as the last one of a retry loop that gave up.
    #[must_use]
    pub fn with_retries_exhausted(mut self) -> Self {
        self.inner.retries_exhausted = true;
        self
    }

    /// What the caller must do about this error.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without the backend code or cause.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The backend that produced the error, when known.
    pub fn backend(&self) -> Option<&'static str> {
        self.inner.backend
    }

    /// The backend's own error code: a SQLSTATE such as `40001`, or a SQLite extended result code
    /// such as `2067`.
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// Whether re-running the operation can succeed; see [`ErrorKind::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }

    /// Whether a retry loop already gave up on this error.
    pub fn retries_exhausted(&self) -> bool {
        self.inner.retries_exhausted
    }

    /// An invalid configuration or URL.
    pub fn invalid_config(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }

    /// An invalid argument.
    pub fn invalid_input(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A missing workflow or object.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// An [`ErrorKind::Conflict`] error.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Conflict, message)
    }

    /// An operation or option the backend does not support.
    pub fn unsupported(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Data in the database that cannot be interpreted.
    pub fn corrupt(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }

    /// A use of a closed store.
    pub fn closed() -> Self {
        Self::new(
            ErrorKind::Closed,
            "the store has been closed; open a new one with connect()",
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(backend) = self.inner.backend {
            d.field("backend", &backend);
        }
        if let Some(code) = &self.inner.code {
            d.field("code", code);
        }
        if self.inner.retries_exhausted {
            d.field("retries_exhausted", &true);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", &source.to_string());
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        match (self.inner.backend, &self.inner.code) {
            (Some(b), Some(c)) => write!(f, " ({b} code {c})")?,
            (Some(b), None) => write!(f, " ({b})")?,
            (None, Some(c)) => write!(f, " (code {c})")?,
            (None, None) => {}
        }
        if self.inner.retries_exhausted {
            f.write_str(" [retries exhausted]")?;
        }
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        assert!(ErrorKind::ConnectionLost.is_retryable());
        assert!(ErrorKind::Contention.is_retryable());
        assert!(ErrorKind::SerializationFailure.is_retryable());
        assert!(ErrorKind::PoolExhausted.is_retryable());
        assert!(!ErrorKind::AmbiguousCommit.is_retryable());
        assert!(!ErrorKind::NotOwner.is_retryable());
        assert!(!ErrorKind::InvalidConfig.is_retryable());
    }

    #[test]
    fn display_includes_backend_code_and_cause() {
        let e = Error::new(ErrorKind::Contention, "database is busy")
            .with_backend("sqlite")
            .with_code("5")
            .with_source(std::io::Error::other("locked"))
            .with_retries_exhausted();
        assert_eq!(
            e.to_string(),
            "database is busy (sqlite code 5) [retries exhausted]: locked"
        );
        assert_eq!(e.kind().to_string(), "contention");
    }
}
