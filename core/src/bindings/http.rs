//! `bindings.http`: an output binding that calls an HTTP endpoint, with Dapr's metadata.
//!
//! Operations `get head post put patch delete options trace`, and `create` (a POST).
//! Request metadata `path` is appended to `url`; keys starting with a capital letter are sent
//! as headers; `errorIfNot2XX` overrides the component's setting. The response carries
//! `statusCode`, `status` and every header (multiple values joined with ", ").
//! Unlike Dapr, a body over `maxResponseBodySize` is an error, not silently cut short.
//!
//! Unlike Dapr, a request is always bounded in time: without `responseTimeout` it is
//! `DEFAULT_RESPONSE_TIMEOUT`. Redirects (up to 10) are followed here, not by reqwest, so that a
//! redirect to another origin (scheme, host and port) drops every header that carries a
//! credential (`credential_header`): the `securityTokenHeader`, `Authorization`, `Cookie`,
//! `Proxy-Authorization` and request-metadata headers named like credentials. Request
//! metadata cannot set a header that frames the request (`FRAMING_HEADERS`), and a `path` or a
//! header value with a control character (CR, LF, TAB, ...) is refused, not silently changed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;

use crate::binding::{declare, Settings};
use crate::binding::{BindingParts, InvokeRequest, InvokeResponse, MetadataMap, OutputBinding};
use crate::component::values::parse_truthy;
use crate::error::{Error, ErrorKind, Result};

/// Dapr's default response size limit: 100Mi.
pub const DEFAULT_MAX_RESPONSE_BODY_SIZE: u64 = 100 << 20;

/// How long a request may take, redirects and the response body included, when the component
/// has no `responseTimeout`: 60 seconds. Dapr sets no limit of its own (the request runs
/// under the context of the app's call to the sidecar, which nothing bounds by default), so a
/// server that accepts and never answers holds the call forever; bindery has no such outer
/// caller, so it bounds every request. A minute is long enough for a slow webhook and short
/// enough that a silent server is noticed. `responseTimeout: 0` asks for no limit.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many redirects a request follows, as Go's and reqwest's clients do.
const MAX_REDIRECTS: usize = 10;

/// Headers that frame the request on the wire or address its connection: bindery (hyper) sets
/// them from the url and the data, and a value from request metadata would truncate or corrupt
/// what is sent.
const FRAMING_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "expect",
];

/// Whether a header (lowercase name) is a credential that must not follow a redirect to
/// another origin: the standard ones, and any named like a token, key, secret or session.
fn credential_header(name: &str) -> bool {
    matches!(
        name,
        "authorization" | "proxy-authorization" | "cookie" | "cookie2" | "www-authenticate"
    ) || [
        "auth",
        "token",
        "secret",
        "password",
        "passwd",
        "key",
        "session",
        "cookie",
        "credential",
        "signature",
    ]
    .iter()
    .any(|word| name.contains(word))
}

declare!("http.metadata.yaml", build);

/// PEM text as given, or the contents of the file it names.
fn pem_or_file(value: &str) -> std::result::Result<Vec<u8>, String> {
    if value.contains("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    std::fs::read(value).map_err(|e| format!("cannot read PEM file {value:?}: {e}"))
}

const URL_FIX: &str = "write the url as http://host:port/path or https://...";
const PEM_FIX: &str = "give PEM text (-----BEGIN ...) or the path of a PEM file";

/// The component's `responseTimeout`: `DEFAULT_RESPONSE_TIMEOUT` when not given, no limit for 0.
fn response_timeout(s: &Settings) -> Option<Duration> {
    match s.duration("responseTimeout") {
        None => Some(DEFAULT_RESPONSE_TIMEOUT),
        Some(t) => (!t.is_zero()).then_some(t),
    }
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let url = s.parse("url", URL_FIX, |u| match reqwest::Url::parse(u) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(u.to_string()),
        Ok(url) => Err(format!(
            "url scheme {:?} is not http or https",
            url.scheme()
        )),
        Err(e) => Err(format!("url {:?} is not a URL: {e}", crate::redact::url(u))),
    });
    // Redirects are followed in `invoke`, which drops credentials on the way to another origin.
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none());
    let timeout = response_timeout(s);
    let roots = s.parse("MTLSRootCA", PEM_FIX, |ca| {
        let pem = pem_or_file(ca)?;
        reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| "MTLSRootCA holds no PEM certificate".to_string())
    });
    for c in roots.into_iter().flatten() {
        builder = builder.add_root_certificate(c);
    }
    match (s.text("MTLSClientCert"), s.text("MTLSClientKey")) {
        (Some(_), Some(_)) => {
            let cert = s.parse("MTLSClientCert", PEM_FIX, pem_or_file);
            let key = s.parse("MTLSClientKey", PEM_FIX, pem_or_file);
            if let (Some(mut pem), Some(key)) = (cert, key) {
                pem.push(b'\n');
                pem.extend(key);
                match reqwest::Identity::from_pem(&pem) {
                    Ok(id) => builder = builder.identity(id),
                    Err(_) => s.problem(
                        "MTLSClientCert",
                        "MTLSClientCert/MTLSClientKey are not a PEM certificate and key",
                        PEM_FIX,
                    ),
                }
            }
        }
        (Some(_), None) | (None, Some(_)) => s.problem(
            if s.text("MTLSClientCert").is_some() {
                "MTLSClientCert"
            } else {
                "MTLSClientKey"
            },
            "MTLSClientCert and MTLSClientKey go together; only one is given",
            "give both, or neither",
        ),
        (None, None) => {}
    }
    let max_body = s
        .size("maxResponseBodySize")
        .unwrap_or(DEFAULT_MAX_RESPONSE_BODY_SIZE);
    let error_if_not_2xx = s.flag("errorIfNot2XX", true);
    let token = match (s.text("securityTokenHeader"), s.text("securityToken")) {
        (Some(_), Some(t)) => {
            let header = s.parse(
                "securityTokenHeader",
                "write a header name, e.g. \"Authorization\"",
                |h| {
                    HeaderName::from_bytes(h.as_bytes())
                        .map_err(|_| format!("securityTokenHeader {h:?} is not a header name"))
                },
            );
            let value = match HeaderValue::from_str(t) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    Some(v)
                }
                Err(_) => {
                    s.problem(
                        "securityToken",
                        "securityToken is not a valid header value",
                        "remove line breaks and control characters from the token",
                    );
                    None
                }
            };
            header.zip(value)
        }
        (None, Some(_)) => {
            s.problem(
                "securityToken",
                "securityToken is given without securityTokenHeader, so it would never be sent",
                "add securityTokenHeader, e.g. \"Authorization\"",
            );
            None
        }
        _ => None,
    };
    let (Some(url), true) = (url, s.ok()) else {
        return Ok(BindingParts::default());
    };
    let client = builder
        .build()
        .map_err(|e| Error::internal("cannot build the HTTP client").with_source(e))?;
    Ok(BindingParts {
        input: None,
        output: Some(Arc::new(Http {
            client,
            url,
            max_body,
            error_if_not_2xx,
            token,
            timeout,
        })),
    })
}

struct Http {
    client: reqwest::Client,
    url: String,
    max_body: u64,
    error_if_not_2xx: bool,
    token: Option<(HeaderName, HeaderValue)>,
    /// The bound on a whole request; `None` only for `responseTimeout: 0`.
    timeout: Option<Duration>,
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

impl Http {
    /// Send `request` and follow its redirects, all within the component's timeout. A redirect
    /// to another origin drops every credential header first (and they stay dropped).
    async fn send(&self, mut request: reqwest::Request) -> Result<reqwest::Response> {
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let origin = request.url().origin();
        let mut redirects = 0;
        loop {
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return Err(timed_out());
                }
                *request.timeout_mut() = Some(left);
            }
            // The body is in memory, so the request clones (cheaply) for a redirect.
            let again = request.try_clone();
            let resp = self
                .client
                .execute(request)
                .await
                .map_err(transport_error)?;
            let status = resp.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let Some(location) = resp.headers().get(reqwest::header::LOCATION) else {
                return Ok(resp);
            };
            let next = std::str::from_utf8(location.as_bytes())
                .ok()
                .and_then(|l| resp.url().join(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    Error::upstream(format!(
                        "the server answered {status} with a Location that is not an http(s) URL"
                    ))
                    .with_retryable(false)
                })?;
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(
                    Error::upstream(format!("stopped after {MAX_REDIRECTS} redirects"))
                        .with_retryable(false),
                );
            }
            let Some(mut again) = again else {
                return Ok(resp);
            };
            // As browsers, Go and reqwest: 303, and 301/302 after a POST, go on as a GET
            // without the body.
            let to_get = match status {
                303 => again.method() != Method::HEAD,
                301 | 302 => again.method() == Method::POST,
                _ => false,
            };
            if to_get {
                *again.method_mut() = Method::GET;
                *again.body_mut() = None;
                for h in [
                    reqwest::header::CONTENT_TYPE,
                    reqwest::header::CONTENT_LENGTH,
                    reqwest::header::CONTENT_ENCODING,
                ] {
                    again.headers_mut().remove(h);
                }
            }
            if next.origin() != origin {
                let names: Vec<HeaderName> = again
                    .headers()
                    .keys()
                    .filter(|n| {
                        credential_header(n.as_str())
                            || self.token.as_ref().is_some_and(|(t, _)| t == *n)
                    })
                    .cloned()
                    .collect();
                for n in names {
                    again.headers_mut().remove(n);
                }
            }
            *again.url_mut() = next;
            request = again;
        }
    }
}

#[async_trait]
impl OutputBinding for Http {
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
        // A URL parser drops CR, LF and TAB without a word, and other control characters have
        // no place in a URL: refuse them rather than call a URL the app did not write.
        if let Some(c) = path.chars().find(|c| c.is_control()) {
            return Err(Error::invalid_argument(format!(
                "invalid path: {path:?} holds the control character {:?} (U+{:04X}); control characters (CR, LF, TAB, ...) are not allowed in a URL: percent-encode them (e.g. %0A for LF)",
                c,
                u32::from(c)
            )));
        }
        // bindery's own check (Dapr had one and dropped it in 2023): a path may not climb out
        // of the url's base path, encoded or not.
        let before_query = path.split(['?', '#']).next().unwrap_or("");
        if before_query
            .split(['/', '\\'])
            .any(|seg| seg.to_ascii_lowercase().replace("%2e", ".") == "..")
        {
            return Err(Error::invalid_argument(format!(
                "invalid path: {path} (\"..\" is not allowed)"
            )));
        }
        // The component's url may hold credentials, so errors name the path only.
        let url = reqwest::Url::parse(&join_url(&self.url, path)).map_err(|e| {
            Error::invalid_argument(format!(
                "invalid path: {path:?} does not make a valid URL with the component's url: {e}"
            ))
        })?;
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
                if FRAMING_HEADERS.contains(&name.as_str()) {
                    return Err(Error::invalid_argument(format!(
                        "metadata key {k:?} would set the HTTP header {}, which frames the request on the wire; bindery sets it from the url and the data, and another value would truncate or corrupt what is sent: remove {k:?} from the request metadata",
                        canonical_header(name.as_str())
                    )));
                }
                if v.contains(['\r', '\n']) {
                    return Err(Error::invalid_argument(format!(
                        "the value of header {k:?} holds a line break (CR or LF), which would end the header and start another: remove it"
                    )));
                }
                let value = HeaderValue::from_str(v).map_err(|_| {
                    Error::invalid_argument(format!(
                        "the value of header {k:?} is not a valid header value (only visible ASCII, spaces and tabs)"
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
        // As Dapr: a value given is read as a truthy boolean (anything but y, yes, true, t, on
        // or 1 is false).
        let error_if_not_2xx = match req.metadata.get("errorIfNot2XX").filter(|v| !v.is_empty()) {
            Some(v) => parse_truthy(v).0,
            None => self.error_if_not_2xx,
        };

        let mut builder = self.client.request(method, url).headers(headers);
        if sends_body {
            builder = builder.body(req.data);
        }
        let request = builder
            .build()
            .map_err(|e| Error::invalid_argument("cannot build the HTTP request").with_source(e))?;
        let mut resp = self.send(request).await?;
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

fn timed_out() -> Error {
    Error::new(
        ErrorKind::Timeout,
        "the HTTP request did not finish within responseTimeout",
    )
    .with_retryable(true)
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
    fn response_timeout_is_bounded_unless_zero_is_asked_for() {
        let timeout = |pairs: &[(&str, &str)]| {
            crate::binding::with_settings(pairs, declaration().fields, |s| response_timeout(s)).0
        };
        assert_eq!(timeout(&[]), Some(DEFAULT_RESPONSE_TIMEOUT));
        assert_eq!(DEFAULT_RESPONSE_TIMEOUT, Duration::from_secs(60));
        assert_eq!(
            timeout(&[("responseTimeout", "1500ms")]),
            Some(Duration::from_millis(1500))
        );
        // A bare number is seconds, as Dapr's DecodeMetadata reads it.
        assert_eq!(
            timeout(&[("responseTimeout", "10")]),
            Some(Duration::from_secs(10))
        );
        assert_eq!(timeout(&[("responseTimeout", "0")]), None);
        assert_eq!(timeout(&[("responseTimeout", "0s")]), None);
    }

    #[test]
    fn credential_headers_are_told_by_name() {
        for name in [
            "authorization",
            "proxy-authorization",
            "cookie",
            "x-api-key",
            "x-auth-token",
            "dapr-api-token",
            "x-session-id",
            "x-client-secret",
            "ocp-apim-subscription-key",
        ] {
            assert!(credential_header(name), "{name}");
        }
        for name in [
            "accept",
            "content-type",
            "x-request-id",
            "traceparent",
            "user-agent",
        ] {
            assert!(!credential_header(name), "{name}");
        }
    }

    #[test]
    fn path_joins_with_one_slash() {
        assert_eq!(join_url("http://h/a/", "/b?x=1"), "http://h/a/b?x=1");
        assert_eq!(join_url("http://h/a", "b"), "http://h/a/b");
        assert_eq!(join_url("http://h/a", ""), "http://h/a");
    }
}
