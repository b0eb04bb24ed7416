//! Connection URLs (`postgresql://user:password@host:port/database?options`), split into the
//! parts the harness replaces, and SQL quoting of names and literals.

use std::fmt;

/// A `postgres://` or `postgresql://` URL, split so that the user, the password and the database
/// can be replaced while the hosts and the options stay as they were.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PgUrl {
    /// `postgresql` or `postgres`, as given.
    scheme: String,
    /// The user, percent-decoded; `None` when the URL names none.
    user: Option<String>,
    /// The password, percent-decoded.
    password: Option<String>,
    /// `host[:port][,host[:port]…]`, verbatim.
    hosts: String,
    /// The database, percent-decoded; `None` when the URL names none.
    database: Option<String>,
    /// What follows `?`, verbatim.
    query: Option<String>,
}

impl PgUrl {
    /// Splits `url`; the error says what is wrong with it.
    pub(crate) fn parse(url: &str) -> Result<PgUrl, String> {
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(scheme, _)| *scheme == "postgresql" || *scheme == "postgres")
            .ok_or_else(|| {
                "expected a URL of the form postgresql://user:password@host:port/database"
                    .to_string()
            })?;
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query.to_string())),
            None => (rest, None),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (Some(decode(user)?), Some(decode(password)?)),
                None => (Some(decode(info)?), None),
            },
        };
        let database = if path.is_empty() {
            None
        } else {
            Some(decode(path)?)
        };
        Ok(PgUrl {
            scheme: scheme.to_string(),
            user: user.filter(|u| !u.is_empty()),
            password,
            hosts: hosts.to_string(),
            database,
            query,
        })
    }

    /// The user the URL names, if any.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The database the URL names, if any.
    pub(crate) fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The first host, without its port (and without the brackets of an IPv6 address);
    /// `localhost` when the URL names none.
    pub(crate) fn host(&self) -> String {
        let first = self.hosts.split(',').next().unwrap_or("");
        let host = match first.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
            None => first.split(':').next().unwrap_or(""),
        };
        if host.is_empty() {
            "localhost".to_string()
        } else {
            decode(host).unwrap_or_else(|_| host.to_string())
        }
    }

    /// The port of the first host: from the host list, else from a `port=` option, else 5432.
    pub(crate) fn port(&self) -> u16 {
        let first = self.hosts.split(',').next().unwrap_or("");
        let after_host = match first.strip_prefix('[') {
            Some(bracketed) => bracketed.split_once(']').map_or("", |(_, rest)| rest),
            None => first.find(':').map_or("", |i| &first[i..]),
        };
        if let Some(port) = after_host.strip_prefix(':').and_then(|p| p.parse().ok()) {
            return port;
        }
        self.query
            .iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|pair| pair.strip_prefix("port="))
            .find_map(|p| p.split(',').next()?.parse().ok())
            .unwrap_or(5432)
    }

    /// The same URL naming `database` instead.
    pub(crate) fn with_database(&self, database: &str) -> PgUrl {
        PgUrl {
            database: Some(database.to_string()),
            ..self.clone()
        }
    }

    /// The same URL naming `user`, `password` (none: no password) and `database` instead.
    pub(crate) fn with_login(&self, database: &str, user: &str, password: Option<&str>) -> PgUrl {
        PgUrl {
            user: Some(user.to_string()),
            password: password.map(str::to_string),
            database: Some(database.to_string()),
            ..self.clone()
        }
    }

    /// The same URL connecting to `host:port` only (other hosts and any `port=`/`host=`
    /// options dropped) with `sslmode=disable`: for a plain-text proxy in front of the server.
    pub(crate) fn through_plain(&self, host: &str, port: u16) -> PgUrl {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let mut options: Vec<&str> = self
            .query
            .iter()
            .flat_map(|q| q.split('&'))
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or("");
                !pair.is_empty() && !matches!(key, "host" | "hostaddr" | "port" | "sslmode")
            })
            .collect();
        options.push("sslmode=disable");
        PgUrl {
            hosts: format!("{host}:{port}"),
            query: Some(options.join("&")),
            ..self.clone()
        }
    }

    /// The URL as a string, with the password replaced by `***`: for messages.
    pub(crate) fn redacted(&self) -> String {
        self.render(true)
    }

    /// The URL as a string, the password shown or replaced by `***`.
    fn render(&self, redact: bool) -> String {
        let mut out = format!("{}://", self.scheme);
        if let Some(user) = &self.user {
            out.push_str(&encode(user));
            match &self.password {
                Some(_) if redact => out.push_str(":***"),
                Some(password) => {
                    out.push(':');
                    out.push_str(&encode(password));
                }
                None => {}
            }
            out.push('@');
        }
        out.push_str(&self.hosts);
        if let Some(database) = &self.database {
            out.push('/');
            out.push_str(&encode(database));
        }
        if let Some(query) = &self.query {
            out.push('?');
            out.push_str(query);
        }
        out
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The database a URL names, or `url_or_name` itself when it is not a URL.
pub(crate) fn database_name(url_or_name: &str) -> String {
    if url_or_name.contains("://") {
        PgUrl::parse(url_or_name)
            .ok()
            .and_then(|url| url.database)
            .unwrap_or_default()
    } else {
        url_or_name.to_string()
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` sequences.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

/// `name` as a quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a SQL string literal (with `standard_conforming_strings`, the default).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rebuilds() {
        let url =
            PgUrl::parse("postgresql://u%40x:p%3Aw@db.example:6543/app?sslmode=require").unwrap();
        assert_eq!(url.user(), Some("u@x"));
        assert_eq!(url.password.as_deref(), Some("p:w"));
        assert_eq!(url.host(), "db.example");
        assert_eq!(url.port(), 6543);
        assert_eq!(url.database(), Some("app"));
        assert_eq!(
            url.to_string(),
            "postgresql://u%40x:p%3Aw@db.example:6543/app?sslmode=require"
        );
        assert_eq!(
            url.with_database("other").to_string(),
            "postgresql://u%40x:p%3Aw@db.example:6543/other?sslmode=require"
        );
        assert_eq!(
            url.with_login("d", "role", None).to_string(),
            "postgresql://role@db.example:6543/d?sslmode=require"
        );
        assert_eq!(
            url.redacted(),
            "postgresql://u%40x:***@db.example:6543/app?sslmode=require"
        );
    }

    #[test]
    fn defaults_and_ipv6() {
        let url = PgUrl::parse("postgres://[::1]/").unwrap();
        assert_eq!(url.host(), "::1");
        assert_eq!(url.port(), 5432);
        assert_eq!(url.user(), None);
        assert_eq!(url.database(), None);
        let url = PgUrl::parse("postgres://[::1]:7000").unwrap();
        assert_eq!(url.port(), 7000);
        let url = PgUrl::parse("postgres://h/db?port=7001").unwrap();
        assert_eq!(url.port(), 7001);
        assert!(PgUrl::parse("host=localhost user=postgres").is_err());
        assert!(PgUrl::parse("mysql://h/db").is_err());
    }

    #[test]
    fn names_and_quoting() {
        assert_eq!(database_name("postgresql://h:1/some_db?x=y"), "some_db");
        assert_eq!(database_name("plain_name"), "plain_name");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
