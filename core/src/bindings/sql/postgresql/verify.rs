//! TLS for the connection: the rustls configuration of a connection string's TLS settings,
//! and the certificate check `verify-ca` and `verify-full` ask for.

use super::*;

impl TlsSettings {
    /// The rustls connector for these settings; reads the files they name.
    pub(super) fn connector(&self) -> std::result::Result<MakeRustlsConnect, String> {
        let provider = crate::bindings::common::tls::provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let builder = if self.verify == Verify::Nothing {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(CertCheck {
                    roots: None,
                    provider,
                }))
        } else {
            let certs = match self.root_cert.as_deref() {
                None | Some("system") => crate::bindings::common::tls::system_roots()?,
                Some(path) => read_pem_certs("sslrootcert", path)?,
            };
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err("sslrootcert holds no usable CA certificate".into());
            }
            if self.verify == Verify::Full {
                builder.with_root_certificates(roots)
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(CertCheck {
                        roots: Some(Arc::new(roots)),
                        provider,
                    }))
            }
        };
        let mut config = match &self.client {
            Some((cert, key)) => {
                let read = |field: &str, path: &str| {
                    std::fs::read(path).map_err(|e| format!("cannot read {field} {path:?}: {e}"))
                };
                let (chain, key) = parse_pem_pair(
                    "sslcert",
                    &read("sslcert", cert)?,
                    "sslkey",
                    &read("sslkey", key)?,
                )?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("sslcert and sslkey do not make a pair: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = self.sni;
        Ok(MakeRustlsConnect::new(config))
    }
}

/// The certificate check of `sslmode` below `verify-full`: with `roots`, the certificate must
/// be signed by one of them, for whatever name (`verify-ca`); without, any certificate goes
/// (`prefer`, `allow`, `require` without `sslrootcert`, as in libpq): the connection is
/// encrypted, the server not authenticated. The handshake's signatures are checked either way.
#[derive(Debug)]
pub(super) struct CertCheck {
    pub(super) roots: Option<Arc<rustls::RootCertStore>>,
    pub(super) provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for CertCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
