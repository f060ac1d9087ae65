#![cfg(feature = "mqtt")]
//! `bindings.mqtt3` against the real Mosquitto on 127.0.0.1:1883 (`tests/servers/start
//! mosquitto`): what only this binding does (topic metadata and wildcards, retained messages,
//! shared subscriptions). The behaviour every binding shares is in `behaviour.rs`
//! (`mqtt::*`). Each test uses topics and client IDs of its own.

use std::collections::BTreeSet;
use std::time::Duration;

use bindery::{ErrorKind, MetadataMap};

#[path = "suite/mod.rs"]
mod suite;
use suite::fixtures::mqtt::{client_id, forget_session, unique, URL};
use suite::harness::{self, collect, components, create, meta, next, runtime, WAIT};

fn yaml(name: &str, fields: &[(&str, &str)]) -> String {
    harness::component_yaml("bindings.mqtt3", name, fields)
}

/// The component `name` on `topic`, with a client ID of its own and `extra`.
fn on_topic(name: &str, topic: &str, extra: &[(&str, &str)]) -> String {
    let id = client_id();
    let mut fields = vec![("url", URL), ("topic", topic), ("consumerID", &id)];
    fields.extend_from_slice(extra);
    yaml(name, &fields)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_topic_metadata() {
    let base = unique("roundtrip");
    let topic = format!("{base}/a");
    let (id1, id2) = (client_id(), client_id());
    let dir = components(&[
        yaml(
            "sensor",
            &[("url", URL), ("topic", &topic), ("consumerID", &id1)],
        ),
        // A wildcard subscription sees the topic each message came on.
        yaml(
            "all",
            &[
                ("url", URL),
                ("topic", &format!("{base}/#")),
                ("consumerID", &id2),
                ("direction", "input"),
            ],
        ),
    ]);
    let rt = runtime(&dir);
    let mut sensor = collect(&rt, "sensor");
    let mut all = collect(&rt, "all");
    rt.start().await.unwrap();

    let resp = create(&rt, "sensor", b"21.5 \x00\xff", &[]).await;
    assert!(resp.data.is_empty() && resp.metadata.is_empty());
    let ev = next(&mut sensor).await;
    assert_eq!(ev.binding, "sensor");
    assert_eq!(ev.data, b"21.5 \x00\xff");
    assert_eq!(ev.metadata, meta(&[("topic", &topic)]));
    let ev = next(&mut all).await;
    assert_eq!(ev.metadata, meta(&[("topic", &topic)]));

    // Request metadata `topic` publishes elsewhere.
    let other = format!("{base}/b/c");
    create(&rt, "sensor", b"elsewhere", &[("topic", &other)]).await;
    let ev = next(&mut all).await;
    assert_eq!(ev.text(), "elsewhere");
    assert_eq!(ev.metadata, meta(&[("topic", &other)]));
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(
        sensor.try_recv().is_err(),
        "the sensor topic got nothing else"
    );
    forget_session(&id1).await;
    forget_session(&id2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_keeps_the_last_message_for_later_subscribers() {
    let topic = unique("retain");
    let extra = [("retain", "true"), ("direction", "output")];
    let out = components(&[on_topic("out", &topic, &extra)]);
    let rt = runtime(&out);
    create(&rt, "out", b"last known", &[]).await;

    let extra = [("cleanSession", "true"), ("direction", "input")];

    let later = components(&[on_topic("later", &topic, &extra)]);
    let rt2 = runtime(&later);
    let mut rx = collect(&rt2, "later");
    rt2.start().await.unwrap();
    let ev = next(&mut rx).await;
    assert_eq!(ev.text(), "last known");
    assert_eq!(ev.metadata, meta(&[("topic", &topic)]));
    rt2.shutdown(Duration::from_secs(5)).await.unwrap();

    // `retain: false` per request is not kept; an empty retained message clears the topic.
    create(&rt, "out", b"not kept", &[("retain", "false")]).await;
    let rt3 = runtime(&later);
    let mut rx = collect(&rt3, "later");
    rt3.start().await.unwrap();
    assert_eq!(next(&mut rx).await.text(), "last known");
    rt3.shutdown(Duration::from_secs(5)).await.unwrap();
    create(&rt, "out", b"", &[]).await;
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// A rejected message is acknowledged (MQTT has no dead-letter) and not delivered again, also
/// not when the persistent session is resumed; a nacked one beside it is retried in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_is_acknowledged_and_a_nacked_one_comes_again() {
    let topic = unique("reject");
    let id = client_id();
    let dir = components(&[yaml(
        "jobs",
        &[
            ("url", URL),
            ("topic", &topic),
            ("consumerID", &id),
            ("backOffDuration", "50ms"),
            ("backOffMaxRetries", "1"),
        ],
    )]);
    // Subscribe once and go away: the broker keeps the session and queues what comes next.
    let rt = runtime(&dir);
    let _rx = collect(&rt, "jobs");
    rt.start().await.unwrap();
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    harness::produce_numbered(&dir, "jobs", "create", 10).await;
    let seen = harness::check_reject_beside_nack(&dir, "jobs", false, WAIT).await;
    assert_eq!(seen, harness::m5_failed_once());
    // The session resumed: only a new message comes.
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "jobs");
    rt.start().await.unwrap();
    rt.invoke("jobs", "create", b"after".to_vec(), MetadataMap::new())
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.text(), "after");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    forget_session(&id).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_splits_messages_between_runtimes() {
    let topic = unique("shared");
    let group = format!("g{}", uuid::Uuid::new_v4().simple());
    // Both use `{uuid}`, as Dapr's docs advise for shared topics: each gets its own client ID.
    let doc = yaml(
        "work",
        &[
            ("url", URL),
            ("topic", &format!("$share/{group}/{topic}")),
            ("consumerID", "{uuid}"),
            ("cleanSession", "true"),
        ],
    );
    let (dir_a, dir_b) = (components(std::slice::from_ref(&doc)), components(&[doc]));
    let (rt_a, rt_b) = (runtime(&dir_a), runtime(&dir_b));
    let mut rx = harness::collect_each(&[('a', &rt_a), ('b', &rt_b)], "work");
    rt_a.start().await.unwrap();
    rt_b.start().await.unwrap();
    // The output drops the $share/<group>/ prefix and publishes to the topic itself.
    for i in 0..20 {
        create(&rt_a, "work", format!("s{i}"), &[]).await;
    }
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..20 {
        let (who, ev) = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev.metadata, meta(&[("topic", &topic)]));
        let fresh = if who == 'a' {
            a.insert(ev.text())
        } else {
            b.insert(ev.text())
        };
        assert!(fresh, "no duplicate");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rx.try_recv().is_err(),
        "each message went to one runtime only"
    );
    assert!(!a.is_empty() && !b.is_empty(), "both got some: {a:?} {b:?}");
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), 20);
    rt_a.shutdown(Duration::from_secs(5)).await.unwrap();
    rt_b.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_to_a_wildcard_topic_is_refused() {
    let topic = unique("wildcard");
    let dir = components(&[yaml(
        "wild",
        &[
            ("url", URL),
            ("topic", &format!("{topic}/+")),
            ("consumerID", &client_id()),
            ("direction", "output"),
        ],
    )]);
    let rt = runtime(&dir);
    let e = rt
        .invoke("wild", "create", b"x".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("wildcards"), "{e}");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// Dapr deprecated `qos` and uses QoS 1 whatever it says: a `qos` of 2 is a warning that says
/// QoS 1 is used.
#[test]
fn a_qos_other_than_1_is_a_warning_that_qos_1_is_used() {
    for (qos, says) in [
        (
            "2",
            "asks for QoS 2, but MQTT bindings publish and subscribe with QoS 1",
        ),
        (
            "1",
            "\"qos\" is deprecated (as in Dapr) and ignored; MQTT bindings use QoS 1",
        ),
    ] {
        let (_dir, path) = harness::one_component(
            "bindings.mqtt3",
            "m",
            &[
                ("url", "tcp://127.0.0.1:1883"),
                ("topic", "t"),
                ("consumerID", "c"),
                ("qos", qos),
            ],
        );
        let rt = bindery::Runtime::from_path(&path).unwrap();
        let d = rt.diagnostics();
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains(says), "{}", d[0]);
    }
}
