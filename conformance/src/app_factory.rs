//! [`AppFactory`]: how the application-store half of the suite ([`app_suite!`](crate::app_suite))
//! gets a fresh store for every property.

use async_trait::async_trait;
use dbos_storage_core::AppStore;

/// Makes fresh, isolated, migrated application stores of one backend, and disposes of them.
///
/// The suite calls [`AppFactory::create`] at the start of every property and
/// [`AppFactory::destroy`] at its end. Each store must be an empty application database of its
/// own (its own file or database, not a schema of a shared one: the suite creates its own
/// tables, `accounts` and `vals`, through [`AppStore::run_migrations`], in the database's
/// default schema). [`AppStore::migrate`] must have run.
///
/// A factory panics, with a message saying how to fix it, when it cannot provide a store; the
/// suite never skips a backend silently.
#[async_trait]
pub trait AppFactory: Send + Sync + 'static {
    /// The store under test.
    type Store: AppStore;

    /// A fresh, empty application database with `transaction_outputs` migrated.
    async fn create(&self) -> Self::Store;

    /// Closes `store` (it may already be closed) and removes what [`AppFactory::create`] made
    /// for it (file, database, …).
    async fn destroy(&self, store: Self::Store);
}
