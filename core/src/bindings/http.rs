//! `bindings.http`: an output binding that calls an HTTP endpoint, with Dapr's metadata.
//!
//! Operations `get head post put patch delete options trace`, and `create` (a POST).
//! Request metadata `path` is appended to `url`; keys starting with a capital letter are sent
//! as headers; `errorIfNot2XX` overrides the component's setting. The response carries
//! `statusCode`, `status` and every header (multiple values joined with ", ").
//! Unlike Dapr, a body over `maxResponseBodySize` is an error, not silently cut short.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;

use crate::binding::{
    BindingConfig, BindingParts, InvokeRequest, InvokeResponse, MetadataMap, OutputBinding,
};
use crate::component::values::{parse_go_bool, parse_go_duration, parse_quantity};
use crate::component::Metadata;
use crate::error::{Error, ErrorKind, Result};
use crate::registry::{BindingSpec, Field, FieldKind, FieldProblem};

const OPERATIONS: &[&str] = &[
    "create", "get", "head", "post", "put", "patch", "delete", "options", "trace",
];
const RENEGOTIATION: &[&str] = &[
    "RenegotiateNever",
    "RenegotiateOnceAsClient",
    "RenegotiateFreelyAsClient",
];
const FIELDS: &[Field] = &[
    Field::required("url", FieldKind::Text, "http://localhost:8080/webhook"),
    Field::optional("responseTimeout", FieldKind::Duration, "10s"),
    Field::optional("maxResponseBodySize", FieldKind::Size, "100Mi"),
    Field::optional("errorIfNot2XX", FieldKind::Bool, "true"),
    Field::optional("securityToken", FieldKind::Text, "<token>"),
    Field::optional("securityTokenHeader", FieldKind::Text, "Authorization"),
    Field::optional("MTLSRootCA", FieldKind::Text, "/path/to/root.pem"),
    Field::optional("MTLSClientCert", FieldKind::Text, "/path/to/client.pem"),
    Field::optional("MTLSClientKey", FieldKind::Text, "/path/to/client.key"),
    Field::optional(
        "MTLSRenegotiation",
        FieldKind::OneOf(RENEGOTIATION),
        "RenegotiateNever",
    ),
];

/// Dapr's default response size limit: 100Mi.
pub const DEFAULT_MAX_RESPONSE_BODY_SIZE: u64 = 100 << 20;

/// The `bindings.http` type.
pub fn spec() -> BindingSpec {
    BindingSpec {
        type_name: "bindings.http",
        aliases: &[],
        versions: &["v1"],
        input: false,
        output: true,
        operations: OPERATIONS,
        fields: FIELDS,
        check: Some(check),
        build,
    }
}

fn check(md: &Metadata) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    if let Some(u) = md.get_nonempty("url") {
        match reqwest::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => problems.push(FieldProblem {
                field: Some("url".into()),
                message: format!("url scheme {:?} is not http or https", url.scheme()),
                fix: Some("write the url as http://host:port/path or https://...".into()),
            }),
            Err(e) => problems.push(FieldProblem {
                field: Some("url".into()),
                message: format!("url {:?} is not a URL: {e}", crate::redact::url(u)),
                fix: Some("write the url as http://host:port/path or https://...".into()),
            }),
        }
    }
    let cert = md.get_nonempty("MTLSClientCert").is_some();
    let key = md.get_nonempty("MTLSClientKey").is_some();
    if cert != key {
        problems.push(FieldProblem {
            field: Some(
                if cert {
                    "MTLSClientCert"
                } else {
                    "MTLSClientKey"
                }
                .into(),
            ),
            message: "MTLSClientCert and MTLSClientKey go together; only one is given".into(),
            fix: Some("give both, or neither".into()),
        });
    }
    if md.get_nonempty("securityToken").is_some()
        && md.get_nonempty("securityTokenHeader").is_none()
    {
        problems.push(FieldProblem {
            field: Some("securityToken".into()),
            message:
                "securityToken is given without securityTokenHeader, so it would never be sent"
                    .into(),
            fix: Some("add securityTokenHeader, e.g. \"Authorization\"".into()),
        });
    }
    problems
}

/// PEM text as given, or the contents of the file it names.
fn pem_or_file(value: &str) -> Result<Vec<u8>> {
    if value.contains("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    std::fs::read(value)
        .map_err(|e| Error::invalid_argument(format!("cannot read PEM file {value:?}: {e}")))
}

fn build(cfg: &BindingConfig) -> Result<BindingParts> {
    let md = &cfg.metadata;
    let url = md.get_nonempty("url").unwrap_or_default().to_string();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::limited(10));
    if let Some(t) = md.get_nonempty("responseTimeout") {
        let t = parse_go_duration(t).map_err(Error::invalid_argument)?;
        if !t.is_zero() {
            builder = builder.timeout(t);
        }
    }
    if let Some(ca) = md.get_nonempty("MTLSRootCA") {
        let pem = pem_or_file(ca)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::invalid_argument("MTLSRootCA holds no PEM certificate").with_source(e)
        })?;
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    if let (Some(cert), Some(key)) = (
        md.get_nonempty("MTLSClientCert"),
        md.get_nonempty("MTLSClientKey"),
    ) {
        let mut pem = pem_or_file(cert)?;
        pem.push(b'\n');
        pem.extend(pem_or_file(key)?);
        let id = reqwest::Identity::from_pem(&pem).map_err(|_| {
            Error::invalid_argument(
                "MTLSClientCert/MTLSClientKey are not a PEM certificate and key",
            )
        })?;
        builder = builder.identity(id);
    }
    let client = builder
        .build()
        .map_err(|e| Error::internal("cannot build the HTTP client").with_source(e))?;
    let max_body = match md.get_nonempty("maxResponseBodySize") {
        Some(v) => parse_quantity(v).map_err(Error::invalid_argument)?,
        None => DEFAULT_MAX_RESPONSE_BODY_SIZE,
    };
    let error_if_not_2xx = match md.get_nonempty("errorIfNot2XX") {
        Some(v) => parse_go_bool(v).map_err(Error::invalid_argument)?,
        None => true,
    };
    let token = match (
        md.get_nonempty("securityTokenHeader"),
        md.get_nonempty("securityToken"),
    ) {
        (Some(h), Some(t)) => Some((
            HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                Error::invalid_argument(format!("securityTokenHeader {h:?} is not a header name"))
            })?,
            {
                let mut v = HeaderValue::from_str(t).map_err(|_| {
                    Error::invalid_argument("securityToken is not a valid header value")
                })?;
                v.set_sensitive(true);
                v
            },
        )),
        _ => None,
    };
    Ok(BindingParts {
        input: None,
        output: Some(Arc::new(Http {
            client,
            url,
            max_body,
            error_if_not_2xx,
            token,
        })),
    })
}

struct Http {
    client: reqwest::Client,
    url: String,
    max_body: u64,
    error_if_not_2xx: bool,
    token: Option<(HeaderName, HeaderValue)>,
}

/// Go's canonical header form: `content-type` -> `Content-Type`.
fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for ch in name.chars() {
        if upper {
            out.extend(ch.to_uppercase());
        } else {
            out.extend(ch.to_lowercase());
        }
        upper = ch == '-';
    }
    out
}

fn join_url(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[async_trait]
impl OutputBinding for Http {
    fn operations(&self) -> &[&'static str] {
        OPERATIONS
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let method = match req.operation.as_str() {
            "create" | "post" => Method::POST,
            "get" => Method::GET,
            "head" => Method::HEAD,
            "put" => Method::PUT,
            "patch" => Method::PATCH,
            "delete" => Method::DELETE,
            "options" => Method::OPTIONS,
            "trace" => Method::TRACE,
            other => {
                return Err(Error::new(
                    ErrorKind::UnsupportedOperation,
                    format!("invalid operation: {other}"),
                ))
            }
        };
        let path = req.metadata.get("path").map(String::as_str).unwrap_or("");
        // Like Dapr: a path may not climb out of the url's base path, encoded or not.
        let before_query = path.split(['?', '#']).next().unwrap_or("");
        if before_query
            .split(['/', '\\'])
            .any(|seg| seg.to_ascii_lowercase().replace("%2e", ".") == "..")
        {
            return Err(Error::invalid_argument(format!(
                "invalid path: {path} (\"..\" is not allowed)"
            )));
        }
        let url = join_url(&self.url, path);
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some((h, v)) = &self.token {
            headers.insert(h.clone(), v.clone());
        }
        for (k, v) in &req.metadata {
            let first = k.chars().next().unwrap_or('a');
            let is_trace = matches!(k.as_str(), "traceparent" | "tracestate" | "baggage");
            if first.is_ascii_uppercase() || is_trace {
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                    Error::invalid_argument(format!(
                        "metadata key {k:?} is not a valid header name"
                    ))
                })?;
                let value = HeaderValue::from_str(v).map_err(|_| {
                    Error::invalid_argument(format!(
                        "the value of header {k:?} is not a valid header value"
                    ))
                })?;
                headers.insert(name, value);
            }
        }
        let sends_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
        let json = HeaderValue::from_static("application/json; charset=utf-8");
        if sends_body && !headers.contains_key(reqwest::header::CONTENT_TYPE) {
            headers.insert(reqwest::header::CONTENT_TYPE, json.clone());
        }
        if !headers.contains_key(reqwest::header::ACCEPT) {
            headers.insert(reqwest::header::ACCEPT, json);
        }
        let error_if_not_2xx = match req.metadata.get("errorIfNot2XX").filter(|v| !v.is_empty()) {
            Some(v) => parse_go_bool(v)
                .map_err(|e| Error::invalid_argument(format!("errorIfNot2XX: {e}")))?,
            None => self.error_if_not_2xx,
        };

        let mut builder = self.client.request(method, &url).headers(headers);
        if sends_body {
            builder = builder.body(req.data);
        }
        let mut resp = builder.send().await.map_err(transport_error)?;
        let status = resp.status();
        let mut metadata = MetadataMap::new();
        metadata.insert("statusCode".into(), status.as_u16().to_string());
        metadata.insert(
            "status".into(),
            format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string(),
        );
        for name in resp.headers().keys() {
            let joined = resp
                .headers()
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            metadata.insert(canonical_header(name.as_str()), joined);
        }
        if error_if_not_2xx && !status.is_success() {
            // Read a little of the body for the message; the status is the error, whatever the size.
            let mut excerpt = Vec::new();
            while excerpt.len() < 256 {
                match resp.chunk().await {
                    Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            let excerpt: String = String::from_utf8_lossy(&excerpt)
                .chars()
                .take(256)
                .collect();
            let retryable = status.is_server_error() || status.as_u16() == 429;
            let mut e = Error::upstream(format!("received status code {}", status.as_u16()))
                .with_retryable(retryable);
            if !excerpt.is_empty() {
                e = e.with_source(format!("response body: {excerpt}"));
            }
            return Err(e);
        }
        let limit = self.max_body;
        if limit > 0 {
            if let Some(len) = resp.content_length().filter(|l| *l > limit) {
                return Err(too_large(len, limit));
            }
        }
        let mut data = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
            if limit > 0 && (data.len() + chunk.len()) as u64 > limit {
                return Err(too_large((data.len() + chunk.len()) as u64, limit));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(InvokeResponse { data, metadata })
    }
}

fn too_large(len: u64, limit: u64) -> Error {
    Error::upstream(format!(
        "the response body ({len} bytes or more) is larger than maxResponseBodySize ({limit} bytes); raise maxResponseBodySize on the component"
    ))
    .with_retryable(false)
}

fn transport_error(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Upstream
    };
    // reqwest's Display names the URL; no secrets live in it (tokens go in headers).
    Error::new(kind, "the HTTP request failed").with_source(crate::error::source_chain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-request-id"), "X-Request-Id");
    }

    #[test]
    fn path_joins_with_one_slash() {
        assert_eq!(join_url("http://h/a/", "/b?x=1"), "http://h/a/b?x=1");
        assert_eq!(join_url("http://h/a", "b"), "http://h/a/b");
        assert_eq!(join_url("http://h/a", ""), "http://h/a");
    }
}
