//! TLS against a real server with `ssl = on` and certificates generated at test time: what each
//! `sslmode` encrypts and verifies.

use dbos_storage_core::{DatabaseUrl, DbosConfig, ErrorKind, LifecycleStore};
use dbos_storage_postgres::{PostgresConfig, PostgresStore};
use dbos_storage_testkit::pg;

/// The URL of the TLS server's `postgres` database at `host` with `query` (and a unique
/// application name, returned too, to find the session in `pg_stat_activity`).
fn tls_url(host: &str, query: &str) -> (String, String) {
    let server = pg::tls_server();
    let app = server.unique_name("tls");
    let sep = if query.is_empty() { "" } else { "&" };
    (
        format!(
            "postgresql://postgres@{host}:{}/postgres?application_name={app}{sep}{query}",
            server.port()
        ),
        app,
    )
}

async fn open(url: &str) -> dbos_storage_core::Result<PostgresStore> {
    let url = DatabaseUrl::parse(url)?;
    PostgresStore::open(PostgresConfig::system(
        &DbosConfig::new("tls-test").with_pool_size(1),
        &url,
    )?)
    .await
}

/// Whether the session of `app` is encrypted, as the server sees it.
async fn encrypted(app: &str) -> bool {
    let server = pg::tls_server();
    let client = server.connect(&server.admin_url()).await.unwrap();
    let rows = client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    assert!(!rows.is_empty(), "no session of {app}");
    rows.iter().all(|r| r.get::<_, bool>(0))
}

fn ca() -> String {
    pg::tls_server().ca_cert_path().display().to_string()
}

#[tokio::test]
async fn verify_full_with_the_right_ca_and_host() {
    for host in ["localhost", "127.0.0.1"] {
        let (url, app) = tls_url(host, &format!("sslmode=verify-full&sslrootcert={}", ca()));
        let store = open(&url).await.expect("verify-full connects");
        store.check_connection().await.unwrap();
        assert!(encrypted(&app).await);
        store.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_ca_is_refused_naming_certificate_verification() {
    let other = pg::tls_server().other_ca_cert_path().display().to_string();
    for mode in ["verify-full", "verify-ca", "require"] {
        let (url, _) = tls_url("localhost", &format!("sslmode={mode}&sslrootcert={other}"));
        let err = open(&url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{mode}: {err}");
        assert!(
            err.message().contains("certificate verification failed"),
            "{mode}: {err}"
        );
    }
}

#[tokio::test]
async fn a_wrong_host_name_fails_verify_full_but_not_verify_ca() {
    let query = |mode: &str| format!("hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={}", ca());
    let (url, _) = tls_url("wrong.example", &query("verify-full"));
    let err = open(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(
        err.message().contains("certificate verification failed"),
        "{err}"
    );
    assert!(err.message().contains("NotValidForName"), "{err}");

    // verify-ca (and require with a root) check the chain only.
    for mode in ["verify-ca", "require"] {
        let (url, app) = tls_url("wrong.example", &query(mode));
        let store = open(&url).await.expect(mode);
        assert!(encrypted(&app).await, "{mode}");
        store.close().await.unwrap();
    }
}

#[tokio::test]
async fn require_and_prefer_encrypt_without_verifying() {
    for query in ["sslmode=require", "sslmode=prefer", "", "sslmode=allow"] {
        // The host name does not match and no root is given: nothing is verified.
        let (url, app) = tls_url("wrong.example", &format!("hostaddr=127.0.0.1&{query}"));
        let store = open(&url).await.expect(query);
        assert!(encrypted(&app).await, "{query:?} encrypts");
        store.close().await.unwrap();
    }
}

#[tokio::test]
async fn disable_does_not_encrypt() {
    let (url, app) = tls_url("localhost", "sslmode=disable");
    let store = open(&url).await.unwrap();
    assert!(!encrypted(&app).await);
    store.close().await.unwrap();
}

#[tokio::test]
async fn require_fails_against_a_server_without_tls() {
    let server = pg::server();
    let mut url = DatabaseUrl::parse(&server.admin_url())
        .unwrap()
        .expose_secret()
        .to_owned();
    url.push_str(if url.contains('?') { "&" } else { "?" });
    url.push_str("sslmode=require");
    let err = open(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(err.message().contains("does not support TLS"), "{err}");
}

#[tokio::test]
async fn verify_modes_need_a_root_certificate() {
    for mode in ["verify-full", "verify-ca"] {
        let (url, _) = tls_url("localhost", &format!("sslmode={mode}"));
        let err = open(&url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
        assert!(err.message().contains("requires sslrootcert"), "{err}");
    }
    let (url, _) = tls_url(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/root.crt",
    );
    let err = open(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(err.message().contains("/nonexistent/root.crt"), "{err}");
}

#[tokio::test]
async fn client_certificates_are_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let client = rcgen::generate_simple_self_signed(vec!["client".to_owned()]).unwrap();
    let cert = dir.path().join("client.crt");
    let key = dir.path().join("client.key");
    std::fs::write(&cert, client.cert.pem()).unwrap();
    std::fs::write(&key, client.signing_key.serialize_pem()).unwrap();
    // The server does not ask for a client certificate; the key must still load.
    let (url, app) = tls_url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            ca(),
            cert.display(),
            key.display()
        ),
    );
    let store = open(&url).await.expect("client certificate loads");
    assert!(encrypted(&app).await);
    store.close().await.unwrap();

    // A file that is not a key is named in the error.
    let bad = dir.path().join("not-a.key");
    std::fs::write(&bad, "hello").unwrap();
    let (url, _) = tls_url(
        "localhost",
        &format!(
            "sslmode=require&sslcert={}&sslkey={}",
            cert.display(),
            bad.display()
        ),
    );
    let err = open(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(err.message().contains("not-a.key"), "{err}");

    // Encrypted keys and revocation lists are refused, not ignored.
    for extra in ["sslpassword=x", "sslcrl=/tmp/crl.pem"] {
        let (url, _) = tls_url("localhost", &format!("sslmode=require&{extra}"));
        let err = open(&url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.message().contains("not supported yet"), "{err}");
    }
}
