//! The application-database contract: exactly-once transactions whose output is recorded in
//! `transaction_outputs` (the DBOS 2.x form) in the same transaction as the user's writes.
//!
//! User code sees a backend-neutral handle, [`AppTransaction`]: SQL text with `:name`
//! parameters, a small [`Value`] type, [`Row`]s that deserialize into serde structs, and
//! [`AppTransaction::as_any_mut`] to reach the driver's native transaction for anything else.
//!
//! The user's migration folders, as [`AppStore::run_migrations`] reads them, are in
//! [`migrations`].

pub mod migrations;

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
pub use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::workflows::Outcome;

/// A SQL value that every backend can bind and return.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean (SQLite stores 0/1).
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl Value {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Text(s) => s.clone().into(),
            Value::Bytes(b) => b.iter().map(|x| serde_json::Value::from(*x)).collect(),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $v:ident $(as $cast:ty)?),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$v(v $(as $cast)?)
            }
        })*
    };
}

value_from!(bool => Bool, i64 => Int, i32 => Int as i64, u32 => Int as i64, f64 => Float,
    String => Text, Vec<u8> => Bytes);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Named parameters for a statement: `:name` in the SQL, `("name", value)` here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Vec<(String, Value)>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `:name` = `value`.
    #[must_use]
    pub fn bind(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.push((name.into(), value.into()));
        self
    }

    /// The parameters in the order they were bound.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value bound to the parameter `name` (without its `:`): the last binding wins, and a
    /// bound name may start with `:`.
    pub fn bound(&self, name: &str) -> Option<&Value> {
        self.iter()
            .filter(|(n, _)| n.strip_prefix(':').unwrap_or(n) == name)
            .last()
            .map(|(_, v)| v)
    }
}

/// The error of a statement parameter (`placeholder`, as written in the SQL) that no value of
/// the call's [`Params`] is bound to; `name` is the placeholder's bare name.
pub fn unbound_parameter(placeholder: &str, name: &str) -> Error {
    Error::invalid_input(format!(
        "the statement uses {placeholder} but no value is bound to it; add .bind(\"{name}\", …) \
         to its Params"
    ))
}

/// One result row: column names and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A row from shared column names and its values (drivers build these).
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Row { columns, values }
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value of a column by name.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.columns
            .iter()
            .position(|c| c == column)
            .map(|i| &self.values[i])
    }

    /// Deserializes the row into `T` by column name (booleans stored as 0/1 deserialize into
    /// `bool` only on backends that report them as booleans; use integers on SQLite).
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] naming the type and the serde error.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        let map: serde_json::Map<String, serde_json::Value> = self
            .columns
            .iter()
            .zip(&self.values)
            .map(|(c, v)| (c.clone(), v.to_json()))
            .collect();
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
            Error::invalid_input(format!(
                "cannot read a row with columns {:?} as {}: {e}",
                self.columns,
                std::any::type_name::<T>()
            ))
        })
    }
}

/// The handle user code gets inside [`AppStore::run_transaction`].
///
/// Statements run in the transaction; nothing is visible to others until the store commits.
#[async_trait]
pub trait AppTransaction: Send {
    /// The backend's short name.
    fn backend(&self) -> &'static str;

    /// Runs a statement and returns the number of rows it changed.
    ///
    /// # Errors
    /// The driver's classified error; a retryable one makes the store re-run the whole body.
    async fn execute(&mut self, sql: &str, params: Params) -> Result<u64>;

    /// Runs a query (or a statement with `RETURNING`) and returns its rows.
    ///
    /// # Errors
    /// As [`AppTransaction::execute`].
    async fn query(&mut self, sql: &str, params: Params) -> Result<Vec<Row>>;

    /// The driver's own transaction type, for what the neutral handle cannot express. Downcast it
    /// to the type the driver documents.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl dyn AppTransaction + '_ {
    /// Runs a query and deserializes every row into `T`.
    ///
    /// # Errors
    /// As [`AppTransaction::query`] and [`Row::deserialize`].
    pub async fn query_as<T: DeserializeOwned>(
        &mut self,
        sql: &str,
        params: Params,
    ) -> Result<Vec<T>> {
        self.query(sql, params)
            .await?
            .iter()
            .map(Row::deserialize)
            .collect()
    }

    /// Runs a query that must return at most one row, deserialized into `T`.
    ///
    /// # Errors
    /// As `query_as`, and [`crate::ErrorKind::InvalidInput`] for more than one row.
    pub async fn query_opt<T: DeserializeOwned>(
        &mut self,
        sql: &str,
        params: Params,
    ) -> Result<Option<T>> {
        let mut rows = self.query(sql, params).await?;
        if rows.len() > 1 {
            return Err(Error::invalid_input(format!(
                "expected at most one row, got {}",
                rows.len()
            )));
        }
        rows.pop().map(|r| r.deserialize()).transpose()
    }
}

/// Isolation level of an application transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Isolation {
    /// SERIALIZABLE (DBOS's default). SQLite transactions are always serializable.
    #[default]
    Serializable,
    /// REPEATABLE READ.
    RepeatableRead,
    /// READ COMMITTED.
    ReadCommitted,
}

/// Which transaction step is running: its workflow position and name, and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionCall {
    /// The workflow.
    pub workflow_id: String,
    /// The step position in the workflow.
    pub function_id: i32,
    /// The transaction's name, recorded as `function_name`.
    pub function_name: String,
    /// The isolation level.
    pub isolation: Isolation,
    /// Run in read-only mode. A read-only transaction records nothing in `transaction_outputs`
    /// (it cannot write); its result is checkpointed by the system store's step record alone.
    pub read_only: bool,
}

impl TransactionCall {
    /// A read-write, serializable call.
    pub fn new(
        workflow_id: impl Into<String>,
        function_id: i32,
        function_name: impl Into<String>,
    ) -> Self {
        TransactionCall {
            workflow_id: workflow_id.into(),
            function_id,
            function_name: function_name.into(),
            isolation: Isolation::default(),
            read_only: false,
        }
    }

    /// Sets the isolation level.
    #[must_use]
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Runs read-only.
    #[must_use]
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// Checks the workflow id, the step position and the transaction name.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] saying which rule failed (see [`crate::validate`]).
    pub fn validate(&self) -> Result<()> {
        crate::validate::workflow_id(&self.workflow_id)?;
        crate::validate::function_id(self.function_id)?;
        crate::payload::validate_text("transaction name", &self.function_name)
    }
}

/// The user's transaction body. It may run more than once (after a serialization failure or
/// lock contention); only one run commits. Return [`Outcome::Output`] to commit the writes with
/// the output, or [`Outcome::Error`] to roll them back and record the error; return `Err` for a
/// database error (retryable ones re-run the body). [`Outcome::Void`] is refused (see
/// [`AppStore::run_transaction`]): a transaction that returns nothing records its encoded unit
/// value, as DBOS does.
pub type TransactionBody<'b> =
    dyn for<'t> FnMut(&'t mut dyn AppTransaction) -> BoxFuture<'t, Result<Outcome>> + Send + 'b;

/// Gives a closure the [`TransactionBody`] signature, so that `Box::pin(async move { … })` in its
/// body type-checks against the handle's lifetime.
///
/// ```
/// use dbos_storage_core::app::transaction_body;
/// use dbos_storage_core::{Outcome, Params, Payload};
///
/// let mut body = transaction_body(|tx| {
///     Box::pin(async move {
///         tx.execute("UPDATE accounts SET balance = balance - 1 WHERE id = :id",
///             Params::new().bind("id", 7)).await?;
///         Ok(Outcome::Output(Payload::portable_json("true")))
///     })
/// });
/// # let _ = &mut body;
/// ```
pub fn transaction_body<F>(f: F) -> F
where
    F: for<'t> FnMut(&'t mut dyn AppTransaction) -> BoxFuture<'t, Result<Outcome>> + Send,
{
    f
}

/// What [`AppStore::run_transaction`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionOutcome {
    /// The recorded output or error.
    pub outcome: Outcome,
    /// True when the result was recorded by an earlier run and the body did not run.
    pub replayed: bool,
    /// How many times the body ran in this call (0 on a replay).
    pub attempts: u32,
}

impl TransactionOutcome {
    /// An outcome (drivers build these).
    pub fn new(outcome: Outcome, replayed: bool, attempts: u32) -> Self {
        TransactionOutcome {
            outcome,
            replayed,
            attempts,
        }
    }
}

/// A row of `transaction_outputs`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedTransaction {
    /// The recorded transaction name.
    pub function_name: String,
    /// The recorded outcome; `None` when the row has neither output nor error.
    pub outcome: Option<Outcome>,
}

impl RecordedTransaction {
    /// A recorded row (drivers build these).
    pub fn new(function_name: impl Into<String>, outcome: Option<Outcome>) -> Self {
        RecordedTransaction {
            function_name: function_name.into(),
            outcome,
        }
    }
}

/// The application database: exactly-once transactions and the user's own migrations.
///
/// # Errors
/// As [`crate::SystemStore`]: transient kinds, plus what each method lists.
#[async_trait]
pub trait AppStore: Debug + Send + Sync + 'static {
    /// The backend's short name.
    fn backend(&self) -> &'static str;

    /// Creates `transaction_outputs` and its index if missing (and adds `function_name` to an old
    /// table).
    ///
    /// # Idempotency
    /// Idempotent.
    async fn migrate(&self) -> Result<()>;

    /// Applies the user's migrations from a folder of refinery files (`V1__name.sql`, …) and
    /// returns the names applied now.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] for an unreadable folder or a badly named file; the
    /// failing migration's database error otherwise.
    ///
    /// # Idempotency
    /// Idempotent: applied migrations are skipped.
    async fn run_migrations(&self, folder: &Path) -> Result<Vec<String>>;

    /// Runs `body` as transaction `call.function_id` of `call.workflow_id`, exactly once.
    ///
    /// # Behavior
    /// 1. In the transaction, reads `transaction_outputs` for the step. A recorded row is a
    ///    replay: its outcome is returned and `body` does not run.
    /// 2. Otherwise runs `body`; on [`Outcome::Output`] inserts the output row in the same
    ///    transaction and commits. On [`Outcome::Error`] rolls back and records the error in a
    ///    separate transaction. On [`Outcome::Void`] rolls back and fails: DBOS writes every
    ///    successful transaction's output as text (a Python `None` is serialized too) and replays
    ///    a row with neither output nor error as an error, so there is no row to record.
    /// 3. Serialization failures and lock contention roll back and re-run the whole body with the
    ///    transaction retry policy (bounded in attempts and time).
    ///
    /// # Errors
    /// - [`crate::ErrorKind::UnexpectedStep`]: the recorded row has another `function_name`.
    /// - [`crate::ErrorKind::StepConflict`]: a concurrent run recorded the step first.
    /// - A database error `body` returned that is not retryable (nothing is recorded).
    /// - [`crate::ErrorKind::InvalidInput`]: `body` returned [`Outcome::Void`] (rolled back,
    ///   nothing recorded).
    ///
    /// # Idempotency
    /// Idempotent: a re-run finds the recorded row and replays it.
    async fn run_transaction(
        &self,
        call: TransactionCall,
        body: &mut TransactionBody<'_>,
    ) -> Result<TransactionOutcome>;

    /// Reads the recorded row of a transaction step, if any.
    async fn recorded_transaction(
        &self,
        workflow_id: &str,
        function_id: i32,
    ) -> Result<Option<RecordedTransaction>>;

    /// Deletes the recorded transactions of these workflows at or after `from_function_id`
    /// (0 deletes them all) and, when `created_before` is given, only those created before it
    /// (epoch ms); returns how many rows went. Used by rewind, delete and garbage collection
    /// across the system and application databases.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] for invalid ids or a negative step.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn delete_transaction_outputs(
        &self,
        workflow_ids: &[String],
        from_function_id: i32,
        created_before: Option<crate::EpochMs>,
    ) -> Result<u64>;

    /// Lists up to `limit` distinct workflow ids that have recorded transactions created before
    /// `created_before` (epoch ms), in id order, after `after` (exclusive) when given. Garbage
    /// collection pages through it to find rows whose workflow is gone.
    async fn transaction_output_workflows(
        &self,
        created_before: crate::EpochMs,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>>;

    /// Closes the store.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn close(&self) -> Result<()>;
}

/// The dynamic form of an application store.
pub type DynAppStore = dyn AppStore;

/// Column names shared by rows of one result, built once per statement.
pub fn column_names(names: impl IntoIterator<Item = String>) -> Arc<[String]> {
    names.into_iter().collect::<Vec<_>>().into()
}

/// Parses `:name` placeholders out of SQL text, in order of appearance, for drivers whose
/// database uses positional parameters. Returns the SQL with `$1, $2, …` and the parameter name of
/// each position; a name used twice gets one position.
///
/// Text that cannot hold a parameter is copied unchanged: string literals (`'…'`), quoted
/// identifiers (`"…"`), dollar-quoted strings (`$$…$$`, `$tag$…$tag$`), `--` and `/* */`
/// comments, and `::` casts.
pub fn positional_sql(sql: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(sql.len());
    let mut names: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        let verbatim = match c {
            '\'' | '"' => Some(quoted_len(rest, c)),
            '-' if rest.starts_with("--") => Some(rest.find('\n').map_or(rest.len(), |n| n + 1)),
            '/' if rest.starts_with("/*") => {
                Some(rest[2..].find("*/").map_or(rest.len(), |n| n + 4))
            }
            '$' => dollar_quote_len(rest),
            ':' if rest.starts_with("::") => Some(2),
            _ => None,
        };
        if let Some(len) = verbatim {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        let name_len = rest[1..]
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
            .unwrap_or(rest.len() - 1);
        let starts_name = rest[1..]
            .chars()
            .next()
            .is_some_and(|n| n.is_ascii_alphabetic() || n == '_');
        if c == ':' && starts_name {
            let name = &rest[1..1 + name_len];
            let pos = *index.entry(name.to_owned()).or_insert_with(|| {
                names.push(name.to_owned());
                names.len()
            });
            out.push('$');
            out.push_str(&pos.to_string());
            rest = &rest[1 + name_len..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    (out, names)
}

/// The length of a `'…'` or `"…"` token at the start of `s` (a doubled quote stays inside).
fn quoted_len(s: &str, quote: char) -> usize {
    let mut chars = s.char_indices().skip(1).peekable();
    while let Some((i, ch)) = chars.next() {
        if ch == quote {
            if chars.peek().is_some_and(|(_, next)| *next == quote) {
                chars.next();
                continue;
            }
            return i + 1;
        }
    }
    s.len()
}

/// The length of a dollar-quoted string (`$$…$$` or `$tag$…$tag$`) at the start of `s`, or `None`
/// when `s` starts with a `$` that opens none (e.g. a `$1` parameter).
fn dollar_quote_len(s: &str) -> Option<usize> {
    let tag_end = s[1..].find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))? + 1;
    let tag = &s[..=tag_end];
    if !tag.ends_with('$') || tag[1..tag_end].starts_with(|ch: char| ch.is_ascii_digit()) {
        return None;
    }
    let body = &s[tag.len()..];
    Some(
        body.find(tag)
            .map_or(s.len(), |n| tag.len() + n + tag.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_deserialize_by_column_name() {
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Account {
            id: i64,
            owner: String,
            note: Option<String>,
        }
        let row = Row::new(
            column_names(["id".into(), "owner".into(), "note".into()]),
            vec![Value::Int(3), Value::from("ann"), Value::Null],
        );
        let a: Account = row.deserialize().unwrap();
        assert_eq!(
            a,
            Account {
                id: 3,
                owner: "ann".into(),
                note: None
            }
        );
        let e = row.deserialize::<(String,)>().unwrap_err();
        assert!(e.message().contains("cannot read a row"), "{e}");
    }

    #[test]
    fn bound_values_accept_a_leading_colon_and_the_last_wins() {
        let params = Params::new().bind(":a", 1).bind("a", 2).bind("b", "x");
        assert_eq!(params.bound("a"), Some(&Value::Int(2)));
        assert_eq!(params.bound("b"), Some(&Value::from("x")));
        assert_eq!(params.bound("missing"), None);
        let e = unbound_parameter(":missing", "missing");
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(
            e.message().contains(":missing but no value is bound"),
            "{e}"
        );
        assert!(e.message().contains(".bind(\"missing\", …)"), "{e}");
    }

    #[test]
    fn calls_are_validated() {
        TransactionCall::new("wf", 1, "deposit").validate().unwrap();
        for call in [
            TransactionCall::new("", 1, "deposit"),
            TransactionCall::new("wf", -1, "deposit"),
            TransactionCall::new("wf", 1, "a\0b"),
        ] {
            let e = call.validate().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{e}");
        }
    }

    #[test]
    fn named_parameters_become_positional() {
        let (sql, names) =
            positional_sql("SELECT :a, ':b', x::text, :a, \"c:d\", :b_2 FROM t WHERE y = :b");
        assert_eq!(
            sql,
            "SELECT $1, ':b', x::text, $1, \"c:d\", $2 FROM t WHERE y = $3"
        );
        assert_eq!(names, vec!["a", "b_2", "b"]);
    }

    #[test]
    fn comments_and_dollar_quotes_hold_no_parameters() {
        let sql = "SELECT :a -- not :b\n, $$ :c $$, $f$ :d $f$, /* :e */ 'it''s :g', :h, $1";
        let (out, names) = positional_sql(sql);
        assert_eq!(
            out,
            "SELECT $1 -- not :b\n, $$ :c $$, $f$ :d $f$, /* :e */ 'it''s :g', $2, $1"
        );
        assert_eq!(names, vec!["a", "h"]);
    }
}
