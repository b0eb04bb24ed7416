//! Certificates for the TLS cluster, generated at test time: a CA, a server certificate it
//! signs, and an unrelated CA that signs nothing.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The host names and addresses the server certificate is valid for.
pub(crate) const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// PEM texts of one generated set.
pub(crate) struct Certs {
    /// The CA that signed the server certificate.
    pub(crate) ca: String,
    /// A CA that signed nothing the server presents.
    pub(crate) other_ca: String,
    /// The server certificate, for [`SERVER_NAMES`].
    pub(crate) server_cert: String,
    /// The server certificate's private key (PKCS#8).
    pub(crate) server_key: String,
}

/// Generates a fresh set (ECDSA P-256 keys).
pub(crate) fn generate() -> Result<Certs, rcgen::Error> {
    let ca = new_ca("dbos-storage test CA")?;
    let other_ca = new_ca("dbos-storage unrelated test CA")?;

    let names: Vec<String> = SERVER_NAMES.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let server_cert = params.signed_by(&key, &ca)?;

    Ok(Certs {
        ca: ca.pem(),
        other_ca: other_ca.pem(),
        server_cert: server_cert.pem(),
        server_key: key.serialize_pem(),
    })
}

/// A self-signed certificate authority named `name`.
fn new_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate()?)
}
