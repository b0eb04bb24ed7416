//! The conformance suite run against its own reference model, `MemoryStore`.

dbos_storage_conformance::suite!(dbos_storage_conformance::MemoryFactory::new());
