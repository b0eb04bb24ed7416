//! [`AuditAppStore`]: an application store that counts and logs the transactions of the store
//! it wraps, written against the public [`AppStore`] contract only.
//!
//! Application stores have no layer machinery like system stores' `Layered`: the trait is
//! small, so the wrapper implements it and hands every call to the inner store, looking at what
//! [`AppStore::run_transaction`] answered.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dbos_storage::app::TransactionBody;
use dbos_storage::{
    AppStore, EpochMs, RecordedTransaction, Result, TransactionCall, TransactionOutcome,
};

/// How many transactions an [`AuditAppStore`] saw end each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransactionCounts {
    /// Calls whose body ran and whose result the store returned (recorded, or read-only).
    pub ran: u64,
    /// Calls answered from a recorded row without running the body.
    pub replayed: u64,
    /// Calls that failed.
    pub failed: u64,
}

/// An application store that counts and logs every transaction of the store it wraps; every
/// other call goes straight through. Clones share the counts.
#[derive(Debug, Clone)]
pub struct AuditAppStore {
    inner: Arc<dyn AppStore>,
    counts: Arc<Mutex<TransactionCounts>>,
}

impl AuditAppStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn AppStore>) -> Self {
        AuditAppStore {
            inner,
            counts: Arc::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> TransactionCounts {
        self.counts.lock().map(|c| *c).unwrap_or_default()
    }

    fn count(&self, call: &TransactionCall, result: &Result<TransactionOutcome>) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        match result {
            Ok(done) if done.replayed => {
                counts.replayed += 1;
                tracing::info!(workflow = %call.workflow_id, step = call.function_id, "replayed transaction");
            }
            Ok(done) => {
                counts.ran += 1;
                tracing::info!(
                    workflow = %call.workflow_id,
                    step = call.function_id,
                    attempts = done.attempts,
                    "audited transaction"
                );
            }
            Err(error) => {
                counts.failed += 1;
                tracing::warn!(workflow = %call.workflow_id, step = call.function_id, %error, "transaction failed");
            }
        }
    }
}

#[async_trait]
impl AppStore for AuditAppStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }

    async fn run_migrations(&self, folder: &Path) -> Result<Vec<String>> {
        self.inner.run_migrations(folder).await
    }

    async fn run_transaction(
        &self,
        call: TransactionCall,
        body: &mut TransactionBody<'_>,
    ) -> Result<TransactionOutcome> {
        let result = self.inner.run_transaction(call.clone(), body).await;
        self.count(&call, &result);
        result
    }

    async fn recorded_transaction(
        &self,
        workflow_id: &str,
        function_id: i32,
    ) -> Result<Option<RecordedTransaction>> {
        self.inner
            .recorded_transaction(workflow_id, function_id)
            .await
    }

    async fn delete_transaction_outputs(
        &self,
        workflow_ids: &[String],
        from_function_id: i32,
        created_before: Option<EpochMs>,
    ) -> Result<u64> {
        self.inner
            .delete_transaction_outputs(workflow_ids, from_function_id, created_before)
            .await
    }

    async fn transaction_output_workflows(
        &self,
        created_before: EpochMs,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.inner
            .transaction_output_workflows(created_before, after, limit)
            .await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use dbos_storage::app::transaction_body;
    use dbos_storage::{DatabaseUrl, DbosConfig, ErrorKind, Outcome, Payload};

    use super::*;
    use crate::AuditDriver;

    #[tokio::test]
    async fn counts_ran_replayed_and_failed_transactions() {
        let url = DatabaseUrl::parse("audit:///:memory:").unwrap();
        let store = AuditDriver
            .open_app_store(&DbosConfig::new("audit-unit"), &url)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let mut body = transaction_body(|_tx| {
            Box::pin(async { Ok(Outcome::Output(Payload::new("\"done\"", None))) })
        });
        let call = TransactionCall::new("wf-1", 1, "pay");
        store
            .run_transaction(call.clone(), &mut body)
            .await
            .unwrap();
        store.run_transaction(call, &mut body).await.unwrap();
        let e = store
            .run_transaction(TransactionCall::new("", 1, "pay"), &mut body)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            store.counts(),
            TransactionCounts {
                ran: 1,
                replayed: 1,
                failed: 1
            }
        );
        assert_eq!(store.backend(), "sqlite");
        store.close().await.unwrap();
    }
}
