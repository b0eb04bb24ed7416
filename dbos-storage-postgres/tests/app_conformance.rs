//! The application-store half of the conformance suite against `PostgresAppStore`: every
//! property gets a fresh database on the test server (`DBOS_TEST_POSTGRES_URL`, or a throwaway
//! local cluster the harness starts); see `dbos_storage_testkit::factories::PgAppFactory`.

use dbos_storage_testkit::factories::PgAppFactory;

dbos_storage_conformance::app_suite!(PgAppFactory::new());
