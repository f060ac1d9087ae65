//! A test CA with a server certificate (for `localhost` and 127.0.0.1) and a client
//! certificate, and the rustls server configuration that presents the one and, optionally,
//! requires the other.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

/// A certificate and its key, as PEM text and as DER for rustls.
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

/// The CA's certificate.
pub struct Ca {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
}

/// A CA (named, so that two CAs are told apart) and the two certificates it signed.
pub struct Pki {
    pub ca: Ca,
    pub server: Pair,
    pub client: Pair,
}

fn leaf(issuer: &Issuer<'_, KeyPair>, name: &str, usage: ExtendedKeyUsagePurpose) -> Pair {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_string(), "127.0.0.1".to_string()])
        .expect("valid subject alt names");
    params.distinguished_name.push(DnType::CommonName, name);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).unwrap();
    Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

/// A new CA named `ca_name`, a server certificate for `localhost` and a client certificate.
pub fn pki(ca_name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, ca_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = params.self_signed(&ca_key).unwrap();
    let ca = Ca {
        cert_pem: ca_cert.pem(),
        cert_der: ca_cert.der().clone(),
    };
    let issuer = Issuer::new(params, ca_key);
    let server = leaf(&issuer, "localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let client = leaf(
        &issuer,
        "bindery-client",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki { ca, server, client }
}

/// A server presenting `pki`'s server certificate; with `require_client_cert`, only clients
/// with a certificate its CA signed get through the handshake.
pub fn server_config(pki: &Pki, require_client_cert: bool) -> Arc<ServerConfig> {
    let provider = Arc::new(ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = RootCertStore::empty();
        roots.add(pki.ca.cert_der.clone()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server.key_der.clone()));
    let config = builder
        .with_single_cert(vec![pki.server.cert_der.clone()], key)
        .unwrap();
    Arc::new(config)
}
