//! Statements of the lifecycle operations that are not migrations (those live with the
//! migrator).

// language=SQL
/// Whether `workflow_status.workflow_uuid` sorts by code point: the database encoding is UTF8 (or
/// SQL_ASCII holding UTF-8 bytes), where byte order is code point order, and the column's
/// collation is the built-in `C`, `POSIX` or `ucs_basic`, or the database default where that is
/// libc's `C`, `POSIX` or `C.UTF-8`. `datlocprovider` (PostgreSQL 15 on; `i` for an ICU default)
/// is read through `to_jsonb` so that older servers, which lack the column, answer too.
pub(crate) const SELECT_IDS_SORT_BY_CODE_POINT: &str = "\
SELECT COALESCE((
    SELECT pg_catalog.pg_encoding_to_char(d.encoding) IN ('UTF8', 'SQL_ASCII') AND CASE
        WHEN c.collnamespace <> 'pg_catalog'::regnamespace THEN false
        WHEN c.collname = 'default' THEN
            d.datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8')
            AND COALESCE(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c'
        ELSE c.collname IN ('C', 'POSIX', 'ucs_basic')
    END
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_collation c ON c.oid = a.attcollation
    JOIN pg_catalog.pg_database d ON d.datname = current_database()
    WHERE a.attrelid = to_regclass('{schema}.workflow_status') AND a.attname = 'workflow_uuid'
), false)";

// language=SQL
/// A trivial query proving the database answers.
pub(crate) const SELECT_ONE: &str = "SELECT 1";

// language=SQL
/// The recorded schema version (0 when none); fails with `42P01` when the table is missing.
pub(crate) const SELECT_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) FROM {schema}.dbos_migrations";

// language=SQL
/// The server's `version()`, its `server_version`, the database, the user, and the TLS state of
/// this session from `pg_stat_ssl` (NULL columns when the view has no row for it).
pub(crate) const SELECT_SERVER_INFO: &str = "\
SELECT version(), current_setting('server_version'), current_database()::text,
       current_user::text, s.ssl, s.version::text, s.cipher::text
FROM (SELECT pg_backend_pid() AS pid) AS me
LEFT JOIN pg_catalog.pg_stat_ssl s ON s.pid = me.pid";

// language=SQL
/// The server's `version()` (how a dialect recognises its server).
pub(crate) const SELECT_SERVER_VERSION: &str = "SELECT version()";

// language=SQL
/// The value of the setting `$1` in this session, NULL when the server does not know it.
pub(crate) const SELECT_SETTING: &str = "SELECT current_setting($1, true)";

/// What `dbos-storage migrate --app-role` grants on PostgreSQL, as DBOS's own `dbos migrate
/// --app-role` does: use of the schema, read and write on its tables, its sequences and its
/// functions (`enqueue_workflow`, `send_message`, the notification functions), now and for
/// objects the migrating role creates there later. `{role}` is the quoted role.
pub(crate) const GRANT_APP_ROLE: &[&str] = &[
    // language=SQL
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    // language=SQL
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
    // language=SQL
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
    // language=SQL
    "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {role}",
    // language=SQL
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} \
     GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    // language=SQL
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    // language=SQL
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT EXECUTE ON FUNCTIONS TO {role}",
];

// language=SQL
/// Drops a schema with everything in it.
pub(crate) const DROP_SCHEMA: &str = "DROP SCHEMA IF EXISTS {schema} CASCADE";
