//! The command's errors: one line on stderr, passwords redacted, exit code 1.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use dbos_storage::DatabaseUrl;

/// An error the command reports and exits on.
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
}

impl CliError {
    /// An error with this message.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<dbos_storage::Error> for CliError {
    fn from(e: dbos_storage::Error) -> Self {
        // The store's Display already redacts URLs; the message keeps its cause chain.
        CliError::new(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(e.to_string())
    }
}

/// Secrets that must never be printed: the passwords of every URL the command was given.
///
/// Every message and log line goes through [`Secrets::redact`] before it is printed, as a
/// second line of defence behind the redacting `Display` of URLs and errors. Clones share the
/// list, so the log writer made at start-up redacts the URLs registered later.
#[derive(Debug, Default, Clone)]
pub(crate) struct Secrets(Arc<Mutex<Vec<String>>>);

impl Secrets {
    /// Registers the password (and `password=` / `sslpassword=` values) of `url`, parsed or
    /// not.
    pub(crate) fn add_url(&mut self, url: &str) {
        if let Ok(parsed) = DatabaseUrl::parse(url) {
            if let Some(p) = parsed.password() {
                self.add(p);
            }
            for (k, v) in parsed.query_pairs() {
                if k == "password" || k == "sslpassword" {
                    self.add(&v);
                }
            }
        }
        // An unparsable URL may still hold `user:password@`.
        if let Some((_, rest)) = url.split_once("://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                if let Some((_, password)) = userinfo.split_once(':') {
                    self.add(password);
                }
            }
        }
    }

    fn add(&mut self, secret: &str) {
        let mut secrets = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Very short strings would blank out unrelated text; they are not worth guarding.
        if secret.len() >= 3 && !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_owned());
        }
    }

    /// `text` with every registered secret replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let secrets = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = text.to_owned();
        for secret in secrets.iter() {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_of_parsed_and_unparsable_urls_are_redacted() {
        let mut s = Secrets::default();
        s.add_url("postgresql://app:s3cret@db/orders?sslpassword=k3y");
        s.add_url("postgresql://app:hunter2@bad host:99999/x");
        let text = "cannot connect as app:s3cret with k3y, hunter2";
        assert_eq!(s.redact(text), "cannot connect as app:*** with ***, ***");
    }
}
