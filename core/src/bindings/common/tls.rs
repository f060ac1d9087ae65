//! TLS for every binding that speaks it, one place: the rustls crypto provider, the system's
//! CAs, PEM text or files, client configurations, and what a failed handshake means.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
pub(crate) use tokio_rustls::rustls;

use crate::binding::Settings;

/// The process's rustls provider if one is installed, else ring (the one bindery compiles in).
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()))
}

/// Make ring the process's rustls provider when none is installed yet. The Redis and MySQL
/// drivers build their rustls configurations with the process's provider; bindery compiles in
/// ring only, but an application may link another one, and then rustls cannot pick by itself.
pub(crate) fn ensure_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

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

/// PEM text as given, or the contents of the file it names.
pub(crate) fn pem_or_file(field: &str, value: &str) -> Result<Vec<u8>, String> {
    if value.contains("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    std::fs::read(value.trim()).map_err(|e| {
        format!("{field} is neither PEM text (-----BEGIN ...) nor a readable file: {e}")
    })
}

const PEM_FIX: &str = "give PEM text (-----BEGIN CERTIFICATE----- ...) or the path of a PEM file";

/// The PEM inputs of a TLS connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFiles {
    ca: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    /// Read the CA field `ca` and the client certificate and key fields `cert` and `key`
    /// (each PEM text or the path of a PEM file), reporting at its field what does not read,
    /// a certificate without its key (or the other way round), and what does not make a TLS
    /// client configuration.
    pub(crate) fn read(s: &mut Settings, ca: &str, cert: &str, key: &str) -> TlsFiles {
        let read = |s: &mut Settings, f: &str| s.parse(f, PEM_FIX, |v| pem_or_file(f, v));
        let ca_pem = read(s, ca);
        let client = match (read(s, cert), read(s, key)) {
            (Some(c), Some(k)) => Some((c, k)),
            _ => None,
        };
        let (has_cert, has_key) = (s.text(cert).is_some(), s.text(key).is_some());
        if has_cert != has_key {
            s.problem(
                if has_cert { cert } else { key },
                format!("{cert} and {key} go together; only one is given"),
                "give both, or neither",
            );
        }
        let files = TlsFiles { ca: ca_pem, client };
        if files.is_set() && s.ok() {
            if let Err(e) = files.client_config() {
                let field = [ca, cert, key]
                    .into_iter()
                    .find(|f| e.starts_with(*f))
                    .unwrap_or(cert);
                s.problem(field, e, PEM_FIX);
            }
        }
        files
    }

    /// The CA's PEM text, when given.
    pub(crate) fn ca_pem(&self) -> Option<&[u8]> {
        self.ca.as_deref()
    }

    /// The client certificate's and key's PEM text, when given.
    pub(crate) fn client_pem(&self) -> Option<(&[u8], &[u8])> {
        self.client
            .as_ref()
            .map(|(c, k)| (c.as_slice(), k.as_slice()))
    }

    /// Whether any TLS field was given.
    pub(crate) fn is_set(&self) -> bool {
        self.ca.is_some() || self.client.is_some()
    }

    /// A rustls client configuration: the CA given (else the system's roots) and the client
    /// certificate when given.
    pub(crate) fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some(pem) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("caCert is not a PEM certificate: {e}"))?;
                if certs.is_empty() {
                    return Err("caCert holds no PEM certificate".into());
                }
                roots.add_parsable_certificates(certs);
            }
            None => {
                roots.add_parsable_certificates(system_roots()?);
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_root_certificates(roots);
        let config = match &self.client {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("clientCert is not a PEM certificate: {e}"))?;
                if chain.is_empty() {
                    return Err("clientCert holds no PEM certificate".into());
                }
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| format!("clientKey is not a PEM private key: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("clientCert and clientKey do not make a pair: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// The certificates of a PEM file (`field` names it in errors).
pub(crate) fn read_pem_certs(
    field: &str,
    path: &str,
) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {field} {path:?}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("{field} {path:?} is not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{field} {path:?} holds no PEM certificate"));
    }
    Ok(certs)
}

/// A PEM certificate chain and private key: checks that both parse.
pub(crate) fn parse_pem_pair(
    cert_field: &str,
    cert: &[u8],
    key_field: &str,
    key: &[u8],
) -> std::result::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("{cert_field} is not a PEM certificate: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "{cert_field} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| format!("{key_field} is not a PEM private key: {e}"))?;
    Ok((chain, key))
}

/// What a failed TLS connection's error text says went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsTrouble {
    /// The server's certificate is not signed by a trusted CA.
    Untrusted,
    /// The certificate is not issued for the name connected to.
    WrongName,
    /// The certificate has expired or is not valid yet.
    Expired,
    /// Another problem with the server's certificate.
    BadCertificate,
    /// The server did not answer in TLS.
    NotTls,
}

impl TlsTrouble {
    /// Read a driver's error text (rustls's words).
    pub(crate) fn of(text: &str) -> Option<TlsTrouble> {
        if text.contains("UnknownIssuer") || text.contains("UnknownRevocationStatus") {
            Some(TlsTrouble::Untrusted)
        } else if text.contains("not valid for name") || text.contains("NotValidForName") {
            Some(TlsTrouble::WrongName)
        } else if text.contains("certificate expired")
            || text.contains("Expired")
            || text.contains("NotValidYet")
            || text.contains("not valid yet")
        {
            Some(TlsTrouble::Expired)
        } else if text.contains("invalid peer certificate") {
            Some(TlsTrouble::BadCertificate)
        } else if text.contains("received corrupt message") || text.contains("InvalidContentType") {
            Some(TlsTrouble::NotTls)
        } else {
            None
        }
    }

    /// What it means, for an error message; `trust` says how to trust a CA in this binding.
    pub(crate) fn explain(self, trust: &str, skip: &str) -> String {
        match self {
            TlsTrouble::Untrusted => format!(
                "TLS: the server's certificate is not signed by a trusted CA; {trust}, or {skip}"
            ),
            TlsTrouble::WrongName => format!(
                "TLS: the server's certificate is not issued for the host name connected to; connect by a name the certificate lists, or {skip}"
            ),
            TlsTrouble::Expired => {
                "TLS: the server's certificate has expired or is not valid yet; renew it on the server".into()
            }
            TlsTrouble::BadCertificate => format!(
                "TLS: the server's certificate was refused; {trust}, or {skip}"
            ),
            TlsTrouble::NotTls => {
                "TLS: the server did not answer in TLS; it may take plain connections only".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_troubles_are_told_from_rustls_words() {
        let of = TlsTrouble::of;
        assert_eq!(
            of("io error: invalid peer certificate: UnknownIssuer"),
            Some(TlsTrouble::Untrusted)
        );
        assert_eq!(
            of("invalid peer certificate: certificate not valid for name \"db\"; certificate is only valid for localhost"),
            Some(TlsTrouble::WrongName)
        );
        assert_eq!(
            of("received corrupt message of type InvalidContentType"),
            Some(TlsTrouble::NotTls)
        );
        assert_eq!(of("connection refused"), None);
    }
}
