//! rustls pieces every TLS-speaking binding shares: the crypto provider and the system's CAs.

use tokio_rustls::rustls;

#[cfg(any(
    feature = "postgresql",
    feature = "rabbitmq",
    feature = "mqtt",
    feature = "kafka"
))]
/// The process's rustls provider if one is installed, else ring (the one bindery compiles in).
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()))
}

#[cfg(any(feature = "redis", feature = "mysql"))]
/// Make ring the process's rustls provider when none is installed yet. The Redis and MySQL
/// drivers build their rustls configurations with the process's provider; bindery compiles in
/// ring only, but an application may link another one, and then rustls cannot pick by itself.
pub(crate) fn ensure_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(any(
    feature = "postgresql",
    feature = "mysql",
    feature = "rabbitmq",
    feature = "mqtt",
    feature = "kafka"
))]
/// The CA certificates this machine trusts, found as OpenSSL (and Go) find them:
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else the system's store.
pub(crate) fn system_roots() -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        return Err(format!(
            "no trusted CA certificates found on this machine{why} (set SSL_CERT_FILE to a PEM bundle)"
        ));
    }
    Ok(found.certs)
}
