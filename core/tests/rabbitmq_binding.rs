#![cfg(feature = "rabbitmq")]
//! `bindings.rabbitmq` against the real RabbitMQ on 127.0.0.1:5672 (`tests/servers/start
//! rabbitmq`): what only this binding does (every message property and header, Dapr's
//! escaping of event metadata, a failed message not pausing the queue, competing consumers
//! with prefetchCount, an exclusive queue). The behaviour every binding shares is in
//! `behaviour.rs` (`rabbitmq::*`). Each test uses a queue of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use tokio::sync::Notify;

#[path = "suite/mod.rs"]
mod suite;
use suite::fixtures::rabbitmq::{amqp, delete_queue, queue_name, HOST};
use suite::harness::{self, collect, components, counts, create, meta, next, runtime, WAIT};

/// The component `name` on `queue`, with `extra`.
fn on_queue(name: &str, queue: &str, extra: &[(&str, &str)]) -> String {
    let mut fields = vec![("host", HOST), ("queueName", queue)];
    fields.extend_from_slice(extra);
    harness::component_yaml("bindings.rabbitmq", name, &fields)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_sets_every_property_and_header() {
    let queue = queue_name("props");
    let extra = [
        ("durable", "true"),
        ("maxPriority", "5"),
        ("contentType", "application/json"),
        ("direction", "output"),
    ];
    let dir = components(&[on_queue("out", &queue, &extra)]);
    let rt = runtime(&dir);
    rt.start().await.unwrap();
    let resp = create(
        &rt,
        "out",
        b"{\"n\":1}",
        &[
            ("ttlInSeconds", "60"),
            ("priority", "3"),
            ("traceId", "abc"),
        ],
    )
    .await;
    assert!(resp.data.is_empty() && resp.metadata.is_empty());
    create(
        &rt,
        "out",
        b"plain",
        &[
            ("contentType", "text/csv"),
            ("ttl", "1m"),
            ("messageID", "m-1"),
            ("CorrelationId", "c-7"),
            ("type", "order.created"),
        ],
    )
    .await;
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
    // Dapr's messageID, correlationID and type (a key in any case) are the AMQP properties.
    let text = |v: &Option<lapin::types::ShortString>| v.as_ref().map(|s| s.to_string());
    assert_eq!(text(p.message_id()).as_deref(), Some("m-1"));
    assert_eq!(text(p.correlation_id()).as_deref(), Some("c-7"));
    assert_eq!(text(p.kind()).as_deref(), Some("order.created"));
    let _ = c.close(200, "done").await;
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_through_output_and_input() {
    let extra = [
        ("deleteWhenUnused", "false"),
        ("ttlInSeconds", "120"),
        ("prefetchCount", "4"),
    ];
    let queue = queue_name("roundtrip");
    let dir = components(&[on_queue("orders", &queue, &extra)]);
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "orders");
    rt.start().await.unwrap();
    create(
        &rt,
        "orders",
        b"hello \x00\xff",
        &[
            ("contentType", "application/octet-stream"),
            ("priority", "1"),
            ("ttlInSeconds", "30"),
            ("order id", "a b&c=d/é"),
            ("Plain", "v"),
        ],
    )
    .await;
    let ev = next(&mut rx).await;
    assert_eq!(ev.binding, "orders");
    assert_eq!(ev.data, b"hello \x00\xff");
    // Dapr's event metadata: the string headers, keys escaped as url.QueryEscape, values as
    // they are (Dapr 1.16).
    assert_eq!(
        ev.metadata,
        meta(&[
            ("contentType", "application/octet-stream"),
            ("priority", "1"),
            ("ttlInSeconds", "30"),
            ("order+id", "a b&c=d/é"),
            ("Plain", "v"),
        ])
    );
    // Without request metadata the event has none.
    create(&rt, "orders", b"bare", &[]).await;
    let ev = next(&mut rx).await;
    assert_eq!(ev.text(), "bare");
    assert!(ev.metadata.is_empty(), "{:?}", ev.metadata);
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(rt.input_stats("orders").unwrap().acked, 2);
    delete_queue(&queue).await;
}

/// With 1 message in 10 failing once and a back-off of 2s, 100 messages are all handled and
/// acked in well under the 20s that waiting out each back-off in turn would take.
async fn failures_do_not_pause_the_queue(retries: &str) {
    let queue = queue_name("nopause");
    let extra = [("backOffDuration", "2s"), ("backOffMaxRetries", retries)];
    let dir = components(&[on_queue("jobs", &queue, &extra)]);
    harness::produce_numbered(&dir, "jobs", "create", 100).await;
    let rt = runtime(&dir);
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let seen = seen.clone();
        rt.on_event("jobs", move |ev| {
            let seen = seen.clone();
            async move {
                let text = ev.text();
                let first = harness::seen_again(&seen, &text) == 1;
                let n: usize = text[1..].parse().unwrap();
                if first && n.is_multiple_of(10) {
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
    failures_do_not_pause_the_queue("1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_requeued_after_its_back_off_does_not_pause_the_queue() {
    failures_do_not_pause_the_queue("0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_runtimes_share_a_queue_and_prefetch_count_is_honoured() {
    let queue = queue_name("compete");
    let doc = on_queue("work", &queue, &[("prefetchCount", "1")]);
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
    create(&rt_a, "work", b"w0", &[]).await;
    tokio::time::timeout(WAIT, async {
        while a_seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("A got a message");
    rt_b.start().await.unwrap();
    for i in 1..10 {
        create(&rt_a, "work", format!("w{i}"), &[]).await;
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
async fn exclusive_queue_works_in_both_directions_over_one_connection() {
    let queue = queue_name("exclusive");
    let extra = [("exclusive", "true")];
    let dir = components(&[on_queue("mine", &queue, &extra)]);
    let rt = runtime(&dir);
    let mut rx = collect(&rt, "mine");
    rt.start().await.unwrap();
    create(&rt, "mine", b"only me", &[]).await;
    assert_eq!(next(&mut rx).await.text(), "only me");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
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
    let dir = components(&[harness::component_yaml(
        "bindings.rabbitmq",
        "jobs",
        &fields,
    )]);
    {
        // Declared by a runtime's output, then filled without publisher confirms.
        let out = runtime(&dir);
        create(&out, "jobs", b"m0", &[]).await;
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
                if fail_every > 0 && n.is_multiple_of(fail_every) {
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
    let dir = components(&[on_queue(
        "jobs",
        &queue,
        &[
            ("durable", "false"),
            ("prefetchCount", prefetch),
            ("backOffDuration", "50ms"),
            ("backOffMaxRetries", "1"),
        ],
    )]);
    harness::produce_numbered(&dir, "jobs", "create", 10).await;
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
    rejects_are_dead_lettered("0", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_handler_s_reject_is_dead_lettered_in_order_with_prefetch_one() {
    rejects_are_dead_lettered("1", true).await;
}
