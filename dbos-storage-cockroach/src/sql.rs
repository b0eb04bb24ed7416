//! The statements the CockroachDB dialect uses in place of PostgreSQL's, and its session
//! settings. `{schema}` (and `{role}`) are rendered quoted.

// language=SQL
/// Run on every new connection: SERIALIZABLE as the session default (CockroachDB's own default;
/// on a PostgreSQL server in CockroachDB-compatible mode it makes transactions behave alike).
pub(crate) const SET_SERIALIZABLE: &str = "SET default_transaction_isolation = 'serializable'";

// language=SQL
/// The server's `version()`, the database and the user: CockroachDB has no `pg_stat_ssl`, so
/// whether the session is encrypted is read from `sslmode` instead.
pub(crate) const SELECT_SERVER_INFO: &str =
    "SELECT version(), current_database()::text, current_user::text";

/// What `dbos-storage migrate --app-role` grants on CockroachDB: use of the schema and read and
/// write on its tables, now and for tables created there later (its schema holds no sequences
/// or functions to grant).
pub(crate) const GRANT_APP_ROLE: &[&str] = &[
    // language=SQL
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    // language=SQL
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
    // language=SQL
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} \
     GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
];
