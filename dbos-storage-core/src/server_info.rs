//! [`ServerInfo`]: what a driver reports about the database it is connected to, for diagnostics
//! such as the `dbos-storage check` command.
//!
//! It is plain data, outside the store traits: each built-in driver returns it from an inherent
//! `server_info()` method of its store, so reading it never goes through a retry wrapper and
//! third-party drivers need not provide it.

/// What a store knows about its database server and its connection to it.
///
/// ```
/// # use dbos_storage_core::ServerInfo;
/// let info = ServerInfo::new("postgres", "PostgreSQL 16.4")
///     .with_tls(true, Some("TLSv1.3 TLS_AES_256_GCM_SHA384".into()))
///     .with_setting("sslmode", "verify-full");
/// assert_eq!(info.setting("sslmode"), Some("verify-full"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The dialect the store speaks, as [`LifecycleStore::backend`](crate::LifecycleStore::backend)
    /// names it (`"sqlite"`, `"postgres"`, `"cockroach"`).
    pub backend: &'static str,
    /// The server's product and version as it reports them, e.g. `PostgreSQL 16.4`,
    /// `CockroachDB CCL v24.1.0` or `SQLite 3.50.4`.
    pub server_version: String,
    /// Whether the connection is encrypted with TLS: `Some(true)` or `Some(false)` when known,
    /// `None` when it does not apply (an embedded database) or cannot be told.
    pub tls: Option<bool>,
    /// The TLS protocol version and cipher, when encrypted and reported by the server.
    pub tls_detail: Option<String>,
    /// The connection and pool settings in effect, as `(name, value)` pairs in display order.
    /// Never holds a secret.
    pub settings: Vec<(String, String)>,
}

impl ServerInfo {
    /// A report for `backend` at `server_version`, with no TLS information and no settings.
    pub fn new(backend: &'static str, server_version: impl Into<String>) -> Self {
        ServerInfo {
            backend,
            server_version: server_version.into(),
            tls: None,
            tls_detail: None,
            settings: Vec::new(),
        }
    }

    /// Records whether the connection is encrypted, and how.
    #[must_use]
    pub fn with_tls(mut self, encrypted: bool, detail: Option<String>) -> Self {
        self.tls = Some(encrypted);
        self.tls_detail = detail;
        self
    }

    /// Appends a setting.
    #[must_use]
    pub fn with_setting(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.settings.push((name.into(), value.to_string()));
        self
    }

    /// The value of the first setting named `name`.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}
