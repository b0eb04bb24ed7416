//! The migrator creates exactly the DBOS v125 SQLite schema, records the version in one row, and
//! handles re-runs, newer peers, pre-100 databases and concurrent migrators.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use dbos_storage_core::{ErrorKind, LifecycleStore, DBOS_SCHEMA_VERSION};
use dbos_storage_sqlite::{SqliteConfig, SqliteStore};

const REFERENCE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/design/schema/sqlite-v125.sql"
));

// ------------------------------------------------------------------------------------------
// A normalized model of SQLite DDL (see shared/design/schema/README.md)
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A keyword or identifier, quoted or not, lowercased.
    Word(String),
    /// A string literal, with its case.
    Str(String),
    /// A numeric literal.
    Num(String),
    /// Punctuation or an operator.
    Punct(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => f.write_str(w),
            Token::Str(s) => write!(f, "'{s}'"),
            Token::Num(n) | Token::Punct(n) => f.write_str(n),
        }
    }
}

fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        s.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Str(s));
        } else if c == '"' || c == '`' || c == '[' {
            let close = if c == '[' { ']' } else { c };
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != close {
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Word(s.to_lowercase()));
        } else if c.is_ascii_digit() {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                s.push(chars[i]);
                i += 1;
            }
            out.push(Token::Num(s));
        } else if c.is_alphanumeric() || c == '_' {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                i += 1;
            }
            out.push(Token::Word(s.to_lowercase()));
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

/// Renders an expression: tokens joined by single spaces, booleans as 0/1, and the two SQLite
/// "now in milliseconds" defaults as one symbol.
fn render(tokens: &[Token]) -> String {
    let text = tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) if w == "true" => "1".to_owned(),
            Token::Word(w) if w == "false" => "0".to_owned(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    match text.as_str() {
        "( strftime ( '%s' , 'now' ) * 1000 )" | "( unixepoch ( 'subsec' ) * 1000 )" => {
            "<now-ms>".to_owned()
        }
        _ => text,
    }
}

fn is_punct(t: &Token, p: &str) -> bool {
    matches!(t, Token::Punct(x) if x == p)
}

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(x) if x == w)
}

fn word(t: &Token) -> String {
    match t {
        Token::Word(w) => w.clone(),
        other => other.to_string(),
    }
}

/// Splits a parenthesized list (starting at `open`, which is `(`) at depth-1 commas; returns
/// the items and the index after the closing parenthesis.
fn split_list(tokens: &[Token], open: usize) -> (Vec<Vec<Token>>, usize) {
    assert!(
        is_punct(&tokens[open], "("),
        "expected ( at {open}: {tokens:?}"
    );
    let mut depth = 0;
    let mut items = vec![Vec::new()];
    let mut i = open;
    while i < tokens.len() {
        let t = &tokens[i];
        if is_punct(t, "(") {
            depth += 1;
            if depth > 1 {
                items.last_mut().unwrap().push(t.clone());
            }
        } else if is_punct(t, ")") {
            depth -= 1;
            if depth == 0 {
                return (items, i + 1);
            }
            items.last_mut().unwrap().push(t.clone());
        } else if is_punct(t, ",") && depth == 1 {
            items.push(Vec::new());
        } else {
            items.last_mut().unwrap().push(t.clone());
        }
        i += 1;
    }
    panic!("unbalanced parentheses: {tokens:?}");
}

/// The end (exclusive) of the parenthesized group starting at `open`.
fn group_end(tokens: &[Token], open: usize) -> usize {
    split_list(tokens, open).1
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    name: String,
    ty: String,
    not_null: bool,
    default: Option<String>,
    /// Position in the primary key (1-based).
    pk: Option<usize>,
    unique: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    columns: Vec<String>,
    table: String,
    ref_columns: Vec<String>,
    on_update: String,
    on_delete: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Table {
    columns: BTreeMap<String, Column>,
    foreign_keys: Vec<ForeignKey>,
    unique: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Index {
    table: String,
    unique: bool,
    columns: Vec<String>,
    where_clause: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, Table>,
    indexes: BTreeMap<String, Index>,
}

fn normalize_type(words: &[Token]) -> String {
    let ty = render(words).to_uppercase();
    match ty.as_str() {
        "INT4" | "INT" => "INTEGER".to_owned(),
        "INT8" => "BIGINT".to_owned(),
        _ => ty,
    }
}

fn parse_names(items: &[Vec<Token>]) -> Vec<String> {
    items.iter().map(|i| render(i)).collect()
}

/// Parses `REFERENCES t (c, …) [ON UPDATE x] [ON DELETE y]` starting at the `references` word.
fn parse_references(tokens: &[Token], at: usize, columns: Vec<String>) -> ForeignKey {
    let table = word(&tokens[at + 1]);
    let (refs, mut i) = split_list(tokens, at + 2);
    let mut fk = ForeignKey {
        columns,
        table,
        ref_columns: parse_names(&refs),
        on_update: "no action".into(),
        on_delete: "no action".into(),
    };
    while i < tokens.len() {
        if is_word(&tokens[i], "on") {
            let action_words: Vec<String> = tokens[i + 2..]
                .iter()
                .take_while(|t| !is_word(t, "on"))
                .map(word)
                .collect();
            let action = action_words.join(" ");
            if is_word(&tokens[i + 1], "update") {
                fk.on_update = action;
            } else {
                fk.on_delete = action;
            }
            i += 2 + action_words.len();
        } else {
            i += 1;
        }
    }
    fk
}

const COLUMN_CONSTRAINT_WORDS: &[&str] = &[
    "not",
    "null",
    "primary",
    "unique",
    "default",
    "references",
    "check",
    "constraint",
    "collate",
    "generated",
    "as",
];

fn parse_column(tokens: &[Token], table: &mut Table) {
    let name = word(&tokens[0]);
    let mut i = 1;
    let mut ty = Vec::new();
    while i < tokens.len() {
        match &tokens[i] {
            Token::Word(w) if COLUMN_CONSTRAINT_WORDS.contains(&w.as_str()) => break,
            Token::Punct(p) if p == "(" => {
                let end = group_end(tokens, i);
                ty.extend_from_slice(&tokens[i..end]);
                i = end;
            }
            t => {
                ty.push(t.clone());
                i += 1;
            }
        }
    }
    let mut col = Column {
        name: name.clone(),
        ty: normalize_type(&ty),
        not_null: false,
        default: None,
        pk: None,
        unique: false,
    };
    while i < tokens.len() {
        let t = &tokens[i];
        if is_word(t, "not") && tokens.get(i + 1).is_some_and(|t| is_word(t, "null")) {
            col.not_null = true;
            i += 2;
        } else if is_word(t, "null") {
            i += 1;
        } else if is_word(t, "primary") {
            col.pk = Some(1);
            i += 2;
            while i < tokens.len()
                && matches!(&tokens[i], Token::Word(w) if ["asc", "desc", "autoincrement"].contains(&w.as_str()))
            {
                i += 1;
            }
        } else if is_word(t, "unique") {
            col.unique = true;
            i += 1;
        } else if is_word(t, "default") {
            let start = i + 1;
            let end = if is_punct(&tokens[start], "(") {
                group_end(tokens, start)
            } else if is_punct(&tokens[start], "-") || is_punct(&tokens[start], "+") {
                start + 2
            } else {
                start + 1
            };
            col.default = Some(render(&tokens[start..end]));
            i = end;
        } else if is_word(t, "references") {
            let fk = parse_references(tokens, i, vec![name.clone()]);
            table.foreign_keys.push(fk);
            break;
        } else if is_word(t, "collate") || is_word(t, "constraint") {
            i += 2;
        } else {
            panic!("unexpected token {t:?} in column {name}: {tokens:?}");
        }
    }
    table.columns.insert(name, col);
}

fn parse_create_table(tokens: &[Token], schema: &mut Schema) {
    let mut i = 2;
    if is_word(&tokens[i], "if") {
        i += 3;
    }
    let name = word(&tokens[i]);
    let (items, _) = split_list(tokens, i + 1);
    let mut table = Table::default();
    let mut table_constraints = Vec::new();
    for item in items {
        if item.is_empty() {
            continue;
        }
        let mut item = item;
        if is_word(&item[0], "constraint") {
            item = item[2..].to_vec();
        }
        if ["primary", "foreign", "unique", "check"]
            .iter()
            .any(|k| is_word(&item[0], k))
        {
            table_constraints.push(item);
        } else {
            parse_column(&item, &mut table);
        }
    }
    for c in table_constraints {
        if is_word(&c[0], "primary") {
            let (cols, _) = split_list(&c, 2);
            for (pos, col) in parse_names(&cols).into_iter().enumerate() {
                let col = col.split(' ').next().unwrap_or_default().to_owned();
                table
                    .columns
                    .get_mut(&col)
                    .unwrap_or_else(|| panic!("primary key names unknown column {col}"))
                    .pk = Some(pos + 1);
            }
        } else if is_word(&c[0], "foreign") {
            let (cols, next) = split_list(&c, 2);
            assert!(is_word(&c[next], "references"), "{c:?}");
            let fk = parse_references(&c, next, parse_names(&cols));
            table.foreign_keys.push(fk);
        } else if is_word(&c[0], "unique") {
            let (cols, _) = split_list(&c, 1);
            table.unique.push(parse_names(&cols));
        } else {
            panic!("unsupported table constraint {c:?}");
        }
    }
    table.foreign_keys.sort();
    table.unique.sort();
    assert!(
        schema.tables.insert(name.clone(), table).is_none(),
        "table {name} defined twice"
    );
}

fn parse_create_index(tokens: &[Token], schema: &mut Schema) {
    let mut i = 1;
    let unique = is_word(&tokens[i], "unique");
    if unique {
        i += 1;
    }
    assert!(is_word(&tokens[i], "index"), "{tokens:?}");
    i += 1;
    if is_word(&tokens[i], "if") {
        i += 3;
    }
    let name = word(&tokens[i]);
    assert!(is_word(&tokens[i + 1], "on"), "{tokens:?}");
    let table = word(&tokens[i + 2]);
    let (cols, next) = split_list(tokens, i + 3);
    let where_clause = if next < tokens.len() && is_word(&tokens[next], "where") {
        Some(render(&tokens[next + 1..]))
    } else {
        None
    };
    let index = Index {
        table,
        unique,
        columns: parse_names(&cols)
            .into_iter()
            .map(|c| c.trim_end_matches(" asc").to_owned())
            .collect(),
        where_clause,
    };
    assert!(
        schema.indexes.insert(name.clone(), index).is_none(),
        "index {name} defined twice"
    );
}

/// Splits a script on `;` outside quotes and comments.
fn statements(script: &str) -> Vec<Vec<Token>> {
    let tokens = tokenize(script);
    tokens
        .split(|t| is_punct(t, ";"))
        .filter(|s| !s.is_empty())
        .map(<[Token]>::to_vec)
        .collect()
}

fn parse_schema(statements: impl IntoIterator<Item = Vec<Token>>) -> Schema {
    let mut schema = Schema::default();
    for tokens in statements {
        if tokens.is_empty() {
            continue;
        }
        assert!(
            is_word(&tokens[0], "create"),
            "unexpected statement {tokens:?}"
        );
        if is_word(&tokens[1], "table") {
            parse_create_table(&tokens, &mut schema);
        } else if is_word(&tokens[2], "index") || is_word(&tokens[1], "index") {
            parse_create_index(&tokens, &mut schema);
        } else {
            panic!("unexpected statement {tokens:?}");
        }
    }
    schema
}

/// A readable list of every difference.
fn diff(expected: &Schema, actual: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for (name, t) in &expected.tables {
        let Some(a) = actual.tables.get(name) else {
            out.push(format!("missing table {name}"));
            continue;
        };
        for (col, c) in &t.columns {
            match a.columns.get(col) {
                None => out.push(format!("{name}: missing column {c:?}")),
                Some(ac) if ac != c => out.push(format!(
                    "{name}.{col}:\n    expected {c:?}\n    actual   {ac:?}"
                )),
                Some(_) => {}
            }
        }
        for col in a.columns.keys().filter(|c| !t.columns.contains_key(*c)) {
            out.push(format!("{name}: extra column {:?}", a.columns[col]));
        }
        if t.foreign_keys != a.foreign_keys {
            out.push(format!(
                "{name}: foreign keys differ\n    expected {:?}\n    actual   {:?}",
                t.foreign_keys, a.foreign_keys
            ));
        }
        if t.unique != a.unique {
            out.push(format!(
                "{name}: UNIQUE constraints differ\n    expected {:?}\n    actual   {:?}",
                t.unique, a.unique
            ));
        }
    }
    for name in actual
        .tables
        .keys()
        .filter(|n| !expected.tables.contains_key(*n))
    {
        out.push(format!("extra table {name}"));
    }
    for (name, i) in &expected.indexes {
        match actual.indexes.get(name) {
            None => out.push(format!("missing index {name}: {i:?}")),
            Some(a) if a != i => out.push(format!(
                "index {name}:\n    expected {i:?}\n    actual   {a:?}"
            )),
            Some(_) => {}
        }
    }
    for (name, i) in &actual.indexes {
        if !expected.indexes.contains_key(name) {
            out.push(format!("extra index {name}: {i:?}"));
        }
    }
    out
}

fn reference_schema() -> Schema {
    parse_schema(statements(REFERENCE))
}

/// The schema of a database file, as `sqlite_master` holds it.
fn dump(path: &Path) -> Schema {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap();
    let sqls: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    parse_schema(sqls.iter().map(|s| tokenize(s)))
}

fn version_rows(path: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT version FROM dbos_migrations").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn assert_reference(path: &Path) {
    let differences = diff(&reference_schema(), &dump(path));
    assert!(
        differences.is_empty(),
        "the migrated schema differs from sqlite-v125.sql:\n  {}",
        differences.join("\n  ")
    );
}

async fn store(path: &Path) -> SqliteStore {
    SqliteStore::open(SqliteConfig::file(path)).await.unwrap()
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[test]
fn the_normalizer_sees_the_reference_schema() {
    let s = reference_schema();
    assert_eq!(s.tables.len(), 12, "{:?}", s.tables.keys());
    assert_eq!(s.tables["workflow_status"].columns.len(), 39);
    let created = &s.tables["workflow_status"].columns["created_at"];
    assert_eq!(created.default.as_deref(), Some("<now-ms>"));
    assert!(created.not_null);
    assert_eq!(
        s.tables["workflow_status"].columns["was_forked_from"]
            .default
            .as_deref(),
        Some("0")
    );
    assert_eq!(s.tables["workflow_events"].columns["key"].pk, Some(2));
    assert_eq!(s.tables["notifications"].foreign_keys.len(), 1);
    assert_eq!(
        s.tables["notifications"].foreign_keys[0].on_delete,
        "cascade"
    );
    assert!(s.tables["operation_outputs"].foreign_keys.is_empty());
    assert!(s.tables["workflow_schedules"].columns["schedule_name"].unique);
    let idx = &s.indexes["idx_workflow_status_rate_limited"];
    assert_eq!(idx.where_clause.as_deref(), Some("rate_limited = 1"));
    assert_eq!(
        s.indexes["idx_application_versions_timestamp"].columns,
        vec!["version_timestamp desc"]
    );
    // Both timestamp spellings are the same default.
    let a = render(&tokenize("(unixepoch('subsec') * 1000)"));
    let b = render(&tokenize("(strftime('%s','now') * 1000)"));
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_fresh_file_gets_exactly_the_v125_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dbos.sqlite");
    let s = store(&path).await;
    let v = s.migrate().await.unwrap();
    assert_eq!((v.recorded, v.latest), (125, 125));
    assert_eq!(s.schema_version().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_reference(&path);
    assert_eq!(version_rows(&path), vec![DBOS_SCHEMA_VERSION]);
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    let before = dump(&path);
    let v = s.migrate().await.unwrap();
    assert_eq!(v.recorded, 125);
    s.close().await.unwrap();
    // A second store (a restart) migrates again.
    let s = store(&path).await;
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_eq!(dump(&path), before);
    assert_eq!(version_rows(&path), vec![125]);
}

#[tokio::test]
async fn every_shared_migration_is_safe_to_re_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rerun.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    // Pretend only migration 100 was recorded: 101..=125 run again over the full schema.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE dbos_migrations SET version = 100", [])
        .unwrap();
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_reference(&path);
    assert_eq!(version_rows(&path), vec![125]);
}

#[tokio::test]
async fn a_database_at_an_intermediate_version_is_migrated_forward() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v108.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    // Roll the file back to what version 108 looked like for the objects 109..=125 add.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE workflow_input; DROP TABLE workflow_output;
             DROP INDEX idx_workflow_status_deadline;
             ALTER TABLE workflow_status DROP COLUMN creator_xid;
             ALTER TABLE notifications DROP COLUMN consumed_by_function_id;
             DROP INDEX idx_application_versions_timestamp;
             DROP INDEX idx_application_versions_owner_timestamp;
             UPDATE dbos_migrations SET version = 108;",
        )
        .unwrap();
    }
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_reference(&path);
}

#[tokio::test]
async fn several_version_rows_are_repaired_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DELETE FROM dbos_migrations; INSERT INTO dbos_migrations VALUES (110), (111);",
        )
        .unwrap();
    assert_eq!(s.schema_version().await.unwrap().recorded, 111);
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    s.close().await.unwrap();
    assert_eq!(version_rows(&path), vec![125]);
}

#[tokio::test]
async fn a_newer_peer_version_is_accepted_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.sqlite");
    let s = store(&path).await;
    s.migrate().await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE dbos_migrations SET version = 130", [])
        .unwrap();
    let v = s.migrate().await.unwrap();
    assert_eq!((v.recorded, v.latest), (130, 125));
    assert!(v.is_current());
    s.close().await.unwrap();
    assert_eq!(version_rows(&path), vec![130]);
}

#[tokio::test]
async fn a_pre_100_sqlite_version_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE dbos_migrations (version INTEGER NOT NULL PRIMARY KEY);
             INSERT INTO dbos_migrations VALUES (50);
             CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY);",
        )
        .unwrap();
    }
    let s = store(&path).await;
    let e = s.migrate().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    let m = e.message();
    assert!(m.contains("version 50"), "{m}");
    assert!(m.contains("below 100"), "{m}");
    assert!(m.contains("numbered differently by each DBOS SDK"), "{m}");
    s.close().await.unwrap();
    // Nothing was changed.
    assert_eq!(version_rows(&path), vec![50]);
}

#[tokio::test]
async fn dbos_tables_without_a_version_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unversioned.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY);")
        .unwrap();
    let s = store(&path).await;
    let e = s.migrate().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
    assert!(e.message().contains("no version"), "{e}");
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrators_on_one_fresh_file_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.sqlite");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let s = SqliteStore::open(SqliteConfig::file(&path).readers(1))
                .await
                .unwrap();
            let v = s.migrate().await;
            s.close().await.unwrap();
            v
        }));
    }
    for t in tasks {
        let v = t.await.unwrap().unwrap();
        assert_eq!(v.recorded, 125);
    }
    assert_eq!(version_rows(&path), vec![125]);
    assert_reference(&path);
}

#[tokio::test]
async fn an_in_memory_database_migrates() {
    let s = SqliteStore::open_url("sqlite:///:memory:").await.unwrap();
    assert_eq!(s.schema_version().await.unwrap().recorded, 0);
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    assert_eq!(s.migrate().await.unwrap().recorded, 125);
    assert_eq!(s.schema_version().await.unwrap().recorded, 125);
    s.close().await.unwrap();
}
