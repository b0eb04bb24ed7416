//! Database URLs: parsing, defaults, and redaction of secrets.
//!
//! A [`DatabaseUrl`] is parsed once, in core, and shared by every driver. It accepts the forms
//! DBOS users already have in their configuration:
//!
//! - SQLite, as in SQLAlchemy: `sqlite:///relative/path.sqlite` (relative to the current
//!   directory), `sqlite:////absolute/path.sqlite`, and `sqlite:///:memory:`;
//! - PostgreSQL: `postgresql://user:password@host:5432/database?sslmode=require` (or
//!   `postgres://`), following libpq's URI rules (an empty host as in `postgres://user@/db` is
//!   allowed, a percent-encoded host such as `%2Fvar%2Frun%2Fpostgresql` names a socket
//!   directory);
//! - CockroachDB: the same form with the `cockroachdb://` (or `cockroach://`) scheme;
//! - any other scheme, for third-party drivers.
//!
//! The scheme of a built-in backend may carry a SQLAlchemy driver suffix, as DBOS Python's URLs
//! do: `postgresql+psycopg://…`, `postgres+asyncpg://…`, `cockroachdb+psycopg2://…`,
//! `sqlite+pysqlite:///…`. The suffix selects nothing here: [`DatabaseUrl::scheme`] is the part
//! before `+`, and [`DatabaseUrl::driver`] keeps the suffix. On an unknown scheme the `+` stays
//! part of the scheme, so such a URL is refused like any unknown scheme.
//!
//! `Display` and `Debug` never show a password, and neither does any error message that quotes a
//! URL. Only [`DatabaseUrl::expose_secret`] returns the original text.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The schemes named in error messages. `cockroach` is also accepted, as an alias of
/// `cockroachdb`.
pub const KNOWN_SCHEMES: &[&str] = &["sqlite", "postgresql", "postgres", "cockroachdb"];

/// The text that replaces a password when a URL is printed.
const REDACTED: &str = "***";

/// Query parameters whose values are secrets and are redacted when a URL is printed.
const SECRET_PARAMS: &[&str] = &["password", "sslpassword"];

/// The database engine a URL's scheme selects.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display, strum::AsRefStr, strum::IntoStaticStr,
)]
#[strum(serialize_all = "lowercase")]
#[non_exhaustive]
pub enum BackendKind {
    /// SQLite (`sqlite:`).
    Sqlite,
    /// PostgreSQL (`postgres:`, `postgresql:`).
    Postgres,
    /// CockroachDB (`cockroachdb:`, `cockroach:`).
    Cockroach,
    /// Any other scheme, for a third-party driver to claim.
    Other,
}

impl BackendKind {
    /// The backend selected by a scheme (compared case-insensitively); unknown schemes give
    /// [`BackendKind::Other`].
    pub fn from_scheme(scheme: &str) -> BackendKind {
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => BackendKind::Sqlite,
            "postgres" | "postgresql" => BackendKind::Postgres,
            "cockroachdb" | "cockroach" => BackendKind::Cockroach,
            _ => BackendKind::Other,
        }
    }

    /// The backend's lowercase name: `sqlite`, `postgres`, `cockroach` or `other`.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The port used when a URL names none: 5432 for PostgreSQL, 26257 for CockroachDB, and
    /// `None` for SQLite and unknown backends.
    pub fn default_port(self) -> Option<u16> {
        match self {
            BackendKind::Postgres => Some(5432),
            BackendKind::Cockroach => Some(26257),
            BackendKind::Sqlite | BackendKind::Other => None,
        }
    }

    /// Whether the backend is a database server reached over the PostgreSQL wire protocol
    /// (PostgreSQL or CockroachDB).
    pub fn is_postgres_protocol(self) -> bool {
        matches!(self, BackendKind::Postgres | BackendKind::Cockroach)
    }
}

/// Where a SQLite URL points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SqliteLocation {
    /// A private in-memory database (`sqlite:///:memory:`).
    Memory,
    /// A database file. A relative path is relative to the current directory.
    File(PathBuf),
}

/// A parsed database URL.
///
/// Build one with [`DatabaseUrl::parse`] or [`str::parse`]. `Display` and `Debug` print the URL
/// with its password (and any `password=` or `sslpassword=` query parameter) replaced by `***`;
/// [`expose_secret`](Self::expose_secret) returns the original text for drivers.
///
/// ```
/// # use dbos_storage_core::DatabaseUrl;
/// let url = DatabaseUrl::parse("postgresql://app:s3cret@db.example.com/orders?sslmode=require")?;
/// assert_eq!(url.backend().name(), "postgres");
/// assert_eq!(url.port(), 5432);
/// assert_eq!(url.database(), Some("orders"));
/// assert_eq!(url.to_string(), "postgresql://app:***@db.example.com/orders?sslmode=require");
/// # Ok::<(), dbos_storage_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DatabaseUrl {
    /// The original text (trimmed of surrounding whitespace).
    raw: String,
    /// `raw` with secrets replaced.
    redacted: String,
    /// The scheme, lowercased, without a driver suffix.
    scheme: String,
    /// The driver suffix after `+` in the scheme of a built-in backend, lowercased.
    driver: Option<String>,
    /// The index in `raw` of the `:` that ends the scheme as written (suffix included).
    scheme_end: usize,
    backend: BackendKind,
    sqlite: Option<SqliteLocation>,
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<String>,
    database: Option<String>,
    query: Vec<(String, String)>,
    /// Byte range in `raw` of the part [`with_database`](Self::with_database) replaces: the path
    /// including its leading `/` for server URLs, the path after `sqlite:///` for SQLite.
    path_range: Option<(usize, usize)>,
}

impl DatabaseUrl {
    /// Parses a database URL.
    ///
    /// Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidConfig`] for an empty string, a string without a scheme,
    /// a SQLite URL with a host or an empty path, a PostgreSQL or CockroachDB URL without a
    /// database name, a bad port, bad percent-encoding, or other malformed text. Messages quote
    /// the URL with its password redacted. A URL with several hosts (`h1,h2`) is
    /// [`crate::error::ErrorKind::Unsupported`].
    pub fn parse(text: &str) -> Result<DatabaseUrl> {
        let raw = text.trim();
        if raw.is_empty() {
            return Err(Error::invalid_config("database URL is empty"));
        }
        let redacted = redact(raw);
        // `localhost:5432/app` is a host and port, not an unknown scheme.
        let scheme_end = scheme_end(raw).filter(|&end| {
            BackendKind::from_scheme(base_scheme(&raw[..end])) != BackendKind::Other
                || !raw[end + 1..].starts_with(|c: char| c.is_ascii_digit())
        });
        let Some(end) = scheme_end else {
            return Err(Error::invalid_config(format!(
                "database URL \"{redacted}\" has no scheme: start it with one of {} \
                 (for example sqlite:///app.sqlite or \
                 postgresql://user:password@localhost:5432/app)",
                KNOWN_SCHEMES.join(", ")
            )));
        };
        let (scheme, driver) = split_driver(&raw[..end].to_ascii_lowercase(), &redacted)?;
        let backend = BackendKind::from_scheme(&scheme);
        let mut url = DatabaseUrl {
            raw: raw.to_owned(),
            redacted,
            scheme,
            driver,
            scheme_end: end,
            backend,
            sqlite: None,
            host: None,
            port: None,
            username: None,
            password: None,
            database: None,
            query: Vec::new(),
            path_range: None,
        };
        match backend {
            BackendKind::Sqlite => url.parse_sqlite()?,
            BackendKind::Postgres | BackendKind::Cockroach => url.parse_server(true)?,
            BackendKind::Other => url.parse_other()?,
        }
        Ok(url)
    }

    /// Fills in the SQLite parts; `self.raw` starts with `sqlite:`.
    fn parse_sqlite(&mut self) -> Result<()> {
        const FORMS: &str = "use sqlite:///relative/path.sqlite, sqlite:////absolute/path.sqlite \
                             or sqlite:///:memory:";
        let after_scheme = self.scheme_end + 1;
        let rest = &self.raw[after_scheme..];
        let Some(body) = rest.strip_prefix("//") else {
            return Err(Error::invalid_config(format!(
                "SQLite URL \"{}\" must start with sqlite:// : {FORMS}",
                self.redacted
            )));
        };
        let body_start = after_scheme + 2;
        let main_len = body.find('?').unwrap_or(body.len());
        let (main, query) = (&body[..main_len], body.get(main_len + 1..));
        let Some(slash) = main.find('/') else {
            let what = if main.is_empty() {
                "has an empty path"
            } else {
                "names a host but has no path"
            };
            return Err(Error::invalid_config(format!(
                "SQLite URL \"{}\" {what}: {FORMS}",
                self.redacted
            )));
        };
        if slash > 0 {
            return Err(Error::invalid_config(format!(
                "SQLite URL \"{}\" names a host, which SQLite does not have (note the three \
                 slashes in sqlite:///file.sqlite): {FORMS}",
                self.redacted
            )));
        }
        let path = &main[1..];
        if path.is_empty() {
            return Err(Error::invalid_config(format!(
                "SQLite URL \"{}\" has an empty path: {FORMS}",
                self.redacted
            )));
        }
        self.sqlite = Some(sqlite_location(path));
        let path_start = body_start + 1;
        self.path_range = Some((path_start, path_start + path.len()));
        if let Some(q) = query {
            self.query = parse_query(q, &self.redacted)?;
        }
        Ok(())
    }

    /// Fills in the parts of a `scheme://user:password@host:port/database?query` URL. With
    /// `require_database`, a missing database name is an error (PostgreSQL and CockroachDB).
    fn parse_server(&mut self, require_database: bool) -> Result<()> {
        let r = self.redacted.clone();
        let after_scheme = self.scheme_end + 1;
        let rest = &self.raw[after_scheme..];
        let Some(body) = rest.strip_prefix("//") else {
            return Err(Error::invalid_config(format!(
                "database URL \"{r}\" must start with {}:// (for example \
                 {}://user:password@localhost:5432/app)",
                self.scheme, self.scheme
            )));
        };
        if self.raw.contains('#') {
            return Err(Error::invalid_config(format!(
                "database URL \"{r}\" contains \"#\": percent-encode it as %23 (for example in \
                 a password)"
            )));
        }
        let body_start = after_scheme + 2;
        let auth_len = body.find(['/', '?']).unwrap_or(body.len());
        let (authority, after) = body.split_at(auth_len);
        if after.contains('@') {
            return Err(Error::invalid_config(format!(
                "database URL \"{r}\" has an \"@\" after the host: percent-encode special \
                 characters in the user name, password and parameters (@ as %40, / as %2F, \
                 ? as %3F)"
            )));
        }

        let hostport = match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let (user, password) = match userinfo.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                self.username = non_empty(percent_decode(user, "user name", &r)?);
                if let Some(p) = password {
                    self.password = non_empty(percent_decode(p, "password", &r)?);
                }
                &authority[at + 1..]
            }
            None => authority,
        };
        (self.host, self.port) = parse_hostport(hostport, &r)?;

        let path_end = after.find('?').unwrap_or(after.len());
        let (path, query) = (&after[..path_end], after.get(path_end + 1..));
        let path_start = body_start + auth_len;
        self.path_range = Some((path_start, path_start + path.len()));
        let name = path.strip_prefix('/').unwrap_or(path);
        self.database = non_empty(percent_decode(name, "database name", &r)?);
        if let Some(q) = query {
            self.query = parse_query(q, &r)?;
        }
        if require_database && self.database.is_none() {
            return Err(Error::invalid_config(format!(
                "Database name must be specified in the connection URL (got \"{r}\"; add \
                 /<database> after the host, e.g. {}://localhost:{}/app)",
                self.scheme,
                self.port()
            )));
        }
        Ok(())
    }

    /// Parses a URL of a scheme this crate does not know: `scheme://…` is read like a server
    /// URL (without requiring a database); any other form is kept as opaque text.
    fn parse_other(&mut self) -> Result<()> {
        let after_scheme = self.scheme_end + 1;
        if self.raw[after_scheme..].starts_with("//") {
            return self.parse_server(false);
        }
        if let Some((_, q)) = self.raw.split_once('?') {
            self.query = parse_query(q, &self.redacted)?;
        }
        Ok(())
    }

    /// The backend the scheme selects.
    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// The scheme, lowercased, as written (`postgresql` and `postgres` stay distinct), without
    /// a driver suffix: `postgresql` for `postgresql+psycopg://…`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The SQLAlchemy driver suffix of a built-in backend's scheme, lowercased: `psycopg` for
    /// `postgresql+psycopg://…`, `None` without one. Drivers ignore it.
    pub fn driver(&self) -> Option<&str> {
        self.driver.as_deref()
    }

    /// Where a SQLite URL points; `None` for other backends.
    pub fn sqlite_location(&self) -> Option<SqliteLocation> {
        self.sqlite.clone()
    }

    /// The host, percent-decoded and without IPv6 brackets. Defaults to `localhost` when the URL
    /// names none (SQLite URLs never do).
    pub fn host(&self) -> &str {
        self.host.as_deref().unwrap_or("localhost")
    }

    /// The host as written in the URL (percent-decoded), or `None` when it names none (libpq then
    /// uses a `host` query parameter or the default socket).
    pub fn explicit_host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The port. Defaults to 5432 for PostgreSQL and 26257 for CockroachDB; 0 when the URL names
    /// none and the backend has no default (SQLite, unknown schemes).
    pub fn port(&self) -> u16 {
        self.port
            .or_else(|| self.backend.default_port())
            .unwrap_or(0)
    }

    /// The port as written in the URL, if any.
    pub fn explicit_port(&self) -> Option<u16> {
        self.port
    }

    /// The user name, percent-decoded, if the URL names one.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password, percent-decoded, if the URL has a non-empty one. Handle with care: it is a
    /// secret.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The database name, percent-decoded. Always `Some` for PostgreSQL and CockroachDB; `None`
    /// for SQLite (see [`sqlite_location`](Self::sqlite_location)).
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// Every query parameter, in order, percent-decoded (`+` is kept as is, as libpq does), e.g.
    /// `("sslmode", "verify-full")`, `("options", "--cluster=x")` or `("mode", "ro")`.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query.clone()
    }

    /// The value of the first query parameter named `key` (compared exactly).
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The same URL with another database: the same server, credentials and query parameters
    /// with database `name`. For SQLite, `name` replaces the file path (`:memory:` selects an
    /// in-memory database). A URL of an unknown scheme without `//` is returned unchanged.
    #[must_use]
    pub fn with_database(&self, name: &str) -> DatabaseUrl {
        let Some((start, end)) = self.path_range else {
            return self.clone();
        };
        let mut out = self.clone();
        let replacement = if self.backend == BackendKind::Sqlite {
            out.sqlite = Some(sqlite_location(name));
            name.to_owned()
        } else {
            out.database = non_empty(name.to_owned());
            format!("/{}", percent_encode(name))
        };
        out.raw = format!("{}{replacement}{}", &self.raw[..start], &self.raw[end..]);
        out.path_range = Some((start, start + replacement.len()));
        out.redacted = redact(&out.raw);
        out
    }

    /// The full original text, password included.
    ///
    /// For drivers only, to hand the URL to a database client library. Never log or display the
    /// result; use `Display` (which redacts) instead.
    pub fn expose_secret(&self) -> &str {
        &self.raw
    }

    /// The URL with its secrets replaced by `***`, as `Display` prints it.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl FromStr for DatabaseUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        DatabaseUrl::parse(s)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.redacted).finish()
    }
}

/// Checks a PostgreSQL schema name for the system tables: 1–63 bytes, an ASCII letter or `_`
/// first, then ASCII letters, digits, `_` or `$`.
///
/// # Errors
/// [`crate::error::ErrorKind::InvalidConfig`] naming the rule.
pub fn validate_schema_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$');
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(())
    } else {
        Err(Error::invalid_config(format!(
            "invalid schema name {name:?}: use 1-63 characters of letters, digits, _ and $, \
             starting with a letter or _"
        )))
    }
}

/// Quotes an SQL identifier: wraps it in double quotes and doubles any embedded double quote.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The index of the `:` ending a valid scheme (an ASCII letter, then letters, digits, `+`, `-`
/// or `.`), if `raw` starts with one. A one-letter scheme is taken for a Windows drive letter
/// and not accepted.
fn scheme_end(raw: &str) -> Option<usize> {
    let end = raw.find(':')?;
    let scheme = &raw[..end];
    let mut bytes = scheme.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (first_ok && rest_ok && scheme.len() > 1).then_some(end)
}

/// The part of a scheme before a `+driver` suffix, if that part names a built-in backend;
/// otherwise the whole scheme.
fn base_scheme(scheme: &str) -> &str {
    match scheme.split_once('+') {
        Some((base, _)) if BackendKind::from_scheme(base) != BackendKind::Other => base,
        _ => scheme,
    }
}

/// Splits a lowercased scheme into the scheme and its SQLAlchemy driver suffix
/// (`postgresql+psycopg` into `postgresql` and `psycopg`). Only a built-in backend's scheme is
/// split; the suffix must be letters and digits.
fn split_driver(scheme: &str, redacted: &str) -> Result<(String, Option<String>)> {
    let base = base_scheme(scheme);
    if base.len() == scheme.len() {
        return Ok((scheme.to_owned(), None));
    }
    let driver = &scheme[base.len() + 1..];
    if driver.is_empty() || !driver.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid_config(format!(
            "database URL \"{redacted}\" has an invalid driver suffix after {base}+: name the \
             driver in letters and digits (for example {base}+psycopg://…), or leave it out \
             ({base}://…)"
        )));
    }
    Ok((base.to_owned(), Some(driver.to_owned())))
}

/// Parses `host`, `host:port`, `[ipv6]:port` or the empty string into the decoded host and the
/// port, each `None` when absent. `r` is the redacted URL, for messages.
fn parse_hostport(hostport: &str, r: &str) -> Result<(Option<String>, Option<u16>)> {
    if hostport.contains(',') {
        return Err(Error::unsupported(format!(
            "database URL \"{r}\" names several hosts; name exactly one host"
        )));
    }
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(Error::invalid_config(format!(
                "database URL \"{r}\" has an IPv6 host without its closing \"]\""
            )));
        };
        let host = &inner[..close];
        let tail = &inner[close + 1..];
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => {
                return Err(Error::invalid_config(format!(
                    "database URL \"{r}\" has unexpected text after the IPv6 host; use \
                         [address]:port"
                )));
            }
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(Error::invalid_config(format!(
                "database URL \"{r}\" has an invalid IPv6 host"
            )));
        }
        (host.to_owned(), port)
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        };
        if host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "[]<>\\\"".contains(c))
        {
            return Err(Error::invalid_config(format!(
                "database URL \"{r}\" has an invalid character in its host name"
            )));
        }
        (percent_decode(host, "host", r)?, port)
    };
    let port = match port.filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => {
            let n = if p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse::<u16>().ok().filter(|&n| n != 0)
            } else {
                None
            };
            if n.is_none() {
                return Err(Error::invalid_config(format!(
                    "database URL \"{r}\" has an invalid port: use a number from 1 to 65535"
                )));
            }
            n
        }
    };
    Ok((non_empty(host), port))
}

fn sqlite_location(path: &str) -> SqliteLocation {
    if path == ":memory:" {
        SqliteLocation::Memory
    } else {
        SqliteLocation::File(PathBuf::from(path))
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Redacts a URL for printing. Deliberately conservative, so that it is also safe on text that
/// failed to parse: everything between the first `:` of the user-info and the *last* `@` of the
/// URL is hidden, a non-numeric "port" of a URL without `@` is hidden (it may be a password whose
/// `@host` was forgotten), and so are the values of `password` and `sslpassword` parameters.
fn redact(raw: &str) -> String {
    let start = match scheme_end(raw) {
        Some(end) if raw[end + 1..].starts_with("//") => end + 3,
        _ => 0,
    };
    let (prefix, body) = raw.split_at(start);
    let mut out = String::with_capacity(raw.len());
    out.push_str(prefix);
    let rest = if let Some(at) = body.rfind('@') {
        let userinfo = &body[..at];
        match userinfo.find(':') {
            Some(colon) => {
                out.push_str(&userinfo[..=colon]);
                out.push_str(REDACTED);
            }
            None => out.push_str(userinfo),
        }
        &body[at..]
    } else if start > 0 {
        let auth_len = body.find(['/', '?', '#']).unwrap_or(body.len());
        let authority = &body[..auth_len];
        let search_from = if authority.starts_with('[') {
            authority.find(']').unwrap_or(0)
        } else {
            0
        };
        match authority[search_from..].find(':').map(|i| i + search_from) {
            Some(colon) if !authority[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                out.push_str(&authority[..=colon]);
                out.push_str(REDACTED);
            }
            _ => out.push_str(authority),
        }
        &body[auth_len..]
    } else {
        body
    };
    match rest.split_once('?') {
        Some((before, query)) => {
            out.push_str(before);
            out.push('?');
            out.push_str(&redact_query(query));
        }
        None => out.push_str(rest),
    }
    out
}

/// Replaces the values of secret parameters in a query string, keeping everything else as
/// written.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_param(key) => format!("{key}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_param(key: &str) -> bool {
    let decoded = percent_decode_lossy(key).to_ascii_lowercase();
    SECRET_PARAMS.contains(&decoded.as_str())
}

/// Splits and decodes a query string. Empty segments (`a=1&&b=2`) are skipped; a key without
/// `=` has an empty value.
fn parse_query(query: &str, redacted: &str) -> Result<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((
                percent_decode(k, "query parameters", redacted)?,
                percent_decode(v, "query parameters", redacted)?,
            ))
        })
        .collect()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes into bytes; `None` on a malformed escape.
fn percent_decode_bytes(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value)?;
            let lo = bytes.get(i + 2).copied().and_then(hex_value)?;
            out.push(hi * 16 + lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-decodes one component. The error names the component but never quotes it (it may be
/// a password).
fn percent_decode(s: &str, what: &str, redacted: &str) -> Result<String> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = percent_decode_bytes(s).ok_or_else(|| {
        Error::invalid_config(format!(
            "database URL \"{redacted}\" has invalid percent-encoding in its {what}: a % must be \
             followed by two hex digits (write a literal % as %25)"
        ))
    })?;
    String::from_utf8(bytes).map_err(|_| {
        Error::invalid_config(format!(
            "database URL \"{redacted}\" has a {what} that is not valid UTF-8 once \
             percent-decoded"
        ))
    })
}

fn percent_decode_lossy(s: &str) -> String {
    match percent_decode_bytes(s) {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => s.to_owned(),
    }
}

/// Percent-encodes everything but unreserved characters (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::path::Path;

    fn parse(s: &str) -> DatabaseUrl {
        match DatabaseUrl::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn parse_err(s: &str) -> Error {
        match DatabaseUrl::parse(s) {
            Ok(u) => panic!("{s} parsed as {u:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn backend_from_scheme() {
        let cases = [
            ("sqlite:///a.sqlite", BackendKind::Sqlite),
            ("postgres://h/db", BackendKind::Postgres),
            ("postgresql://h/db", BackendKind::Postgres),
            ("PostgreSQL://h/db", BackendKind::Postgres),
            ("cockroachdb://h/db", BackendKind::Cockroach),
            ("cockroach://h/db", BackendKind::Cockroach),
            ("mysql://h/db", BackendKind::Other),
            ("x-mem:whatever", BackendKind::Other),
        ];
        for (s, kind) in cases {
            assert_eq!(parse(s).backend(), kind, "{s}");
        }
        assert_eq!(parse("PostgreSQL://h/db").scheme(), "postgresql");
        assert_eq!(parse("postgres://h/db").scheme(), "postgres");
        assert_eq!(BackendKind::Cockroach.to_string(), "cockroach");
        assert_eq!(BackendKind::Postgres.name(), "postgres");
    }

    #[test]
    fn no_scheme_lists_known_schemes() {
        for s in [
            "localhost/db",
            "localhost:5432/db",
            "just-garbage",
            "C:\\data\\app.sqlite",
            "/tmp/app.sqlite",
        ] {
            let e = parse_err(s);
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(
                e.message()
                    .contains("sqlite, postgresql, postgres, cockroachdb"),
                "{e}"
            );
            assert!(!e.message().contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn empty_url() {
        for s in ["", "   "] {
            let e = parse_err(s);
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert_eq!(e.message(), "database URL is empty");
        }
    }

    #[test]
    fn sqlite_forms() {
        let u = parse("sqlite:///relative/path.sqlite");
        assert_eq!(
            u.sqlite_location(),
            Some(SqliteLocation::File(PathBuf::from("relative/path.sqlite")))
        );
        let u = parse("sqlite:////abs/path.sqlite");
        assert_eq!(
            u.sqlite_location(),
            Some(SqliteLocation::File(PathBuf::from("/abs/path.sqlite")))
        );
        assert!(matches!(u.sqlite_location(), Some(SqliteLocation::File(p)) if p.is_absolute()));
        let u = parse("sqlite:///:memory:");
        assert_eq!(u.sqlite_location(), Some(SqliteLocation::Memory));
        assert_eq!(u.database(), None);
        let u = parse("sqlite:///app.sqlite?mode=ro&cache=shared");
        assert_eq!(
            u.query_pairs(),
            vec![
                ("mode".to_owned(), "ro".to_owned()),
                ("cache".to_owned(), "shared".to_owned())
            ]
        );
        assert_eq!(u.query_param("mode"), Some("ro"));
        assert_eq!(
            u.sqlite_location(),
            Some(SqliteLocation::File(PathBuf::from("app.sqlite")))
        );
        assert_eq!(parse("sqlite:///a.sqlite").port(), 0);
        assert_eq!(parse("postgres://h/db").sqlite_location(), None);
    }

    #[test]
    fn sqlite_rejections() {
        let e = parse_err("sqlite://host/x");
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("names a host"), "{e}");
        assert!(e.message().contains("sqlite:///:memory:"), "{e}");
        let e = parse_err("sqlite://app.sqlite");
        assert!(e.message().contains("names a host"), "{e}");
        for s in ["sqlite:///", "sqlite://", "sqlite:///?mode=ro"] {
            let e = parse_err(s);
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(e.message().contains("empty path"), "{s}: {e}");
        }
        let e = parse_err("sqlite:1.db");
        assert!(e.message().contains("must start with sqlite://"), "{e}");
        let e = parse_err("sqlite:app.db");
        assert!(e.message().contains("must start with sqlite://"), "{e}");
    }

    #[test]
    fn postgres_defaults_and_parts() {
        let u = parse("postgresql://alice:p%40ss%2Fw0rd@db.example.com:6432/my%20db?sslmode=verify-full&sslrootcert=/c/root.crt&options=--cluster%3Dx&application_name=a+b");
        assert_eq!(u.host(), "db.example.com");
        assert_eq!(u.port(), 6432);
        assert_eq!(u.explicit_port(), Some(6432));
        assert_eq!(u.username(), Some("alice"));
        assert_eq!(u.password(), Some("p@ss/w0rd"));
        assert_eq!(u.database(), Some("my db"));
        assert_eq!(
            u.query_pairs(),
            vec![
                ("sslmode".to_owned(), "verify-full".to_owned()),
                ("sslrootcert".to_owned(), "/c/root.crt".to_owned()),
                ("options".to_owned(), "--cluster=x".to_owned()),
                ("application_name".to_owned(), "a+b".to_owned()),
            ]
        );

        let u = parse("postgres:///app");
        assert_eq!(u.host(), "localhost");
        assert_eq!(u.explicit_host(), None);
        assert_eq!(u.port(), 5432);
        assert_eq!(u.explicit_port(), None);
        assert_eq!(u.username(), None);
        assert_eq!(u.password(), None);

        let u = parse("cockroachdb://root@localhost/defaultdb?sslmode=disable");
        assert_eq!(u.port(), 26257);
        assert_eq!(u.username(), Some("root"));
        assert_eq!(u.password(), None);

        let u = parse("postgres://user@/db?host=/var/run/postgresql");
        assert_eq!(u.host(), "localhost");
        assert_eq!(u.query_param("host"), Some("/var/run/postgresql"));

        let u = parse("postgres://%2Fvar%2Frun%2Fpostgresql/db");
        assert_eq!(u.host(), "/var/run/postgresql");

        let u = parse("postgres://[::1]:5433/db");
        assert_eq!(u.host(), "::1");
        assert_eq!(u.port(), 5433);
        assert_eq!(parse("postgres://[::1]/db").port(), 5432);
        assert_eq!(parse("postgres://h:/db").port(), 5432);
    }

    #[test]
    fn database_name_required() {
        for s in [
            "postgres://localhost",
            "postgres://localhost/",
            "postgresql://u:hunter2@localhost:5432?sslmode=require",
            "cockroachdb://root@localhost:26257",
        ] {
            let e = parse_err(s);
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(
                e.message()
                    .starts_with("Database name must be specified in the connection URL"),
                "{e}"
            );
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        // Unknown schemes do not require one.
        assert_eq!(parse("mysql://h").database(), None);
    }

    #[test]
    fn malformed_urls() {
        let cases = [
            ("postgres://h:abc/db", "invalid port"),
            ("postgres://h:99999/db", "invalid port"),
            ("postgres://h:0/db", "invalid port"),
            ("postgres://h/d%zzb", "percent-encoding"),
            ("postgres://h/%ff", "UTF-8"),
            ("postgres://a b/db", "host name"),
            ("postgres://[::1/db", "IPv6"),
            ("postgres:h/db", "must start with postgres://"),
            ("postgres://u:pa/ss@h/db", "after the host"),
            ("postgres://u:pa#ss@h/db", "%23"),
        ];
        for (s, needle) in cases {
            let e = parse_err(s);
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{s}");
            assert!(e.message().contains(needle), "{s}: {e}");
        }
        let e = parse_err("postgres://h1:5432,h2:5433/db");
        assert_eq!(e.kind(), ErrorKind::Unsupported);
    }

    #[test]
    fn sqlalchemy_driver_suffixes() {
        let cases = [
            (
                "postgresql+psycopg://h/db",
                BackendKind::Postgres,
                "postgresql",
                "psycopg",
            ),
            (
                "postgresql+psycopg2://h/db",
                BackendKind::Postgres,
                "postgresql",
                "psycopg2",
            ),
            (
                "postgresql+asyncpg://h/db",
                BackendKind::Postgres,
                "postgresql",
                "asyncpg",
            ),
            (
                "Postgres+PG8000://h/db",
                BackendKind::Postgres,
                "postgres",
                "pg8000",
            ),
            (
                "cockroachdb+psycopg2://h/db",
                BackendKind::Cockroach,
                "cockroachdb",
                "psycopg2",
            ),
            (
                "cockroachdb+asyncpg://h/db",
                BackendKind::Cockroach,
                "cockroachdb",
                "asyncpg",
            ),
            (
                "cockroach+psycopg://h/db",
                BackendKind::Cockroach,
                "cockroach",
                "psycopg",
            ),
            (
                "sqlite+pysqlite:///a.sqlite",
                BackendKind::Sqlite,
                "sqlite",
                "pysqlite",
            ),
            (
                "sqlite+aiosqlite:////abs/a.sqlite",
                BackendKind::Sqlite,
                "sqlite",
                "aiosqlite",
            ),
        ];
        for (s, kind, scheme, driver) in cases {
            let u = parse(s);
            assert_eq!(u.backend(), kind, "{s}");
            assert_eq!(u.scheme(), scheme, "{s}");
            assert_eq!(u.driver(), Some(driver), "{s}");
        }
        assert_eq!(parse("postgresql://h/db").driver(), None);

        let u = parse("postgresql+psycopg://u@db:5433/orders?sslmode=require");
        assert_eq!((u.host(), u.port()), ("db", 5433));
        assert_eq!(u.database(), Some("orders"));
        assert_eq!(u.query_param("sslmode"), Some("require"));
        let sys = u.with_database("orders_dbos");
        assert_eq!(
            sys.expose_secret(),
            "postgresql+psycopg://u@db:5433/orders_dbos?sslmode=require"
        );
        assert_eq!(sys.database(), Some("orders_dbos"));
        let u = parse("sqlite+pysqlite:///dir/app.sqlite");
        assert_eq!(
            u.sqlite_location(),
            Some(SqliteLocation::File(Path::new("dir/app.sqlite").to_owned()))
        );
        assert_eq!(
            u.with_database("x.sqlite").expose_secret(),
            "sqlite+pysqlite:///x.sqlite"
        );

        // The rules of the backend still apply after the suffix.
        let e = parse_err("postgresql+psycopg://h");
        assert!(
            e.message().contains("Database name must be specified"),
            "{e}"
        );
        let e = parse_err("sqlite+pysqlite://host/a.sqlite");
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);

        // An empty or odd suffix is refused, naming the scheme.
        for s in [
            "postgresql+://h/db",
            "postgresql+psy.copg://h/db",
            "sqlite+a+b:///x",
        ] {
            let e = parse_err(s);
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{s}");
            assert!(e.message().contains("invalid driver suffix"), "{s}: {e}");
        }

        // On an unknown scheme the suffix stays part of the scheme.
        let u = parse("mysql+pymysql://h/db");
        assert_eq!(u.backend(), BackendKind::Other);
        assert_eq!(u.scheme(), "mysql+pymysql");
        assert_eq!(u.driver(), None);
    }

    #[test]
    fn driver_suffixes_never_print_passwords() {
        for s in [
            "postgresql+psycopg://alice:hunter2@db/app?password=hunter2",
            "cockroachdb+psycopg2://alice:hunter2@db:26257/app",
            "postgres+asyncpg://alice:hunter2@db/app",
        ] {
            let u = parse(s);
            for shown in [u.to_string(), format!("{u:?}"), u.redacted().to_owned()] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(shown.contains("alice:***@db"), "{shown}");
            }
            assert!(u.expose_secret().contains("hunter2"));
        }
        for s in [
            "postgresql+psycopg://alice:hunter2@db",
            "postgresql+psycopg://alice:hunter2@db:bad/app",
            "postgresql+://alice:hunter2@db/app",
            "cockroachdb+psycopg2://alice:hunter2@h1,h2/app",
        ] {
            let e = parse_err(s);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{s}: {shown}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let u = parse("postgresql://alice:hunter2@db:5432/app?sslmode=require&password=hunter3");
        for shown in [u.to_string(), format!("{u:?}"), u.redacted().to_owned()] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("hunter3"), "{shown}");
            assert!(shown.contains("alice:***@db:5432/app"), "{shown}");
            assert!(shown.contains("password=***"), "{shown}");
        }
        assert_eq!(
            u.to_string(),
            "postgresql://alice:***@db:5432/app?sslmode=require&password=***"
        );
        assert_eq!(
            u.expose_secret(),
            "postgresql://alice:hunter2@db:5432/app?sslmode=require&password=hunter3"
        );
        assert_eq!(u.password(), Some("hunter2"));

        // A URL read as an unknown scheme still hides what may be a password.
        let u = parse("user:hunter2@localhost:5432/db");
        assert_eq!(u.backend(), BackendKind::Other);
        assert_eq!(u.to_string(), "user:***@localhost:5432/db");

        // No password: nothing to hide.
        let u = parse("cockroachdb://root@localhost:26257/defaultdb");
        assert_eq!(
            u.to_string(),
            "cockroachdb://root@localhost:26257/defaultdb"
        );
    }

    #[test]
    fn errors_never_quote_passwords() {
        let bad = [
            "postgres://u:hunter2@h:bad/db",
            "postgres://u:hunter2@h",
            "postgres://u:hunter2/x@h/db",
            "postgres://u:hunter2?x@h/db",
            "postgres://u:5?hunter2@host/db",
            "postgres://u:hunter2#x@h/db",
            "postgres://u:hunter2@h/%zz",
            "postgres://u:hunter2",
            "postgres://h/db?password=hunter2&x=%zz",
            "u:hunter2@localhost/db",
            "sqlite://u:hunter2@host/x",
            "postgres://u:hunter2@h1,h2/db",
        ];
        for s in bad {
            let e = parse_err(s);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{s}: {shown}");
        }
    }

    #[test]
    fn with_database_keeps_server_and_query() {
        let u = parse("postgresql://alice:hunter2@db:5432/app?sslmode=require");
        let s = u.with_database("app_dbos");
        assert_eq!(
            s.expose_secret(),
            "postgresql://alice:hunter2@db:5432/app_dbos?sslmode=require"
        );
        assert_eq!(s.database(), Some("app_dbos"));
        assert_eq!(s.password(), Some("hunter2"));
        assert_eq!(
            s.to_string(),
            "postgresql://alice:***@db:5432/app_dbos?sslmode=require"
        );
        assert_eq!(s, parse(s.expose_secret()));

        let s = u.with_database("my db/x");
        assert_eq!(s.database(), Some("my db/x"));
        assert_eq!(s, parse(s.expose_secret()));

        let u = parse("mysql://h?x=1");
        let s = u.with_database("d");
        assert_eq!(s.expose_secret(), "mysql://h/d?x=1");

        let u = parse("sqlite:///a.sqlite?mode=ro");
        let s = u.with_database("/abs/b.sqlite");
        assert_eq!(s.expose_secret(), "sqlite:////abs/b.sqlite?mode=ro");
        assert_eq!(
            s.sqlite_location(),
            Some(SqliteLocation::File(
                Path::new("/abs/b.sqlite").to_path_buf()
            ))
        );
        assert_eq!(s, parse(s.expose_secret()));
        let s = u.with_database(":memory:");
        assert_eq!(s.sqlite_location(), Some(SqliteLocation::Memory));
    }

    #[test]
    fn from_str_and_whitespace() {
        let u: DatabaseUrl = " postgres://h/db\n"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.expose_secret(), "postgres://h/db");
    }

    #[test]
    fn schema_names() {
        for ok in ["dbos", "_x", "a$1", "A_b", &"a".repeat(63)] {
            assert!(validate_schema_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "$x",
            "a-b",
            "dbos; DROP TABLE x",
            "é",
            &"a".repeat(64),
        ] {
            let e = match validate_schema_name(bad) {
                Err(e) => e,
                Ok(()) => panic!("{bad} accepted"),
            };
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        }
        let e = validate_schema_name("dbos; DROP TABLE x").err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some(
                "invalid schema name \"dbos; DROP TABLE x\": use 1-63 characters of letters, \
                 digits, _ and $, starting with a letter or _"
            )
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_identifier("dbos"), "\"dbos\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
