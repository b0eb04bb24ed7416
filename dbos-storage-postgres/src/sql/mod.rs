//! SQL statements, as named constants grouped by area, with a `{schema}` placeholder that
//! [`render`] replaces with the quoted schema name once, when a store is built.
//!
//! A status test on rows found by id is written `(status = …) IS TRUE` (the same rows): the
//! planner cannot then serve it from a partial index on status (`idx_workflow_status_pending`,
//! `idx_workflow_status_in_flight_v2`, …). Without statistics — a new schema, or many workflows
//! written since the last ANALYZE — it rates such an index as cheap as the primary key, picks
//! it, and filters every pending or enqueued row by id. The plan tests in `store::workflows`
//! and `store::queues` check the statements on a never-analyzed schema.

pub(crate) mod app;
pub(crate) mod export;
pub(crate) mod forks;
pub(crate) mod lifecycle;
pub(crate) mod management;
pub(crate) mod messaging;
pub(crate) mod metrics;
pub(crate) mod queues;
pub(crate) mod recovery;
pub(crate) mod rename;
pub(crate) mod retention;
pub(crate) mod schedules;
pub(crate) mod steps;
pub(crate) mod versions;
pub(crate) mod workflow_steps;
pub(crate) mod workflows;

use dbos_storage_core::url::quote_identifier;

/// `template` with every `{schema}` replaced by the quoted identifier of `schema`.
pub(crate) fn render(template: &str, schema: &str) -> String {
    template.replace("{schema}", &quote_identifier(schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_quotes_the_schema() {
        assert_eq!(
            render("SELECT * FROM {schema}.t JOIN {schema}.u", "dbos"),
            "SELECT * FROM \"dbos\".t JOIN \"dbos\".u"
        );
        assert_eq!(render("{schema}.t", "a\"b"), "\"a\"\"b\".t");
    }
}
