//! The conformance suite against `PostgresStore`: every case gets a fresh schema
//! `dbos_conf_{pid}_{n}` in one database of the test server (`DBOS_TEST_POSTGRES_URL`, or a
//! throwaway local cluster the harness starts); see `dbos_storage_testkit::factories::PgFactory`.

use dbos_storage_testkit::factories::PgFactory;

dbos_storage_conformance::suite!(PgFactory::new());
