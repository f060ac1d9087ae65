//! The HTTP client of the AWS SDK's requests: reqwest (rustls with ring), the client the HTTP
//! binding uses, behind the SDK's `HttpClient` trait. The SDK signs, retries and times out
//! each request itself; this only sends what it built and hands back the answer.

use std::sync::OnceLock;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// The SDK's own default connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// One reqwest client (its connection pool) per certificate policy, for every AWS binding.
pub(super) fn client(insecure_tls: bool) -> SharedHttpClient {
    static CHECKED: OnceLock<Reqwest> = OnceLock::new();
    static UNCHECKED: OnceLock<Reqwest> = OnceLock::new();
    let cell = if insecure_tls { &UNCHECKED } else { &CHECKED };
    SharedHttpClient::new(cell.get_or_init(|| Reqwest::new(insecure_tls)).clone())
}

#[derive(Debug, Clone)]
struct Reqwest(reqwest::Client);

impl Reqwest {
    fn new(insecure_tls: bool) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // The SDK follows no redirect itself: S3 answers 301 with the bucket's region.
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(insecure_tls)
            .build()
            .unwrap_or_else(|e| panic!("the AWS HTTP client does not build: {e}"));
        Reqwest(client)
    }
}

fn other(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ConnectorError {
    ConnectorError::other(e.into(), None)
}

impl HttpConnector for Reqwest {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(other)?;
            let (parts, body) = request.into_parts();
            let body = match body.bytes() {
                Some(bytes) => reqwest::Body::from(bytes.to_vec()),
                None => reqwest::Body::wrap(body),
            };
            let request = reqwest::Request::try_from(::http1::Request::from_parts(parts, body))
                .map_err(other)?;
            let response = client.execute(request).await.map_err(|e| {
                if e.is_timeout() {
                    ConnectorError::timeout(e.into())
                } else if e.is_connect() || e.is_request() || e.is_body() {
                    ConnectorError::io(e.into())
                } else {
                    other(e)
                }
            })?;
            let response: ::http1::Response<reqwest::Body> = response.into();
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x)).map_err(other)
        })
    }
}

impl HttpClient for Reqwest {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
