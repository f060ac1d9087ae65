//! `bindings.http` over HTTPS (rustls) against a local axum server with a test CA,
//! through `bindery::Runtime`: `MTLSRootCA`, `MTLSClientCert` and `MTLSClientKey`,
//! each as PEM text or as a file path.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bindery::{ErrorKind, MetadataMap, Runtime};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

#[path = "suite/mod.rs"]
mod suite;
use suite::pki::{self, pki, Pki};

const NAME: &str = "secure";
const BODY: &str = "hello over tls";

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
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(pki::server_config(pki, require_client_cert)),
    };
    let app = Router::new().route("/", get(|| async { BODY }));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    port
}

/// A test CA, and the port of a server with its certificate (requiring a client certificate
/// it signed, with `require_client_cert`).
async fn served(require_client_cert: bool) -> (Pki, u16) {
    let pki = pki("bindery test CA");
    let port = serve(&pki, require_client_cert).await;
    (pki, port)
}

/// A resources folder with one `bindings.http` component named `secure`.
fn runtime(url: &str, extra: &[(&str, &str)]) -> (TempDir, Runtime) {
    let mut fields = vec![("url", url)];
    fields.extend_from_slice(extra);
    suite::harness::one_runtime("bindings.http", NAME, &fields)
}

/// A runtime whose component trusts `ca` and presents `cert` with `key` (PEM text or files)
/// to the server on `port`.
fn mutual(port: u16, ca: &str, cert: &str, key: &str) -> (TempDir, Runtime) {
    let fields = [
        ("MTLSRootCA", ca),
        ("MTLSClientCert", cert),
        ("MTLSClientKey", key),
    ];
    runtime(&url(port), &fields)
}

/// The CA's certificate, the client's certificate and its key in PEM files, and their paths.
fn pem_files(pki: &Pki) -> (TempDir, [String; 3]) {
    let files = TempDir::new().unwrap();
    let write = |name: &str, text: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let ca = write("ca.pem", &pki.ca.cert_pem);
    let cert = write("client.pem", &pki.client.cert_pem);
    let key = write("client.key", &pki.client.key_pem);
    (files, [ca, cert, key])
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
    let (pki, port) = served(false).await;
    let (_dir, rt) = runtime(&url(port), &[("MTLSRootCA", &pki.ca.cert_pem)]);
    get_ok(&rt).await;
}

#[tokio::test]
async fn root_ca_as_a_file_path_is_trusted() {
    let (pki, port) = served(false).await;
    let (_files, [ca, _, _]) = pem_files(&pki);
    let (_dir, rt) = runtime(&url(port), &[("MTLSRootCA", &ca)]);
    get_ok(&rt).await;
}

#[tokio::test]
async fn without_root_ca_the_server_is_not_trusted() {
    let (_pki, port) = served(false).await;
    let (_dir, rt) = runtime(&url(port), &[]);
    get_err(&rt, "UnknownIssuer").await;
}

#[tokio::test]
async fn a_root_ca_that_did_not_sign_the_server_is_not_trusted() {
    let (_pki, port) = served(false).await;
    let other = self::pki("another test CA");
    let (_dir, rt) = runtime(&url(port), &[("MTLSRootCA", &other.ca.cert_pem)]);
    get_err(&rt, "UnknownIssuer").await;
}

#[tokio::test]
async fn mutual_tls_with_client_cert_and_key_as_pem_text() {
    let (pki, port) = served(true).await;
    let (_dir, rt) = mutual(
        port,
        &pki.ca.cert_pem,
        &pki.client.cert_pem,
        &pki.client.key_pem,
    );
    get_ok(&rt).await;
}

#[tokio::test]
async fn mutual_tls_with_client_cert_and_key_as_file_paths() {
    let (pki, port) = served(true).await;
    let (_files, [ca, cert, key]) = pem_files(&pki);
    let (_dir, rt) = mutual(port, &ca, &cert, &key);
    get_ok(&rt).await;
}

#[tokio::test]
async fn mutual_tls_without_a_client_cert_fails() {
    let (pki, port) = served(true).await;
    let (_dir, rt) = runtime(&url(port), &[("MTLSRootCA", &pki.ca.cert_pem)]);
    // TLS 1.3: the client finishes its side of the handshake, then the server's alert arrives.
    get_err(&rt, "CertificateRequired").await;
}

#[tokio::test]
async fn mutual_tls_with_a_client_cert_from_another_ca_fails() {
    let (pki, port) = served(true).await;
    let other = self::pki("another test CA");
    let (_dir, rt) = mutual(
        port,
        &pki.ca.cert_pem,
        &other.client.cert_pem,
        &other.client.key_pem,
    );
    get_err(&rt, "UnknownCA").await;
}
