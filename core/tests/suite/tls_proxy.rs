//! A TLS front for a plain TCP server, for the broker bindings' TLS tests: it terminates TLS
//! (with a test CA's server certificate for `localhost`, and optionally requiring a client
//! certificate signed by that CA) and forwards the bytes to the real server on 127.0.0.1.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::pki::{self, Pki};

/// Start a TLS front for `127.0.0.1:<upstream>`; returns its port and the test CA.
pub async fn start(upstream: u16, require_client_cert: bool) -> (u16, Pki) {
    let pki = pki::pki("bindery broker test CA");
    let acceptor = TlsAcceptor::from(pki::server_config(&pki, require_client_cert));
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = tcp.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let handshake = acceptor.accept(conn);
                let Ok(Ok(mut tls)) = tokio::time::timeout(Duration::from_secs(5), handshake).await
                else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, pki)
}
