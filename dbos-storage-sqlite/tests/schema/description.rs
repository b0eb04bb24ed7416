//! A structural description of a DBOS system schema on SQLite, read from a database file, and
//! the reference description of DBOS v125 it is compared with.
//!
//! `dbos-v125.json` beside this file was derived from DBOS Transact Python 3.4.0's schema (the
//! `sqlite3 .schema` of a database at `dbos_migrations.version` 125): the dump was run in a
//! scratch database and read with [`read`]. Columns, keys, foreign keys and index columns come
//! from SQLite's pragmas; check constraints and partial-index predicates, which no pragma
//! reports, from the statements in `sqlite_master`. Expressions (defaults, checks, predicates)
//! are normalized: identifier quotes and whitespace folded, keywords lowercased, `TRUE`/`FALSE`
//! as `1`/`0`, and `(unixepoch('subsec') * 1000)` — what DBOS writes under Python 3.12 and later
//! — as the `(strftime('%s', 'now') * 1000)` of older Pythons. Declared types are uppercased,
//! `INT`/`INT4` read as `INTEGER` and `INT8` as `BIGINT`.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The reference description, as stored.
const REFERENCE: &str = include_str!("dbos-v125.json");

/// The two spellings of "now, in milliseconds" in DBOS's SQLite defaults, normalized; the
/// second is read as the first.
const NOW_MS: &str = "strftime('%s', 'now') * 1000";
const NOW_MS_SUBSEC: &str = "unixepoch('subsec') * 1000";

/// Everything of one database that other DBOS SDKs depend on.
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
    /// Views and triggers.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) other_objects: Vec<String>,
    /// Indexes by name (those created with `CREATE INDEX`, not those SQLite makes for a key).
    pub(crate) indexes: BTreeMap<String, Index>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Table {
    /// Columns in their order in the table.
    pub(crate) columns: Vec<Column>,
    /// The primary key's columns, in key order.
    pub(crate) primary_key: Vec<String>,
    /// The column lists of `UNIQUE` constraints.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) unique: Vec<Vec<String>>,
    /// Foreign keys, in declaration order.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) foreign_keys: Vec<ForeignKey>,
    /// `CHECK` expressions, normalized.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub(crate) checks: Vec<String>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Column {
    /// Its name.
    pub(crate) name: String,
    /// Its declared type, normalized.
    #[serde(rename = "type")]
    pub(crate) ty: String,
    /// Whether it is `NOT NULL`.
    pub(crate) not_null: bool,
    /// Its default expression, normalized (`null` for an explicit `DEFAULT NULL`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) default: Option<String>,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForeignKey {
    /// The referencing columns.
    pub(crate) columns: Vec<String>,
    /// The referenced table.
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
    /// Key columns with their ordering (`<expression>` for an expression).
    pub(crate) keys: Vec<String>,
    /// The `WHERE` predicate of a partial index, normalized.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) predicate: Option<String>,
}

/// The reference description of DBOS v125.
pub(crate) fn reference() -> Schema {
    serde_json::from_str(REFERENCE).expect("dbos-v125.json is a schema description")
}

/// Reads the description of the database `conn` is open on.
pub(crate) fn read(conn: &Connection) -> Schema {
    let objects: Vec<(String, String, String, Option<String>)> = rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    );
    let mut schema = Schema {
        source: String::new(),
        dbos_migrations: rows(
            conn,
            "SELECT version FROM dbos_migrations ORDER BY 1",
            |r| r.get(0),
        ),
        tables: BTreeMap::new(),
        other_objects: Vec::new(),
        indexes: BTreeMap::new(),
    };
    for (kind, name, table, sql) in objects {
        let sql = sql.unwrap_or_default();
        match kind.as_str() {
            "table" => {
                schema
                    .tables
                    .insert(name.clone(), read_table(conn, &name, &sql));
            }
            "index" => {
                let index = Index {
                    unique: index_is_unique(conn, &table, &name),
                    table,
                    keys: index_keys(conn, &name),
                    predicate: predicate(&sql),
                };
                schema.indexes.insert(name, index);
            }
            _ => schema.other_objects.push(format!("{kind} {name}")),
        }
    }
    schema
}

fn rows<T>(
    conn: &Connection,
    sql: &str,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    stmt.query_map([], map)
        .and_then(Iterator::collect)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn read_table(conn: &Connection, name: &str, sql: &str) -> Table {
    let info: Vec<(String, String, bool, Option<String>, i64)> = rows(
        conn,
        &format!(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo({})",
            literal(name)
        ),
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    );
    let mut key: Vec<(i64, String)> = info
        .iter()
        .filter(|c| c.4 > 0)
        .map(|c| (c.4, c.0.clone()))
        .collect();
    key.sort();
    let columns = info
        .into_iter()
        .map(|(name, ty, not_null, default, _)| Column {
            name,
            ty: normalize_type(&ty),
            not_null,
            default: default.map(|d| expression(&d)),
        })
        .collect();
    let unique = rows(
        conn,
        &format!(
            "SELECT name FROM pragma_index_list({}) WHERE origin = 'u' ORDER BY name",
            literal(name)
        ),
        |r| r.get::<_, String>(0),
    )
    .iter()
    .map(|index| index_keys(conn, index))
    .collect();
    let mut foreign_keys: BTreeMap<i64, ForeignKey> = BTreeMap::new();
    let fk_rows: Vec<(i64, String, String, Option<String>, String, String)> = rows(
        conn,
        &format!(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list({}) ORDER BY id DESC, seq",
            literal(name)
        ),
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    );
    for (id, table, from, to, on_update, on_delete) in fk_rows {
        let fk = foreign_keys.entry(id).or_insert_with(|| ForeignKey {
            columns: Vec::new(),
            references: table,
            referenced_columns: Vec::new(),
            on_update,
            on_delete,
        });
        fk.columns.push(from);
        fk.referenced_columns.push(to.unwrap_or_default());
    }
    Table {
        columns,
        primary_key: key.into_iter().map(|(_, c)| c).collect(),
        unique,
        foreign_keys: foreign_keys.into_values().rev().collect(),
        checks: checks(sql),
    }
}

fn index_is_unique(conn: &Connection, table: &str, index: &str) -> bool {
    rows(
        conn,
        &format!(
            "SELECT \"unique\" FROM pragma_index_list({}) WHERE name = {}",
            literal(table),
            literal(index)
        ),
        |r| r.get::<_, bool>(0),
    )
    .first()
    .copied()
    .unwrap_or_else(|| panic!("index {index} of {table}"))
}

/// The key columns of an index with their ordering: `name` or `name desc`.
fn index_keys(conn: &Connection, index: &str) -> Vec<String> {
    rows(
        conn,
        &format!(
            "SELECT name, \"desc\" FROM pragma_index_xinfo({}) WHERE key ORDER BY seqno",
            literal(index)
        ),
        |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, bool>(1)?)),
    )
    .into_iter()
    .map(|(name, desc)| {
        let name = name.unwrap_or_else(|| "<expression>".to_owned());
        if desc {
            format!("{name} desc")
        } else {
            name
        }
    })
    .collect()
}

/// A string literal for a pragma's argument.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn normalize_type(declared: &str) -> String {
    let ty = declared.split_whitespace().collect::<Vec<_>>().join(" ");
    let ty = ty.to_uppercase();
    match ty.as_str() {
        "INT" | "INT4" => "INTEGER".to_owned(),
        "INT8" => "BIGINT".to_owned(),
        _ => ty,
    }
}

/// The partial-index predicate of a `CREATE INDEX` statement.
fn predicate(sql: &str) -> Option<String> {
    let tokens = tokenize(sql);
    // The WHERE after the column list, outside parentheses.
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct(p) if p == "(" => depth += 1,
            Token::Punct(p) if p == ")" => depth -= 1,
            Token::Word(w) if w == "where" && depth == 0 => {
                return Some(render(&tokens[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

/// The `CHECK (…)` expressions of a `CREATE TABLE` statement.
fn checks(sql: &str) -> Vec<String> {
    let tokens = tokenize(sql);
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if matches!(token, Token::Word(w) if w == "check") {
            if let Some(end) = closing(&tokens, i + 1) {
                out.push(render(&tokens[i + 2..end]));
            }
        }
    }
    out
}

/// An expression, normalized (without parentheses around the whole of it).
fn expression(sql: &str) -> String {
    let mut tokens = tokenize(sql);
    while tokens.len() >= 2
        && tokens[0] == Token::Punct("(".to_owned())
        && closing(&tokens, 0) == Some(tokens.len() - 1)
    {
        tokens = tokens[1..tokens.len() - 1].to_vec();
    }
    let text = render(&tokens);
    if text == NOW_MS_SUBSEC {
        NOW_MS.to_owned()
    } else {
        text
    }
}

/// The index of the `)` that closes the `(` at `open`.
fn closing(tokens: &[Token], open: usize) -> Option<usize> {
    if !matches!(tokens.get(open), Some(Token::Punct(p)) if p == "(") {
        return None;
    }
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Punct(p) if p == "(" => depth += 1,
            Token::Punct(p) if p == ")" => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A keyword or identifier, quoted or not, lowercased.
    Word(String),
    /// A string literal, with its quotes.
    Str(String),
    /// A number.
    Num(String),
    /// Punctuation or an operator.
    Punct(String),
}

fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let take_while = |i: &mut usize, keep: &dyn Fn(char) -> bool| {
        let start = *i;
        while *i < chars.len() && keep(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            take_while(&mut i, &|c| c != '\n');
        } else if c == '\'' {
            // A string literal; '' inside it is a quote.
            let start = i;
            i += 1;
            while i < chars.len() && !(chars[i] == '\'' && chars.get(i + 1) != Some(&'\'')) {
                i += if chars[i] == '\'' { 2 } else { 1 };
            }
            i += 1;
            out.push(Token::Str(
                chars[start..i.min(chars.len())].iter().collect(),
            ));
        } else if c == '"' || c == '`' || c == '[' {
            let close = if c == '[' { ']' } else { c };
            i += 1;
            let word = take_while(&mut i, &|c| c != close);
            i += 1;
            out.push(Token::Word(word.to_lowercase()));
        } else if c.is_ascii_digit() {
            out.push(Token::Num(take_while(&mut i, &|c| {
                c.is_ascii_digit() || c == '.'
            })));
        } else if c.is_alphanumeric() || c == '_' {
            let word = take_while(&mut i, &|c| c.is_alphanumeric() || c == '_');
            out.push(match word.to_lowercase().as_str() {
                "true" => Token::Num("1".to_owned()),
                "false" => Token::Num("0".to_owned()),
                lower => Token::Word(lower.to_owned()),
            });
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["<=", ">=", "<>", "!=", "||", "=="].contains(&two.as_str()) {
                out.push(Token::Punct(two));
                i += 2;
            } else {
                out.push(Token::Punct(c.to_string()));
                i += 1;
            }
        }
    }
    out
}

/// Keywords that may precede `(` without being a function call.
const KEYWORDS: &[&str] = &[
    "in", "and", "or", "not", "exists", "is", "then", "else", "when",
];

/// Tokens as text: one space between tokens, none inside parentheses or before a comma, none
/// between a function name and its `(`.
fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut previous: Option<&Token> = None;
    for token in tokens {
        let text = match token {
            Token::Word(w) | Token::Str(w) | Token::Num(w) | Token::Punct(w) => w.as_str(),
        };
        let tight = match (previous, token) {
            (None, _) => true,
            (Some(Token::Punct(p)), _) if p == "(" => true,
            (_, Token::Punct(p)) if p == ")" || p == "," => true,
            (Some(Token::Word(w)), Token::Punct(p)) if p == "(" => !KEYWORDS.contains(&w.as_str()),
            _ => false,
        };
        if !tight {
            out.push(' ');
        }
        out.push_str(text);
        previous = Some(token);
    }
    out
}

/// Every difference between `expected` and `actual`, one line each, naming the object and
/// both values; empty when they match. Column order counts.
pub(crate) fn differences(expected: &Schema, actual: &Schema) -> Vec<String> {
    dbos_storage_testkit::schema_diff::differences(&flatten(expected), &flatten(actual))
}

/// The description as `path → value`: one entry per table, column, key, index and other
/// object (columns keyed by name, plus the column order of each table).
fn flatten(schema: &Schema) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert(
        "dbos_migrations".to_owned(),
        format!("{:?}", schema.dbos_migrations),
    );
    for object in &schema.other_objects {
        out.insert(object.clone(), "present".to_owned());
    }
    for (name, index) in &schema.indexes {
        out.insert(format!("index {name}"), json(index));
    }
    for (name, table) in &schema.tables {
        let path = format!("table {name}");
        out.insert(path.clone(), "present".to_owned());
        let order: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        out.insert(format!("{path} column order"), order.join(", "));
        for column in &table.columns {
            out.insert(format!("{path} column {}", column.name), json(column));
        }
        out.insert(format!("{path} primary key"), json(&table.primary_key));
        out.insert(format!("{path} unique"), json(&table.unique));
        out.insert(format!("{path} foreign keys"), json(&table.foreign_keys));
        out.insert(format!("{path} checks"), json(&table.checks));
    }
    out
}

fn json(value: &impl Serialize) -> String {
    match serde_json::to_value(value).expect("serialize a description") {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_normalized() {
        assert_eq!(expression("(strftime('%s','now') * 1000)"), NOW_MS);
        assert_eq!(expression("unixepoch( 'subsec' )*1000"), NOW_MS);
        assert_eq!(expression("(a) + (b)"), "(a) + (b)");
        assert_eq!(expression("FALSE"), "0");
        assert_eq!(
            predicate(
                r#"CREATE INDEX "i" ON "t" ("a") WHERE "status" IN ('A', 'B') AND "x" IS NOT NULL"#
            ),
            Some("status in ('A', 'B') and x is not null".to_owned())
        );
        assert_eq!(
            checks("CREATE TABLE t (a INT CHECK (a > 0), b TEXT)"),
            ["a > 0"]
        );
    }
}
