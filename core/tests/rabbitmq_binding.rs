#![cfg(feature = "rabbitmq")]
//! `bindings.rabbitmq` against the real RabbitMQ on 127.0.0.1:5672 (`tests/servers/start
//! rabbitmq`): publish and consume with every metadata key, at-least-once redelivery in order,
//! rejected messages dead-lettered, competing consumers with prefetchCount, errors, and a broker
//! restart. Each test uses a queue of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindery::{ErrorKind, Event, MetadataMap, Runtime};
use futures::StreamExt;
use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use tokio::sync::{mpsc, Notify, RwLock};

const HOST: &str = "amqp://guest:guest@127.0.0.1:5672";
const WAIT: Duration = Duration::from_secs(30);

#[path = "support/harness.rs"]
mod harness;
use harness::{collect, components, meta, runtime};

fn yaml(name: &str, fields: &[(&str, &str)]) -> String {
    harness::component_yaml("bindings.rabbitmq", name, fields)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    harness::next_within(rx, WAIT).await
}

/// The restart test takes this for writing; every other test for reading.
static SERVER: RwLock<()> = RwLock::const_new(());

fn queue_name(test: &str) -> String {
    format!("bindery-test-{test}-{}", uuid::Uuid::new_v4().simple())
}

async fn amqp() -> lapin::Connection {
    lapin::Connection::connect(HOST, lapin::ConnectionProperties::default())
        .await
        .expect("RabbitMQ answers on 127.0.0.1:5672 (tests/servers/start rabbitmq)")
}

async fn delete_queue(queue: &str) {
    let c = amqp().await;
    let ch = c.create_channel().await.unwrap();
    let _ = ch.queue_delete(queue, QueueDeleteOptions::default()).await;
    let _ = c.close(200, "done").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_sets_every_property_and_header() {
    let _s = SERVER.read().await;
    let queue = queue_name("props");
    let dir = components(&[yaml(
        "out",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("durable", "true"),
            ("maxPriority", "5"),
            ("contentType", "application/json"),
            ("direction", "output"),
        ],
    )]);
    let rt = runtime(&dir);
    rt.start().await.unwrap();
    let resp = rt
        .invoke(
            "out",
            "create",
            b"{\"n\":1}".to_vec(),
            meta(&[
                ("ttlInSeconds", "60"),
                ("priority", "3"),
                ("traceId", "abc"),
            ]),
        )
        .await
        .unwrap();
    assert!(resp.data.is_empty() && resp.metadata.is_empty());
    rt.invoke(
        "out",
        "create",
        b"plain".to_vec(),
        meta(&[("contentType", "text/csv"), ("ttl", "1m")]),
    )
    .await
    .unwrap();
    rt.shutdown(Duration::from_secs(5)).await.unwrap();

    let c = amqp().await;
    let ch = c.create_channel().await.unwrap();
    let m = ch
        .basic_get(&queue, BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the first message");
    assert_eq!(m.delivery.data, b"{\"n\":1}");
    let p = &m.delivery.properties;
    assert_eq!(p.delivery_mode(), &Some(2), "persistent");
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json"),
        "the component's contentType is the default"
    );
    assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("60000"));
    assert_eq!(p.priority(), &Some(3));
    let headers: HashMap<String, String> = p
        .headers()
        .as_ref()
        .unwrap()
        .inner()
        .iter()
        .map(|(k, v)| match v {
            AMQPValue::LongString(s) => (k.to_string(), s.to_string()),
            other => panic!("header {k} is {other:?}"),
        })
        .collect();
    // As Dapr does, every request metadata entry is also a header.
    assert_eq!(
        headers,
        HashMap::from([
            ("ttlInSeconds".to_string(), "60".to_string()),
            ("priority".to_string(), "3".to_string()),
            ("traceId".to_string(), "abc".to_string()),
        ])
    );
    let m = ch
        .basic_get(&queue, BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the second message");
    let p = &m.delivery.properties;
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("text/csv")
    );
    assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("60000"));
    assert_eq!(p.priority(), &None);
    let _ = c.close(200, "done").await;
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_through_output_and_input() {
    let _s = SERVER.read().await;
    let queue = queue_name("roundtrip");
    let dir = components(&[yaml(
        "orders",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("deleteWhenUnused", "false"),
            ("ttlInSeconds", "120"),
            ("prefetchCount", "4"),
        ],
    )]);
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "orders");
    rt.start().await.unwrap();
    rt.invoke(
        "orders",
        "create",
        b"hello \x00\xff".to_vec(),
        meta(&[
            ("contentType", "application/octet-stream"),
            ("priority", "1"),
            ("ttlInSeconds", "30"),
            ("order id", "a b&c=d/é"),
            ("Plain", "v"),
        ]),
    )
    .await
    .unwrap();
    let ev = next(&mut rx).await;
    assert_eq!(ev.binding, "orders");
    assert_eq!(ev.data, b"hello \x00\xff");
    // Dapr's event metadata: the string headers, key and value escaped as url.QueryEscape.
    assert_eq!(
        ev.metadata,
        meta(&[
            ("contentType", "application%2Foctet-stream"),
            ("priority", "1"),
            ("ttlInSeconds", "30"),
            ("order+id", "a+b%26c%3Dd%2F%C3%A9"),
            ("Plain", "v"),
        ])
    );
    // Without request metadata the event has none.
    rt.invoke("orders", "create", b"bare".to_vec(), MetadataMap::new())
        .await
        .unwrap();
    let ev = next(&mut rx).await;
    assert_eq!(ev.text(), "bare");
    assert!(ev.metadata.is_empty(), "{:?}", ev.metadata);
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(rt.input_stats("orders").unwrap().acked, 2);
    delete_queue(&queue).await;
}

/// Publish m0..m{n-1} through `rt`'s output `name`.
async fn publish_numbered(rt: &Runtime, name: &str, n: usize) {
    for i in 0..n {
        rt.invoke(
            name,
            "create",
            format!("m{i}").into_bytes(),
            MetadataMap::new(),
        )
        .await
        .unwrap();
    }
}

/// Whether the queue is empty: every message was acked.
async fn queue_is_empty(queue: &str) -> bool {
    let c = amqp().await;
    let ch = c.create_channel().await.unwrap();
    let left = ch
        .basic_get(queue, BasicGetOptions { no_ack: true })
        .await
        .unwrap();
    let _ = c.close(200, "done").await;
    left.is_none()
}

/// How often each text was seen.
fn counts(seen: &[String]) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for t in seen {
        *n.entry(t.clone()).or_insert(0) += 1;
    }
    n
}

/// With prefetchCount 1 (order kept), a handler that fails the first two deliveries of "m0"
/// sees it a third time, then every later message once, in order; nothing is left in the
/// queue.
async fn redelivery_in_order(retries: &str) {
    let queue = queue_name("redeliver");
    let dir = components(&[yaml(
        "jobs",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("prefetchCount", "1"),
            ("backOffDuration", "50ms"),
            ("backOffMaxRetries", retries),
        ],
    )]);
    let rt = runtime(&dir);
    let (seen, mut done) = harness::fail_m0_twice(&rt, "jobs");
    rt.start().await.unwrap();
    publish_numbered(&rt, "jobs", 10).await;
    tokio::time::timeout(WAIT, done.recv()).await.unwrap();
    // A moment for a stray duplicate to show up, if there were one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    let mut want = vec!["m0".to_string(), "m0".to_string()];
    want.extend((0..10).map(|i| format!("m{i}")));
    assert_eq!(*seen.lock().unwrap(), want);
    assert!(queue_is_empty(&queue).await, "every message was acked");
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_handler_is_retried_in_process_before_the_next_message() {
    let _s = SERVER.read().await;
    redelivery_in_order("5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_handler_past_its_retries_gets_the_message_again_from_the_broker_in_order() {
    let _s = SERVER.read().await;
    // No in-process retry: each failure requeues the message and consumes again.
    redelivery_in_order("0").await;
}

/// With a prefetchCount other than 1, a message the handler fails on ("m0", twice) waits out
/// its back-off aside (retried in process, or requeued when no retry is left) while the ones
/// after it go on: each is handled once, m0 a third time, after m1; nothing is left in the
/// queue.
async fn redelivery_aside(retries: &str, prefetch: &str) {
    let queue = queue_name("aside");
    let dir = components(&[yaml(
        "jobs",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("prefetchCount", prefetch),
            ("backOffDuration", "200ms"),
            ("backOffMaxRetries", retries),
        ],
    )]);
    let rt = runtime(&dir);
    let (seen, _done) = harness::fail_m0_twice(&rt, "jobs");
    rt.start().await.unwrap();
    publish_numbered(&rt, "jobs", 10).await;
    tokio::time::timeout(WAIT, async {
        while seen.lock().unwrap().len() < 12 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("seen: {:?}", seen.lock().unwrap()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let n = counts(&seen);
    assert_eq!(n.len(), 10, "{seen:?}");
    assert_eq!(n["m0"], 3, "{seen:?}");
    assert!(n.values().filter(|c| **c == 1).count() == 9, "{seen:?}");
    let second_m0 = seen.iter().skip(1).position(|t| t == "m0").unwrap() + 1;
    let m9 = seen.iter().position(|t| t == "m9").unwrap();
    assert!(m9 < second_m0, "the rest did not wait for m0: {seen:?}");
    assert!(queue_is_empty(&queue).await, "every message was acked");
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_is_retried_aside_while_the_rest_go_on() {
    let _s = SERVER.read().await;
    redelivery_aside("5", "0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_past_its_retries_is_requeued_after_its_back_off_while_the_rest_go_on() {
    let _s = SERVER.read().await;
    redelivery_aside("0", "4").await;
}

/// With 1 message in 10 failing once and a back-off of 2s, 100 messages are all handled and
/// acked in well under the 20s that waiting out each back-off in turn would take.
async fn failures_do_not_pause_the_queue(retries: &str) {
    let queue = queue_name("nopause");
    let dir = components(&[yaml(
        "jobs",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("backOffDuration", "2s"),
            ("backOffMaxRetries", retries),
        ],
    )]);
    harness::produce_numbered(&dir, "jobs", 100).await;
    let rt = runtime(&dir);
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let seen = seen.clone();
        rt.on_event("jobs", move |ev| {
            let seen = seen.clone();
            async move {
                let text = ev.text();
                let first = {
                    let mut s = seen.lock().unwrap();
                    s.push(text.clone());
                    s.iter().filter(|t| **t == text).count() == 1
                };
                let n: usize = text[1..].parse().unwrap();
                if first && n % 10 == 0 {
                    return Err(format!("the first try of {text} fails").into());
                }
                Ok(())
            }
        })
        .unwrap();
    }
    let started = std::time::Instant::now();
    rt.start().await.unwrap();
    tokio::time::timeout(WAIT, async {
        while rt.input_stats("jobs").unwrap().acked < 100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("stats: {:?}", rt.input_stats("jobs")));
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(
        took < Duration::from_secs(8),
        "100 messages with 10 failures took {took:?}: the queue waited for the back-offs"
    );
    let seen = seen.lock().unwrap().clone();
    let n = counts(&seen);
    assert_eq!(n.len(), 100, "none lost: {seen:?}");
    for (text, c) in &n {
        let want = if text[1..].parse::<usize>().unwrap() % 10 == 0 {
            2
        } else {
            1
        };
        assert_eq!(*c, want, "{text}: {seen:?}");
    }
    assert!(queue_is_empty(&queue).await, "every message was acked");
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_message_in_ten_does_not_pause_the_queue_for_its_back_off() {
    let _s = SERVER.read().await;
    failures_do_not_pause_the_queue("1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_requeued_after_its_back_off_does_not_pause_the_queue() {
    let _s = SERVER.read().await;
    failures_do_not_pause_the_queue("0").await;
}

/// A handler of runs (what the Python and Node layers register) gets the deliveries already
/// received in one run; one it fails on is set aside for its back-off (retried in process,
/// or requeued when the retries are spent) and the rest go on; nothing is lost.
async fn runs(retries: &str) {
    let queue = queue_name("runs");
    let dir = components(&[yaml(
        "jobs",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("prefetchCount", "50"),
            ("backOffDuration", "200ms"),
            ("backOffMaxRetries", retries),
        ],
    )]);
    // Queued before the consumer starts, so that they arrive together.
    harness::produce_numbered(&dir, "jobs", 20).await;
    let rt = runtime(&dir);
    let (seen, runs, _done) = harness::fail_m5_twice_in_runs(&rt, "jobs");
    rt.start().await.unwrap();
    tokio::time::timeout(WAIT, async {
        while seen.lock().unwrap().len() < 22 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("seen: {:?}", seen.lock().unwrap()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let n = counts(&seen);
    assert_eq!(n.len(), 20, "{seen:?}");
    assert_eq!(n["m5"], 3, "{seen:?}");
    assert_eq!(n.values().filter(|c| **c == 1).count(), 19, "{seen:?}");
    let m19 = seen.iter().position(|t| t == "m19").unwrap();
    assert!(
        m19 < seen.len() - 2,
        "the rest did not wait for m5: {seen:?}"
    );
    let runs = runs.lock().unwrap().clone();
    assert!(
        runs.iter().any(|n| *n > 1),
        "ready messages came in runs: {runs:?}"
    );
    assert!(queue_is_empty(&queue).await, "every message was acked");
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_handler_gets_ready_messages_together_and_a_failure_is_retried_aside() {
    let _s = SERVER.read().await;
    runs("5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_handler_failing_past_its_retries_gets_the_message_again_from_the_broker() {
    let _s = SERVER.read().await;
    runs("0").await;
}

/// A stop with a short deadline in the middle of a run (`harness::stop_mid_run`): every
/// message handled before it was acked, so a new consumer gets only the rest.
async fn stop_mid_run(in_runs: bool) {
    let queue = queue_name("stopmidrun");
    let dir = components(&[yaml("jobs", &[("host", HOST), ("queueName", &queue)])]);
    harness::produce_numbered(&dir, "jobs", 60).await;
    harness::stop_mid_run(&dir, "jobs", in_runs, WAIT).await;
    assert!(queue_is_empty(&queue).await, "every message was acked");
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_mid_run_acks_every_event_a_run_handler_handled_before_it() {
    let _s = SERVER.read().await;
    stop_mid_run(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_mid_run_acks_every_event_a_handler_handled_before_it() {
    let _s = SERVER.read().await;
    stop_mid_run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_runtimes_share_a_queue_and_prefetch_count_is_honoured() {
    let _s = SERVER.read().await;
    let queue = queue_name("compete");
    let doc = yaml(
        "work",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("prefetchCount", "1"),
        ],
    );
    let dir_a = components(std::slice::from_ref(&doc));
    let dir_b = components(&[doc]);
    let (rt_a, rt_b) = (runtime(&dir_a), runtime(&dir_b));

    // A holds its first message until released; with prefetchCount 1 the broker sends it
    // nothing more meanwhile, so B gets every other message.
    let release = Arc::new(Notify::new());
    let a_seen = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (release, a_seen) = (release.clone(), a_seen.clone());
        rt_a.on_event("work", move |ev| {
            let (release, a_seen) = (release.clone(), a_seen.clone());
            async move {
                a_seen.lock().unwrap().push(ev.text());
                release.notified().await;
                Ok(())
            }
        })
        .unwrap();
    }
    let mut b_rx = collect(&rt_b, "work");
    // A starts alone and takes the first message; then B joins.
    rt_a.start().await.unwrap();
    rt_a.invoke("work", "create", b"w0".to_vec(), MetadataMap::new())
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        while a_seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("A got a message");
    rt_b.start().await.unwrap();
    for i in 1..10 {
        rt_a.invoke(
            "work",
            "create",
            format!("w{i}").into_bytes(),
            MetadataMap::new(),
        )
        .await
        .unwrap();
    }
    let mut b_seen = Vec::new();
    for _ in 1..10 {
        b_seen.push(next(&mut b_rx).await.text());
    }
    assert_eq!(*a_seen.lock().unwrap(), vec!["w0".to_string()]);
    let want: Vec<String> = (1..10).map(|i| format!("w{i}")).collect();
    assert_eq!(b_seen, want, "B got every other message, in order");
    release.notify_one();
    rt_a.shutdown(Duration::from_secs(5)).await.unwrap();
    rt_b.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(rt_a.input_stats("work").unwrap().acked, 1);
    assert_eq!(rt_b.input_stats("work").unwrap().acked, 9);
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_operation_names_the_operations() {
    let queue = queue_name("wrongop");
    let dir = components(&[yaml(
        "out",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("direction", "output"),
        ],
    )]);
    let rt = runtime(&dir);
    let e = rt
        .invoke("out", "publish", b"x".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
    assert!(
        e.to_string()
            .contains("bindings.rabbitmq has no operation \"publish\""),
        "{e}"
    );
    assert!(e.to_string().contains("its operations are: create"), "{e}");
}

#[test]
fn missing_and_invalid_metadata_are_reported_with_fixes() {
    let dir = components(&[
        yaml("noqueue", &[("host", HOST)]),
        yaml("nohost", &[("queueName", "q")]),
        yaml(
            "bad",
            &[
                ("host", "localhost:5672"),
                ("queueName", "q"),
                ("prefetchCount", "70000"),
                ("maxPriority", "300"),
                ("ttlInSeconds", "-1"),
                ("reconnectWaitInSeconds", "soon"),
                ("backOffMaxRetries", "-3"),
                ("durable", "maybe"),
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
    let q = find("bindings.rabbitmq needs the metadata field \"queueName\"");
    assert_eq!(q.component.as_deref(), Some("noqueue"));
    assert!(q.fix.as_deref().unwrap().contains("- name: queueName"));
    let h = find("bindings.rabbitmq needs the metadata field \"host\"");
    assert!(h.fix.as_deref().unwrap().contains("amqp://"), "{h}");
    assert!(find("is not an amqp:// URL")
        .fix
        .as_deref()
        .unwrap()
        .contains("amqp://"));
    assert!(find("\"prefetchCount\": 70000 is not within 0-65535")
        .fix
        .is_some());
    assert!(find("\"maxPriority\": 300 is not within 0-255")
        .fix
        .is_some());
    assert!(find("ttlInSeconds value must be higher than zero")
        .fix
        .is_some());
    assert!(find("\"reconnectWaitInSeconds\"").fix.is_some());
    assert!(find("\"backOffMaxRetries\": -3 is below -1").fix.is_some());
    assert!(find("\"durable\"").fix.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_metadata_is_an_invalid_argument() {
    let _s = SERVER.read().await;
    let queue = queue_name("badreq");
    let dir = components(&[yaml(
        "out",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("direction", "output"),
        ],
    )]);
    let rt = runtime(&dir);
    let e = rt
        .invoke(
            "out",
            "create",
            b"x".to_vec(),
            meta(&[("priority", "high")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string()
            .contains("priority value must be a valid integer"),
        "{e}"
    );
    let e = rt
        .invoke(
            "out",
            "create",
            b"x".to_vec(),
            meta(&[("ttlInSeconds", "0x")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_gives_a_clear_error() {
    let host = "amqp://guest:s3cret@127.0.0.1:1";
    let dir = components(&[
        yaml(
            "out",
            &[("host", host), ("queueName", "q"), ("direction", "output")],
        ),
        yaml(
            "in",
            &[("host", host), ("queueName", "q"), ("direction", "input")],
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
        text.contains("cannot connect to RabbitMQ at amqp://127.0.0.1:1"),
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
    assert!(e.to_string().contains("cannot connect to RabbitMQ"), "{e}");
    assert_eq!(e.component(), Some("in"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_queue_works_in_both_directions_over_one_connection() {
    let _s = SERVER.read().await;
    let queue = queue_name("exclusive");
    let dir = components(&[yaml(
        "mine",
        &[("host", HOST), ("queueName", &queue), ("exclusive", "true")],
    )]);
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "mine");
    rt.start().await.unwrap();
    rt.invoke("mine", "create", b"only me".to_vec(), MetadataMap::new())
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.text(), "only me");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// Stop and start the RabbitMQ application (the node and its service stay up) while events
/// flow: the input reconnects, declares its queue again and resumes; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_loses_nothing() {
    if std::process::Command::new("rabbitmqctl")
        .arg("version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("rabbitmqctl is not available; skipped");
        return;
    }
    let _s = SERVER.write().await;
    let queue = queue_name("restart");
    let dir = components(&[yaml(
        "flow",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("durable", "true"),
            ("reconnectWaitInSeconds", "1"),
            ("prefetchCount", "2"),
        ],
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
    let ctl = |arg: &str| {
        let out = std::process::Command::new("rabbitmqctl")
            .arg(arg)
            .output()
            .unwrap();
        assert!(out.status.success(), "rabbitmqctl {arg}: {out:?}");
    };
    ctl("stop_app");
    // While the broker is down a publish fails clearly...
    let e = rt
        .invoke("flow", "create", b"lost".to_vec(), MetadataMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Upstream, "{e}");
    ctl("start_app");
    // ... and once it is back, publishing reconnects by itself.
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
    let mut got = std::collections::BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while got.len() < sent {
            let ev = rx.recv().await.unwrap();
            got.insert(ev.text());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {got:?} of {sent} arrived"));
    let want: std::collections::BTreeSet<String> = (0..sent).map(|i| format!("r{i}")).collect();
    assert_eq!(got, want);
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_unhandled_messages_in_the_queue() {
    let _s = SERVER.read().await;
    let queue = queue_name("shutdown");
    let dir = components(&[yaml(
        "slow",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("prefetchCount", "10"),
        ],
    )]);
    let rt = runtime(&dir);
    let (tx, mut first) = mpsc::unbounded_channel::<()>();
    rt.on_event("slow", move |_ev| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(());
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(())
        }
    })
    .unwrap();
    rt.start().await.unwrap();
    for i in 0..5 {
        rt.invoke(
            "slow",
            "create",
            format!("s{i}").into_bytes(),
            MetadataMap::new(),
        )
        .await
        .unwrap();
    }
    tokio::time::timeout(WAIT, first.recv()).await.unwrap();
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    let handled = rt.input_stats("slow").unwrap().acked as usize;
    assert!((1..5).contains(&handled), "{handled}");

    // The rest are back in the queue, in order, for the next consumer.
    let c = amqp().await;
    let ch = c.create_channel().await.unwrap();
    let mut consumer = ch
        .basic_consume(
            &queue,
            "",
            lapin::options::BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    let mut rest = Vec::new();
    while rest.len() < 5 - handled {
        let d = tokio::time::timeout(WAIT, consumer.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        rest.push(String::from_utf8(d.data).unwrap());
    }
    let want: Vec<String> = (handled..5).map(|i| format!("s{i}")).collect();
    assert_eq!(rest, want);
    let _ = c.close(200, "done").await;
    delete_queue(&queue).await;
}

#[path = "support/tls_proxy.rs"]
mod tls_proxy;

/// `amqps://` with `caCert` (PEM text), `clientCert` and `clientKey` (PEM files), through a
/// TLS front that requires the client certificate; without the certificate, or without the
/// CA, connecting fails clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate() {
    let _s = SERVER.read().await;
    let (port, pki) = tls_proxy::start(5672, true).await;
    let files = tempfile::tempdir().unwrap();
    let cert = files.path().join("client.pem");
    let key = files.path().join("client.key");
    std::fs::write(&cert, &pki.client_cert_pem).unwrap();
    std::fs::write(&key, &pki.client_key_pem).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let host = format!("amqps://guest:guest@localhost:{port}");
    let queue = queue_name("tls");
    let dir = components(&[yaml(
        "secure",
        &[
            ("host", &host),
            ("queueName", &queue),
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
    assert_eq!(next(&mut rx).await.text(), "sealed");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    delete_queue(&queue).await;

    for (what, fields) in [
        (
            "no client certificate",
            vec![("caCert", pki.ca_pem.as_str())],
        ),
        ("no caCert", vec![("clientCert", cert), ("clientKey", key)]),
    ] {
        let mut all = vec![
            ("host", host.as_str()),
            ("queueName", queue.as_str()),
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
                "cannot connect to RabbitMQ at amqps://localhost:{port}"
            )),
            "{what}: {e}"
        );
    }
}

#[test]
fn tls_fields_need_an_amqps_host() {
    let dir = components(&[yaml(
        "plain",
        &[
            ("host", HOST),
            ("queueName", "q"),
            ("caCert", "/etc/hostname"),
        ],
    )]);
    let e = Runtime::from_path(dir.0.path()).unwrap_err();
    let d = e
        .diagnostics()
        .iter()
        .find(|d| {
            d.message
                .contains("host is an amqp:// URL, which does not use TLS")
        })
        .unwrap_or_else(|| panic!("{:#?}", e.diagnostics()));
    assert!(d.fix.as_deref().unwrap().contains("amqps://"));
}

/// Not a test: the figures of README's rabbitmq bullet. A queue filled with 50,000 messages
/// (`BINDERY_MEASURE_MESSAGES`), consumed for 30s (`BINDERY_MEASURE_SECS`) or until every one
/// was acked, by a handler whose every tenth call fails (`BINDERY_MEASURE_FAIL_EVERY`, 0 for
/// none), with
/// the component's defaults plus the `name=value` pairs of `BINDERY_MEASURE` (comma-separated,
/// e.g. `prefetchCount=1` or `backOffDuration=0s`); prints the messages acked per second. Run
/// with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_throughput_with_one_handler_call_in_ten_failing() {
    let _s = SERVER.read().await;
    let secs: u64 = std::env::var("BINDERY_MEASURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let messages: u64 = std::env::var("BINDERY_MEASURE_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let extra = std::env::var("BINDERY_MEASURE").unwrap_or_default();
    // Which handler calls fail: every tenth, or none with 0.
    let fail_every: u64 = std::env::var("BINDERY_MEASURE_FAIL_EVERY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let queue = queue_name("measure");
    let mut fields: Vec<(&str, &str)> = vec![("host", HOST), ("queueName", &queue)];
    for pair in extra.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').expect("name=value");
        fields.push((k, v));
    }
    let dir = components(&[yaml("jobs", &fields)]);
    {
        // Declared by a runtime's output, then filled without publisher confirms.
        let out = runtime(&dir);
        out.invoke("jobs", "create", b"m0".to_vec(), MetadataMap::new())
            .await
            .unwrap();
        out.shutdown(Duration::from_secs(5)).await.unwrap();
        let c = amqp().await;
        let ch = c.create_channel().await.unwrap();
        for i in 1..messages {
            // No confirms on this channel: the confirmation is not waited for.
            drop(
                ch.basic_publish(
                    "",
                    &queue,
                    Default::default(),
                    format!("m{i}").as_bytes(),
                    Default::default(),
                )
                .await
                .unwrap(),
            );
        }
        let _ = ch.close(200, "filled").await;
        let _ = c.close(200, "filled").await;
    }
    let rt = runtime(&dir);
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let calls = calls.clone();
        rt.on_event("jobs", move |_ev| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            async move {
                if fail_every > 0 && n % fail_every == 0 {
                    return Err("this call fails".into());
                }
                Ok(())
            }
        })
        .unwrap();
    }
    rt.start().await.unwrap();
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_secs(secs)
        && rt.input_stats("jobs").unwrap().acked < messages
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = rt.input_stats("jobs").unwrap();
    let took = t.elapsed().as_secs_f64();
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    println!(
        "settings [{extra}], 1 call in {fail_every} failing (0: none): {} acked, {} nacked in {took:.1}s: {:.0} acked/s",
        stats.acked,
        stats.nacked,
        stats.acked as f64 / took
    );
    delete_queue(&queue).await;
}

/// A RabbitMQ policy that dead-letters what is rejected from `queue` into the queue `dead`
/// (through the default exchange), set with `rabbitmqctl` and cleared when dropped. The
/// binding declares its queue without arguments, as Dapr's does, so dead-lettering comes from
/// a policy, as an operator would set it.
struct DeadLetterPolicy(String);

/// Run rabbitmqctl, trying again for up to 30 s (another process's test may be restarting
/// the broker).
fn rabbitmqctl(args: &[&str]) {
    let mut attempts = 0;
    loop {
        let out = std::process::Command::new("rabbitmqctl")
            .args(args)
            .output()
            .expect(
                "rabbitmqctl runs (it comes with the RabbitMQ server tests/servers/start installs)",
            );
        attempts += 1;
        if out.status.success() {
            return;
        }
        assert!(
            attempts < 30,
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

impl DeadLetterPolicy {
    fn set(queue: &str, dead: &str) -> Self {
        let definition =
            format!(r#"{{"dead-letter-exchange":"","dead-letter-routing-key":"{dead}"}}"#);
        let pattern = format!("^{queue}$");
        rabbitmqctl(&[
            "set_policy",
            queue,
            &pattern,
            &definition,
            "--apply-to",
            "queues",
        ]);
        DeadLetterPolicy(queue.to_string())
    }
}

impl Drop for DeadLetterPolicy {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["clear_policy", &self.0])
            .output();
    }
}

/// m0..m9 wait in a queue whose rejects are dead-lettered: the handler rejects m3 and m7 and
/// fails m5 once (`harness::check_reject_beside_nack`). The rejects land in the dead-letter
/// queue and are not delivered again; the nack is; nothing is left behind.
async fn rejects_are_dead_lettered(prefetch: &str, in_runs: bool) {
    let queue = queue_name("reject");
    let dead = format!("{queue}-dead");
    let _policy = DeadLetterPolicy::set(&queue, &dead);
    let c = amqp().await;
    let ch = c.create_channel().await.unwrap();
    ch.queue_declare(&dead, QueueDeclareOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let dir = components(&[yaml(
        "jobs",
        &[
            ("host", HOST),
            ("queueName", &queue),
            ("durable", "false"),
            ("prefetchCount", prefetch),
            ("backOffDuration", "50ms"),
            ("backOffMaxRetries", "1"),
        ],
    )]);
    harness::produce_numbered(&dir, "jobs", 10).await;
    let seen = harness::check_reject_beside_nack(&dir, "jobs", in_runs, WAIT).await;
    if prefetch == "1" {
        assert_eq!(seen, harness::m5_failed_once(), "in order");
    }
    let mut dead_letters = Vec::new();
    while let Some(m) = ch
        .basic_get(&dead, BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        dead_letters.push(String::from_utf8(m.delivery.data).unwrap());
    }
    dead_letters.sort();
    assert_eq!(dead_letters, ["m3", "m7"], "the rejects are dead-lettered");
    assert!(
        ch.basic_get(&queue, BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .is_none(),
        "nothing is left in the queue"
    );
    let _ = c.close(200, "done").await;
    delete_queue(&queue).await;
    delete_queue(&dead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_is_dead_lettered_and_a_nacked_one_comes_again() {
    let _s = SERVER.read().await;
    rejects_are_dead_lettered("0", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_handler_s_reject_is_dead_lettered_in_order_with_prefetch_one() {
    let _s = SERVER.read().await;
    rejects_are_dead_lettered("1", true).await;
}
