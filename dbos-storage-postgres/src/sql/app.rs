//! Statements of the application store: the `transaction_outputs` table (DBOS Python 2.x) and
//! the transactions that record into it.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built.

// language=SQL
/// Whether the schema, the table, its `function_name` column and its index exist (`$1` schema
/// name, unquoted). When all four do, `migrate()` changes nothing and needs no privilege.
pub(crate) const SELECT_MIGRATION_STATE: &str = "\
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1::text),
    to_regclass(format('%I.transaction_outputs', $1::text)) IS NOT NULL,
    EXISTS (
        SELECT 1 FROM pg_catalog.pg_attribute
        WHERE attrelid = to_regclass(format('%I.transaction_outputs', $1::text))
            AND attname = 'function_name' AND NOT attisdropped
    ),
    to_regclass(format('%I.transaction_outputs_created_at_index', $1::text)) IS NOT NULL";

// language=SQL
/// Serializes concurrent migrators of one database until the transaction ends (`$1` the lock
/// key, int8).
pub(crate) const ADVISORY_XACT_LOCK: &str = "SELECT pg_advisory_xact_lock($1::int8)";

// language=SQL
/// Serializes concurrent runs of the user's migrations on one database for the session, since
/// refinery commits each migration on its own (`$1` the lock key, int8).
pub(crate) const ADVISORY_LOCK: &str = "SELECT pg_advisory_lock($1::int8)";

// language=SQL
/// Releases [`ADVISORY_LOCK`] (`$1` the lock key, int8).
pub(crate) const ADVISORY_UNLOCK: &str = "SELECT pg_advisory_unlock($1::int8)";

// language=SQL
/// The schema of `transaction_outputs`; run only when it is missing, since `CREATE SCHEMA IF NOT
/// EXISTS` still needs the CREATE privilege on the database.
pub(crate) const CREATE_SCHEMA: &str = "CREATE SCHEMA IF NOT EXISTS {schema}";

// language=SQL
/// The DBOS Python 2.x table (PostgreSQL column); `created_at` is now-ms.
pub(crate) const CREATE_TRANSACTION_OUTPUTS: &str = "\
CREATE TABLE IF NOT EXISTS {schema}.transaction_outputs (
    workflow_uuid TEXT NOT NULL,
    function_id INTEGER NOT NULL,
    output TEXT,
    error TEXT,
    txn_id TEXT,
    txn_snapshot TEXT,
    executor_id TEXT,
    function_name TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL DEFAULT (EXTRACT(epoch FROM now()) * 1000::numeric)::bigint,
    PRIMARY KEY (workflow_uuid, function_id)
)";

// language=SQL
/// Adds `function_name` to a table created before it existed, as DBOS did.
pub(crate) const ADD_FUNCTION_NAME_COLUMN: &str = "\
ALTER TABLE {schema}.transaction_outputs
    ADD COLUMN IF NOT EXISTS function_name TEXT NOT NULL DEFAULT ''";

// language=SQL
/// The index GC uses to find old rows.
pub(crate) const CREATE_CREATED_AT_INDEX: &str = "\
CREATE INDEX IF NOT EXISTS transaction_outputs_created_at_index
    ON {schema}.transaction_outputs (created_at)";

// language=SQL
/// The recorded row of one step (`$1` workflow, `$2` function_id int4).
pub(crate) const SELECT_RECORDED: &str = "\
SELECT function_name, output, error
FROM {schema}.transaction_outputs
WHERE workflow_uuid = $1 AND function_id = $2";

// language=SQL
/// Records an output in the body's own transaction, but only while that transaction is still
/// the store's: [`SET_MARK`] sets the transaction-local `dbos_storage.transaction` right after
/// `BEGIN` and PostgreSQL resets it when the transaction ends, so no row inserted means the
/// transaction was ended behind the store's back (a `COMMIT` through the native client). A duplicate key means a rival recorded the step first. `$1` workflow, `$2`
/// function_id (int4), `$3` output, `$4` function name, `$5` the transaction's mark.
pub(crate) const INSERT_OUTPUT: &str = "\
INSERT INTO {schema}.transaction_outputs
    (workflow_uuid, function_id, output, error, txn_id, txn_snapshot, executor_id, function_name)
SELECT $1::text, $2::int4, $3::text, NULL, '', '', NULL, $4::text
WHERE current_setting('dbos_storage.transaction', true) = $5::text";

// language=SQL
/// Records an error outcome in a transaction of its own, keeping a row recorded first (`$1`
/// workflow, `$2` function_id int4, `$3` error, `$4` function name).
pub(crate) const INSERT_ERROR: &str = "\
INSERT INTO {schema}.transaction_outputs
    (workflow_uuid, function_id, output, error, txn_id, txn_snapshot, executor_id, function_name)
VALUES ($1, $2, NULL, $3, '', '', NULL, $4)
ON CONFLICT (workflow_uuid, function_id) DO NOTHING";

// language=SQL
/// Whether the open transaction is still the store's (`$1` the transaction's mark).
pub(crate) const IS_MARKED: &str =
    "SELECT current_setting('dbos_storage.transaction', true) IS NOT DISTINCT FROM $1::text";

// language=SQL
/// Deletes the recorded transactions of a list of workflows (`$1` text[]) at or after step `$2`
/// (int4).
pub(crate) const DELETE_OUTPUTS_FROM: &str = "\
DELETE FROM {schema}.transaction_outputs WHERE workflow_uuid = ANY($1) AND function_id >= $2
  AND ($3::bigint IS NULL OR created_at < $3::bigint)";

// language=SQL
/// Up to `$3` distinct workflows, by id, with recorded transactions created before `$1` (epoch
/// ms), after id `$2` (exclusive; NULL: from the start).
pub(crate) const SELECT_OUTPUT_WORKFLOWS: &str = "\
SELECT DISTINCT workflow_uuid FROM {schema}.transaction_outputs
WHERE created_at < $1 AND ($2::text IS NULL OR workflow_uuid > $2::text)
ORDER BY workflow_uuid
LIMIT $3";

// language=SQL
/// Starts a SERIALIZABLE transaction (DBOS's default).
pub(crate) const BEGIN_SERIALIZABLE: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";
// language=SQL
/// Starts a REPEATABLE READ transaction.
pub(crate) const BEGIN_REPEATABLE_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ";
// language=SQL
/// Starts a READ COMMITTED transaction.
pub(crate) const BEGIN_READ_COMMITTED: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
/// Appended to a `BEGIN` for a read-only transaction.
pub(crate) const READ_ONLY: &str = " READ ONLY";
// language=SQL
/// Marks the transaction as the store's; `{mark}` is a fresh UUID (sent in the same round trip
/// as `BEGIN`, so it cannot be a parameter).
pub(crate) const SET_MARK: &str = "SELECT set_config('dbos_storage.transaction', '{mark}', true)";
// language=SQL
/// Ends a transaction, keeping its writes.
pub(crate) const COMMIT: &str = "COMMIT";
// language=SQL
/// Ends a transaction, discarding its writes.
pub(crate) const ROLLBACK: &str = "ROLLBACK";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_setting_is_the_one_the_statements_read() {
        for sql in [INSERT_OUTPUT, IS_MARKED, SET_MARK] {
            assert!(sql.contains("'dbos_storage.transaction'"), "{sql}");
        }
    }
}
