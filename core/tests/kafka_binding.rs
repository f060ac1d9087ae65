#![cfg(feature = "kafka")]
//! `bindings.kafka` against a real Kafka-protocol broker on 127.0.0.1:9092 (`tests/servers/start
//! kafka`, which runs tansu): what only this binding does (key, headers and every event
//! metadata key, escaped headers and tombstones, skipping without consumeRetryEnabled, a
//! consumer group split over two runtimes, TLS and SASL). The behaviour every binding shares is
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
    create(&rt, "secure", b"over TLS", &[("key", "k1")]).await;
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
