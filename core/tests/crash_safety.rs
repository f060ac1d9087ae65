#![cfg(any(feature = "rabbitmq", feature = "mqtt", feature = "kafka"))]
//! Crash safety of the broker inputs against the real RabbitMQ (127.0.0.1:5672), Mosquitto
//! (127.0.0.1:1883) and Kafka (tansu, 127.0.0.1:9092), as the acceptance states it:
//! 10,000 messages are produced, the consuming runtime is stopped abruptly (its process
//! SIGKILLed) in the middle and started again, and every message is handled at least once,
//! none lost. Each broker's case is compiled with its feature.
//!
//! The consumer is this test binary run again as a child process (`BINDERY_CRASH_CHILD` set,
//! filtered to [`child_consumer`]): it builds a runtime from the components folder the parent
//! wrote, and its handler appends each message's data (the id) as one line to a record file
//! with one `write` on an `O_APPEND` file before returning `Ok`, so a message is on disk
//! (in the page cache, which survives the process) before it is acked. The parent produces
//! with lapin / rumqttc / rdkafka directly (the subject is the consumer), reads the record
//! file, kills the first child after `KILL_AFTER` lines, starts a second one and waits for
//! every id.
//!
//! RabbitMQ: all 10,000 are queued before the first child starts, so at the kill thousands
//! are delivered (prefetch unlimited) and unacknowledged. MQTT (`cleanSession: false`, one
//! `consumerID` for both children): the parent creates the persistent session first, then
//! produces while the children consume, at most `MQTT_WINDOW` ahead of the handled ids,
//! because Mosquitto keeps at most 1000 messages (`max_queued_messages`) for a session and
//! drops the rest; some are produced while no consumer runs. Kafka: a topic of three
//! partitions (id `i` to partition `i % 3`); the first 2,000 are produced before the first
//! child starts, the rest once the group has committed those on every partition, so the kill
//! comes after commits; both children are in one `consumerGroup`, so the second resumes each
//! partition from the offset the first committed last. Besides none lost, the Kafka case
//! checks the record against the offsets the producer got back: per partition, no message
//! was handled before every earlier one of its partition had been, by this child or the
//! killed one (in order, and no commit passed a message that was not handled).
//!
//! Duplicates after the restart are expected and only reported: acks the killed consumer sent
//! but the broker had not read yet are dropped with the connection (the kernel resets it), so
//! those messages come again; Kafka redelivers what was handled after the last commit (the
//! binding commits every second).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindery::Runtime;
use futures::FutureExt;

/// Set in the child: the name of the input binding to consume.
const CHILD_ENV: &str = "BINDERY_CRASH_CHILD";
/// Set in the child: the components folder.
const COMPONENTS_ENV: &str = "BINDERY_CRASH_COMPONENTS";
/// Set in the child: the record file.
const RECORD_ENV: &str = "BINDERY_CRASH_RECORD";

const MESSAGES: usize = 10_000;
/// Kill the first child once the record file has this many lines.
const KILL_AFTER: usize = 3_000;
/// How long the consumer stays dead between the kill and the restart.
const DEAD_FOR: Duration = Duration::from_millis(300);
/// The most the first child may take to reach `KILL_AFTER` lines.
const FIRST_WAIT: Duration = Duration::from_secs(60);
/// The most the second child may take to handle every remaining id.
const SECOND_WAIT: Duration = Duration::from_secs(90);
/// A child that outlives this (its parent gone, or stuck) exits on its own.
const CHILD_LIFETIME: Duration = Duration::from_secs(300);

/// The consumer process. Returns at once unless `BINDERY_CRASH_CHILD` is set; then runs until
/// killed.
#[test]
fn child_consumer() {
    let Ok(binding) = std::env::var(CHILD_ENV) else {
        return;
    };
    let components = std::env::var(COMPONENTS_ENV).expect("BINDERY_CRASH_COMPONENTS is set");
    let record = std::env::var(RECORD_ENV).expect("BINDERY_CRASH_RECORD is set");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async move {
        let file = Arc::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&record)
                .unwrap(),
        );
        let rt = Runtime::from_path(&components)
            .unwrap_or_else(|e| panic!("{e}: {:#?}", e.diagnostics()));
        rt.on_event(&binding, move |ev| {
            let file = file.clone();
            async move {
                let mut line = ev.data;
                line.push(b'\n');
                // One write(2) on an O_APPEND file: the line is whole, and in the page cache
                // (kept when the process dies) before the handler acks.
                (&*file).write_all(&line)?;
                Ok(())
            }
        })
        .unwrap();
        let started = Instant::now();
        rt.start().await.unwrap();
        eprintln!(
            "child {}: consuming {binding:?} (started in {:?})",
            std::process::id(),
            started.elapsed()
        );
        let parent = std::os::unix::process::parent_id();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if std::os::unix::process::parent_id() != parent || started.elapsed() > CHILD_LIFETIME {
                eprintln!("child {}: orphaned or overdue, exiting", std::process::id());
                std::process::exit(3);
            }
        }
    });
}

fn yaml(name: &str, type_name: &str, fields: &[(&str, &str)]) -> String {
    let mut s = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {type_name}\n  version: v1\n  metadata:\n"
    );
    for (k, v) in fields {
        s.push_str(&format!("  - name: {k}\n    value: \"{v}\"\n"));
    }
    s
}

/// A run's folder: `components/` holding the one component the children consume (`name` of
/// `type_name` with `fields`), and an empty record file.
fn prepare(name: &str, type_name: &str, fields: &[(&str, &str)]) -> (tempfile::TempDir, Record) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("components")).unwrap();
    std::fs::write(
        dir.path().join(format!("components/{name}.yaml")),
        yaml(name, type_name, fields),
    )
    .unwrap();
    let record = Record::open(&dir.path().join("record.txt"));
    (dir, record)
}

/// A consumer process, SIGKILLed when dropped.
struct ChildProcess {
    child: Child,
    started: Instant,
}

impl ChildProcess {
    fn spawn(binding: &str, components: &Path, record: &Path, log: &Path) -> ChildProcess {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "child_consumer",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, binding)
            .env(COMPONENTS_ENV, components)
            .env(RECORD_ENV, record)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the test binary starts again as the consumer");
        ChildProcess {
            child,
            started: Instant::now(),
        }
    }

    /// SIGKILL it and reap it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the record file holds so far: the lines read and how often each id was handled.
struct Record {
    file: File,
    pending: Vec<u8>,
    counts: Vec<u32>,
    /// Every id read, in the order the consumers handled them.
    order: Vec<usize>,
    lines: usize,
    /// Ids handled at least once, shared with a paced producer.
    distinct: Arc<AtomicUsize>,
}

impl Record {
    fn open(path: &Path) -> Record {
        File::create(path).unwrap();
        Record {
            file: File::open(path).unwrap(),
            pending: Vec::new(),
            counts: vec![0; MESSAGES],
            order: Vec::with_capacity(2 * MESSAGES),
            lines: 0,
            distinct: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Read what was appended since the last call; a line not finished yet waits.
    fn poll(&mut self) {
        self.file.read_to_end(&mut self.pending).unwrap();
        let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let done: Vec<u8> = self.pending.drain(..=end).collect();
        let mut fresh = 0;
        for line in done.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let id: usize = std::str::from_utf8(line)
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|id| *id < MESSAGES)
                .unwrap_or_else(|| {
                    panic!(
                        "the record file has a line that is no id: {:?}",
                        String::from_utf8_lossy(line)
                    )
                });
            self.counts[id] += 1;
            self.order.push(id);
            self.lines += 1;
            if self.counts[id] == 1 {
                fresh += 1;
            }
        }
        self.distinct.fetch_add(fresh, Ordering::SeqCst);
    }

    fn distinct(&self) -> usize {
        self.distinct.load(Ordering::SeqCst)
    }

    fn missing(&self) -> Vec<usize> {
        (0..MESSAGES).filter(|id| self.counts[*id] == 0).collect()
    }
}

/// A producer running alongside the consumers; `None` once it finished.
type Producer = Option<tokio::task::JoinHandle<()>>;

/// Reap the producer if it finished, passing its panic on.
async fn check_producer(producer: &mut Producer) {
    if producer.as_ref().is_some_and(|p| p.is_finished()) {
        if let Err(e) = producer.take().unwrap().await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// Poll the record file until `done`, failing when the child exits, the producer fails or
/// `limit` passes.
async fn wait_for(
    record: &mut Record,
    child: &mut ChildProcess,
    producer: &mut Producer,
    log: &Path,
    limit: Duration,
    what: &str,
    done: impl Fn(&Record) -> bool,
) {
    loop {
        record.poll();
        if done(record) {
            return;
        }
        check_producer(producer).await;
        if let Ok(Some(status)) = child.child.try_wait() {
            panic!(
                "the consumer exited ({status}) before {what}; {} lines, {} ids recorded; its log:\n{}",
                record.lines,
                record.distinct(),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if child.started.elapsed() > limit {
            let missing = record.missing();
            panic!(
                "waited {limit:?} for {what} in vain: {} lines, {} ids recorded; {} ids missing, the first: {:?}; the consumer's log:\n{}",
                record.lines,
                record.distinct(),
                missing.len(),
                &missing[..missing.len().min(20)],
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Wait until `id` is less than `window` ahead of the handled ids.
#[cfg(feature = "mqtt")]
async fn pace(id: usize, handled: &AtomicUsize, window: usize) {
    while id >= handled.load(Ordering::SeqCst) + window {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The figures of one run, printed and returned.
struct Report {
    lines_at_kill: usize,
    lines: usize,
    duplicates: usize,
    /// Ids handled more than once.
    redelivered_ids: usize,
    first_child: Duration,
    second_child: Duration,
    total: Duration,
}

/// Start a consumer, kill it after `KILL_AFTER` lines, start another, wait for every id, kill
/// it, and check that none is missing. `producer` runs alongside, if any. `record` is left
/// holding everything the two consumers handled.
async fn crash_and_resume(
    label: &str,
    binding: &str,
    dir: &Path,
    record: &mut Record,
    mut producer: Producer,
) -> Report {
    let began = Instant::now();
    let components = dir.join("components");
    let record_path = dir.join("record.txt");
    let (log1, log2) = (dir.join("child1.log"), dir.join("child2.log"));

    let mut first = ChildProcess::spawn(binding, &components, &record_path, &log1);
    wait_for(
        record,
        &mut first,
        &mut producer,
        &log1,
        FIRST_WAIT,
        &format!("{KILL_AFTER} lines"),
        |r| r.lines >= KILL_AFTER,
    )
    .await;
    let seen_at_kill = record.lines;
    first.kill();
    let first_child = first.started.elapsed();
    record.poll();
    let lines_at_kill = record.lines;
    eprintln!(
        "{label}: killed the first consumer after {first_child:?}: {seen_at_kill} lines seen before the kill, {lines_at_kill} on file after it"
    );
    assert!(
        lines_at_kill < MESSAGES,
        "the kill landed after the last message ({lines_at_kill} lines): not mid-stream"
    );
    tokio::time::sleep(DEAD_FOR).await;

    let mut second = ChildProcess::spawn(binding, &components, &record_path, &log2);
    wait_for(
        record,
        &mut second,
        &mut producer,
        &log2,
        SECOND_WAIT,
        "every id",
        |r| r.distinct() == MESSAGES,
    )
    .await;
    second.kill();
    let second_child = second.started.elapsed();
    if let Some(p) = producer {
        if let Err(e) = tokio::time::timeout(Duration::from_secs(30), p)
            .await
            .expect("the producer finished")
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    record.poll();

    let missing = record.missing();
    assert!(
        missing.is_empty(),
        "{} ids lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(50)]
    );
    let report = Report {
        lines_at_kill,
        lines: record.lines,
        duplicates: record.lines - MESSAGES,
        redelivered_ids: record.counts.iter().filter(|c| **c > 1).count(),
        first_child,
        second_child,
        total: began.elapsed(),
    };
    eprintln!(
        "{label}: every one of {MESSAGES} ids handled at least once: {} lines ({} on file at the kill), {} duplicates ({} ids handled more than once); first consumer {:?}, second {:?}, whole run {:?}",
        report.lines,
        report.lines_at_kill,
        report.duplicates,
        report.redelivered_ids,
        report.first_child,
        report.second_child,
        report.total
    );
    report
}

/// Run `body`, then `cleanup` even when it panicked.
async fn with_cleanup<T>(
    body: impl std::future::Future<Output = T>,
    cleanup: impl std::future::Future<Output = ()>,
) -> T {
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    cleanup.await;
    outcome.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

// -- RabbitMQ ---------------------------------------------------------------------------------

#[cfg(feature = "rabbitmq")]
mod rabbitmq {
    use super::*;

    const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672";

    async fn amqp() -> lapin::Connection {
        lapin::Connection::connect(AMQP, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ answers on 127.0.0.1:5672 (tests/servers/start rabbitmq)")
    }

    /// Declare `queue` as the binding does (durable) and publish ids 0..MESSAGES to it as
    /// persistent messages, with publisher confirms.
    async fn produce_rabbitmq(queue: &str) {
        use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};

        let c = amqp().await;
        let ch = c.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        ch.queue_declare(queue, durable, lapin::types::FieldTable::default())
            .await
            .unwrap();
        let mut confirms = Vec::new();
        for id in 0..MESSAGES {
            let confirm = ch
                .basic_publish(
                    "",
                    queue,
                    BasicPublishOptions::default(),
                    id.to_string().as_bytes(),
                    lapin::BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .unwrap();
            confirms.push(confirm);
            if confirms.len() == 500 || id + 1 == MESSAGES {
                for confirm in confirms.drain(..) {
                    assert!(confirm.await.unwrap().is_ack(), "the broker took message");
                }
            }
        }
        let _ = c.close(200, "produced").await;
    }

    async fn delete_queue(queue: &str) {
        let c = amqp().await;
        let ch = c.create_channel().await.unwrap();
        let _ = ch
            .queue_delete(queue, lapin::options::QueueDeleteOptions::default())
            .await;
        let _ = c.close(200, "done").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rabbitmq_consumer_killed_mid_stream_loses_nothing() {
        let queue = format!("bindery-test-crash-{}", uuid::Uuid::new_v4().simple());
        let (dir, mut record) = prepare(
            "jobs",
            "bindings.rabbitmq",
            &[
                ("host", AMQP),
                ("queueName", &queue),
                ("durable", "true"),
                ("direction", "input"),
            ],
        );

        let report = with_cleanup(
            async {
                let started = Instant::now();
                produce_rabbitmq(&queue).await;
                eprintln!(
                    "rabbitmq: {MESSAGES} messages queued in {:?}",
                    started.elapsed()
                );
                crash_and_resume("rabbitmq", "jobs", dir.path(), &mut record, None).await
            },
            delete_queue(&queue),
        )
        .await;
        assert!(report.lines >= MESSAGES);
    }
}

// -- MQTT -------------------------------------------------------------------------------------

#[cfg(feature = "mqtt")]
mod mqtt {
    use super::*;

    const MQTT_URL: &str = "tcp://127.0.0.1:1883";
    /// How far the MQTT producer may run ahead of the handled ids.
    const MQTT_WINDOW: usize = 500;

    fn mqtt_options(client_id: &str, clean: bool) -> rumqttc::MqttOptions {
        let mut o = rumqttc::MqttOptions::new(client_id, "127.0.0.1", 1883);
        o.set_clean_session(clean)
            .set_keep_alive(Duration::from_secs(30));
        o
    }

    /// Connect as `client_id` (a persistent session unless `clean`), subscribe to `topic` with QoS
    /// 1 when given, and disconnect.
    async fn mqtt_session(client_id: &str, clean: bool, topic: Option<&str>) {
        use rumqttc::{Event, Outgoing, Packet, QoS};

        let (client, mut el) = rumqttc::AsyncClient::new(mqtt_options(client_id, clean), 10);
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => match topic {
                        Some(t) => client.try_subscribe(t, QoS::AtLeastOnce).unwrap(),
                        None => client.try_disconnect().unwrap(),
                    },
                    Ok(Event::Incoming(Packet::SubAck(_))) => client.try_disconnect().unwrap(),
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(e) => panic!(
                        "Mosquitto answers on 127.0.0.1:1883 (tests/servers/start mosquitto): {e}"
                    ),
                }
            }
        })
        .await
        .expect("the MQTT session set up within 10s");
    }

    /// Publish ids 0..MESSAGES to `topic` with QoS 1, at most `MQTT_WINDOW` ahead of `handled`,
    /// and wait for every PUBACK.
    async fn produce_mqtt(topic: String, handled: Arc<AtomicUsize>) {
        use rumqttc::{Event, Outgoing, Packet, QoS};

        let id = format!(
            "bindery-test-crash-producer-{}",
            uuid::Uuid::new_v4().simple()
        );
        let (client, mut el) = rumqttc::AsyncClient::new(mqtt_options(&id, true), 100);
        let acked = Arc::new(AtomicUsize::new(0));
        let mut driver = {
            let acked = acked.clone();
            tokio::spawn(async move {
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                        Ok(_) => {}
                        Err(e) => panic!("the MQTT producer lost its connection: {e}"),
                    }
                }
            })
        };
        let all_acked = async {
            for id in 0..MESSAGES {
                pace(id, &handled, MQTT_WINDOW).await;
                client
                    .publish(&topic, QoS::AtLeastOnce, false, id.to_string())
                    .await
                    .unwrap();
            }
            while acked.load(Ordering::SeqCst) < MESSAGES {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        // The driver ends only when it fails, before the disconnect below.
        tokio::select! {
            _ = all_acked => {}
            ended = &mut driver => match ended {
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                _ => panic!("the MQTT producer's event loop ended early"),
            },
        }
        client.disconnect().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), driver)
            .await
            .expect("the producer disconnected")
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mqtt_persistent_session_consumer_killed_mid_stream_loses_nothing() {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let topic = format!("bindery-test/crash/{unique}");
        let consumer_id = format!("bindery-test-crash-{unique}");
        let (dir, mut record) = prepare(
            "sensor",
            "bindings.mqtt3",
            &[
                ("url", MQTT_URL),
                ("topic", &topic),
                ("consumerID", &consumer_id),
                ("cleanSession", "false"),
                ("direction", "input"),
            ],
        );
        // The binding connects as `<consumerID>-consumer`.
        let session = format!("{consumer_id}-consumer");

        let report = with_cleanup(
            async {
                // Mosquitto keeps QoS 1 messages only for a session that exists: create it first.
                mqtt_session(&session, false, Some(&topic)).await;
                let producer = tokio::spawn(produce_mqtt(topic.clone(), record.distinct.clone()));
                crash_and_resume("mqtt", "sensor", dir.path(), &mut record, Some(producer)).await
            },
            mqtt_session(&session, true, None),
        )
        .await;
        assert!(report.lines >= MESSAGES);
    }
}

// -- Kafka ------------------------------------------------------------------------------------

#[cfg(feature = "kafka")]
mod kafka {
    use super::*;
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::util::Timeout;
    use rdkafka::{Offset, TopicPartitionList};
    use std::sync::Mutex;

    const BROKERS: &str = "127.0.0.1:9092";
    const PARTITIONS: usize = 3;
    /// Produced before the first consumer starts; the rest once the group committed all of
    /// these, so that the kill (after `KILL_AFTER` lines) comes after commits on every
    /// partition.
    const FIRST_BATCH: usize = 2_000;
    /// The most the producer waits for the group to commit the first batch.
    const COMMIT_WAIT: Duration = Duration::from_secs(30);

    /// Where a produced message landed: partition and offset.
    type Position = (i32, i64);

    fn client_config() -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", BROKERS);
        c
    }

    fn admin() -> AdminClient<DefaultClientContext> {
        client_config().create().expect("an admin client")
    }

    fn admin_options() -> AdminOptions {
        AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))
    }

    async fn create_topic(topic: &str) {
        let new = NewTopic::new(topic, PARTITIONS as i32, TopicReplication::Fixed(1));
        let res = admin()
            .create_topics([&new], &admin_options())
            .await
            .expect("a Kafka broker answers on 127.0.0.1:9092 (tests/servers/start kafka)");
        for r in res {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    async fn delete_topic(topic: &str) {
        let _ = admin().delete_topics(&[topic], &admin_options()).await;
    }

    /// Produce `ids` to `topic`, id `i` to partition `i % PARTITIONS`, each waiting for every
    /// in-sync replica, and note where each landed in `at`.
    async fn send(
        producer: &FutureProducer,
        topic: &str,
        ids: std::ops::Range<usize>,
        at: &mut [Position],
    ) {
        let ids: Vec<usize> = ids.collect();
        for chunk in ids.chunks(1000) {
            let sends = chunk.iter().map(|&id| async move {
                let payload = id.to_string();
                let record = FutureRecord::<(), str>::to(topic)
                    .partition((id % PARTITIONS) as i32)
                    .payload(&payload);
                let sent = producer
                    .send(record, Timeout::After(Duration::from_secs(30)))
                    .await;
                (id, sent)
            });
            for (id, sent) in futures::future::join_all(sends).await {
                let d = sent.unwrap_or_else(|(e, _)| {
                    panic!("producing id {id} to Kafka at {BROKERS}: {e}")
                });
                at[id] = (d.partition, d.offset);
            }
        }
    }

    /// Wait until `group` has committed at least `ends` (one offset per partition) on `topic`.
    fn wait_for_commits(topic: &str, group: &str, ends: &[i64]) {
        // Not subscribed: it only asks the group coordinator, it does not join the group.
        let c: BaseConsumer = client_config()
            .set("group.id", group)
            .create()
            .expect("a consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(topic, p as i32);
        }
        let started = Instant::now();
        loop {
            let got = c
                .committed_offsets(tpl.clone(), Timeout::After(Duration::from_secs(10)))
                .unwrap_or_else(|e| panic!("asking Kafka for the group's offsets: {e}"));
            let committed: Vec<i64> = (0..PARTITIONS)
                .map(
                    |p| match got.find_partition(topic, p as i32).map(|e| e.offset()) {
                        Some(Offset::Offset(o)) => o,
                        _ => -1,
                    },
                )
                .collect();
            if committed.iter().zip(ends).all(|(c, e)| c >= e) {
                eprintln!(
                    "kafka: the group committed {committed:?} (the first {FIRST_BATCH} ids) after {:?}; producing the rest",
                    started.elapsed()
                );
                return;
            }
            assert!(
                started.elapsed() < COMMIT_WAIT,
                "waited {COMMIT_WAIT:?} for the consumer to commit the first {FIRST_BATCH} ids: committed {committed:?}, produced up to {ends:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Produce ids 0..FIRST_BATCH, wait until the consumer group committed them on every
    /// partition, then produce the rest; where each id landed goes to `at`.
    async fn produce_kafka(topic: String, group: String, at: Arc<Mutex<Vec<Position>>>) {
        let producer: FutureProducer = client_config()
            .set("acks", "all")
            .set("linger.ms", "5")
            .create()
            .expect("a producer");
        let mut positions = vec![(-1, -1); MESSAGES];
        let started = Instant::now();
        send(&producer, &topic, 0..FIRST_BATCH, &mut positions).await;
        eprintln!(
            "kafka: {FIRST_BATCH} messages produced to {PARTITIONS} partitions in {:?}",
            started.elapsed()
        );
        let mut ends = vec![0; PARTITIONS];
        for (p, o) in &positions[..FIRST_BATCH] {
            ends[*p as usize] = ends[*p as usize].max(o + 1);
        }
        let (t, g) = (topic.clone(), group);
        tokio::task::spawn_blocking(move || wait_for_commits(&t, &g, &ends))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        send(&producer, &topic, FIRST_BATCH..MESSAGES, &mut positions).await;
        *at.lock().unwrap() = positions;
    }

    /// Per partition, no id was handled before every id at a lower offset of its partition had
    /// been: the consumers took each partition in order, and the second resumed at or before
    /// the first message the killed one had not handled (no commit passed one).
    fn check_partition_order(order: &[usize], at: &[Position]) {
        // The ids of each partition by offset, and each id's place in its partition.
        let mut by_offset: Vec<Vec<usize>> = vec![Vec::new(); PARTITIONS];
        for (id, (partition, _)) in at.iter().enumerate() {
            by_offset[*partition as usize].push(id);
        }
        let mut place = vec![0; MESSAGES];
        for ids in &mut by_offset {
            ids.sort_by_key(|id| at[*id].1);
            for (i, id) in ids.iter().enumerate() {
                place[*id] = i;
            }
        }
        // How many of each partition's first messages have all been handled.
        let mut prefix = [0usize; PARTITIONS];
        for (line, id) in order.iter().enumerate() {
            let p = at[*id].0 as usize;
            let first_unhandled = prefix[p];
            assert!(
                place[*id] <= first_unhandled,
                "line {line} of the record: id {id} (partition {p}, offset {}) was handled before id {} (offset {}) of its partition",
                at[*id].1,
                by_offset[p][first_unhandled],
                at[by_offset[p][first_unhandled]].1
            );
            if place[*id] == first_unhandled {
                prefix[p] += 1;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kafka_consumer_group_member_killed_mid_stream_loses_nothing() {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let topic = format!("bindery-test-crash-{unique}");
        let group = format!("bindery-test-crash-{unique}");
        let (dir, mut record) = prepare(
            "orders",
            "bindings.kafka",
            &[
                ("brokers", BROKERS),
                ("authType", "none"),
                ("topics", &topic),
                ("consumerGroup", &group),
                ("initialOffset", "oldest"),
                // The killed member keeps its partitions until its session expires: the least
                // a Kafka broker allows by default, so that the second child gets them soon.
                ("sessionTimeout", "6s"),
                ("heartbeatInterval", "1s"),
                ("direction", "input"),
            ],
        );
        let at = Arc::new(Mutex::new(Vec::new()));

        let report = with_cleanup(
            async {
                create_topic(&topic).await;
                let producer =
                    tokio::spawn(produce_kafka(topic.clone(), group.clone(), at.clone()));
                crash_and_resume("kafka", "orders", dir.path(), &mut record, Some(producer)).await
            },
            delete_topic(&topic),
        )
        .await;
        assert!(report.lines >= MESSAGES);
        check_partition_order(&record.order, &at.lock().unwrap());
    }
}
