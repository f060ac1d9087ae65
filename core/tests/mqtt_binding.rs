#![cfg(feature = "mqtt")]
//! `bindings.mqtt3` against the real Mosquitto on 127.0.0.1:1883 (`tests/servers/start
//! mosquitto`): publish and subscribe with every metadata key, retained messages, at-least-once
//! redelivery in order, shared subscriptions, errors, and a broker restart. Each test uses
//! topics and client IDs of its own.

use std::collections::BTreeSet;
use std::time::Duration;

use bindery::{ErrorKind, Event, MetadataMap, Runtime};
use tokio::sync::{mpsc, RwLock};

const URL: &str = "tcp://127.0.0.1:1883";
const WAIT: Duration = Duration::from_secs(30);

#[path = "support/harness.rs"]
mod harness;
use harness::{collect, components, meta, runtime};

fn yaml(name: &str, fields: &[(&str, &str)]) -> String {
    harness::component_yaml("bindings.mqtt3", name, fields)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    harness::next_within(rx, WAIT).await
}

/// The restart test takes this for writing; every other test for reading.
static SERVER: RwLock<()> = RwLock::const_new(());

fn unique(test: &str) -> String {
    format!("bindery-test/{test}/{}", uuid::Uuid::new_v4().simple())
}

fn client_id() -> String {
    format!("bindery-test-{}", uuid::Uuid::new_v4().simple())
}

/// Make the broker forget the persistent session a test's consumer left behind.
async fn forget_session(consumer_id: &str) {
    let mut o = rumqttc::MqttOptions::new(format!("{consumer_id}-consumer"), "127.0.0.1", 1883);
    o.set_clean_session(true);
    let (client, mut el) = rumqttc::AsyncClient::new(o, 10);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match el.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                    let _ = client.try_disconnect();
                }
                Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_topic_metadata() {
    let _s = SERVER.read().await;
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

    let resp = rt
        .invoke(
            "sensor",
            "create",
            b"21.5 \x00\xff".to_vec(),
            MetadataMap::new(),
        )
        .await
        .unwrap();
    assert!(resp.data.is_empty() && resp.metadata.is_empty());
    let ev = next(&mut sensor).await;
    assert_eq!(ev.binding, "sensor");
    assert_eq!(ev.data, b"21.5 \x00\xff");
    assert_eq!(ev.metadata, meta(&[("topic", &topic)]));
    let ev = next(&mut all).await;
    assert_eq!(ev.metadata, meta(&[("topic", &topic)]));

    // Request metadata `topic` publishes elsewhere.
    let other = format!("{base}/b/c");
    rt.invoke(
        "sensor",
        "create",
        b"elsewhere".to_vec(),
        meta(&[("topic", &other)]),
    )
    .await
    .unwrap();
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
    let _s = SERVER.read().await;
    let topic = unique("retain");
    let out = components(&[yaml(
        "out",
        &[
            ("url", URL),
            ("topic", &topic),
            ("consumerID", &client_id()),
            ("retain", "true"),
            ("direction", "output"),
        ],
    )]);
    let rt = runtime(&out);
    rt.invoke("out", "create", b"last known".to_vec(), MetadataMap::new())
        .await
        .unwrap();

    let later = components(&[yaml(
        "later",
        &[
            ("url", URL),
            ("topic", &topic),
            ("consumerID", &client_id()),
            ("cleanSession", "true"),
            ("direction", "input"),
        ],
    )]);
    let rt2 = runtime(&later);
    let mut rx = collect(&rt2, "later");
    rt2.start().await.unwrap();
    let ev = next(&mut rx).await;
    assert_eq!(ev.text(), "last known");
    assert_eq!(ev.metadata, meta(&[("topic", &topic)]));
    rt2.shutdown(Duration::from_secs(5)).await.unwrap();

    // `retain: false` per request is not kept; an empty retained message clears the topic.
    rt.invoke(
        "out",
        "create",
        b"not kept".to_vec(),
        meta(&[("retain", "false")]),
    )
    .await
    .unwrap();
    let rt3 = runtime(&later);
    let mut rx = collect(&rt3, "later");
    rt3.start().await.unwrap();
    assert_eq!(next(&mut rx).await.text(), "last known");
    rt3.shutdown(Duration::from_secs(5)).await.unwrap();
    rt.invoke("out", "create", Vec::new(), MetadataMap::new())
        .await
        .unwrap();
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// A handler that fails the first two deliveries of "m0" sees it a third time, then every
/// later message once, in order.
async fn redelivery(retries: &str) {
    let topic = unique("redeliver");
    let id = client_id();
    let dir = components(&[yaml(
        "jobs",
        &[
            ("url", URL),
            ("topic", &topic),
            ("consumerID", &id),
            ("backOffDuration", "50ms"),
            ("backOffMaxRetries", retries),
        ],
    )]);
    let rt = runtime(&dir);
    let (seen, mut done) = harness::fail_m0_twice(&rt, "jobs");
    rt.start().await.unwrap();
    for i in 0..10 {
        rt.invoke(
            "jobs",
            "create",
            format!("m{i}").into_bytes(),
            MetadataMap::new(),
        )
        .await
        .unwrap();
    }
    tokio::time::timeout(WAIT, done.recv()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    let mut want = vec!["m0".to_string(), "m0".to_string()];
    want.extend((0..10).map(|i| format!("m{i}")));
    assert_eq!(*seen.lock().unwrap(), want);
    forget_session(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_handler_is_retried_in_process_before_the_next_message() {
    let _s = SERVER.read().await;
    redelivery("5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_handler_past_its_retries_gets_the_message_again_from_the_broker_in_order() {
    let _s = SERVER.read().await;
    // No in-process retry (Dapr's default): each failure drops the session, and the broker
    // resends every unacknowledged message on the next one.
    redelivery("0").await;
}

/// A handler of runs (what the Python and Node layers register) gets the messages already
/// received in one run; one it fails on is retried alone (in process, or by the broker after
/// the session is handed back) and nothing after it is lost or reordered.
async fn runs(retries: &str) {
    let topic = unique("runs");
    let id = client_id();
    let dir = components(&[yaml(
        "jobs",
        &[
            ("url", URL),
            ("topic", &topic),
            ("consumerID", &id),
            ("backOffDuration", "50ms"),
            ("backOffMaxRetries", retries),
        ],
    )]);
    // Subscribe once and go away: the broker keeps the session and queues what comes next,
    // then sends it all at once when the consumer is back.
    let rt = runtime(&dir);
    let _rx = collect(&rt, "jobs");
    rt.start().await.unwrap();
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    harness::produce_numbered(&dir, "jobs", 20).await;
    harness::check_runs_resume_at_a_failure(&dir, "jobs", WAIT).await;
    forget_session(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_handler_gets_ready_messages_together_and_resumes_at_a_failure() {
    let _s = SERVER.read().await;
    runs("5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_handler_failing_past_its_retries_gets_the_rest_again_in_order() {
    let _s = SERVER.read().await;
    runs("0").await;
}

/// A rejected message is acknowledged (MQTT has no dead-letter) and not delivered again, also
/// not when the persistent session is resumed; a nacked one beside it is retried in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_is_acknowledged_and_a_nacked_one_comes_again() {
    let _s = SERVER.read().await;
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
    harness::produce_numbered(&dir, "jobs", 10).await;
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
async fn nothing_unacked_is_lost_across_runtimes_with_a_persistent_session() {
    let _s = SERVER.read().await;
    let topic = unique("persist");
    let id = client_id();
    let doc = yaml(
        "jobs",
        &[("url", URL), ("topic", &topic), ("consumerID", &id)],
    );
    let dir = components(&[doc]);
    // The first runtime fails every message and stops: nothing is acknowledged.
    let rt = runtime(&dir);
    let (tx, mut failed) = mpsc::unbounded_channel::<()>();
    rt.on_event("jobs", move |_ev| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(());
            Err("not now".into())
        }
    })
    .unwrap();
    rt.start().await.unwrap();
    for i in 0..3 {
        rt.invoke(
            "jobs",
            "create",
            format!("p{i}").into_bytes(),
            MetadataMap::new(),
        )
        .await
        .unwrap();
    }
    tokio::time::timeout(WAIT, failed.recv()).await.unwrap();
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    // The next runtime with the same consumerID gets all of them, in order.
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "jobs");
    rt.start().await.unwrap();
    for i in 0..3 {
        assert_eq!(next(&mut rx).await.text(), format!("p{i}"));
    }
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    forget_session(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_splits_messages_between_runtimes() {
    let _s = SERVER.read().await;
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
    let (tx, mut rx) = mpsc::unbounded_channel::<(char, Event)>();
    for (who, rt) in [('a', &rt_a), ('b', &rt_b)] {
        let tx = tx.clone();
        rt.on_event("work", move |ev| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((who, ev));
                Ok(())
            }
        })
        .unwrap();
    }
    rt_a.start().await.unwrap();
    rt_b.start().await.unwrap();
    // The output drops the $share/<group>/ prefix and publishes to the topic itself.
    for i in 0..20 {
        rt_a.invoke(
            "work",
            "create",
            format!("s{i}").into_bytes(),
            MetadataMap::new(),
        )
        .await
        .unwrap();
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
async fn wrong_operation_and_bad_request_metadata() {
    let _s = SERVER.read().await;
    let topic = unique("wrongop");
    let dir = components(&[
        yaml(
            "out",
            &[
                ("url", URL),
                ("topic", &topic),
                ("consumerID", &client_id()),
                ("direction", "output"),
            ],
        ),
        yaml(
            "wild",
            &[
                ("url", URL),
                ("topic", &format!("{topic}/+")),
                ("consumerID", &client_id()),
                ("direction", "output"),
            ],
        ),
    ]);
    let rt = runtime(&dir);
    let e = rt
        .invoke("out", "publish", b"x".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
    assert!(
        e.to_string()
            .contains("bindings.mqtt3 has no operation \"publish\""),
        "{e}"
    );
    assert!(e.to_string().contains("its operations are: create"), "{e}");
    let e = rt
        .invoke(
            "out",
            "create",
            b"x".to_vec(),
            meta(&[("retain", "sometimes")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("retain"), "{e}");
    let e = rt
        .invoke("wild", "create", b"x".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("wildcards"), "{e}");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[test]
fn missing_and_invalid_metadata_are_reported_with_fixes() {
    let dir = components(&[
        yaml("nourl", &[("topic", "t"), ("consumerID", "c")]),
        yaml("notopic", &[("url", URL), ("consumerID", "c")]),
        yaml("noid", &[("url", URL), ("topic", "t")]),
        yaml(
            "bad",
            &[
                ("url", "http://127.0.0.1:1883"),
                ("topic", "$share/onlygroup"),
                ("consumerID", "c"),
                ("cleanSession", "perhaps"),
                ("backOffPolicy", "linear"),
                ("caCert", "/no/such/ca.pem"),
            ],
        ),
    ]);
    let e = Runtime::from_path(dir.0.path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    let d = e.diagnostics();
    let find = |needle: &str| {
        d.iter()
            .find(|x| x.message.contains(needle))
            .unwrap_or_else(|| panic!("no diagnostic with {needle:?} in {d:#?}"))
    };
    for field in ["url", "topic", "consumerID"] {
        let x = find(&format!(
            "bindings.mqtt3 needs the metadata field \"{field}\""
        ));
        assert!(
            x.fix
                .as_deref()
                .unwrap()
                .contains(&format!("- name: {field}")),
            "{x}"
        );
    }
    assert!(find("url scheme \"http\" is not an MQTT scheme")
        .fix
        .as_deref()
        .unwrap()
        .contains("tcp://"));
    assert!(find("needs a group and a topic").fix.is_some());
    assert!(find("\"cleanSession\"").fix.is_some());
    assert!(find("\"backOffPolicy\"").fix.is_some());
    assert!(find("caCert is neither PEM text").fix.is_some());
}

#[test]
fn the_mqtt_alias_loads_the_same_binding() {
    let dir = components(&[
        yaml("x", &[("url", URL), ("topic", "t"), ("consumerID", "c")])
            .replace("bindings.mqtt3", "bindings.mqtt"),
    ]);
    let rt = runtime(&dir);
    let b = &rt.bindings()[0];
    assert!(b.input && b.output);
    assert_eq!(b.operations, vec!["create".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_gives_a_clear_error() {
    let url = "tcp://user:s3cret@127.0.0.1:1";
    let dir = components(&[
        yaml(
            "out",
            &[
                ("url", url),
                ("topic", "t"),
                ("consumerID", "c"),
                ("direction", "output"),
            ],
        ),
        yaml(
            "in",
            &[
                ("url", url),
                ("topic", "t"),
                ("consumerID", "c"),
                ("direction", "input"),
            ],
        ),
    ]);
    let rt = Runtime::builder()
        .resources_path(dir.0.path())
        .only(["out"])
        .build()
        .unwrap();
    let e = rt
        .invoke("out", "create", b"x".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Upstream);
    assert!(e.is_retryable());
    let text = e.to_string();
    assert!(
        text.contains("cannot connect to the MQTT broker at tcp://127.0.0.1:1"),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains("s3cret"), "no password in messages: {text}");

    let rt = Runtime::builder()
        .resources_path(dir.0.path())
        .only(["in"])
        .build()
        .unwrap();
    let _rx = collect(&rt, "in");
    let e = rt.start().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Upstream);
    assert!(
        e.to_string().contains("cannot connect to the MQTT broker"),
        "{e}"
    );
    assert_eq!(e.component(), Some("in"));
}

/// Restarts Mosquitto on drop, whatever happened.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let _ = std::process::Command::new(format!("{root}/tests/servers/start"))
            .arg("mosquitto")
            .status();
    }
}

fn mosquitto_pid() -> Option<i32> {
    std::fs::read_to_string("/run/mosquitto/mosquitto.pid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn answers() -> bool {
    std::net::TcpStream::connect("127.0.0.1:1883").is_ok()
}

/// Stop Mosquitto (it saves its persistent sessions) and start it again with
/// `tests/servers/start` while events flow: the input reconnects and subscribes again, the
/// output reconnects, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_loses_nothing() {
    let Some(pid) = mosquitto_pid() else {
        eprintln!("no /run/mosquitto/mosquitto.pid; skipped");
        return;
    };
    let _s = SERVER.write().await;
    let topic = unique("restart");
    let id = client_id();
    let dir = components(&[yaml(
        "flow",
        &[("url", URL), ("topic", &topic), ("consumerID", &id)],
    )]);
    let rt = runtime(&dir);
    // A slow handler, so that messages are queued and in flight when the broker stops.
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.on_event("flow", move |ev| {
        let tx = tx.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(ev);
            Ok(())
        }
    })
    .unwrap();
    rt.start().await.unwrap();
    let mut sent = 0;
    for _ in 0..20 {
        rt.invoke(
            "flow",
            "create",
            format!("r{sent}").into_bytes(),
            MetadataMap::new(),
        )
        .await
        .unwrap();
        sent += 1;
    }
    {
        let _restart = Restart;
        // SAFETY: plain kill(2) of the broker's own pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        for _ in 0..100 {
            if !answers() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let e = rt
            .invoke("flow", "create", b"lost".to_vec(), MetadataMap::new())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Upstream, "{e}");
    }
    assert!(answers(), "tests/servers/start brought Mosquitto back");
    for _ in 0..10 {
        let data = format!("r{sent}").into_bytes();
        let mut tries = 0;
        while let Err(e) = rt
            .invoke("flow", "create", data.clone(), MetadataMap::new())
            .await
        {
            tries += 1;
            assert!(tries < 30, "publishing never recovered: {e}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        sent += 1;
    }
    let mut got = BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while got.len() < sent {
            got.insert(rx.recv().await.unwrap().text());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {got:?} of {sent} arrived"));
    let want: BTreeSet<String> = (0..sent).map(|i| format!("r{i}")).collect();
    assert_eq!(got, want);
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    forget_session(&id).await;
}

#[path = "support/tls_proxy.rs"]
mod tls_proxy;

/// `ssl://` with `caCert` (PEM text), `clientCert` and `clientKey` (PEM files), through a TLS
/// front that requires the client certificate; without the certificate, or without the CA,
/// connecting fails clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate() {
    let _s = SERVER.read().await;
    let (port, pki) = tls_proxy::start(1883, true).await;
    let files = tempfile::tempdir().unwrap();
    let cert = files.path().join("client.pem");
    let key = files.path().join("client.key");
    std::fs::write(&cert, &pki.client_cert_pem).unwrap();
    std::fs::write(&key, &pki.client_key_pem).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let url = format!("ssl://localhost:{port}");
    let topic = unique("tls");
    let id = client_id();
    let dir = components(&[yaml(
        "secure",
        &[
            ("url", &url),
            ("topic", &topic),
            ("consumerID", &id),
            ("caCert", &pki.ca_pem),
            ("clientCert", cert),
            ("clientKey", key),
        ],
    )]);
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "secure");
    rt.start().await.unwrap();
    rt.invoke("secure", "create", b"sealed".to_vec(), MetadataMap::new())
        .await
        .unwrap();
    let ev = next(&mut rx).await;
    assert_eq!(ev.text(), "sealed");
    assert_eq!(ev.metadata, meta(&[("topic", &topic)]));
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    forget_session(&id).await;

    for (what, fields) in [
        (
            "no client certificate",
            vec![("caCert", pki.ca_pem.as_str())],
        ),
        ("no caCert", vec![("clientCert", cert), ("clientKey", key)]),
    ] {
        let mut all = vec![
            ("url", url.as_str()),
            ("topic", topic.as_str()),
            ("consumerID", "c"),
            ("direction", "output"),
        ];
        all.extend(fields);
        let dir = components(&[yaml("secure", &all)]);
        let e = runtime(&dir)
            .invoke("secure", "create", b"x".to_vec(), MetadataMap::new())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Upstream, "{what}: {e}");
        assert!(
            e.to_string().contains(&format!(
                "cannot connect to the MQTT broker at ssl://localhost:{port}"
            )),
            "{what}: {e}"
        );
    }
}
