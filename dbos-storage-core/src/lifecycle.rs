//! The lifecycle area: [`LifecycleStore`] (migrate, schema version, connection check,
//! capabilities, close) and its plain data.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::Result;

/// Opening, migrating, checking and closing a system database.
#[async_trait]
pub trait LifecycleStore: Debug + Send + Sync + 'static {
    /// The backend's short name (`"sqlite"`, `"postgres"`, `"memory"`, …), used in errors and
    /// reports.
    fn backend(&self) -> &'static str;

    /// What this backend supports beyond the common contract.
    fn capabilities(&self) -> Capabilities;

    /// Creates or upgrades the DBOS system schema to [`DBOS_SCHEMA_VERSION`].
    ///
    /// # Behavior
    /// - An empty database gets the whole v125 schema and `dbos_migrations.version = 125` in a
    ///   single row.
    /// - A database behind this build is migrated forward; one at or ahead of it (written by a
    ///   newer DBOS peer) is left untouched and accepted.
    /// - Concurrent migrators serialize; all of them succeed.
    ///
    /// # Errors
    /// [`SchemaMismatch`](crate::ErrorKind::SchemaMismatch) for a version this build cannot
    /// interpret (on SQLite, any recorded version below 100).
    ///
    /// # Idempotency
    /// Idempotent.
    async fn migrate(&self) -> Result<SchemaVersion>;

    /// Reads the recorded schema version without changing anything.
    ///
    /// A database behind this build is still read from
    /// [`MIN_READ_SCHEMA_VERSION`](crate::schema::MIN_READ_SCHEMA_VERSION) on (connecting
    /// without migrations checks [`SchemaVersion::is_readable`] and warns when it is behind);
    /// on such a database every operation that needs a table or column the database lacks
    /// fails with [`SchemaMismatch`](crate::ErrorKind::SchemaMismatch) naming it, the
    /// migration that adds it and `dbos-storage migrate`, and changes nothing.
    ///
    /// # Errors
    /// Only the transient kinds.
    async fn schema_version(&self) -> Result<SchemaVersion>;

    /// Runs a trivial query to prove the database answers.
    ///
    /// # Errors
    /// [`ConnectionLost`](crate::ErrorKind::ConnectionLost) with the real cause when the database
    /// cannot be reached.
    async fn check_connection(&self) -> Result<()>;

    /// Closes the store: waits for in-flight writes, then releases connections. Later calls fail
    /// with [`Closed`](crate::ErrorKind::Closed).
    ///
    /// # Idempotency
    /// Idempotent: closing twice is not an error.
    async fn close(&self) -> Result<()>;
}

/// What a backend can do beyond the contract every store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// Cross-process wake-ups through LISTEN/NOTIFY.
    pub listen_notify: bool,
    /// `FOR UPDATE SKIP LOCKED` row locking.
    pub skip_locked: bool,
    /// The system tables live in a named schema.
    pub schemas: bool,
    /// `list_workflows` can filter by attribute containment.
    pub attribute_filter: bool,
    /// Several processes may share the database.
    pub multi_process: bool,
    /// The data survives the process (false for in-memory stores).
    pub durable: bool,
}

/// The system schema version a store found or reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchemaVersion {
    /// The version recorded in `dbos_migrations` (0 when the table is empty or missing).
    pub recorded: i64,
    /// The latest version this build knows.
    pub latest: i64,
}

impl SchemaVersion {
    /// A new version pair.
    pub fn new(recorded: i64, latest: i64) -> Self {
        SchemaVersion { recorded, latest }
    }

    /// Whether the database is at or ahead of this build.
    pub fn is_current(&self) -> bool {
        self.recorded >= self.latest
    }

    /// Whether this build reads the database: it is at or above
    /// [`MIN_READ_SCHEMA_VERSION`](crate::schema::MIN_READ_SCHEMA_VERSION), possibly behind
    /// this build (a database of another DBOS SDK that stopped earlier, such as DBOS Transact
    /// for TypeScript 5.3 at 123). Writes on such a database need what they write to exist
    /// (see [`schema`](crate::schema)).
    pub fn is_readable(&self) -> bool {
        self.recorded >= crate::schema::MIN_READ_SCHEMA_VERSION
    }
}

/// The DBOS schema version this build creates.
pub const DBOS_SCHEMA_VERSION: i64 = 125;
