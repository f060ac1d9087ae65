//! `bindings.http` against a real local HTTP server (axum), through `bindery::Runtime`.
//! What every binding does is tested once for all in `behaviour.rs` (`http::*`).

use std::time::{Duration, Instant};

use axum::http::Method;
use bindery::{ErrorKind, InvokeResponse, MetadataMap, Runtime};
use tempfile::TempDir;

#[path = "suite/mod.rs"]
mod suite;
use suite::fixtures::http::{header, serve};

const NAME: &str = "webhook";
const JSON: &str = "application/json; charset=utf-8";

/// A resources folder with one `bindings.http` component named `webhook`.
fn runtime(url: &str, extra: &[(&str, &str)]) -> (TempDir, Runtime) {
    let mut fields = vec![("url", url)];
    fields.extend_from_slice(extra);
    suite::harness::one_runtime("bindings.http", NAME, &fields)
}

/// Invoke `op` on the component with `data` and the request metadata `pairs`.
async fn call(
    rt: &Runtime,
    op: &str,
    data: &[u8],
    pairs: &[(&str, &str)],
) -> bindery::Result<InvokeResponse> {
    rt.invoke(NAME, op, data.to_vec(), md(pairs)).await
}

/// `call`, which must succeed.
async fn ok(rt: &Runtime, op: &str, data: &[u8], pairs: &[(&str, &str)]) -> InvokeResponse {
    call(rt, op, data, pairs)
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

/// `call`, which must fail.
async fn fail(rt: &Runtime, op: &str, data: &[u8], pairs: &[(&str, &str)]) -> bindery::Error {
    call(rt, op, data, pairs).await.expect_err(op)
}

/// No request reached `server`.
fn nothing_sent(server: &suite::fixtures::http::Server) {
    let seen = server.requests();
    assert!(seen.is_empty(), "nothing is sent: {seen:?}");
}

/// A recording server and a runtime whose component (with `extra`) points at it.
async fn served(extra: &[(&str, &str)]) -> (suite::fixtures::http::Server, TempDir, Runtime) {
    let server = serve().await;
    let (dir, rt) = runtime(&server.url, extra);
    (server, dir, rt)
}

fn md(pairs: &[(&str, &str)]) -> MetadataMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn every_operation_reaches_the_server_with_its_method() {
    let (server, _dir, rt) = served(&[]).await;
    let cases = [
        ("create", Method::POST, true),
        ("get", Method::GET, false),
        ("head", Method::HEAD, false),
        ("post", Method::POST, true),
        ("put", Method::PUT, true),
        ("patch", Method::PATCH, true),
        ("delete", Method::DELETE, false),
        ("options", Method::OPTIONS, false),
        ("trace", Method::TRACE, false),
    ];
    for (op, method, sends_body) in cases {
        let resp = rt
            .invoke(NAME, op, br#"{"n":1}"#.to_vec(), MetadataMap::new())
            .await
            .unwrap_or_else(|e| panic!("{op}: {e}"));
        assert_eq!(resp.metadata["statusCode"], "200", "{op}");
        let seen = server.last();
        assert_eq!(seen.method, method, "{op}");
        assert_eq!(seen.uri.path(), "/", "{op}");
        if sends_body {
            assert_eq!(&seen.body[..], br#"{"n":1}"#, "{op} sends the data");
            assert_eq!(header(&seen, "content-type"), Some(JSON), "{op}");
        } else {
            assert!(
                seen.body.is_empty(),
                "{op} must not send a body, sent {:?}",
                seen.body
            );
            assert_eq!(
                header(&seen, "content-type"),
                None,
                "{op} has no body, so no Content-Type"
            );
        }
        if method == Method::HEAD {
            assert!(resp.data.is_empty(), "a HEAD response has no body");
        } else {
            assert_eq!(resp.text(), format!("ok from {method}"), "{op}");
        }
    }
    assert_eq!(server.requests().len(), 9);
}

#[tokio::test]
async fn path_metadata_is_appended_to_the_url() {
    let server = serve().await;

    let (_dir, rt) = runtime(&format!("{}/base/", server.url), &[]);
    ok(&rt, "get", b"", &[("path", "/items/7?x=1")]).await;
    let seen = server.last();
    assert_eq!(seen.uri.path(), "/base/items/7");
    assert_eq!(seen.uri.query(), Some("x=1"));

    let (_dir2, rt2) = runtime(&format!("{}/base", server.url), &[]);
    ok(&rt2, "get", b"", &[("path", "items")]).await;
    assert_eq!(server.last().uri.path(), "/base/items");

    // Without `path` the url is used as written.
    ok(&rt2, "get", b"", &[]).await;
    assert_eq!(server.last().uri.path(), "/base");
}

#[tokio::test]
async fn capitalised_metadata_keys_are_sent_as_headers_and_lowercase_keys_are_not() {
    let (server, _dir, rt) = served(&[]).await;
    let meta = md(&[
        ("X-Request-Id", "abc-123"),
        ("Authorization", "Bearer t0ken"),
        ("lowercase", "secret-ish"),
        ("path", "hook"),
        ("errorIfNot2XX", "true"),
    ]);
    rt.invoke(NAME, "get", Vec::new(), meta).await.unwrap();
    let seen = server.last();
    assert_eq!(seen.uri.path(), "/hook");
    assert_eq!(header(&seen, "x-request-id"), Some("abc-123"));
    assert_eq!(header(&seen, "authorization"), Some("Bearer t0ken"));
    for key in ["lowercase", "path", "errorifnot2xx"] {
        assert!(
            !seen.headers.contains_key(key),
            "{key} must not be sent as a header"
        );
    }
    assert!(
        !seen.headers.values().any(|v| v == "secret-ish"),
        "the value of a lowercase key leaked into a header: {:?}",
        seen.headers
    );

    // The W3C trace context keys are lowercase by spec, and are still propagated.
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    ok(&rt, "get", b"", &[("traceparent", tp)]).await;
    assert_eq!(header(&server.last(), "traceparent"), Some(tp));
}

/// With `op`, the header `name` is JSON unless the request metadata gives one: then that one,
/// once. What the server saw of the second request.
async fn json_unless_given(op: &str, name: &str, given: &str) -> suite::fixtures::http::Seen {
    let (server, _dir, rt) = served(&[]).await;
    let lower = name.to_lowercase();
    ok(&rt, op, b"{}", &[]).await;
    assert_eq!(header(&server.last(), &lower), Some(JSON));
    ok(&rt, op, b"plain", &[(name, given)]).await;
    let seen = server.last();
    assert_eq!(header(&seen, &lower), Some(given));
    assert_eq!(seen.headers.get_all(&lower).iter().count(), 1);
    seen
}

#[tokio::test]
async fn accept_defaults_to_json_and_a_given_one_wins() {
    json_unless_given("get", "Accept", "text/csv").await;
}

#[tokio::test]
async fn default_content_type_is_json_and_a_given_one_wins() {
    for op in ["post", "put"] {
        let seen = json_unless_given(op, "Content-Type", "text/plain").await;
        assert_eq!(&seen.body[..], b"plain");
    }
}

#[tokio::test]
async fn response_metadata_has_status_and_canonical_headers() {
    let (_server, _dir, rt) = served(&[]).await;
    let resp = ok(&rt, "get", b"", &[]).await;
    assert_eq!(resp.text(), "ok from GET");
    let m = &resp.metadata;
    assert_eq!(m["statusCode"], "200");
    assert_eq!(m["status"], "200 OK");
    assert_eq!(m.get("X-Custom").map(String::as_str), Some("yes"));
    assert_eq!(m.get("X-Multi").map(String::as_str), Some("a, b"));
    assert_eq!(
        m.get("Content-Type").map(String::as_str),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(m.get("Content-Length").map(String::as_str), Some("11"));
    assert!(
        !m.contains_key("x-custom"),
        "header names are canonical: {m:?}"
    );
    assert!(
        !m.contains_key("content-type"),
        "header names are canonical: {m:?}"
    );
}

#[tokio::test]
async fn non_2xx_is_an_upstream_error() {
    let (server, _dir, rt) = served(&[]).await;
    let err = fail(&rt, "get", b"", &[("path", "status/404")]).await;
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(err.message().contains("received status code 404"), "{err}");
    assert!(!err.is_retryable(), "a 404 does not get better by retrying");
    assert_eq!(err.component(), Some(NAME));
    assert_eq!(err.operation(), Some("get"));
    assert!(
        err.to_string().contains("status body 404"),
        "the error shows the response body: {err}"
    );
    assert_eq!(server.last().uri.path(), "/status/404");

    for (codes, retryable) in [
        (["400", "401", "403", "409", "422"], false),
        (["500", "502", "503", "504", "429"], true),
    ] {
        for code in codes {
            let err = fail(&rt, "post", b"x", &[("path", &format!("status/{code}"))]).await;
            assert_eq!(err.kind(), ErrorKind::Upstream, "{code}");
            assert!(
                err.message()
                    .contains(&format!("received status code {code}")),
                "{err}"
            );
            assert_eq!(err.is_retryable(), retryable, "{code}");
        }
    }

    // 2xx other than 200 are successes.
    let resp = ok(&rt, "post", b"x", &[("path", "status/201")]).await;
    assert_eq!(resp.metadata["statusCode"], "201");
    assert_eq!(resp.metadata["status"], "201 Created");
}

#[tokio::test]
async fn error_if_not_2xx_false_in_request_metadata_returns_the_response() {
    let (_server, _dir, rt) = served(&[]).await;
    for (code, status) in [("404", "404 Not Found"), ("503", "503 Service Unavailable")] {
        let path = format!("status/{code}");
        let resp = ok(
            &rt,
            "get",
            b"",
            &[("path", &path), ("errorIfNot2XX", "false")],
        )
        .await;
        assert_eq!(resp.metadata["statusCode"], code);
        assert_eq!(resp.metadata["status"], status);
        assert_eq!(resp.text(), format!("status body {code}"));
    }
}

#[tokio::test]
async fn error_if_not_2xx_false_on_the_component_and_the_request_can_override_it() {
    let (_server, _dir, rt) = served(&[("errorIfNot2XX", "false")]).await;
    let resp = ok(&rt, "get", b"", &[("path", "status/404")]).await;
    assert_eq!(resp.metadata["statusCode"], "404");
    assert_eq!(resp.text(), "status body 404");

    let strict = [("path", "status/404"), ("errorIfNot2XX", "true")];
    let err = fail(&rt, "get", b"", &strict).await;
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(err.message().contains("received status code 404"), "{err}");
}

#[tokio::test]
async fn a_path_with_dot_dot_is_refused_like_dapr() {
    let server = serve().await;
    let (_dir, rt) = runtime(&format!("{}/base/sub", server.url), &[]);
    for path in ["../../admin", "a/../../../admin", "%2e%2e/%2E%2E/admin"] {
        let err = fail(&rt, "get", b"", &[("path", path)]).await;
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{path}: {err}");
        assert!(err.message().contains("invalid path"), "{err}");
    }
    nothing_sent(&server);
}

/// A component's `errorIfNot2XX: "off"` is false, as Dapr reads it: a 404 is an answer.
#[tokio::test]
async fn error_if_not_2xx_off_in_the_component_answers_a_404() {
    let server = serve().await;
    let (_dir, rt) = runtime(
        &server.url,
        &[("errorIfNot2XX", "off"), ("responseTimeout", "10")],
    );
    let resp = rt
        .invoke(NAME, "get", Vec::new(), md(&[("path", "status/404")]))
        .await
        .unwrap();
    assert_eq!(resp.metadata["statusCode"], "404");
}

/// Request metadata `errorIfNot2XX` is read as Dapr reads it (`IsTruthy`): `off`, `no` and a
/// word that is no boolean at all are false, so a 404 is answered, not an error; `on` and
/// `yes` are true.
#[tokio::test]
async fn error_if_not_2xx_in_request_metadata_reads_as_dapr_reads_it() {
    let server = serve().await;
    let (_dir, rt) = runtime(&server.url, &[]);
    for off in ["off", "no", "maybe", "F"] {
        let resp = rt
            .invoke(
                NAME,
                "get",
                Vec::new(),
                md(&[("path", "status/404"), ("errorIfNot2XX", off)]),
            )
            .await
            .unwrap_or_else(|e| panic!("{off}: {e}"));
        assert_eq!(resp.metadata["statusCode"], "404", "{off}");
    }
    for on in ["on", "yes", "Y", "1"] {
        let err = rt
            .invoke(
                NAME,
                "get",
                Vec::new(),
                md(&[("path", "status/404"), ("errorIfNot2XX", on)]),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("404"), "{on}: {err}");
    }
}

#[tokio::test]
async fn max_response_body_size_refuses_a_larger_body_with_content_length() {
    let (server, _dir, rt) = served(&[("maxResponseBodySize", "1Ki")]).await;
    let err = fail(&rt, "get", b"", &[("path", "big")]).await;
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(err.message().contains("maxResponseBodySize"), "{err}");
    assert!(
        err.message().contains("1024"),
        "the message names the limit: {err}"
    );
    assert!(!err.is_retryable(), "the same body will be too large again");

    // A small body under the same limit is fine.
    let resp = ok(&rt, "get", b"", &[]).await;
    assert_eq!(resp.text(), "ok from GET");

    // A body exactly at the limit is fine.
    let (_dir2, rt2) = runtime(&server.url, &[("maxResponseBodySize", "4Ki")]);
    let resp = ok(&rt2, "get", b"", &[("path", "big")]).await;
    assert_eq!(resp.data.len(), 4096);
}

#[tokio::test]
async fn max_response_body_size_refuses_a_larger_streamed_body() {
    let server = serve().await;

    // The body is streamed: no Content-Length, chunked transfer encoding.
    let (_dir, rt) = runtime(&server.url, &[]);
    let resp = ok(&rt, "get", b"", &[("path", "stream")]).await;
    assert_eq!(resp.data, vec![b'y'; 4096]);
    assert!(
        !resp.metadata.contains_key("Content-Length"),
        "{:?}",
        resp.metadata
    );
    assert_eq!(
        resp.metadata.get("Transfer-Encoding").map(String::as_str),
        Some("chunked")
    );

    let (_dir2, rt2) = runtime(&server.url, &[("maxResponseBodySize", "1Ki")]);
    let err = fail(&rt2, "get", b"", &[("path", "stream")]).await;
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(err.message().contains("maxResponseBodySize"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn max_response_body_size_does_not_apply_to_the_content_length_of_a_head_response() {
    let (_server, _dir, rt) = served(&[("maxResponseBodySize", "1Ki")]).await;
    let resp = ok(&rt, "head", b"", &[("path", "big")]).await;
    assert_eq!(resp.metadata["statusCode"], "200");
    assert_eq!(resp.metadata["Content-Length"], "4096");
    assert!(resp.data.is_empty());
}

#[tokio::test]
async fn security_token_is_sent_in_its_header() {
    let server = serve().await;
    let (_dir, rt) = runtime(
        &server.url,
        &[
            ("securityToken", "s3cr3t-value"),
            ("securityTokenHeader", "X-Api-Token"),
        ],
    );
    ok(&rt, "get", b"", &[]).await;
    assert_eq!(header(&server.last(), "x-api-token"), Some("s3cr3t-value"));

    ok(&rt, "post", b"{}", &[("X-Other", "1")]).await;
    let seen = server.last();
    assert_eq!(header(&seen, "x-api-token"), Some("s3cr3t-value"));
    assert_eq!(header(&seen, "x-other"), Some("1"));
}

#[tokio::test]
async fn response_timeout_gives_a_timeout_error() {
    let (_server, _dir, rt) = served(&[("responseTimeout", "200ms")]).await;
    let started = Instant::now();
    let err = fail(&rt, "get", b"", &[("path", "slow")]).await;
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout fired after {:?}",
        started.elapsed()
    );

    // The same component answers fast requests.
    let resp = ok(&rt, "get", b"", &[]).await;
    assert_eq!(resp.metadata["statusCode"], "200");
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let first = serve().await;
    let other = serve().await; // another port: another origin
    let (_dir, rt) = runtime(
        &first.url,
        &[
            ("securityToken", "s3cr3t-value"),
            ("securityTokenHeader", "X-Api-Token"),
        ],
    );
    let headers = [
        ("Authorization", "Bearer t0ken"),
        ("Cookie", "sid=abc"),
        ("Proxy-Authorization", "Basic cHJveHk="),
        ("X-Api-Key", "k3y"),
        ("X-Session-Id", "sess"),
        ("X-Request-Id", "req-1"),
    ];
    let credentials = [
        "x-api-token",
        "authorization",
        "cookie",
        "proxy-authorization",
        "x-api-key",
        "x-session-id",
    ];

    for (op, code, method) in [
        ("get", 302, Method::GET),
        ("post", 307, Method::POST),
        ("put", 308, Method::PUT),
    ] {
        let mut meta = md(&headers);
        meta.insert(
            "path".into(),
            format!("redirect/{code}?to={}/landed", other.url),
        );
        let resp = rt
            .invoke(NAME, op, b"payload".to_vec(), meta)
            .await
            .unwrap_or_else(|e| panic!("{op} {code}: {e}"));
        assert_eq!(resp.metadata["statusCode"], "200", "{op} {code}");
        // The first server got everything.
        let asked = first.last();
        assert_eq!(asked.uri.path(), format!("/redirect/{code}"));
        assert_eq!(header(&asked, "x-api-token"), Some("s3cr3t-value"));
        assert_eq!(header(&asked, "authorization"), Some("Bearer t0ken"));
        // The other origin gets the request, but no credential.
        let landed = other.last();
        assert_eq!(landed.uri.path(), "/landed", "{op} {code}");
        assert_eq!(landed.method, method, "{op} {code}");
        for name in credentials {
            assert!(
                !landed.headers.contains_key(name),
                "{op} {code}: {name} followed the redirect to another origin: {:?}",
                landed.headers
            );
        }
        assert!(
            !landed
                .headers
                .values()
                .any(|v| v.as_bytes().windows(6).any(|w| w == b"s3cr3t")),
            "{:?}",
            landed.headers
        );
        assert_eq!(
            header(&landed, "x-request-id"),
            Some("req-1"),
            "{op} {code}"
        );
        if method != Method::GET {
            assert_eq!(&landed.body[..], b"payload", "{op} {code} keeps the body");
        }
    }

    // A redirect within the same origin keeps them.
    let mut meta = md(&headers);
    meta.insert("path".into(), "redirect/302?to=/same-origin".into());
    rt.invoke(NAME, "get", Vec::new(), meta).await.unwrap();
    let landed = first.last();
    assert_eq!(landed.uri.path(), "/same-origin");
    assert_eq!(header(&landed, "x-api-token"), Some("s3cr3t-value"));
    assert_eq!(header(&landed, "authorization"), Some("Bearer t0ken"));
    assert_eq!(header(&landed, "cookie"), Some("sid=abc"));

    // Once dropped, they stay dropped, even when a later redirect comes back.
    let back = format!("{}/redirect/302?to={}/back", other.url, first.url);
    let mut meta = md(&headers);
    meta.insert("path".into(), format!("redirect/302?to={back}"));
    rt.invoke(NAME, "get", Vec::new(), meta).await.unwrap();
    let landed = first.last();
    assert_eq!(landed.uri.path(), "/back");
    for name in credentials {
        assert!(!landed.headers.contains_key(name), "{name}");
    }
}

#[tokio::test]
async fn a_post_redirected_with_303_goes_on_as_a_get_without_its_body() {
    let (server, _dir, rt) = served(&[]).await;
    ok(
        &rt,
        "post",
        b"payload",
        &[("path", "redirect/303?to=/after")],
    )
    .await;
    let seen = server.last();
    assert_eq!(seen.uri.path(), "/after");
    assert_eq!(seen.method, Method::GET);
    assert!(seen.body.is_empty());
    assert_eq!(header(&seen, "content-type"), None);
}

#[tokio::test]
async fn a_silent_server_gives_a_timeout_error() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (_dir, rt) = runtime(&format!("http://{addr}"), &[("responseTimeout", "300ms")]);
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        rt.invoke(NAME, "post", b"x".to_vec(), MetadataMap::new()),
    )
    .await
    .expect("the component's timeout ends the call")
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
}

/// Request headers that frame the request, in any case.
const FRAMING: [&str; 12] = [
    "Content-Length",
    "CONTENT-LENGTH",
    "Transfer-Encoding",
    "Host",
    "Connection",
    "Upgrade",
    "TE",
    "Trailer",
    "Keep-Alive",
    "Proxy-Connection",
    "Expect",
    "Content-length",
];

#[tokio::test]
async fn framing_headers_in_request_metadata_are_refused() {
    let (server, _dir, rt) = served(&[]).await;
    for key in FRAMING {
        let err = fail(&rt, "post", b"hello world", &[(key, "2")]).await;
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{key}: {err}");
        let msg = err.message();
        assert!(msg.contains(&format!("{key:?}")), "names the key: {msg}");
        assert!(msg.contains("frames the request"), "says why: {msg}");
    }
    nothing_sent(&server);
    // Other Content-* headers are fine.
    ok(&rt, "post", b"hello world", &[("Content-Language", "en")]).await;
    assert_eq!(&server.last().body[..], b"hello world");
}

#[tokio::test]
async fn control_characters_in_the_path_or_a_header_value_are_refused() {
    let paths = [
        "a\rb",
        "a\nb",
        "items\t7",
        "a\r\nX-Injected: 1",
        "a\u{0}b",
        "a\u{7f}b",
        "a?x=1\n",
    ];
    let (server, _dir, rt) = served(&[]).await;
    for path in paths {
        let err = fail(&rt, "get", b"", &[("path", path)]).await;
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{path:?}: {err}");
        assert!(err.message().contains("invalid path"), "{err}");
        assert!(err.message().contains("control character"), "{err}");
    }
    for value in ["a\r\nX-Injected: 1", "a\nb", "a\rb"] {
        let err = fail(&rt, "get", b"", &[("X-Note", value)]).await;
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{value:?}: {err}");
        assert!(err.message().contains("\"X-Note\""), "{err}");
        assert!(err.message().contains("CR or LF"), "{err}");
    }
    nothing_sent(&server);
}
