//! [`LifecycleStore`] on PostgreSQL: migrate, version, check, capabilities and close.

use async_trait::async_trait;
use dbos_storage_core::url::quote_identifier;
use dbos_storage_core::{Capabilities, Error, LifecycleStore, Result, SchemaVersion, ServerInfo};

use super::{col, PostgresStore};
use crate::dialect::ServerSession;
use crate::error::{classify, BACKEND};
use crate::migrate;
use crate::sql::{self, render};

#[async_trait]
impl LifecycleStore for PostgresStore {
    fn backend(&self) -> &'static str {
        self.config().dialect().name()
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.listen_notify = self.config().use_listen_notify();
        caps.skip_locked = true;
        caps.schemas = true;
        caps.attribute_filter = true;
        caps.multi_process = true;
        caps.durable = true;
        caps
    }

    async fn migrate(&self) -> Result<SchemaVersion> {
        self.ensure_open()?;
        migrate::migrate(self.pool()).await
    }

    async fn schema_version(&self) -> Result<SchemaVersion> {
        self.ensure_open()?;
        migrate::schema_version(self.pool()).await
    }

    async fn check_connection(&self) -> Result<()> {
        let client = self.client().await?;
        let row = client
            .query_one(self.queries().select_one.as_str(), &[])
            .await
            .map_err(classify)?;
        col::<i32>(&row, 0)?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.shut_down().await;
        Ok(())
    }
}

impl PostgresStore {
    /// Creates or upgrades the system schema as [`LifecycleStore::migrate`] does, but stops
    /// after migration `version`, as a DBOS SDK whose migrations end there leaves a database
    /// (DBOS Transact for TypeScript 5.3: 123; DBOS Python 2.31: 108). For tests of databases
    /// at earlier versions; a database at or ahead of `version` is left untouched.
    ///
    /// # Errors
    /// As [`LifecycleStore::migrate`].
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i64) -> Result<SchemaVersion> {
        self.ensure_open()?;
        migrate::migrate_to(self.pool(), version).await
    }

    /// What the store knows about its server and connection, for diagnostics: the server's
    /// product and version and whether this session is encrypted, as the dialect describes them
    /// ([`Dialect::describe_server`](crate::Dialect::describe_server); PostgreSQL reads
    /// `pg_stat_ssl`); and as
    /// settings the database, user, schema, `sslmode`, pool limits and timeouts, LISTEN/NOTIFY
    /// and the pool's current connections.
    ///
    /// # Errors
    /// Only the transient kinds, and [`Closed`](dbos_storage_core::ErrorKind::Closed).
    pub async fn server_info(&self) -> Result<ServerInfo> {
        let client = self.client().await?;
        let config = self.config();
        let mut info = config
            .dialect()
            .describe_server(&ServerSession::new(&client, config))
            .await?;
        drop(client);
        let state = self.pool().state();
        info = info
            .with_setting("schema", config.schema())
            .with_setting("sslmode", config.sslmode())
            .with_setting("pool_max_connections", config.max_size())
            .with_setting("pool_size", config.pool_size)
            .with_setting("max_overflow", config.max_overflow)
            .with_setting("pool_timeout_s", config.pool_timeout.as_secs_f64())
            .with_setting("pool_pre_ping", config.pool_pre_ping)
            .with_setting(
                "pool_pre_ping_window_ms",
                u64::try_from(config.pool_pre_ping_window.as_millis()).unwrap_or(u64::MAX),
            )
            .with_setting("connect_timeout_s", config.connect_timeout.as_secs_f64())
            .with_setting("listen_notify", config.use_listen_notify())
            .with_setting(
                "pool_connections",
                format!(
                    "{} open, {} idle",
                    state.connections, state.idle_connections
                ),
            );
        Ok(info)
    }

    /// Grants `role` what an application connecting as that role needs on the system schema,
    /// as DBOS's `dbos migrate --app-role` does, in one transaction: `USAGE` on the schema;
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE` on all its tables; `USAGE`, `SELECT` on its
    /// sequences and `EXECUTE` on its functions (as the dialect's
    /// [`app_role_grants`](crate::Dialect::app_role_grants) list them); and the same as default privileges for objects the connected role creates there
    /// later (future migrations). Run it after [`migrate`](LifecycleStore::migrate), connected
    /// as the schema's owner.
    ///
    /// # Errors
    /// [`InvalidInput`](dbos_storage_core::ErrorKind::InvalidInput) for an empty role name; the
    /// server's error (classified) for a role that does not exist or missing privileges.
    ///
    /// # Idempotency
    /// Idempotent: granting twice changes nothing.
    pub async fn grant_app_role(&self, role: &str) -> Result<()> {
        if role.is_empty() {
            return Err(
                Error::invalid_input("the application role name is empty").with_backend(BACKEND)
            );
        }
        let statements = self.config().dialect().app_role_grants();
        let role = quote_identifier(role);
        let statements: Vec<String> = statements
            .iter()
            .map(|s| render(s, self.schema()).replace("{role}", &role))
            .collect();
        self.write(move |tx, _| {
            Box::pin(async move {
                for statement in &statements {
                    tx.batch_execute(statement).await.map_err(classify)?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Drops the store's schema with every object in it, then closes the store. Irreversible:
    /// for throwaway schemas only, such as the one a benchmark runs in.
    ///
    /// # Errors
    /// The server's error (classified), e.g. when the user does not own the schema.
    pub async fn drop_schema(&self) -> Result<()> {
        let statement = render(sql::lifecycle::DROP_SCHEMA, self.schema());
        let result = async {
            let client = self.client().await?;
            client.batch_execute(&statement).await.map_err(classify)
        }
        .await;
        self.shut_down().await;
        result
    }
}
