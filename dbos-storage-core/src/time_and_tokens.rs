//! The basics every area shares: epoch-millisecond timestamps and the random tokens that
//! identify one attempt of an operation.

use std::time::Duration;

/// Milliseconds since the Unix epoch, the time unit of every DBOS timestamp column.
pub type EpochMs = i64;

/// The current wall-clock time in epoch milliseconds.
pub fn now_epoch_ms() -> EpochMs {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// The milliseconds of a duration (a timeout, a sleep), saturating at `i64::MAX`.
pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A fresh random token (a UUID v4 string) for `creator_xid`, `owner_xid` and generated ids.
///
/// Tokens identify one attempt of an operation: create them *before* any retry loop, so that a
/// retried commit recognises its own write.
pub fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}
