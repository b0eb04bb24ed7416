//! [`SqliteConfig`]: where the database is and how the driver connects to it.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use dbos_storage_core::{DatabaseUrl, DbosConfig, Error, Result, SqliteLocation};

use crate::sql;

/// The default busy timeout: 30 s, as DBOS Python sets it.
pub(crate) const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The default number of reader connections next to the writer.
pub(crate) const DEFAULT_READERS: usize = 4;

/// The most reader connections a store opens.
pub(crate) const MAX_READERS: usize = 64;

/// URL query keys this driver reads.
const KNOWN_KEYS: &[&str] = &["busy_timeout", "readers", "synchronous"];

/// When SQLite waits for the disk (`PRAGMA synchronous`), which decides what survives a power
/// loss or an operating-system crash. An application crash loses nothing committed at any level.
///
/// Parsed (case-insensitively) from `off`, `normal`, `full`, `extra` or SQLite's numbers `0`–`3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `OFF`: SQLite never waits for the disk. Fastest; a power loss or OS crash can corrupt the
    /// database. For throwaway data only.
    Off,
    /// `NORMAL`: with WAL, SQLite waits for the disk only at checkpoints. A power loss or OS crash
    /// can roll back the last commits (the database stays consistent), so a checkpoint that was
    /// reported recorded may be lost.
    Normal,
    /// `FULL` (the default): every commit waits until the write-ahead log is on disk before the
    /// call returns, so every reported checkpoint survives a power loss. Concurrent writes share
    /// one transaction and one wait (group commit).
    #[default]
    Full,
    /// `EXTRA`: as `FULL`, and in rollback-journal mode also syncs the directory after deleting
    /// the journal. With WAL the same as `FULL`.
    Extra,
}

impl Synchronous {
    /// The pragma that sets this level.
    pub(crate) const fn pragma(self) -> &'static str {
        match self {
            Synchronous::Off => sql::PRAGMA_SYNCHRONOUS_OFF,
            Synchronous::Normal => sql::PRAGMA_SYNCHRONOUS_NORMAL,
            Synchronous::Full => sql::PRAGMA_SYNCHRONOUS_FULL,
            Synchronous::Extra => sql::PRAGMA_SYNCHRONOUS_EXTRA,
        }
    }

    /// SQLite's name of the level: `OFF`, `NORMAL`, `FULL` or `EXTRA`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        }
    }

    /// The level SQLite reports for `PRAGMA synchronous` (0–3).
    pub const fn level(self) -> i64 {
        match self {
            Synchronous::Off => 0,
            Synchronous::Normal => 1,
            Synchronous::Full => 2,
            Synchronous::Extra => 3,
        }
    }
}

impl std::fmt::Display for Synchronous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Synchronous {
    type Err = Error;

    /// Parses `off`, `normal`, `full`, `extra` (any case) or `0`–`3`.
    ///
    /// # Errors
    /// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for anything else, listing
    /// the accepted values.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "0" => Ok(Synchronous::Off),
            "normal" | "1" => Ok(Synchronous::Normal),
            "full" | "2" => Ok(Synchronous::Full),
            "extra" | "3" => Ok(Synchronous::Extra),
            _ => Err(Error::invalid_config(format!(
                "synchronous={s:?} is not a SQLite synchronous level; use full (the default: \
                 every commit is on disk before the call returns), normal, extra or off"
            ))),
        }
    }
}

/// How to open a SQLite system database.
///
/// Build one from a URL (`"sqlite:///app.sqlite?busy_timeout=5000&readers=2".parse()`), from a
/// [`DbosConfig`] with [`SqliteConfig::from_config`], or in code with [`SqliteConfig::file`] /
/// [`SqliteConfig::memory`] and the setters.
///
/// URL query keys:
///
/// | key | meaning | default |
/// |---|---|---|
/// | `busy_timeout` | milliseconds a statement waits for another connection's lock before failing with `Contention` | `30000` |
/// | `readers` | reader connections next to the single writer (ignored for `:memory:`) | `4` |
/// | `synchronous` | `full`, `normal`, `extra` or `off`: when a commit waits for the disk (see [`Synchronous`]) | `full` |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// The database file, or a private in-memory database.
    pub location: SqliteLocation,
    /// How long a statement waits for a lock held by another connection or process (`PRAGMA
    /// busy_timeout`). Defaults to 30 s, as in DBOS.
    pub busy_timeout: Duration,
    /// How many read-only connections serve reads next to the single writer connection. Ignored
    /// for `:memory:`, which uses one connection for everything. Defaults to 4.
    pub readers: usize,
    /// When a commit waits for the disk (`PRAGMA synchronous` on every connection). Defaults to
    /// [`Synchronous::Full`]: every write is on disk before its call returns.
    pub synchronous: Synchronous,
}

impl SqliteConfig {
    /// A configuration for `location` with the default busy timeout and readers.
    pub fn new(location: SqliteLocation) -> Self {
        SqliteConfig {
            location,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            readers: DEFAULT_READERS,
            synchronous: Synchronous::Full,
        }
    }

    /// A database file at `path` (created on first open).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::new(SqliteLocation::File(path.into()))
    }

    /// A private in-memory database: one connection, gone when the store is closed.
    pub fn memory() -> Self {
        Self::new(SqliteLocation::Memory)
    }

    /// Sets the busy timeout.
    #[must_use]
    pub fn busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }

    /// Sets the number of reader connections (at most 64; 0 sends reads to the writer).
    #[must_use]
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// Sets when a commit waits for the disk.
    #[must_use]
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Reads a `sqlite:` URL and its `busy_timeout`, `readers` and `synchronous` query keys.
    /// Other query keys are ignored with a warning.
    ///
    /// # Errors
    /// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for a URL of another
    /// backend, a key whose value is not a number, more than 64 readers, or a `synchronous`
    /// value other than `off`, `normal`, `full`, `extra` or `0`–`3`.
    pub fn from_url(url: &DatabaseUrl) -> Result<Self> {
        let location = url.sqlite_location().ok_or_else(|| {
            Error::invalid_config(format!(
                "the SQLite driver cannot open {url}: use sqlite:///relative.sqlite, \
                 sqlite:////absolute/path.sqlite or sqlite:///:memory:"
            ))
        })?;
        let mut config = Self::new(location);
        for (key, value) in url.query_pairs() {
            match key.as_str() {
                "busy_timeout" => {
                    let ms: u64 = value.trim().parse().map_err(|_| {
                        Error::invalid_config(format!(
                            "busy_timeout={value:?} in {url} is not a number of milliseconds \
                             (for example busy_timeout=30000)"
                        ))
                    })?;
                    config.busy_timeout = Duration::from_millis(ms);
                }
                "readers" => {
                    config.readers = value.trim().parse().map_err(|_| {
                        Error::invalid_config(format!(
                            "readers={value:?} in {url} is not a number of connections \
                             (for example readers=4)"
                        ))
                    })?;
                }
                "synchronous" => {
                    config.synchronous = value.parse().map_err(|e: Error| {
                        Error::invalid_config(format!("{} (in {url})", e.message()))
                    })?;
                }
                other => tracing::warn!(
                    key = other,
                    url = %url,
                    "ignoring unknown SQLite URL parameter; known keys: {}",
                    KNOWN_KEYS.join(", ")
                ),
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// The configuration of a database of `config` at `url` (its system or application
    /// database URL). [`DbosConfig`]'s pool and PostgreSQL settings do not apply to SQLite, so
    /// everything comes from the URL and its keys, as in [`SqliteConfig::from_url`].
    ///
    /// # Errors
    /// As [`SqliteConfig::from_url`].
    pub fn from_config(config: &DbosConfig, url: &DatabaseUrl) -> Result<Self> {
        let _ = config;
        Self::from_url(url)
    }

    /// Checks the values.
    ///
    /// # Errors
    /// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for more than 64 readers or a
    /// busy timeout above `i32::MAX` milliseconds.
    pub fn validate(&self) -> Result<()> {
        if self.readers > MAX_READERS {
            return Err(Error::invalid_config(format!(
                "readers={} is too many; use at most {MAX_READERS} SQLite reader connections",
                self.readers
            )));
        }
        if self.busy_timeout.as_millis() > i32::MAX as u128 {
            return Err(Error::invalid_config(format!(
                "busy_timeout={:?} is too long; SQLite accepts at most {} ms",
                self.busy_timeout,
                i32::MAX
            )));
        }
        Ok(())
    }

    /// Whether this is an in-memory database.
    pub fn is_memory(&self) -> bool {
        self.location == SqliteLocation::Memory
    }

    /// Opens a connection of the caller's own to this database, configured as a store opened
    /// with this configuration configures each of its connections: `busy_timeout`,
    /// `journal_mode=WAL`, this `synchronous` setting, `foreign_keys=ON`. It is for work the
    /// store does not offer — reports, maintenance, a benchmark's baseline — next to a store on
    /// the same file; writes through it take the file's write lock as the store's do.
    ///
    /// It blocks (it opens the file and may wait up to `busy_timeout` for the lock that
    /// switching to WAL takes): call it from a thread that may block, such as one of its own or
    /// `tokio::task::spawn_blocking`. For `:memory:` it opens a new, empty database of its own,
    /// since an in-memory store's database is private to that store.
    ///
    /// # Errors
    /// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for an invalid
    /// configuration, or when the path cannot hold a database (a missing directory, no
    /// permission to write); the other errors of [`SqliteStore::open`](crate::SqliteStore::open).
    pub fn native_connection(&self) -> Result<rusqlite::Connection> {
        self.validate()?;
        crate::connection::open_writer(self)
    }
}

impl FromStr for SqliteConfig {
    type Err = Error;

    /// Parses a `sqlite:` URL; see [`SqliteConfig::from_url`].
    fn from_str(s: &str) -> Result<Self> {
        Self::from_url(&DatabaseUrl::parse(s)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::ErrorKind;

    #[test]
    fn defaults_and_url_keys() {
        let c: SqliteConfig = "sqlite:///app.sqlite".parse().unwrap();
        assert_eq!(
            c.location,
            SqliteLocation::File(PathBuf::from("app.sqlite"))
        );
        assert_eq!(c.busy_timeout, Duration::from_secs(30));
        assert_eq!(c.readers, 4);
        assert_eq!(c.synchronous, Synchronous::Full);
        let c: SqliteConfig = "sqlite:////tmp/x.sqlite?busy_timeout=250&readers=2"
            .parse()
            .unwrap();
        assert_eq!(
            c.location,
            SqliteLocation::File(PathBuf::from("/tmp/x.sqlite"))
        );
        assert_eq!(c.busy_timeout, Duration::from_millis(250));
        assert_eq!(c.readers, 2);
        let c: SqliteConfig = "sqlite:///:memory:".parse().unwrap();
        assert!(c.is_memory());
        for (value, level) in [
            ("normal", Synchronous::Normal),
            ("NORMAL", Synchronous::Normal),
            ("Full", Synchronous::Full),
            ("off", Synchronous::Off),
            ("extra", Synchronous::Extra),
            ("0", Synchronous::Off),
            ("1", Synchronous::Normal),
            ("2", Synchronous::Full),
            ("3", Synchronous::Extra),
        ] {
            let c: SqliteConfig = format!("sqlite:///a.sqlite?synchronous={value}")
                .parse()
                .unwrap();
            assert_eq!(c.synchronous, level, "{value}");
        }
        assert_eq!(
            SqliteConfig::memory()
                .synchronous(Synchronous::Normal)
                .synchronous,
            Synchronous::Normal
        );
    }

    #[test]
    fn a_bad_synchronous_value_names_the_accepted_ones() {
        let e = "sqlite:///a.sqlite?synchronous=fast"
            .parse::<SqliteConfig>()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        for part in [
            "synchronous=\"fast\"",
            "full",
            "normal",
            "extra",
            "off",
            "a.sqlite",
        ] {
            assert!(e.message().contains(part), "{part}: {e}");
        }
        let e = "4".parse::<Synchronous>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    }

    #[test]
    fn synchronous_is_read_from_the_dbos_config_url() {
        let url = DatabaseUrl::parse("sqlite:///app.sqlite?synchronous=normal").unwrap();
        let c = SqliteConfig::from_config(&DbosConfig::new("app"), &url).unwrap();
        assert_eq!(c.synchronous, Synchronous::Normal);
    }

    #[test]
    fn bad_values_are_config_errors() {
        for url in [
            "sqlite:///a.sqlite?busy_timeout=soon",
            "sqlite:///a.sqlite?readers=-1",
            "sqlite:///a.sqlite?readers=1000",
            "postgres://h/db",
        ] {
            let e = url.parse::<SqliteConfig>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{url}: {e}");
        }
    }
}
