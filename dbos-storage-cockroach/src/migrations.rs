//! The DBOS migrations as CockroachDB runs them: the same versions as on PostgreSQL, rendered as
//! DBOS renders them for CockroachDB — `CONCURRENTLY` removed (index builds are online there),
//! no notification triggers (LISTEN/NOTIFY is always off), functions without `SET search_path`
//! pinning (20 is empty), no `DO` block (10 is a probe plus a plain statement), the
//! deduplication key created and dropped as a unique index (1 and 28). The SQL of the overridden
//! versions is in this crate's `migrations/` folder.

use dbos_storage_postgres::{render_schema, Migration, MigrationScript};

/// How a migration that differs beyond the generic rewrites of [`render`] is written for
/// CockroachDB.
#[derive(Debug, Clone, Copy)]
enum Override {
    /// Other SQL.
    Sql(&'static str),
    /// Nothing (the version still advances).
    Empty,
    /// `sql`, run only when `probe` (a query answering one boolean) answers false.
    Unless {
        /// The probe.
        probe: &'static str,
        /// The statement.
        sql: &'static str,
    },
}

/// The migrations whose CockroachDB SQL differs beyond the generic rewrites.
const OVERRIDES: &[(i64, Override)] = &[
    (
        1,
        Override::Sql(include_str!("../migrations/v001_initial_schema.sql")),
    ),
    (
        10,
        Override::Unless {
            probe: include_str!("../migrations/v010_notifications_primary_key_probe.sql"),
            sql: include_str!("../migrations/v010_notifications_primary_key.sql"),
        },
    ),
    (20, Override::Empty),
    (
        28,
        Override::Sql(include_str!("../migrations/v028_drop_dedup_constraint.sql")),
    ),
];

/// The line that pins a function's `search_path` on PostgreSQL (`ALTER FUNCTION … SET` is
/// refused by CockroachDB).
const SEARCH_PATH_PINNING: &str = "SET search_path = pg_catalog, pg_temp";

/// `migration` in the CockroachDB dialect, rendered for `schema`: the override if any, else the
/// PostgreSQL SQL without LISTEN/NOTIFY, without `CONCURRENTLY` and without `search_path`
/// pinning.
pub(crate) fn render(migration: &Migration, schema: &str) -> MigrationScript {
    let over = OVERRIDES
        .iter()
        .find(|(version, _)| *version == migration.version())
        .map(|(_, o)| *o);
    let (skip_if, sql) = match over {
        None => (None, migration.render(schema, false)),
        Some(Override::Empty) => (None, String::new()),
        Some(Override::Sql(sql)) => (None, render_schema(sql, schema)),
        Some(Override::Unless { probe, sql }) => (
            Some(render_schema(probe, schema)),
            render_schema(sql, schema),
        ),
    };
    let sql = sql
        .lines()
        .filter(|line| line.trim() != SEARCH_PATH_PINNING)
        .map(|line| line.replace(" CONCURRENTLY ", " "))
        .collect::<Vec<_>>()
        .join("\n");
    MigrationScript { skip_if, sql }
}

#[cfg(test)]
mod tests {
    use dbos_storage_postgres::migrations;

    use super::*;

    #[test]
    fn no_override_declares_a_bare_integer() {
        // On CockroachDB INT and INTEGER are INT8: widths are spelled INT4 or BIGINT.
        for (_, over) in OVERRIDES {
            let sql = format!("{over:?}");
            for word in sql.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
                let upper = word.to_ascii_uppercase();
                assert!(
                    !matches!(upper.as_str(), "INT" | "INTEGER" | "SERIAL" | "BIGSERIAL"),
                    "a bare {word} in:\n{sql}"
                );
            }
        }
    }

    #[test]
    fn the_overrides_name_existing_versions() {
        for (version, _) in OVERRIDES {
            assert!(
                migrations().iter().any(|m| m.version() == *version),
                "{version}"
            );
        }
    }

    #[test]
    fn rendering_follows_dbos() {
        let all: Vec<(i64, MigrationScript)> = migrations()
            .iter()
            .map(|m| (m.version(), render(m, "dbos")))
            .collect();
        for (version, script) in &all {
            for s in script.statements() {
                for banned in [
                    "CONCURRENTLY",
                    "search_path",
                    "TRIGGER",
                    "pg_notify",
                    "DO $",
                    "pg_advisory",
                    "{schema}",
                ] {
                    assert!(!s.contains(banned), "migration {version}: {banned} in {s}");
                }
                assert!(
                    !s.contains("DROP CONSTRAINT IF EXISTS uq_"),
                    "migration {version}: unique constraints are dropped as indexes"
                );
            }
        }
        let script = |v: i64| &all.iter().find(|(x, _)| *x == v).unwrap().1;
        for v in [20, 39, 43, 44] {
            assert!(script(v).statements().is_empty(), "{v}");
        }
        assert!(script(10).skip_if.is_some());
        assert_eq!(script(10).statements().len(), 1);
        let drop_dedup = &script(28).statements()[0];
        assert!(
            drop_dedup.starts_with("DROP INDEX IF EXISTS"),
            "{drop_dedup}"
        );
        assert!(drop_dedup.ends_with("CASCADE"), "{drop_dedup}");
        assert!(script(1)
            .statements()
            .iter()
            .any(|s| s.starts_with("CREATE UNIQUE INDEX uq_workflow_status_queue_name_dedup_id")));
        assert!(script(40)
            .statements()
            .iter()
            .any(|s| s.contains("USING GIN")));
        assert!(script(105)
            .statements()
            .iter()
            .any(|s| s.starts_with("CREATE OR REPLACE FUNCTION")));
        // The online migrations keep their IF [NOT] EXISTS guards.
        for m in migrations().iter().filter(|m| m.is_online()) {
            for s in script(m.version()).statements() {
                assert!(
                    s.contains("IF EXISTS") || s.contains("IF NOT EXISTS"),
                    "{s}"
                );
            }
        }
        // Apart from the overrides, PostgreSQL's SQL is unchanged.
        let pg = migrations().iter().find(|m| m.version() == 113).unwrap();
        assert_eq!(
            MigrationScript::new(pg.render("dbos", false))
                .statements()
                .len(),
            script(113).statements().len()
        );
    }
}
