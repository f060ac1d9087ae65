//! `bindings.http` over HTTPS (rustls) against a local axum server with a test CA,
//! through `bindery::Runtime`: `MTLSRootCA`, `MTLSClientCert` and `MTLSClientKey`,
//! each as PEM text or as a file path.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bindery::{ErrorKind, MetadataMap, Runtime};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

const NAME: &str = "secure";
const BODY: &str = "hello over tls";

/// A certificate and its key, as PEM text and as DER for rustls.
struct Pair {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// The test CA's certificate.
struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
}

/// A test CA (named, so that two CAs are told apart) with a server certificate for
/// `localhost`/`127.0.0.1` and a client certificate, both signed by it.
struct Pki {
    ca: Ca,
    server: Pair,
    client: Pair,
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

fn pki(ca_name: &str) -> Pki {
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

/// A TCP listener that completes a TLS handshake before handing a connection to axum.
/// Failed handshakes (a client that does not trust us, or brings no certificate) are dropped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `GET /` over HTTPS on 127.0.0.1; with `require_client_cert`, only clients with a
/// certificate signed by the test CA get through the handshake. Returns the port.
async fn serve(pki: &Pki, require_client_cert: bool) -> u16 {
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
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
    };
    let app = Router::new().route("/", get(|| async { BODY }));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    port
}

/// A metadata value in YAML: multi-line PEM text as a block scalar, anything else quoted.
fn yaml_value(v: &str) -> String {
    if v.contains('\n') {
        let mut out = String::from("|\n");
        for line in v.lines() {
            out.push_str("      ");
            out.push_str(line);
            out.push('\n');
        }
        out
    } else {
        format!("\"{v}\"\n")
    }
}

/// A resources folder with one `bindings.http` component named `secure`.
fn runtime(url: &str, extra: &[(&str, &str)]) -> (TempDir, Runtime) {
    let dir = TempDir::new().unwrap();
    let mut yaml = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {NAME}\nspec:\n  type: bindings.http\n  version: v1\n  metadata:\n  - name: url\n    value: \"{url}\"\n"
    );
    for (k, v) in extra {
        yaml.push_str(&format!("  - name: {k}\n    value: {}", yaml_value(v)));
    }
    std::fs::write(dir.path().join("secure.yaml"), yaml).unwrap();
    let rt = Runtime::from_path(dir.path()).expect("the component is valid");
    (dir, rt)
}

/// Writes `text` to `dir/name` and returns the path as a string.
fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn url(port: u16) -> String {
    format!("https://localhost:{port}/")
}

async fn get_ok(rt: &Runtime) {
    let resp = rt
        .invoke(NAME, "get", Vec::new(), MetadataMap::new())
        .await
        .unwrap_or_else(|e| panic!("the HTTPS call failed: {e}"));
    assert_eq!(resp.metadata["statusCode"], "200");
    assert_eq!(resp.text(), BODY);
}

/// The call fails as `Upstream`, and the error text (with rustls's reason) contains `reason`.
async fn get_err(rt: &Runtime, reason: &str) {
    let err = rt
        .invoke(NAME, "get", Vec::new(), MetadataMap::new())
        .await
        .expect_err("the HTTPS call must fail");
    assert_eq!(err.kind(), ErrorKind::Upstream, "{err}");
    let text = err.to_string();
    assert!(text.contains(reason), "the error names {reason}: {text}");
}

#[tokio::test]
async fn root_ca_as_pem_text_is_trusted() {
    let pki = pki("bindery test CA");
    let port = serve(&pki, false).await;
    let (_dir, rt) = runtime(&url(port), &[("MTLSRootCA", &pki.ca.cert_pem)]);
    get_ok(&rt).await;
}

#[tokio::test]
async fn root_ca_as_a_file_path_is_trusted() {
    let pki = pki("bindery test CA");
    let port = serve(&pki, false).await;
    let files = TempDir::new().unwrap();
    let ca = write_file(files.path(), "ca.pem", &pki.ca.cert_pem);
    let (_dir, rt) = runtime(&url(port), &[("MTLSRootCA", &ca)]);
    get_ok(&rt).await;
}

#[tokio::test]
async fn without_root_ca_the_server_is_not_trusted() {
    let pki = pki("bindery test CA");
    let port = serve(&pki, false).await;
    let (_dir, rt) = runtime(&url(port), &[]);
    get_err(&rt, "UnknownIssuer").await;
}

#[tokio::test]
async fn a_root_ca_that_did_not_sign_the_server_is_not_trusted() {
    let pki = pki("bindery test CA");
    let other = self::pki("another test CA");
    let port = serve(&pki, false).await;
    let (_dir, rt) = runtime(&url(port), &[("MTLSRootCA", &other.ca.cert_pem)]);
    get_err(&rt, "UnknownIssuer").await;
}

#[tokio::test]
async fn mutual_tls_with_client_cert_and_key_as_pem_text() {
    let pki = pki("bindery test CA");
    let port = serve(&pki, true).await;
    let (_dir, rt) = runtime(
        &url(port),
        &[
            ("MTLSRootCA", &pki.ca.cert_pem),
            ("MTLSClientCert", &pki.client.cert_pem),
            ("MTLSClientKey", &pki.client.key_pem),
        ],
    );
    get_ok(&rt).await;
}

#[tokio::test]
async fn mutual_tls_with_client_cert_and_key_as_file_paths() {
    let pki = pki("bindery test CA");
    let port = serve(&pki, true).await;
    let files = TempDir::new().unwrap();
    let ca = write_file(files.path(), "ca.pem", &pki.ca.cert_pem);
    let cert = write_file(files.path(), "client.pem", &pki.client.cert_pem);
    let key = write_file(files.path(), "client.key", &pki.client.key_pem);
    let (_dir, rt) = runtime(
        &url(port),
        &[
            ("MTLSRootCA", &ca),
            ("MTLSClientCert", &cert),
            ("MTLSClientKey", &key),
        ],
    );
    get_ok(&rt).await;
}

#[tokio::test]
async fn mutual_tls_without_a_client_cert_fails() {
    let pki = pki("bindery test CA");
    let port = serve(&pki, true).await;
    let (_dir, rt) = runtime(&url(port), &[("MTLSRootCA", &pki.ca.cert_pem)]);
    // TLS 1.3: the client finishes its side of the handshake, then the server's alert arrives.
    get_err(&rt, "CertificateRequired").await;
}

#[tokio::test]
async fn mutual_tls_with_a_client_cert_from_another_ca_fails() {
    let pki = pki("bindery test CA");
    let other = self::pki("another test CA");
    let port = serve(&pki, true).await;
    let (_dir, rt) = runtime(
        &url(port),
        &[
            ("MTLSRootCA", &pki.ca.cert_pem),
            ("MTLSClientCert", &other.client.cert_pem),
            ("MTLSClientKey", &other.client.key_pem),
        ],
    );
    get_err(&rt, "UnknownCA").await;
}
