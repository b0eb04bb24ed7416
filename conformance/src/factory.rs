//! [`Factory`]: how the suite gets a fresh store for every test case.

use async_trait::async_trait;
use dbos_storage_core::{Capabilities, LifecycleStore, SystemStore};

use crate::model::MemoryStore;

/// Makes fresh, isolated, migrated stores of one backend, and disposes of them.
///
/// The suite calls [`Factory::create`] at the start of every property (and of every generated
/// case of a model-based property) and [`Factory::destroy`] at its end. Stores from one factory
/// must not see each other's rows: give each its own file, database or schema.
///
/// A factory panics, with a message saying how to fix it, when it cannot provide a store; the
/// suite never skips a backend silently.
#[async_trait]
pub trait Factory: Send + Sync + 'static {
    /// The store under test.
    type Store: SystemStore;

    /// A fresh, empty store with the DBOS schema migrated.
    async fn create(&self) -> Self::Store;

    /// Closes `store` and removes what [`Factory::create`] made for it (file, schema, …).
    async fn destroy(&self, store: Self::Store);

    /// The capabilities the backend declares; one property checks that the store reports
    /// exactly these, and capability-dependent properties branch on them.
    fn capabilities(&self) -> Capabilities;
}

/// The factory of [`MemoryStore`]: each store is a new, empty map.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryFactory;

impl MemoryFactory {
    /// A new memory factory.
    pub fn new() -> Self {
        MemoryFactory
    }
}

#[async_trait]
impl Factory for MemoryFactory {
    type Store = MemoryStore;

    async fn create(&self) -> MemoryStore {
        MemoryStore::migrated()
    }

    async fn destroy(&self, store: MemoryStore) {
        store
            .close()
            .await
            .expect("closing a memory store cannot fail");
    }

    fn capabilities(&self) -> Capabilities {
        MemoryStore::declared_capabilities()
    }
}
