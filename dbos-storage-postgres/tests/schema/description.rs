//! A structural description of a DBOS system schema on PostgreSQL, read from the catalog, and
//! the reference description of DBOS v125 it is compared with.
//!
//! `dbos-v125.json` beside this file was derived from DBOS Transact Python 3.4.0's schema (a
//! `pg_dump --schema-only` of a PostgreSQL 15 database at `dbos_migrations.version` 125 with
//! LISTEN/NOTIFY on): the dump was loaded into a scratch database and read with [`read`]. So the
//! reference and a migrated schema are described by the same catalog queries, in PostgreSQL's
//! own normalized spelling of types, defaults and predicates (`pg_get_expr`, `format_type`),
//! with no schema name in them.
//!
//! Functions are described by their signature (arguments with their defaults, result, language,
//! volatility, strictness, security and settings), not their bodies: other DBOS SDKs call them
//! by signature, the bodies here are this project's own, and `the_sql_functions_behave_like_dbos`
//! checks what they do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::Client;

/// The reference description, as stored.
const REFERENCE: &str = include_str!("dbos-v125.json");

/// Everything of one schema that other DBOS SDKs depend on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Schema {
    /// Where the description comes from (not compared).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub(crate) source: String,
    /// The rows of `dbos_migrations`.
    pub(crate) dbos_migrations: Vec<i64>,
    /// Tables by name.
    pub(crate) tables: BTreeMap<String, Table>,
    /// Views, sequences and other relations that are neither tables nor indexes.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) other_relations: Vec<String>,
    /// Indexes by name, except those that implement a primary key or unique constraint.
    pub(crate) indexes: BTreeMap<String, Index>,
    /// Functions by name.
    pub(crate) functions: BTreeMap<String, Function>,
    /// Triggers by name.
    pub(crate) triggers: BTreeMap<String, Trigger>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Table {
    /// Columns in their order in the table.
    pub(crate) columns: Vec<Column>,
    /// The primary key constraint.
    pub(crate) primary_key: Option<Key>,
    /// Unique constraints by name: their columns.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub(crate) unique: BTreeMap<String, Vec<String>>,
    /// Foreign keys by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub(crate) foreign_keys: BTreeMap<String, ForeignKey>,
    /// Check (and other) constraints by name: their definition.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub(crate) checks: BTreeMap<String, String>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Column {
    /// Its name.
    pub(crate) name: String,
    /// Its type (`format_type`).
    #[serde(rename = "type")]
    pub(crate) ty: String,
    /// Whether it is `NOT NULL`.
    pub(crate) not_null: bool,
    /// Its default (`pg_get_expr`), identity or generation expression.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) default: Option<String>,
}

/// A named key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Key {
    /// The constraint's name.
    pub(crate) name: String,
    /// Its columns, in order.
    pub(crate) columns: Vec<String>,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForeignKey {
    /// The referencing columns.
    pub(crate) columns: Vec<String>,
    /// The referenced table (in the same schema).
    pub(crate) references: String,
    /// The referenced columns.
    pub(crate) referenced_columns: Vec<String>,
    /// `ON UPDATE` action.
    pub(crate) on_update: String,
    /// `ON DELETE` action.
    pub(crate) on_delete: String,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Index {
    /// The indexed table.
    pub(crate) table: String,
    /// Whether it is unique.
    pub(crate) unique: bool,
    /// The access method (`btree`, `gin`, …).
    pub(crate) method: String,
    /// Key columns or expressions, with their ordering.
    pub(crate) keys: Vec<String>,
    /// `INCLUDE` columns.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) include: Vec<String>,
    /// The `WHERE` predicate of a partial index.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) predicate: Option<String>,
}

/// A function's signature and attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Function {
    /// Arguments with their names and defaults (`pg_get_function_arguments`, one per entry).
    pub(crate) arguments: Vec<String>,
    /// The result type.
    pub(crate) returns: String,
    /// The language.
    pub(crate) language: String,
    /// `volatile`, `stable` or `immutable`.
    pub(crate) volatility: String,
    /// Whether it returns NULL on a NULL argument without running.
    pub(crate) strict: bool,
    /// Whether it runs with its owner's privileges.
    pub(crate) security_definer: bool,
    /// Settings attached with `SET` (`search_path=…`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) settings: Vec<String>,
}

/// A trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Trigger {
    /// The table it is on.
    pub(crate) table: String,
    /// `BEFORE`, `AFTER` or `INSTEAD OF`.
    pub(crate) timing: String,
    /// The events (`INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`).
    pub(crate) events: Vec<String>,
    /// `ROW` or `STATEMENT`.
    pub(crate) level: String,
    /// The function it runs (in the same schema).
    pub(crate) function: String,
}

/// The reference description of DBOS v125 (with LISTEN/NOTIFY).
pub(crate) fn reference() -> Schema {
    serde_json::from_str(REFERENCE).expect("dbos-v125.json is a schema description")
}

/// Every table of `schema` with its columns and constraints.
const TABLES: &str = "\
SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')";

/// Relations other than tables and indexes.
const OTHER_RELATIONS: &str = "\
SELECT c.relname::text || ' (' || c.relkind::text || ')' FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind NOT IN ('r', 'p', 'i', 'I', 't', 'c')
ORDER BY 1";

const COLUMNS: &str = "\
SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       CASE
         WHEN a.attidentity = 'a' THEN 'GENERATED ALWAYS AS IDENTITY'
         WHEN a.attidentity = 'd' THEN 'GENERATED BY DEFAULT AS IDENTITY'
         WHEN a.attgenerated = 's'
           THEN 'GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED'
         ELSE pg_get_expr(d.adbin, d.adrelid)
       END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum";

const CONSTRAINTS: &str = "\
SELECT c.relname::text, k.conname::text, k.contype::text,
       ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(num, pos)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num
             ORDER BY u.pos),
       f.relname::text,
       ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(num, pos)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num
             ORDER BY u.pos),
       k.confupdtype::text, k.confdeltype::text, pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class f ON f.oid = k.confrelid
WHERE n.nspname = $1";

const INDEXES: &str = "\
SELECT i.relname::text, t.relname::text, x.indisunique, am.amname::text,
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
                    || CASE WHEN x.indoption[k - 1] & 3 = 3 THEN ' DESC'
                            WHEN x.indoption[k - 1] & 3 = 1 THEN ' DESC NULLS LAST'
                            WHEN x.indoption[k - 1] & 3 = 2 THEN ' NULLS FIRST'
                            ELSE '' END
             FROM generate_series(1, x.indnkeyatts::int) k ORDER BY k),
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
             FROM generate_series(x.indnkeyatts::int + 1, x.indnatts::int) k ORDER BY k),
       pg_get_expr(x.indpred, x.indrelid, true)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
JOIN pg_am am ON am.oid = i.relam
WHERE n.nspname = $1
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                  WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid
                    AND k.contype IN ('p', 'u', 'x'))";

const FUNCTIONS: &str = "\
SELECT p.proname::text, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
       l.lanname::text, p.provolatile::text, p.proisstrict, p.prosecdef,
       COALESCE(p.proconfig, '{}')::text[]
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname = $1";

const TRIGGERS: &str = "\
SELECT t.tgname::text, c.relname::text, t.tgtype, p.proname::text
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE n.nspname = $1 AND NOT t.tgisinternal";

/// Reads the description of `schema` from the catalog.
pub(crate) async fn read(client: &Client, schema: &str) -> Schema {
    // With an empty search_path every name the catalog functions print is schema-qualified:
    // nothing of `schema` may appear in a description.
    client
        .batch_execute("SET search_path = ''")
        .await
        .expect("set search_path");
    let query = |sql: &'static str| async move {
        client
            .query(sql, &[&schema])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for row in query(TABLES).await {
        tables.insert(
            row.get(0),
            Table {
                columns: Vec::new(),
                primary_key: None,
                unique: BTreeMap::new(),
                foreign_keys: BTreeMap::new(),
                checks: BTreeMap::new(),
            },
        );
    }
    for row in query(COLUMNS).await {
        let table: String = row.get(0);
        tables
            .get_mut(&table)
            .expect("a column of a table")
            .columns
            .push(Column {
                name: row.get(1),
                ty: row.get(2),
                not_null: row.get(3),
                default: row.get(4),
            });
    }
    for row in query(CONSTRAINTS).await {
        let table = tables
            .get_mut(&row.get::<_, String>(0))
            .expect("a constraint of a table");
        let name: String = row.get(1);
        let kind: String = row.get(2);
        let columns: Vec<String> = row.get(3);
        match kind.as_str() {
            "p" => table.primary_key = Some(Key { name, columns }),
            "u" => {
                table.unique.insert(name, columns);
            }
            "f" => {
                let fk = ForeignKey {
                    columns,
                    references: row.get(4),
                    referenced_columns: row.get(5),
                    on_update: action(&row.get::<_, String>(6)),
                    on_delete: action(&row.get::<_, String>(7)),
                };
                table.foreign_keys.insert(name, fk);
            }
            _ => {
                table.checks.insert(name, row.get(8));
            }
        }
    }
    let mut indexes = BTreeMap::new();
    for row in query(INDEXES).await {
        let index = Index {
            table: row.get(1),
            unique: row.get(2),
            method: row.get(3),
            keys: row.get(4),
            include: row.get(5),
            predicate: row.get(6),
        };
        indexes.insert(row.get(0), index);
    }
    let mut functions = BTreeMap::new();
    for row in query(FUNCTIONS).await {
        let function = Function {
            arguments: split_arguments(&row.get::<_, String>(1)),
            returns: row.get(2),
            language: row.get(3),
            volatility: volatility(&row.get::<_, String>(4)),
            strict: row.get(5),
            security_definer: row.get(6),
            settings: row.get(7),
        };
        functions.insert(row.get(0), function);
    }
    let mut triggers = BTreeMap::new();
    for row in query(TRIGGERS).await {
        triggers.insert(row.get(0), trigger(row.get(1), row.get(2), row.get(3)));
    }
    let other_relations = query(OTHER_RELATIONS)
        .await
        .iter()
        .map(|r| r.get(0))
        .collect();
    let versions = client
        .query(
            &format!(
                "SELECT version FROM {}.dbos_migrations ORDER BY 1",
                quote(schema)
            ),
            &[],
        )
        .await
        .expect("read dbos_migrations");
    Schema {
        source: String::new(),
        dbos_migrations: versions.iter().map(|r| r.get(0)).collect(),
        tables,
        other_relations,
        indexes,
        functions,
        triggers,
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// A foreign-key action by its `pg_constraint` letter.
fn action(letter: &str) -> String {
    match letter {
        "a" => "NO ACTION",
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        other => panic!("unknown foreign-key action {other:?}"),
    }
    .to_owned()
}

/// A volatility by its `pg_proc` letter.
fn volatility(letter: &str) -> String {
    match letter {
        "v" => "volatile",
        "s" => "stable",
        "i" => "immutable",
        other => panic!("unknown volatility {other:?}"),
    }
    .to_owned()
}

/// A trigger from its `pg_trigger.tgtype` bits.
fn trigger(table: String, bits: i16, function: String) -> Trigger {
    let timing = match (bits & 2 != 0, bits & 64 != 0) {
        (_, true) => "INSTEAD OF",
        (true, false) => "BEFORE",
        (false, false) => "AFTER",
    };
    let events = [
        (4, "INSERT"),
        (16, "UPDATE"),
        (8, "DELETE"),
        (32, "TRUNCATE"),
    ]
    .iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, event)| (*event).to_owned())
    .collect();
    Trigger {
        table,
        timing: timing.to_owned(),
        events,
        level: if bits & 1 != 0 { "ROW" } else { "STATEMENT" }.to_owned(),
        function,
    }
}

/// Splits `pg_get_function_arguments` output at its top-level commas (not inside parentheses,
/// brackets or quotes).
fn split_arguments(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut current) = (0_i32, false, String::new());
    for c in list.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// Every difference between `expected` and `actual`, one line each, naming the object and
/// both values; empty when they match. Column order counts.
pub(crate) fn differences(expected: &Schema, actual: &Schema) -> Vec<String> {
    dbos_storage_testkit::schema_diff::differences(&flatten(expected), &flatten(actual))
}

/// The description as `path → value`: one entry per table, column, constraint, index,
/// function and trigger (columns keyed by name, plus the column order of each table).
fn flatten(schema: &Schema) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let value = serde_json::to_value(schema).expect("serialize a description");
    let Value::Object(top) = value else {
        unreachable!("a description serializes to an object")
    };
    for (section, content) in top {
        match (section.as_str(), content) {
            ("source", _) => {}
            ("tables", Value::Object(tables)) => {
                for (name, table) in tables {
                    flatten_table(&format!("table {name}"), table, &mut out);
                }
            }
            (_, Value::Object(objects)) => {
                for (name, object) in objects {
                    out.insert(format!("{} {name}", singular(&section)), object.to_string());
                }
            }
            (_, other) => {
                out.insert(section, other.to_string());
            }
        }
    }
    out
}

fn flatten_table(path: &str, table: Value, out: &mut BTreeMap<String, String>) {
    let Value::Object(parts) = table else {
        unreachable!("a table serializes to an object")
    };
    out.insert(path.to_owned(), "present".to_owned());
    for (part, content) in parts {
        match (part.as_str(), content) {
            ("columns", Value::Array(columns)) => {
                let order: Vec<String> = columns
                    .iter()
                    .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
                    .collect();
                out.insert(format!("{path} column order"), order.join(", "));
                for column in columns {
                    let name = column["name"].as_str().unwrap_or_default().to_owned();
                    out.insert(format!("{path} column {name}"), column.to_string());
                }
            }
            (_, Value::Object(named)) => {
                for (name, object) in named {
                    let kind = singular(&part);
                    out.insert(format!("{path} {kind} {name}"), object.to_string());
                }
            }
            (_, other) => {
                out.insert(format!("{path} {}", singular(&part)), other.to_string());
            }
        }
    }
}

/// The name of one object of a section: `indexes` → `index`, `foreign_keys` → `foreign key`.
fn singular(section: &str) -> String {
    let name = match section {
        "indexes" => "index",
        other => other.strip_suffix('s').unwrap_or(other),
    };
    name.replace('_', " ")
}
