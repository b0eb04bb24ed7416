//! The retention statements of [`super::PostgresAppStore`]: deleting the recorded transactions
//! of workflows, and paging through the workflows that have some (garbage collection looks for
//! those whose workflow is gone). Errors stay tokio-postgres errors, so the caller can name a
//! missing table.

use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

use crate::store::ID_CHUNK;

/// Runs `statement` (`$1` ids as `text[]`, `$2` first step as int4, `$3` created-before bound
/// as int8 or NULL) over `ids` in chunks; returns the rows deleted.
pub(super) async fn delete_outputs(
    tx: &Transaction<'_>,
    statement: &str,
    ids: &[String],
    from_function_id: i32,
    created_before: Option<i64>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = tx
        .prepare_typed(statement, &[Type::TEXT_ARRAY, Type::INT4, Type::INT8])
        .await?;
    let mut deleted = 0;
    for chunk in ids.chunks(ID_CHUNK) {
        deleted += tx
            .execute(&statement, &[&chunk, &from_function_id, &created_before])
            .await?;
    }
    Ok(deleted)
}

/// Runs `statement` (`$1` created before, `$2` after id, `$3` limit) and returns the ids.
pub(super) async fn output_workflows(
    client: &Client,
    statement: &str,
    created_before: i64,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            statement,
            &[
                (&created_before, Type::INT8),
                (&after, Type::TEXT),
                (&i64::from(limit), Type::INT8),
            ],
        )
        .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}
