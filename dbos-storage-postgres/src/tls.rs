//! TLS: libpq's `sslmode`, `sslrootcert`, `sslcert` and `sslkey`, implemented with rustls.
//!
//! tokio-postgres only decides whether to *attempt* TLS ([`tokio_postgres::config::SslMode`]);
//! what is verified is decided here, by the rustls [`ClientConfig`] given to
//! [`MakeRustlsConnect`]:
//!
//! | `sslmode` | TLS | verification |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow`, `prefer` (default) | if the server offers it | none (handshake signatures only) |
//! | `require` | always | none; with `sslrootcert`, as `verify-ca` |
//! | `verify-ca` | always | certificate chain against `sslrootcert`, host name not checked |
//! | `verify-full` | always | chain against `sslrootcert` and host name |
//!
//! `sslrootcert=system` uses the operating system's trust store and implies `verify-full`.
//! Unlike libpq, there is no fallback to `~/.postgresql/root.crt`: the `verify-*` modes need an
//! explicit `sslrootcert`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dbos_storage_core::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SslMode {
    /// No TLS.
    Disable,
    /// libpq tries plain first, then TLS; here the same as `Prefer`.
    Allow,
    /// TLS if the server offers it, no verification (libpq's default).
    #[default]
    Prefer,
    /// TLS, no verification (unless a root certificate is given: then as `VerifyCa`).
    Require,
    /// TLS, the certificate chain is verified, the host name is not.
    VerifyCa,
    /// TLS, the chain and the host name are verified.
    VerifyFull,
}

impl SslMode {
    /// Parses a libpq `sslmode` value.
    fn parse(value: &str) -> Result<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::invalid_config(format!(
                    "invalid sslmode={other:?}: use disable, allow, prefer, require, verify-ca or \
                     verify-full"
                )))
            }
        })
    }

    /// The libpq name.
    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

/// What is verified once the handshake is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Nothing but the handshake signatures.
    Nothing,
    /// The chain against the roots, not the host name.
    Chain,
    /// The chain and the host name.
    Full,
}

/// The TLS settings of a URL: the `ssl*` query keys, removed from what reaches tokio-postgres.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// The mode as given (or the default `prefer`).
    pub(crate) mode: SslMode,
    /// Whether `sslmode` was given explicitly.
    mode_explicit: bool,
    /// `sslrootcert`.
    pub(crate) root_cert: Option<RootCert>,
    /// `sslcert`.
    pub(crate) client_cert: Option<PathBuf>,
    /// `sslkey`.
    pub(crate) client_key: Option<PathBuf>,
}

/// The query keys (and their aliases) that [`TlsSettings::take`] consumes.
pub(crate) const TLS_KEYS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "sslpassword",
    "ssl-password",
    "sslcrl",
    "ssl-crl",
];

impl TlsSettings {
    /// Applies one query key if it is a TLS key; returns whether it was.
    ///
    /// # Errors
    /// [`dbos_storage_core::ErrorKind::InvalidConfig`] for an invalid `sslmode`, an empty path,
    /// and for `sslpassword` and `sslcrl`, which are not supported yet.
    pub(crate) fn take(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "sslmode" | "ssl-mode" => {
                self.mode = SslMode::parse(value)?;
                self.mode_explicit = true;
            }
            "sslrootcert" | "ssl-root-cert" | "ssl-ca" => {
                self.root_cert = Some(if value == "system" {
                    RootCert::System
                } else {
                    RootCert::File(path_value(key, value)?)
                });
            }
            "sslcert" | "ssl-cert" => self.client_cert = Some(path_value(key, value)?),
            "sslkey" | "ssl-key" => self.client_key = Some(path_value(key, value)?),
            "sslpassword" | "ssl-password" => {
                return Err(Error::unsupported(
                    "sslpassword (an encrypted client key) is not supported yet: decrypt the \
                     key (for example `openssl pkey -in client.key -out client.plain.key`) and \
                     point sslkey at the decrypted file",
                ))
            }
            "sslcrl" | "ssl-crl" => {
                return Err(Error::unsupported(
                    "sslcrl (a certificate revocation list) is not supported yet; remove it \
                     from the URL",
                ))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks the combination of keys once all are read.
    ///
    /// # Errors
    /// [`dbos_storage_core::ErrorKind::InvalidConfig`] for `verify-ca` / `verify-full` without
    /// `sslrootcert`, `sslrootcert=system` with a weaker explicit mode, and `sslcert` without
    /// `sslkey` (or the reverse).
    pub(crate) fn finish(&mut self) -> Result<()> {
        if self.root_cert == Some(RootCert::System) {
            if self.mode_explicit && self.mode != SslMode::VerifyFull {
                return Err(Error::invalid_config(format!(
                    "sslrootcert=system requires sslmode=verify-full (got sslmode={}); remove \
                     sslmode or set it to verify-full",
                    self.mode.name()
                )));
            }
            self.mode = SslMode::VerifyFull;
        }
        if matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull) && self.root_cert.is_none()
        {
            return Err(Error::invalid_config(format!(
                "sslmode={} requires sslrootcert: name the PEM file of the CA that signed the \
                 server certificate (sslrootcert=/path/to/root.crt), or sslrootcert=system for \
                 the operating system's trust store (~/.postgresql/root.crt is not read)",
                self.mode.name()
            )));
        }
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => Err(Error::invalid_config(
                "sslcert is set but sslkey is not: give both the client certificate and its key",
            )),
            (None, Some(_)) => Err(Error::invalid_config(
                "sslkey is set but sslcert is not: give both the client certificate and its key",
            )),
            _ => Ok(()),
        }
    }

    /// The mode tokio-postgres uses to decide whether to attempt TLS.
    pub(crate) fn pg_mode(&self) -> PgSslMode {
        match self.mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Allow | SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        }
    }

    /// What is verified.
    pub(crate) fn verify(&self) -> Verify {
        match self.mode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => Verify::Nothing,
            SslMode::Require if self.root_cert.is_some() => Verify::Chain,
            SslMode::Require => Verify::Nothing,
            SslMode::VerifyCa => Verify::Chain,
            SslMode::VerifyFull => Verify::Full,
        }
    }

    /// The libpq name of the mode, for messages.
    pub(crate) fn mode_name(&self) -> &'static str {
        self.mode.name()
    }

    /// Builds the connector: reads the certificate files and the client key.
    ///
    /// # Errors
    /// [`dbos_storage_core::ErrorKind::InvalidConfig`] naming the file that cannot be read or
    /// holds no certificate or key, or when the OS trust store is empty.
    pub(crate) fn connector(&self) -> Result<MakeRustlsConnect> {
        Ok(MakeRustlsConnect::new(self.client_config()?))
    }

    /// The rustls configuration for these settings.
    pub(crate) fn client_config(&self) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::invalid_config(format!("cannot set up TLS: {e}")))?;
        let verify = self.verify();
        let builder = match verify {
            Verify::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                    provider: provider.clone(),
                })),
            Verify::Chain | Verify::Full => {
                let roots = Arc::new(self.roots()?);
                if verify == Verify::Full {
                    builder.with_root_certificates(roots)
                } else {
                    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                        .build()
                        .map_err(|e| {
                            Error::invalid_config(format!(
                                "cannot use the root certificates of sslrootcert: {e}"
                            ))
                        })?;
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ChainOnly { inner }))
                }
            }
        };
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let certs = read_certificates(cert, "sslcert")?;
                let key = read_key(key)?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    Error::invalid_config(format!(
                        "the client certificate {} and key do not fit together: {e}",
                        cert.display()
                    ))
                })
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }

    /// The trusted roots of `sslrootcert`.
    fn roots(&self) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        match &self.root_cert {
            Some(RootCert::File(path)) => {
                for cert in read_certificates(path, "sslrootcert")? {
                    store.add(cert).map_err(|e| {
                        Error::invalid_config(format!(
                            "sslrootcert file {} holds a certificate that cannot be used as a \
                             root: {e}",
                            path.display()
                        ))
                    })?;
                }
            }
            Some(RootCert::System) => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .first()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    return Err(Error::invalid_config(format!(
                        "sslrootcert=system: no trusted certificate was found in the operating \
                         system's store{why}"
                    )));
                }
            }
            None => {}
        }
        Ok(store)
    }
}

/// A non-empty path value.
fn path_value(key: &str, value: &str) -> Result<PathBuf> {
    if value.is_empty() {
        return Err(Error::invalid_config(format!(
            "{key} is empty: give the path of a PEM file"
        )));
    }
    Ok(PathBuf::from(value))
}

/// Every certificate of a PEM file.
fn read_certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::invalid_config(format!(
            "cannot read the {key} file {}: {e}",
            path.display()
        ))
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::invalid_config(format!(
                "the {key} file {} is not valid PEM: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::invalid_config(format!(
            "the {key} file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#1, PKCS#8 or SEC1).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::invalid_config(format!(
            "cannot read the sslkey file {}: {e}",
            path.display()
        ))
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        Error::invalid_config(format!(
            "the sslkey file {} holds no usable private key (PKCS#1, PKCS#8 or SEC1 PEM; \
             encrypted keys are not supported): {e}",
            path.display()
        ))
    })
}

/// Accepts any server certificate (`prefer`, `require` without a root), but still checks that the
/// server owns the key of the certificate it sent.
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for AcceptAnyCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AcceptAnyCertificate")
    }
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Verifies the chain against the roots and ignores only a host-name mismatch (`verify-ca`).
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain (and revocation) before the name, so a name error means the
        // chain is good.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::ErrorKind;

    fn settings(pairs: &[(&str, &str)]) -> Result<TlsSettings> {
        let mut s = TlsSettings::default();
        for (k, v) in pairs {
            assert!(s.take(k, v)?, "{k}");
        }
        s.finish()?;
        Ok(s)
    }

    #[test]
    fn modes() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            (s.pg_mode(), s.verify()),
            (PgSslMode::Prefer, Verify::Nothing)
        );
        let s = settings(&[("sslmode", "disable")]).unwrap();
        assert_eq!(s.pg_mode(), PgSslMode::Disable);
        let s = settings(&[("sslmode", "allow")]).unwrap();
        assert_eq!(
            (s.pg_mode(), s.verify()),
            (PgSslMode::Prefer, Verify::Nothing)
        );
        let s = settings(&[("ssl-mode", "require")]).unwrap();
        assert_eq!(
            (s.pg_mode(), s.verify()),
            (PgSslMode::Require, Verify::Nothing)
        );
        let s = settings(&[("sslmode", "require"), ("sslrootcert", "/ca.pem")]).unwrap();
        assert_eq!(
            (s.pg_mode(), s.verify()),
            (PgSslMode::Require, Verify::Chain)
        );
        let s = settings(&[("sslmode", "verify-ca"), ("ssl-ca", "/ca.pem")]).unwrap();
        assert_eq!(s.verify(), Verify::Chain);
        let s = settings(&[("sslmode", "verify-full"), ("ssl-root-cert", "/ca.pem")]).unwrap();
        assert_eq!(
            (s.pg_mode(), s.verify()),
            (PgSslMode::Require, Verify::Full)
        );
        let s = settings(&[("sslrootcert", "system")]).unwrap();
        assert_eq!(
            (s.pg_mode(), s.verify()),
            (PgSslMode::Require, Verify::Full)
        );
    }

    #[test]
    fn refusals() {
        let kind = |pairs: &[(&str, &str)]| settings(pairs).err().map(|e| e.kind());
        assert_eq!(
            kind(&[("sslmode", "verify-full")]),
            Some(ErrorKind::InvalidConfig)
        );
        assert_eq!(
            kind(&[("sslmode", "verify-ca")]),
            Some(ErrorKind::InvalidConfig)
        );
        assert_eq!(
            kind(&[("sslmode", "bogus")]),
            Some(ErrorKind::InvalidConfig)
        );
        assert_eq!(
            kind(&[("sslmode", "require"), ("sslrootcert", "system")]),
            Some(ErrorKind::InvalidConfig)
        );
        assert_eq!(
            kind(&[("sslcert", "/c.pem")]),
            Some(ErrorKind::InvalidConfig)
        );
        assert_eq!(kind(&[("sslpassword", "x")]), Some(ErrorKind::Unsupported));
        assert_eq!(
            kind(&[("sslcrl", "/crl.pem")]),
            Some(ErrorKind::Unsupported)
        );
        let e = settings(&[("sslmode", "verify-full")]).unwrap_err();
        assert!(e.message().contains("requires sslrootcert"), "{e}");
    }

    #[test]
    fn missing_files_are_named() {
        let s = settings(&[
            ("sslmode", "verify-full"),
            ("sslrootcert", "/nonexistent/ca.pem"),
        ])
        .unwrap();
        let e = s.connector().err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("/nonexistent/ca.pem"), "{e}");
    }
}
