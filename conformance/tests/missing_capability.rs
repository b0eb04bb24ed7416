//! The suite against a backend that declares a capability missing: a memory store without
//! `attribute_filter`. The properties that need it are skipped (each says so on standard error),
//! every other property runs and passes, and the capability check confirms the store refuses
//! attribute filters.

use dbos_storage_conformance::{async_trait, skipped_properties, Factory, MemoryStore, PROPERTIES};
use dbos_storage_core::{Capabilities, LifecycleStore};

/// Memory stores that declare (and keep) no attribute filter.
struct WithoutAttributeFilter;

impl WithoutAttributeFilter {
    fn declared() -> Capabilities {
        let mut caps = MemoryStore::declared_capabilities();
        caps.attribute_filter = false;
        caps
    }
}

#[async_trait]
impl Factory for WithoutAttributeFilter {
    type Store = MemoryStore;

    async fn create(&self) -> MemoryStore {
        MemoryStore::migrated_declaring(Self::declared())
    }

    async fn destroy(&self, store: MemoryStore) {
        store
            .close()
            .await
            .expect("closing a memory store cannot fail");
    }

    fn capabilities(&self) -> Capabilities {
        Self::declared()
    }
}

dbos_storage_conformance::suite!(WithoutAttributeFilter);

/// Exactly the properties that need `attribute_filter` are skipped for this factory; the
/// generated tests above are all the others, run for real (a skipped property that ran would
/// fail: it lists by attributes, which this store refuses).
#[test]
fn exactly_the_attribute_filter_properties_are_skipped() {
    let skipped = skipped_properties(&WithoutAttributeFilter::declared());
    assert_eq!(
        skipped,
        [(
            "attributes::attribute_updates_are_listed",
            "attribute_filter"
        )]
    );
    assert!(
        skipped_properties(&MemoryStore::declared_capabilities()).is_empty(),
        "the full memory store skips nothing"
    );
    let running = PROPERTIES
        .iter()
        .filter(|p| !skipped.iter().any(|(s, _)| s == *p))
        .count();
    assert_eq!(running, PROPERTIES.len() - 1);
}

/// The property that is skipped really needs the capability: run by hand on this store, it
/// fails.
#[test]
fn the_skipped_property_fails_without_the_capability() {
    let ran = std::thread::spawn(|| {
        dbos_storage_conformance::runner::runtime().block_on(
            dbos_storage_conformance::properties::attributes::attribute_updates_are_listed(
                &WithoutAttributeFilter,
            ),
        )
    })
    .join();
    assert!(
        ran.is_err(),
        "listing by attributes worked on a store that refuses it"
    );
}
