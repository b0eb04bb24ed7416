//! The user's own application-schema migrations, applied with refinery from a folder of
//! `V{version}__{name}.sql` files.
//!
//! refinery takes no lock and never creates a schema, so the store does both: the run holds a
//! session advisory lock on a connection of its own (a replica that crashes mid-run drops the
//! connection and with it the lock), and the schema of the history table is created first.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use dbos_storage_core::app::migrations;
use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{Error, ErrorKind, Result};
use futures::FutureExt;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::error::{classify, kind_of_code, with_backend};
use crate::sql::{app as q, render};

/// The history table refinery keeps, in the store's schema (`"dbos".refinery_schema_history`).
pub(super) fn history_table(schema: &str) -> String {
    format!("{}.refinery_schema_history", quote_identifier(schema))
}

/// The advisory-lock key that serializes the user's migrations on one database and schema.
pub(super) fn lock_key(schema: &str) -> i64 {
    advisory_key(&format!("dbos-storage:application-migrations:{schema}"))
}

/// The advisory-lock key that serializes `migrate()` of `transaction_outputs` in one schema.
pub(super) fn migrate_lock_key(schema: &str) -> i64 {
    advisory_key(&format!("dbos-storage:transaction-outputs:{schema}"))
}

/// A stable 64-bit key for `name` (FNV-1a), the same in every process and build.
fn advisory_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// Loads the migrations of `folder` after checking its file names.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] for an unreadable folder, a badly named `.sql` file, or a file
/// refinery cannot load.
pub(super) fn load(folder: &Path) -> Result<Vec<refinery::Migration>> {
    migrations::check_folder(folder).map_err(with_backend)?;
    refinery::load_sql_migrations(folder)
        .map_err(|e| with_backend(migrations::unloadable(folder, &e)).with_source(e))
}

/// Applies the `loaded` migrations on `client` (a connection of its own) in `schema`'s history
/// table and returns the names applied now.
///
/// # Errors
/// The failing migration's classified database error, naming it;
/// [`ErrorKind::SchemaMismatch`] when the folder no longer matches the applied migrations.
pub(super) async fn apply(
    client: &mut Client,
    schema: &str,
    advisory_locks: bool,
    folder: &Path,
    loaded: &[refinery::Migration],
) -> Result<Vec<String>> {
    if !advisory_locks {
        // The dialect's server has no working advisory locks: nothing to take.
        return apply_locked(client, schema, folder, loaded).await;
    }
    let key = lock_key(schema);
    client
        .query_typed(q::ADVISORY_LOCK, &[(&key, Type::INT8)])
        .await
        .map_err(classify)?;
    let result = apply_locked(client, schema, folder, loaded).await;
    // Dropping the connection would release the lock too; releasing it now is tidier.
    if let Err(e) = client
        .query_typed(q::ADVISORY_UNLOCK, &[(&key, Type::INT8)])
        .await
    {
        tracing::debug!(error = %e, "releasing the migration lock failed; closing the connection releases it");
    }
    result
}

async fn apply_locked(
    client: &mut Client,
    schema: &str,
    folder: &Path,
    loaded: &[refinery::Migration],
) -> Result<Vec<String>> {
    let schema_exists: bool = client
        .query_typed(q::SELECT_MIGRATION_STATE, &[(&schema, Type::TEXT)])
        .await
        .map_err(classify)?
        .first()
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(classify)?
        .unwrap_or(false);
    if !schema_exists {
        client
            .batch_execute(&render(q::CREATE_SCHEMA, schema))
            .await
            .map_err(classify)?;
    }

    let mut runner = refinery::Runner::new(loaded);
    runner.set_migration_table_name(history_table(schema));
    // refinery unwraps in places (a history row it cannot parse); turn a panic into an error.
    let ran = AssertUnwindSafe(runner.run_async(client))
        .catch_unwind()
        .await;
    match ran {
        Ok(Ok(report)) => {
            let applied = report.applied_migrations().iter().map(ToString::to_string);
            Ok(migrations::applied(folder, applied.collect()))
        }
        Ok(Err(e)) => Err(migration_error(client, &runner, loaded, folder, e).await),
        Err(panic) => Err(with_backend(migrations::panicked(folder, panic.as_ref()))),
    }
}

/// A store error for a failed refinery run, naming the migration that failed when it can.
async fn migration_error(
    client: &mut Client,
    runner: &refinery::Runner,
    loaded: &[refinery::Migration],
    folder: &Path,
    error: refinery::Error,
) -> Error {
    use refinery::error::Kind;
    match error.kind() {
        Kind::Connection(_, cause) => {
            // refinery applies migrations in version order, each committed with its history
            // row, so the failing one is the first without a history row.
            let failing = if error.report().is_some() {
                runner
                    .get_applied_migrations_async(client)
                    .await
                    .ok()
                    .and_then(|applied| {
                        loaded
                            .iter()
                            .find(|m| !applied.iter().any(|a| a.version() == m.version()))
                            .map(ToString::to_string)
                    })
            } else {
                None
            };
            let pg = cause.downcast_ref::<tokio_postgres::Error>();
            let db = pg.and_then(tokio_postgres::Error::as_db_error);
            let kind = match (pg, db) {
                (_, Some(db)) => kind_of_code(db.code()),
                (Some(_), None) => ErrorKind::ConnectionLost,
                (None, None) => ErrorKind::Backend,
            };
            let cause_text = match db {
                Some(db) => db.message().to_owned(),
                None => cause.to_string(),
            };
            let built = migrations::failed(kind, folder, failing.as_deref(), cause_text);
            let built = with_backend(built);
            let built = match db {
                Some(db) => built.with_code(db.code().code()),
                None => built,
            };
            built.with_source(error)
        }
        Kind::DivergentVersion(..) | Kind::MissingVersion(..) => {
            with_backend(migrations::diverged(folder, &error)).with_source(error)
        }
        _ => with_backend(migrations::refused(folder, &error)).with_source(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        // FNV-1a of the empty string is the offset basis.
        assert_eq!(advisory_key(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_eq!(lock_key("dbos"), lock_key("dbos"));
        assert_ne!(lock_key("dbos"), lock_key("other"));
        assert_ne!(lock_key("dbos"), migrate_lock_key("dbos"));
    }

    #[test]
    fn the_history_table_lives_in_the_schema() {
        assert_eq!(history_table("dbos"), "\"dbos\".refinery_schema_history");
    }
}
