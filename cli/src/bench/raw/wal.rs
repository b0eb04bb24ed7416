//! The write-ahead log a timed phase made PostgreSQL write (the advance of
//! `pg_current_wal_insert_lsn()`, exact at any moment, where `pg_stat_wal`'s counters lag by up
//! to a second), for the notes of the claim figures: a claim that updates rows scattered over
//! many pages writes a full image of each page it is the first to change since the last
//! checkpoint, which is the database's own cost of a big backlog, not the store's.

use dbos_storage::postgres::tokio_postgres::Client;

use super::raw_error;
use crate::connect::Native;
use crate::error::CliError;

// language=SQL
/// The server's WAL insert position, in bytes from the start of the log.
const SELECT_WAL_POSITION: &str = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint";

/// The WAL a phase wrote: the difference of two insert positions (the whole server's, so the
/// phase must be the only writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(in crate::bench) struct WalWritten {
    /// WAL bytes written.
    pub(in crate::bench) bytes: u64,
}

impl WalWritten {
    /// What one of `operations` wrote on average, in KiB, e.g. `2.1 KiB`.
    pub(in crate::bench) fn per_operation(&self, operations: usize) -> String {
        let n = operations.max(1) as f64;
        format!("{:.1} KiB", self.bytes as f64 / n / 1024.0)
    }
}

/// Reads the server's WAL position on a connection of its own; `None` on SQLite and on a server
/// without a WAL position (CockroachDB).
pub(in crate::bench) struct WalMeter {
    client: Option<Client>,
}

impl WalMeter {
    /// A meter for the scratch database's server.
    pub(in crate::bench) async fn open(native: &Native) -> Result<WalMeter, CliError> {
        let client = match native {
            Native::Postgres(store) => {
                let client = store.native_connection().await?;
                // Asked once: a server without the function answers `None` from every reading.
                client
                    .query_one(SELECT_WAL_POSITION, &[])
                    .await
                    .is_ok()
                    .then_some(client)
            }
            Native::Sqlite(_) => None,
        };
        Ok(WalMeter { client })
    }

    /// The insert position now.
    pub(in crate::bench) async fn reading(&self) -> Result<Option<WalWritten>, CliError> {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        let row = client
            .query_one(SELECT_WAL_POSITION, &[])
            .await
            .map_err(raw_error)?;
        Ok(Some(WalWritten {
            bytes: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
        }))
    }

    /// What was written between `before` (an earlier [`reading`](Self::reading)) and now.
    pub(in crate::bench) async fn since(
        &self,
        before: Option<WalWritten>,
    ) -> Result<Option<WalWritten>, CliError> {
        Ok(self
            .reading()
            .await?
            .zip(before)
            .map(|(now, then)| WalWritten {
                bytes: now.bytes.saturating_sub(then.bytes),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::WalWritten;

    #[test]
    fn per_operation_divides_by_the_operations_and_never_by_zero() {
        let w = WalWritten { bytes: 20 * 1024 };
        assert_eq!(w.per_operation(10), "2.0 KiB");
        assert_eq!(w.per_operation(0), "20.0 KiB");
    }
}
