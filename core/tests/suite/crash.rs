//! Crash safety, as the acceptance states it: 10,000 messages are produced, the
//! consuming runtime is stopped abruptly (its process SIGKILLed) in the middle and started
//! again, and every message is handled at least once, none lost.
//!
//! The consumer is the test binary run again as a child process (`BINDERY_CRASH_CHILD` set,
//! filtered to the test `child_consumer`, which calls [`child_consumer`]): it builds a runtime
//! from the components folder the parent wrote, and its handler appends each message's data
//! (the id) as one line to a record file with one `write` on an `O_APPEND` file before
//! returning `Ok`, so a message is on disk (in the page cache, which survives the process)
//! before it is acked. The parent produces through the fixture (with the broker's own client:
//! the subject is the consumer), reads the record file, kills the first child after
//! `KILL_AFTER` lines, starts a second one and waits for every id. Each fixture says how its
//! messages are produced (all before the first child, or alongside) and what its source
//! promises beyond none lost ([`Fixture::crash_check`]).
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

use super::fixture::{Case, Fixture};
use super::scenarios::{doc, name, ready};

/// Set in the child: the name of the input binding to consume.
const CHILD_ENV: &str = "BINDERY_CRASH_CHILD";
/// Set in the child: the components folder.
const COMPONENTS_ENV: &str = "BINDERY_CRASH_COMPONENTS";
/// Set in the child: the record file.
const RECORD_ENV: &str = "BINDERY_CRASH_RECORD";

/// How many messages a run produces (ids 0..MESSAGES).
pub const MESSAGES: usize = 10_000;
/// Kill the first child once the record file has this many lines.
pub const KILL_AFTER: usize = 3_000;
/// How long the consumer stays dead between the kill and the restart.
const DEAD_FOR: Duration = Duration::from_millis(300);
/// A child that outlives this (its parent gone, or stuck) exits on its own.
const CHILD_LIFETIME: Duration = Duration::from_secs(300);

/// For a paced producer: wait until `id` is less than `window` ahead of the ids handled.
pub async fn pace(id: usize, handled: &AtomicUsize, window: usize) {
    while id >= handled.load(Ordering::SeqCst) + window {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The consumer process. Returns at once unless `BINDERY_CRASH_CHILD` is set; then runs until
/// killed.
pub fn child_consumer() {
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

/// A run's folder: `components/` holding the one component the children consume, and an
/// empty record file.
fn prepare(name: &str, doc: &str) -> (tempfile::TempDir, Record) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("components")).unwrap();
    std::fs::write(dir.path().join(format!("components/{name}.yaml")), doc).unwrap();
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
pub struct Record {
    file: File,
    pending: Vec<u8>,
    counts: Vec<u32>,
    /// Every id read, in the order the consumers handled them.
    pub order: Vec<usize>,
    lines: usize,
    /// Ids handled at least once, shared with a paced producer.
    pub distinct: Arc<AtomicUsize>,
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
    waits: (Duration, Duration),
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
        waits.0,
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
        waits.1,
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

/// A consumer killed mid-stream and started again: every message is handled at least once
/// (and what else the fixture's source promises holds).
pub async fn a_consumer_killed_mid_stream_loses_nothing<F: Fixture>() {
    let fx = ready::<F>().await;
    let label = name::<F>();
    let (dir, mut record) = prepare("jobs", &doc(&fx, "jobs", Case::Crash, &[]));
    let report = with_cleanup(
        async {
            fx.crash_prepare().await;
            let producer = fx.crash_producer(record.distinct.clone()).map(tokio::spawn);
            crash_and_resume(
                label,
                "jobs",
                dir.path(),
                &mut record,
                producer,
                F::CRASH_WAITS,
            )
            .await
        },
        fx.cleanup(),
    )
    .await;
    assert!(report.lines >= MESSAGES);
    fx.crash_check(&record.order);
}
