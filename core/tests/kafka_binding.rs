#![cfg(feature = "kafka")]
//! `bindings.kafka` against a real Kafka-protocol broker on 127.0.0.1:9092 (`tests/servers/start
//! kafka`, which runs tansu): what only this binding does (key, headers and every event
//! metadata key, escaped headers and tombstones, compression and partitionNumber, the header
//! exclusion regex, skipping without consumeRetryEnabled, a consumer group split over two
//! runtimes, TLS, SASL and OIDC against a token endpoint of the test's own, and the checks of
//! its fields at load). The behaviour every binding shares is
//! in `behaviour.rs` (`kafka::*`). Each test uses topics and a group of its own.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bindery::{ErrorKind, MetadataMap};
use rdkafka::config::ClientConfig;
use tokio::sync::mpsc;

#[path = "suite/mod.rs"]
mod suite;
use suite::fixtures::kafka::{create_topic, create_topic_at, unique, BROKERS};
use suite::harness::{self, collect, components, create, meta, next, runtime, WAIT};

fn yaml(name: &str, fields: &[(&str, &str)]) -> String {
    harness::component_yaml("bindings.kafka", name, fields)
}

/// A component for both directions on `topic`.
fn both(name: &str, topic: &str, group: &str, extra: &[(&str, &str)]) -> String {
    let mut f = vec![
        ("brokers", BROKERS),
        ("authType", "none"),
        ("topics", topic),
        ("publishTopic", topic),
        ("consumerGroup", group),
        ("initialOffset", "oldest"),
    ];
    f.extend_from_slice(extra);
    yaml(name, &f)
}

/// A 1-partition topic of the test's own, and a folder with the component `name` on it (a
/// group of its own, with `extra`): the topic and the folder.
async fn fresh(name: &str, extra: &[(&str, &str)]) -> (String, harness::Dir) {
    let topic = unique(name);
    create_topic(&topic, 1).await;
    let dir = components(&[both(name, &topic, &unique("g"), extra)]);
    (topic, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_key_headers_and_every_event_metadata_key() {
    let (topic, dir) = fresh("orders", &[]).await;
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "orders");
    rt.start().await.unwrap();
    let before = chrono::Utc::now().timestamp_millis();
    let md = [("partitionKey", "customer-7"), ("traceId", "a b&c")];
    let resp = create(&rt, "orders", b"hello \x00\xff", &md).await;
    assert!(resp.data.is_empty() && resp.metadata.is_empty());
    create(&rt, "orders", b"bare", &[]).await;

    let ev = next(&mut rx).await;
    assert_eq!(ev.binding, "orders");
    assert_eq!(ev.data, b"hello \x00\xff");
    let ts: i64 = ev.metadata["__timestamp"].parse().unwrap();
    assert!((before - 5000..before + 60_000).contains(&ts), "{ts}");
    let mut md: BTreeMap<_, _> = ev.metadata.clone().into_iter().collect();
    md.remove("__timestamp");
    // Dapr's event metadata: key, offset, topic, partition, and every header unescaped
    // (escapeHeaders is false); like Dapr, partitionKey was sent as a header too.
    let want: BTreeMap<String, String> = meta(&[
        ("__key", "customer-7"),
        ("__offset", "0"),
        ("__topic", &topic),
        ("__partition", "0"),
        ("partitionKey", "customer-7"),
        ("traceId", "a b&c"),
    ])
    .into_iter()
    .collect();
    assert_eq!(md, want);

    let ev = next(&mut rx).await;
    assert_eq!(ev.text(), "bare");
    assert!(!ev.metadata.contains_key("__key"), "{:?}", ev.metadata);
    assert_eq!(ev.metadata["__offset"], "1");
    assert_eq!(ev.metadata.len(), 4, "{:?}", ev.metadata);
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(rt.input_stats("orders").unwrap().acked, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_headers_and_tombstones() {
    let (_topic, dir) = fresh("esc", &[("escapeHeaders", "true")]).await;
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "esc");
    rt.start().await.unwrap();
    create(&rt, "esc", b"null", &[("__key", "k/1"), ("h", "x=y")]).await;
    let ev = next(&mut rx).await;
    assert_eq!(ev.text(), "null", "a tombstone arrives as null");
    assert_eq!(ev.metadata["__key"], "k%2F1");
    assert_eq!(ev.metadata["h"], "x%3Dy");
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// Dapr's compression codecs: the producer compresses each batch, the consumer reads it back;
/// `partitionNumber` sends a record to that partition (and wins over the key's hash), and a
/// number the topic has no partition for is refused, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_records_round_trip_to_the_partition_asked_for() {
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = unique(codec);
        create_topic(&topic, 3).await;
        let doc = both(codec, &topic, &unique("g"), &[("compression", codec)]);
        let dir = components(&[doc]);
        let rt = runtime(&dir);
        let mut rx = collect(&rt, codec);
        rt.start().await.unwrap();
        let data = format!("{codec} {}", "x".repeat(2000));
        create(&rt, codec, data.as_str(), &[("partitionNumber", "2")]).await;
        let md = [("partitionNumber", "1"), ("partitionKey", "k")];
        create(&rt, codec, "to one", &md).await;
        let mut got = [next(&mut rx).await, next(&mut rx).await];
        got.sort_by_key(|e| e.metadata["__partition"].clone());
        assert_eq!(got[0].text(), "to one", "{codec}");
        assert_eq!(got[0].metadata["__partition"], "1");
        assert_eq!(got[0].metadata["__key"], "k");
        assert_eq!(got[1].text(), data, "{codec}");
        assert_eq!(got[1].metadata["__partition"], "2");
        // Like Dapr, partitionNumber is sent as a header too.
        assert_eq!(got[1].metadata["partitionNumber"], "2");
        for (n, says) in [
            ("3", "no such partition"),
            ("-1", "0 or more"),
            ("x", "whole number"),
        ] {
            let e = rt
                .invoke(
                    codec,
                    "create",
                    b"x".to_vec(),
                    meta(&[("partitionNumber", n)]),
                )
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
        rt.shutdown(Duration::from_secs(10)).await.unwrap();
    }
}

/// `excludeHeaderMetaRegex`, as Dapr applies it both ways: request metadata it matches is not
/// sent as a header (a key still keys the record: `reader`, without the regex, sees that), and
/// record headers it matches (here from `plain`, a producer without it) are not event metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_headers_are_neither_sent_nor_delivered() {
    let topic = unique("exclude");
    create_topic(&topic, 1).await;
    let regex = "^(rawPayload|secret-.*)$";
    let filtered = both(
        "filtered",
        &topic,
        &unique("g"),
        &[("excludeHeaderMetaRegex", regex)],
    );
    let plain = yaml(
        "plain",
        &[
            ("brokers", BROKERS),
            ("authType", "none"),
            ("publishTopic", &topic),
            ("direction", "output"),
        ],
    );
    let reader = yaml(
        "reader",
        &[
            ("brokers", BROKERS),
            ("authType", "none"),
            ("topics", &topic),
            ("consumerGroup", &unique("g")),
            ("initialOffset", "oldest"),
            ("direction", "input"),
        ],
    );
    let dir = components(&[filtered, plain, reader]);
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "filtered");
    let mut all = collect(&rt, "reader");
    rt.start().await.unwrap();
    let md = [
        ("rawPayload", "true"),
        ("secret-a", "1"),
        ("keep", "yes"),
        ("partitionKey", "k"),
    ];
    create(&rt, "plain", "from plain", &md).await;
    create(&rt, "filtered", "from filtered", &md).await;
    for text in ["from plain", "from filtered"] {
        let ev = next(&mut rx).await;
        assert_eq!(ev.text(), text);
        assert_eq!(ev.metadata["keep"], "yes", "{:?}", ev.metadata);
        assert_eq!(ev.metadata["__key"], "k");
        assert!(!ev.metadata.contains_key("rawPayload"), "{:?}", ev.metadata);
        assert!(!ev.metadata.contains_key("secret-a"), "{:?}", ev.metadata);
    }
    let ev = next(&mut all).await;
    assert_eq!(ev.text(), "from plain");
    assert_eq!(ev.metadata["rawPayload"], "true", "{:?}", ev.metadata);
    assert_eq!(ev.metadata["secret-a"], "1");
    let ev = next(&mut all).await;
    assert_eq!(ev.text(), "from filtered");
    assert_eq!(ev.metadata["__key"], "k");
    assert_eq!(ev.metadata["keep"], "yes");
    assert!(!ev.metadata.contains_key("rawPayload"), "{:?}", ev.metadata);
    assert!(!ev.metadata.contains_key("secret-a"), "{:?}", ev.metadata);
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// A component "jobs" on a fresh 1-partition topic and group: a 50 ms back-off, one retry.
async fn redelivery_component(what: &str) -> String {
    let topic = unique(what);
    create_topic(&topic, 1).await;
    both(
        "jobs",
        &topic,
        &unique("g"),
        &[("backOffDuration", "50ms"), ("backOffMaxRetries", "1")],
    )
}

/// The same component and group again: everything was committed, so only a new message
/// arrives.
async fn only_a_new_message_arrives(doc: String) {
    let dir = components(&[doc]);
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "jobs");
    rt.start().await.unwrap();
    rt.invoke("jobs", "create", b"after".to_vec(), MetadataMap::new())
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.text(), "after");
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// A rejected message is not retried: its offset is committed past it (Kafka has no
/// dead-letter here), so neither this runtime nor the next of the group gets it again, while a
/// nacked one beside it is retried in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_is_committed_past_and_a_nacked_one_comes_again() {
    let doc = redelivery_component("reject").await;
    let dir = components(std::slice::from_ref(&doc));
    harness::produce_numbered(&dir, "jobs", "create", 10).await;
    let seen = harness::check_reject_beside_nack(&dir, "jobs", true, WAIT).await;
    assert_eq!(seen, harness::m5_failed_once());
    only_a_new_message_arrives(doc).await;
}

/// With consumeRetryEnabled false (Dapr's default for the binding), a failed message is
/// logged and skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_consume_retry_a_failed_message_is_skipped() {
    let (_topic, dir) = fresh("skip", &[("consumeRetryEnabled", "false")]).await;
    let rt = runtime(&dir);
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.on_event("skip", move |ev| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ev.text());
            if ev.text() == "bad" {
                return Err("bad".into());
            }
            Ok(())
        }
    })
    .unwrap();
    rt.start().await.unwrap();
    for m in ["bad", "good"] {
        create(&rt, "skip", m, &[]).await;
    }
    let got = tokio::time::timeout(WAIT, async {
        let mut got = Vec::new();
        while got.len() < 2 {
            got.push(rx.recv().await.unwrap());
        }
        got
    })
    .await
    .unwrap();
    assert_eq!(got, ["bad", "good"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "bad is not delivered again");
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// Two runtimes in one consumer group split the partitions: together they see every message
/// exactly once, also the ones produced while the second joins and the partitions move (an
/// acked offset is committed when a partition is revoked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_in_one_group_see_every_message_once() {
    let topic = unique("group");
    let group = unique("g");
    create_topic(&topic, 4).await;
    let doc = both("work", &topic, &group, &[("sessionTimeout", "6s")]);
    let (dir_a, dir_b) = (components(std::slice::from_ref(&doc)), components(&[doc]));
    let (rt_a, rt_b) = (runtime(&dir_a), runtime(&dir_b));
    let mut rx = harness::collect_each(&[('a', &rt_a), ('b', &rt_b)], "work");
    rt_a.start().await.unwrap();
    // Messages keep coming for ~8s; B joins after ~1s, so partitions move from A to B
    // while messages are in flight.
    let n = 160;
    let producer = {
        let rt = rt_a.clone();
        tokio::spawn(async move {
            for i in 0..n {
                create(
                    &rt,
                    "work",
                    format!("w{i}"),
                    &[("partitionKey", &format!("key-{i}"))],
                )
                .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    rt_b.start().await.unwrap();
    producer.await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(90), async {
        while got.len() < n {
            let (who, ev) = rx.recv().await.unwrap();
            got.push((who, ev.text()));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {n} arrived: {got:?}", got.len()));
    // A moment for a duplicate to show up, if there were one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Ok((who, ev)) = rx.try_recv() {
        got.push((who, ev.text()));
    }
    let texts: Vec<&String> = got.iter().map(|(_, t)| t).collect();
    let unique_texts: HashSet<&String> = texts.iter().copied().collect();
    assert_eq!(texts.len(), n, "no duplicates: {got:?}");
    assert_eq!(unique_texts.len(), n);
    // The last messages went to both: the partitions were split.
    let late: HashSet<char> = got[n - 40..].iter().map(|(w, _)| *w).collect();
    assert_eq!(
        late.len(),
        2,
        "both runtimes got a share of the late messages: {got:?}"
    );
    rt_a.shutdown(Duration::from_secs(10)).await.unwrap();
    rt_b.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// An output needs the topic it publishes to; the error names the component.
#[test]
fn an_output_without_a_publish_topic_is_refused() {
    let fields = [
        ("brokers", BROKERS),
        ("authType", "none"),
        ("direction", "output"),
    ];
    let dir = components(&[yaml("nopublish", &fields)]);
    let e = bindery::Runtime::from_path(dir.0.path()).unwrap_err();
    let want = "bindings.kafka as an output needs the metadata field \"publishTopic\"";
    let d = e.diagnostics().iter().find(|d| d.message.contains(want));
    let d = d.unwrap_or_else(|| panic!("{:#?}", e.diagnostics()));
    assert_eq!(d.component.as_deref(), Some("nopublish"));
}

// -- TLS and SASL ------------------------------------------------------------------------------
// `tests/servers/start kafka-tls` serves Kafka over TLS on 127.0.0.1:9094 with the test CA's
// server certificate, and asks every client for a certificate signed by that CA (socat in
// front of tansu, which advertises 9094, so every connection is TLS). `kafka-sasl` is a tansu
// on 127.0.0.1:9093 that requires a SASL login; its memory storage holds no users, so every
// login fails there.

const TLS_BROKERS: &str = "127.0.0.1:9094";
const SASL_BROKERS: &str = "127.0.0.1:9093";

fn mtls_fields<'a>(ca: &'a str, cert: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("brokers", TLS_BROKERS),
        ("authType", "mtls"),
        ("caCert", ca),
        ("clientCert", cert),
        ("clientKey", key),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_round_trip_through_a_broker_that_requires_client_certificates() {
    let (ca, cert, key) = (
        harness::tls_file("ca.crt"),
        harness::tls_file("client.crt"),
        harness::tls_file("client.key"),
    );
    let topic = unique("tls");
    create_topic_at(
        ClientConfig::new()
            .set("bootstrap.servers", TLS_BROKERS)
            .set("security.protocol", "ssl")
            .set("ssl.ca.location", &ca)
            .set("ssl.certificate.location", &cert)
            .set("ssl.key.location", &key),
        &topic,
        1,
    )
    .await;
    // caCert and clientCert as PEM text (Dapr's form) and clientKey as a file: both work.
    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    let group = unique("g");
    let mut fields = mtls_fields(&ca_pem, &cert_pem, &key);
    fields.extend([
        ("topics", topic.as_str()),
        ("publishTopic", topic.as_str()),
        ("consumerGroup", group.as_str()),
        ("initialOffset", "oldest"),
    ]);
    let dir = components(&[yaml("secure", &fields)]);
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "secure");
    rt.start().await.unwrap();
    create(&rt, "secure", b"over TLS", &[("partitionKey", "k1")]).await;
    let ev = next(&mut rx).await;
    assert_eq!(ev.data, b"over TLS");
    assert_eq!(ev.metadata["__key"], "k1");
    assert_eq!(ev.metadata["__topic"], topic);
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// Publish through an output with `fields`, which must fail to connect, `Upstream`, saying
/// each of `says`: the error's text.
async fn connect_error(fields: &[(&str, &str)], says: &[&str]) -> String {
    let mut fields = fields.to_vec();
    fields.push(("publishTopic", "t"));
    let dir = components(&[yaml("out", &fields)]);
    let rt = runtime(&dir);
    let e = rt
        .invoke("out", "create", b"x".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Upstream, "{e}");
    let text = e.to_string();
    for s in says {
        assert!(text.contains(s), "{text}");
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_from_an_untrusted_ca_is_refused_with_the_reason() {
    let other = harness::other_ca_file();
    let (cert, key) = (
        harness::tls_file("client.crt"),
        harness::tls_file("client.key"),
    );
    let other = other.path().to_string_lossy().into_owned();
    let says = ["certificate verify failed", "give that CA in caCert"];
    connect_error(&mtls_fields(&other, &cert, &key), &says).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_client_certificate_the_tls_broker_refuses_and_the_error_says_so() {
    let ca = harness::tls_file("ca.crt");
    // authType certificate: TLS checked against caCert, no client certificate.
    let fields = [
        ("brokers", TLS_BROKERS),
        ("authType", "certificate"),
        ("caCert", &ca),
    ];
    connect_error(&fields, &["the last error:", "clientCert and clientKey"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sasl_login_the_broker_refuses_names_the_sasl_fields() {
    for mechanism in ["SHA-512", "SHA-256"] {
        let fields = [
            ("brokers", SASL_BROKERS),
            ("authType", "password"),
            ("disableTls", "true"),
            ("saslUsername", "nobody"),
            ("saslPassword", "not-the-password"),
            ("saslMechanism", mechanism),
        ];
        let fix = "check saslUsername, saslPassword and saslMechanism";
        let text = connect_error(&fields, &["the last error:", fix]).await;
        assert!(!text.contains("not-the-password"), "{text}");
    }
}

// -- OIDC ----------------------------------------------------------------------------------------
// A token endpoint of the test's own (axum on 127.0.0.1) stands in for the identity provider.

/// One token request as the endpoint got it: its Authorization header and its form.
#[derive(Debug)]
struct TokenRequest {
    authorization: Option<String>,
    content_type: Option<String>,
    form: BTreeMap<String, String>,
}

/// Serve a token endpoint answering every POST with `status` and `body`: its URL, and the
/// requests it got.
async fn token_endpoint(
    status: u16,
    body: &'static str,
) -> (String, mpsc::UnboundedReceiver<TokenRequest>) {
    use axum::http::{header, HeaderMap, StatusCode};
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/oauth/token",
        axum::routing::post(move |headers: HeaderMap, form: String| {
            let tx = tx.clone();
            async move {
                let h = |k: header::HeaderName| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let url = reqwest::Url::parse(&format!("http://x/?{form}")).unwrap();
                let _ = tx.send(TokenRequest {
                    authorization: h(header::AUTHORIZATION),
                    content_type: h(header::CONTENT_TYPE),
                    form: url.query_pairs().into_owned().collect(),
                });
                (
                    StatusCode::from_u16(status).unwrap(),
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{at}/oauth/token"), rx)
}

const CLIENT_SECRET: &str = "client-s3cret-value";

/// An output with `authType: oidc` at `brokers`, through `endpoint`.
fn oidc_output<'a>(
    brokers: &'a str,
    endpoint: &'a str,
    extra: &[(&'a str, &'a str)],
) -> harness::Dir {
    let mut f = vec![
        ("brokers", brokers),
        ("authType", "oidc"),
        ("disableTls", "true"),
        ("publishTopic", "oidc-topic"),
        ("direction", "output"),
        ("oidcTokenEndpoint", endpoint),
        ("oidcClientID", "bindery test"),
        ("oidcClientSecret", CLIENT_SECRET),
    ];
    f.extend_from_slice(extra);
    components(&[yaml("oidc", &f)])
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A TCP relay from a port of its own to `to`, which passes on, as text, every chunk a client
/// writes before relaying it: its address and those chunks.
async fn relay(to: &'static str) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let server = tokio::net::TcpStream::connect(to).await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut sr, &mut cw).await });
                let mut buf = [0u8; 4096];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (at, rx)
}

/// The token request is Dapr's (Go's client credentials): grant_type and the scopes joined by
/// spaces in the form, the client ID (query-escaped) and secret as HTTP Basic authentication;
/// then librdkafka logs in with SASL/OAUTHBEARER presenting that token. tansu's SASL listener
/// (9093) speaks OAUTHBEARER but cannot validate a token from this endpoint, so it refuses the
/// login: the token is seen on the wire, through a relay, and the error says what to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_fetches_a_client_credentials_token_and_logs_in_with_it() {
    let answer = r#"{"access_token":"tok-123","token_type":"Bearer","expires_in":3600}"#;
    let (endpoint, mut requests) = token_endpoint(200, answer).await;
    let (brokers, mut wire) = relay(SASL_BROKERS).await;
    let dir = oidc_output(&brokers, &endpoint, &[("oidcScopes", "openid,kafka-prod")]);
    let rt = runtime(&dir);
    let e = rt
        .invoke("oidc", "create", b"x".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    let req = requests.recv().await.unwrap();
    assert_eq!(
        req.authorization.as_deref(),
        Some(basic("bindery+test", CLIENT_SECRET).as_str())
    );
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let want: BTreeMap<String, String> = [
        ("grant_type", "client_credentials"),
        ("scope", "openid kafka-prod"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(req.form, want);
    // The token went to the broker in the OAUTHBEARER client response (RFC 7628).
    let mut sent = String::new();
    while let Ok(bytes) = wire.try_recv() {
        sent.push_str(&bytes);
    }
    assert!(sent.contains("OAUTHBEARER"), "{sent:?}");
    assert!(sent.contains("auth=Bearer tok-123\u{1}"), "{sent:?}");
    assert!(!sent.contains(CLIENT_SECRET));
    let text = e.to_string();
    assert_eq!(e.kind(), ErrorKind::Upstream, "{text}");
    assert!(text.contains("SASL"), "{text}");
    assert!(
        text.contains("the brokers refused the OIDC token"),
        "{text}"
    );
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    // One request served the login and its retries: the token is reused while it is fresh.
    assert!(requests.try_recv().is_err(), "the token is reused");
}

/// An endpoint that refuses the client: the error names the endpoint, its status and the
/// OAuth error, never the secret. As Go's client, the credentials were tried in the form too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_wrong_credentials_are_a_clear_error_without_the_secret() {
    let answer = r#"{"error":"invalid_client","error_description":"client authentication failed"}"#;
    let (endpoint, mut requests) = token_endpoint(401, answer).await;
    let dir = oidc_output(BROKERS, &endpoint, &[]);
    let rt = runtime(&dir);
    let e = rt
        .invoke("oidc", "create", b"x".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(e.kind(), ErrorKind::Upstream, "{text}");
    for says in [
        endpoint.as_str(),
        "401 Unauthorized",
        "invalid_client",
        "oidcClientID",
    ] {
        assert!(text.contains(says), "{says:?} in {text}");
    }
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    let first = requests.recv().await.unwrap();
    assert!(first.authorization.is_some());
    assert_eq!(first.form["scope"], "openid", "Dapr's default scope");
    let second = requests.recv().await.unwrap();
    assert_eq!(second.authorization, None);
    assert_eq!(second.form["client_id"], "bindery test");
    assert_eq!(second.form["client_secret"], CLIENT_SECRET);
}

/// `oidc_private_key_jwt`: an RS256 client assertion signed with oidcClientAssertionKey, with
/// Dapr's claims, sent with Dapr's form fields; its signature checks with the public key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_private_key_jwt_sends_a_signed_client_assertion() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("client.key");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{made:?}");
    // Dapr requires the certificate but does not put it in the assertion.
    let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    let answer = r#"{"access_token":"tok-jwt","expires_in":"600"}"#;
    let (endpoint, mut requests) = token_endpoint(200, answer).await;
    let (brokers, mut wire) = relay(SASL_BROKERS).await;
    let key_path = key.to_string_lossy().into_owned();
    let mut f = vec![
        ("brokers", brokers.as_str()),
        ("authType", "oidc_private_key_jwt"),
        ("disableTls", "true"),
        ("publishTopic", "oidc-topic"),
        ("direction", "output"),
        ("oidcTokenEndpoint", endpoint.as_str()),
        ("oidcClientID", "jwt-client"),
        ("oidcClientAssertionCert", cert),
        ("oidcClientAssertionKey", key_path.as_str()),
        ("oidcAudience", "https://idp.example/realms/r"),
        ("oidcResource", "api://kafka"),
        ("oidcKid", "key-1"),
    ];
    f.push(("oidcScopes", "kafka"));
    let dir = components(&[yaml("oidc", &f)]);
    let rt = runtime(&dir);
    // tansu cannot validate the token, so the login fails; the token was presented.
    let e = rt
        .invoke("oidc", "create", b"x".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("the brokers refused the OIDC token"),
        "{e}"
    );
    let mut sent = String::new();
    while let Ok(bytes) = wire.try_recv() {
        sent.push_str(&bytes);
    }
    assert!(sent.contains("auth=Bearer tok-jwt\u{1}"), "{sent:?}");
    let req = requests.recv().await.unwrap();
    assert_eq!(req.authorization, None);
    let form = &req.form;
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "jwt-client");
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(form["audience"], "https://idp.example/realms/r");
    assert_eq!(form["resource"], "api://kafka");
    assert_eq!(form["scope"], "kafka");
    let parts: Vec<&str> = form["client_assertion"].split('.').collect();
    assert_eq!(parts.len(), 3);
    let json = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    };
    let (header, claims) = (json(parts[0]), json(parts[1]));
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "key-1");
    assert_eq!(claims["iss"], "jwt-client");
    assert_eq!(claims["sub"], "jwt-client");
    assert_eq!(claims["aud"], "https://idp.example/realms/r");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 60);
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() == 36));
    // The signature checks with the key's public half.
    let pem = std::fs::read_to_string(&key).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    use ring::signature::KeyPair as _;
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        pair.public_key().as_ref().to_vec(),
    );
    let signed = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
        )
        .expect("a valid RS256 signature");
}

// -- Validation (no broker) ----------------------------------------------------------------------

/// `fields` of a Kafka component `k` in a file of its own, validated (app id `orders`).
fn validated(fields: &[(&str, &str)]) -> (harness::Dir, bindery::component::Validated) {
    let mut all = vec![("brokers", BROKERS), ("authType", "none")];
    all.extend_from_slice(fields);
    let dir = components(&[yaml("k", &all)]);
    let (found, diags) = bindery::component::load_paths(&[dir.0.path().to_path_buf()]);
    let v =
        bindery::component::validate(found, &bindery::Registry::builtin(), Some("orders"), diags);
    (dir, v)
}

/// The line of field `name` in the file `component_yaml` writes (its `- name:` line).
fn line_of(file_text: &str, name: &str) -> usize {
    file_text
        .lines()
        .position(|l| l.trim() == format!("- name: {name}"))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{name} in\n{file_text}"))
}

#[test]
fn kafka_mistakes_are_errors_at_their_field_with_a_fix() {
    let bad = [
        (
            "compression",
            "brotli",
            "one of none, gzip, snappy, lz4, zstd",
        ),
        (
            "excludeHeaderMetaRegex",
            "^(rawPayload",
            "is not a regular expression",
        ),
        ("producerRequiredAcks", "some", "one of all, local, none"),
        ("producerRetryMax", "-1", "is not a retry count"),
        ("oidcExtensions", "{}", "empty"),
    ];
    let mut fields: Vec<(&str, &str)> = bad.iter().map(|(f, v, _)| (*f, *v)).collect();
    fields.extend([
        ("authType", "oidc"),
        ("oidcTokenEndpoint", "http://127.0.0.1:1/token"),
        ("oidcClientID", "id"),
        ("oidcClientSecret", "s"),
    ]);
    let (dir, v) = validated(&fields);
    let file = std::fs::read_dir(dir.0.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&file).unwrap();
    for (field, _, says) in bad {
        let d = v
            .diagnostics
            .iter()
            .find(|d| d.is_error() && d.message.contains(field))
            .unwrap_or_else(|| panic!("{field}: {:#?}", v.diagnostics));
        assert!(d.message.contains(says), "{d}");
        assert_eq!(d.location.file, file, "{d}");
        // The field's entry: its `- name:` line.
        assert_eq!(d.location.line, line_of(&text, field), "{d}");
        assert_eq!(d.component.as_deref(), Some("k"));
        assert!(d.fix.as_deref().is_some_and(|f| !f.is_empty()), "{d}");
    }
}

/// Dapr takes a rebalance strategy it does not know with a warning and uses range; so does
/// bindery (the known ones in any case, as Dapr lowercases them).
#[test]
fn an_unknown_rebalance_strategy_is_a_warning_and_range_is_used() {
    let (dir, v) = validated(&[("consumerGroupRebalanceStrategy", "Cooperative")]);
    let text = std::fs::read_to_string(dir.0.path().join("c0.yaml")).unwrap();
    assert_eq!(v.diagnostics.len(), 1, "{:#?}", v.diagnostics);
    let w = &v.diagnostics[0];
    assert!(!w.is_error(), "{w}");
    assert!(
        w.message.contains(
            "\"cooperative\" is not range, sticky or roundrobin; range is used, as in Dapr"
        ),
        "{w}"
    );
    assert_eq!(
        w.location.line,
        line_of(&text, "consumerGroupRebalanceStrategy")
    );
    let (_dir, v) = validated(&[("consumerGroupRebalanceStrategy", "RoundRobin")]);
    assert!(v.diagnostics.is_empty(), "{:#?}", v.diagnostics);
}

/// Every field of Dapr's Kafka binding (its metadata.yaml, the shared Kafka metadata it
/// decodes, and the AWS profile's names) loads without an unknown-field warning; the ones
/// bindery does not act on are warnings that say so, and why.
#[test]
fn every_dapr_field_is_known_and_the_ignored_ones_say_why() {
    let dapr = [
        "topics",
        "brokers",
        "publishTopic",
        "consumerGroup",
        "consumerID",
        "clientID",
        "authType",
        "authRequired",
        "saslUsername",
        "saslPassword",
        "saslMechanism",
        "initialOffset",
        "maxMessageBytes",
        "consumeRetryInterval",
        "consumeRetryEnabled",
        "heartbeatInterval",
        "sessionTimeout",
        "version",
        "skipVerify",
        "disableTls",
        "caCert",
        "clientCert",
        "clientKey",
        "oidcTokenEndpoint",
        "oidcClientID",
        "oidcClientSecret",
        "oidcScopes",
        "oidcExtensions",
        "oidcClientAssertionCert",
        "oidcClientAssertionKey",
        "oidcResource",
        "oidcAudience",
        "oidcKid",
        "awsRegion",
        "awsAccessKey",
        "awsSecretKey",
        "awsSessionToken",
        "awsIamRoleArn",
        "awsStsSessionName",
        "region",
        "accessKey",
        "secretKey",
        "sessionToken",
        "assumeRoleArn",
        "sessionName",
        "trustAnchorArn",
        "trustProfileArn",
        "schemaRegistryURL",
        "schemaRegistryAPIKey",
        "schemaRegistryAPISecret",
        "schemaCachingEnabled",
        "schemaLatestVersionCacheTTL",
        "useAvroJSON",
        "escapeHeaders",
        "compression",
        "consumerGroupRebalanceStrategy",
        "excludeHeaderMetaRegex",
        "dialTimeout",
        "readTimeout",
        "writeTimeout",
        "metadataTimeout",
        "producerRequiredAcks",
        "producerRetryMax",
        "channelBufferSize",
        "consumerFetchMin",
        "consumerFetchDefault",
        "clientConnectionTopicMetadataRefreshInterval",
        "clientConnectionKeepAliveInterval",
        "backOffPolicy",
        "backOffDuration",
        "backOffMaxRetries",
        "backOffInitialInterval",
        "backOffMaxInterval",
        "backOffRandomizationFactor",
        "backOffMultiplier",
        "backOffMaxElapsedTime",
    ];
    let registry = bindery::Registry::builtin();
    let kafka = registry.find("bindings.kafka").expect("bindings.kafka");
    for name in dapr {
        assert!(
            kafka
                .fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(name)),
            "{name} is declared"
        );
    }
    let ignored = [
        ("version", "2.0.0", "negotiates the protocol version"),
        (
            "channelBufferSize",
            "256",
            "librdkafka queues messages itself",
        ),
        (
            "schemaRegistryURL",
            "http://localhost:8081",
            "no schema registry client",
        ),
        ("useAvroJSON", "true", "no schema registry client"),
        ("writeTimeout", "10s", "readTimeout"),
        ("metadataTimeout", "5s", "socket.timeout.ms"),
        ("awsRegion", "us-east-1", "awsiam"),
        ("region", "us-east-1", "awsiam"),
    ];
    let fields: Vec<(&str, &str)> = ignored.iter().map(|(f, v, _)| (*f, *v)).collect();
    let (_dir, v) = validated(&fields);
    assert!(v.is_ok(), "{:#?}", v.diagnostics);
    for (field, _, why) in ignored {
        let d = v
            .diagnostics
            .iter()
            .find(|d| d.message.contains(&format!("{field:?}")))
            .unwrap_or_else(|| panic!("{field}: {:#?}", v.diagnostics));
        assert!(!d.is_error(), "{d}");
        assert!(d.message.contains("ignored by bindery"), "{d}");
        assert!(d.message.contains(why), "{d}");
    }
    assert!(
        !v.diagnostics.iter().any(|d| d.message.contains("unknown")),
        "{:#?}",
        v.diagnostics
    );
}

/// Dapr's `{namespace}` (and `{appID}`) in consumerGroup, replaced at load, as daprd does.
#[test]
fn namespace_in_the_consumer_group_is_replaced() {
    let (_dir, v) = validated(&[("topics", "t"), ("consumerGroup", "{namespace}-{appID}")]);
    assert!(v.diagnostics.is_empty(), "{:#?}", v.diagnostics);
    let namespace = std::env::var("NAMESPACE").unwrap_or_else(|_| "default".into());
    let group = v.bindings[0]
        .config
        .metadata
        .get("consumerGroup")
        .unwrap()
        .to_string();
    assert_eq!(group, format!("{namespace}.orders-orders"));
}

/// A consumer takes librdkafka's token refresh only while polled: its init polls it, so an
/// input logs in with the token too (and fails here, as tansu cannot validate it, saying so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_input_presents_the_token_at_init() {
    let answer = r#"{"access_token":"tok-in","expires_in":3600}"#;
    let (endpoint, mut requests) = token_endpoint(200, answer).await;
    let (brokers, mut wire) = relay(SASL_BROKERS).await;
    let dir = components(&[yaml(
        "oidc-in",
        &[
            ("brokers", &brokers),
            ("authType", "oidc"),
            ("disableTls", "true"),
            ("topics", "t"),
            ("consumerGroup", "g"),
            ("direction", "input"),
            ("oidcTokenEndpoint", &endpoint),
            ("oidcClientID", "app"),
            ("oidcClientSecret", CLIENT_SECRET),
        ],
    )]);
    let rt = runtime(&dir);
    rt.on_event("oidc-in", |_| async { Ok(()) }).unwrap();
    let says = ["the brokers refused the OIDC token"];
    harness::start_fails(&rt, ErrorKind::Upstream, &says).await;
    assert!(requests.recv().await.is_some());
    let mut sent = String::new();
    while let Ok(bytes) = wire.try_recv() {
        sent.push_str(&bytes);
    }
    assert!(sent.contains("auth=Bearer tok-in\u{1}"), "{sent:?}");
}
