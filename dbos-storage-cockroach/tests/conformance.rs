//! The conformance suite against `CockroachStore` on the PostgreSQL test server in
//! CockroachDB-compatible mode: the CockroachDB dialect (its migrations, SERIALIZABLE sessions,
//! no LISTEN/NOTIFY) inside the retry wrapper. Every case gets a fresh schema.

mod common;

use common::CrdbFactory;

dbos_storage_conformance::suite!(CrdbFactory::compat());
