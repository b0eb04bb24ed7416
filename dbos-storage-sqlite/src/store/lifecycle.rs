//! [`LifecycleStore`] on SQLite: migrate, version, check, capabilities and close.

use async_trait::async_trait;
use dbos_storage_core::{
    Capabilities, LifecycleStore, Result, SchemaVersion, ServerInfo, SqliteLocation,
    DBOS_SCHEMA_VERSION,
};

use super::Cached;
use super::SqliteStore;
use crate::error::{classify, BACKEND};
use crate::{migrate, sql};

#[async_trait]
impl LifecycleStore for SqliteStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> Capabilities {
        let file = !self.config().is_memory();
        let mut caps = Capabilities::default();
        caps.listen_notify = false;
        caps.skip_locked = false;
        caps.schemas = false;
        caps.attribute_filter = false;
        caps.multi_process = file;
        caps.durable = file;
        caps
    }

    async fn migrate(&self) -> Result<SchemaVersion> {
        let location = self.location_text();
        self.conns()
            .write(move |tx| migrate::migrate(tx, &location))
            .await
    }

    async fn schema_version(&self) -> Result<SchemaVersion> {
        self.conns()
            .read(|tx| {
                let (recorded, _) = migrate::recorded_version(tx)?;
                Ok(SchemaVersion::new(recorded, DBOS_SCHEMA_VERSION))
            })
            .await
    }

    async fn check_connection(&self) -> Result<()> {
        self.conns()
            .read(|tx| {
                tx.query_row_cached(sql::SELECT_ONE, [], |r| r.get::<_, i64>(0))
                    .map_err(classify)?;
                Ok(())
            })
            .await
    }

    async fn close(&self) -> Result<()> {
        self.conns().close().await?;
        // Wake waiters so they notice the closed store at once.
        self.wake().notify();
        self.waiters().wake_all();
        Ok(())
    }
}

impl SqliteStore {
    /// Creates or upgrades the system schema as [`LifecycleStore::migrate`] does, but stops
    /// after migration `version` (100..=125), as a DBOS SDK whose migrations end there leaves a
    /// database (DBOS Transact for TypeScript 5.3: 123). For tests of databases at earlier
    /// versions; a database at or ahead of `version` is left untouched.
    ///
    /// # Errors
    /// [`InvalidInput`](dbos_storage_core::ErrorKind::InvalidInput) for a version outside
    /// 100..=125; otherwise as [`LifecycleStore::migrate`].
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i64) -> Result<SchemaVersion> {
        let location = self.location_text();
        self.conns()
            .write(move |tx| migrate::migrate_to(tx, &location, version))
            .await
    }

    /// What the store knows about its database, for diagnostics: the SQLite library version,
    /// and as settings the location, `journal_mode`, `synchronous`, `busy_timeout` (ms),
    /// `foreign_keys` and the connections (one writer plus the readers). TLS does not apply.
    ///
    /// # Errors
    /// Only the transient kinds, and [`Closed`](dbos_storage_core::ErrorKind::Closed).
    pub async fn server_info(&self) -> Result<ServerInfo> {
        let (version, journal, synchronous, busy, foreign_keys) = self
            .conns()
            .read(|tx| {
                let read = |sql: &'static str| -> Result<String> {
                    tx.query_row_cached(sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
                        .map(|v| match v {
                            rusqlite::types::Value::Integer(i) => i.to_string(),
                            rusqlite::types::Value::Text(t) => t,
                            other => format!("{other:?}"),
                        })
                        .map_err(classify)
                };
                Ok((
                    read(sql::SELECT_SQLITE_VERSION)?,
                    read(sql::PRAGMA_JOURNAL_MODE)?,
                    read(sql::PRAGMA_SYNCHRONOUS)?,
                    read(sql::PRAGMA_BUSY_TIMEOUT)?,
                    read(sql::PRAGMA_FOREIGN_KEYS)?,
                ))
            })
            .await?;
        let config = self.config();
        let location = match &config.location {
            SqliteLocation::Memory => ":memory:".to_owned(),
            SqliteLocation::File(path) => path.display().to_string(),
        };
        let synchronous = match synchronous.as_str() {
            "0" => "OFF",
            "1" => "NORMAL",
            "2" => "FULL",
            "3" => "EXTRA",
            other => other,
        }
        .to_owned();
        let readers = if config.is_memory() {
            0
        } else {
            config.readers
        };
        Ok(ServerInfo::new(BACKEND, format!("SQLite {version}"))
            .with_setting("location", location)
            .with_setting("journal_mode", journal)
            .with_setting("synchronous", synchronous)
            .with_setting("busy_timeout_ms", busy)
            .with_setting(
                "foreign_keys",
                if foreign_keys == "1" { "on" } else { "off" },
            )
            .with_setting("connections", format!("1 writer + {readers} readers")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteConfig;

    #[tokio::test]
    async fn server_info_reports_the_library_and_the_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("info.sqlite");
        let store = SqliteStore::open(SqliteConfig::file(&path).readers(2))
            .await
            .unwrap();
        let info = store.server_info().await.unwrap();
        assert_eq!(info.backend, "sqlite");
        assert!(info.server_version.starts_with("SQLite 3."), "{info:?}");
        assert_eq!(info.tls, None);
        assert_eq!(info.setting("journal_mode"), Some("wal"));
        assert_eq!(info.setting("synchronous"), Some("FULL"), "the default");
        assert_eq!(info.setting("busy_timeout_ms"), Some("30000"));
        assert_eq!(info.setting("foreign_keys"), Some("on"));
        assert_eq!(info.setting("connections"), Some("1 writer + 2 readers"));
        assert_eq!(
            info.setting("location"),
            Some(path.display().to_string().as_str())
        );
        store.close().await.unwrap();
    }
}
