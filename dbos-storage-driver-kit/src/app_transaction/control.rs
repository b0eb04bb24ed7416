//! Keeping transaction bodies from ending the store's transaction.

use dbos_storage_core::{Error, Result};

/// Refuses statements that would begin or end the store's transaction: `BEGIN`, `START
/// TRANSACTION`, `COMMIT`, `END`, `ABORT`, `ROLLBACK` (but `ROLLBACK TO` a savepoint) and
/// `PREPARE TRANSACTION`. Savepoints are allowed.
///
/// Drivers call it on every statement of a transaction body before running it: the store
/// commits the body's writes together with the recorded output, so a body must not commit or
/// roll back on its own. Only the leading words count (after whitespace and `--` or `/* */`
/// comments), so `SELECT 'COMMIT'` passes.
///
/// # Errors
/// [`dbos_storage_core::ErrorKind::InvalidInput`] quoting the statement; the error names no backend, so
/// drivers add theirs (`.map_err(|e| e.with_backend(BACKEND))`).
pub fn refuse_transaction_control(sql: &str) -> Result<()> {
    let mut words = sql_words(sql).map(|w| w.to_ascii_uppercase());
    let refused = match words.next().as_deref() {
        Some("BEGIN" | "START" | "COMMIT" | "END" | "ABORT") => true,
        Some("ROLLBACK") => !words.take(2).any(|w| w == "TO"),
        Some("PREPARE") => words.next().as_deref() == Some("TRANSACTION"),
        _ => false,
    };
    if refused {
        return Err(Error::invalid_input(format!(
            "transaction bodies must not begin or end transactions (got {:?}); the store \
             commits the writes together with the output. Use SAVEPOINT for nested work",
            sql.trim()
        )));
    }
    Ok(())
}

/// The leading words of `sql`, skipping whitespace and comments.
fn sql_words(sql: &str) -> impl Iterator<Item = &str> {
    let mut rest = sql;
    std::iter::from_fn(move || loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            let (word, after) = rest.split_at(end);
            rest = after;
            return Some(word);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_control_is_refused() {
        for sql in [
            "COMMIT",
            "  commit;",
            "END TRANSACTION",
            "-- note\nROLLBACK",
            "/* x */ rollback transaction",
            "BEGIN ISOLATION LEVEL SERIALIZABLE",
            "BEGIN IMMEDIATE",
            "start transaction",
            "ABORT",
            "PREPARE TRANSACTION 'x'",
            "ROLLBACK PREPARED 'x'",
        ] {
            let e = refuse_transaction_control(sql).unwrap_err();
            assert_eq!(
                e.kind(),
                dbos_storage_core::ErrorKind::InvalidInput,
                "{sql}"
            );
            assert!(e.message().contains("SAVEPOINT"), "{e}");
        }
        for sql in [
            "ROLLBACK TO sp1",
            "rollback transaction to savepoint sp1",
            "SAVEPOINT sp1",
            "RELEASE sp1",
            "PREPARE stmt AS SELECT 1",
            "INSERT INTO t (x) VALUES (:x)",
            "SELECT 'COMMIT'",
            "",
        ] {
            assert!(refuse_transaction_control(sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn leading_words_skip_comments() {
        let words: Vec<&str> = sql_words("  -- a\n/* b */ rollback /* c */ to sp").collect();
        assert_eq!(words, vec!["rollback", "to", "sp"]);
        assert_eq!(sql_words("/* unterminated").count(), 0);
    }
}
