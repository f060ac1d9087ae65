//! The runtime's contract with handlers and sources: ack on Ok, nack on Err or panic, the
//! runtime goes on, bounded concurrency, shutdown drains; registration and invoke errors.
//!
//! A probe binding registered through the public `Registry` stands in for a source whose
//! acks and nacks can be observed one by one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bindery::binding::{
    BindingParts, InputBinding, InputContext, InvokeRequest, InvokeResponse, OutputBinding,
    Settings,
};
use bindery::registry::{Field, FieldKind};
use bindery::{
    ErrorKind, InputOptions, MetadataMap, Registry, RunStep, RunVerdict, Runtime, Verdict,
};
use tokio::sync::mpsc;

#[path = "suite/mod.rs"]
mod suite;

/// Per component name: the events to feed, the verdicts seen, and (for a probe handing over
/// runs) each step of each run.
struct Feed {
    events: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    verdicts: Arc<Mutex<Vec<Verdict>>>,
    steps: Arc<Mutex<Vec<RunStep>>>,
}

fn feeds() -> &'static Mutex<HashMap<String, Feed>> {
    static FEEDS: OnceLock<Mutex<HashMap<String, Feed>>> = OnceLock::new();
    FEEDS.get_or_init(Default::default)
}

struct Probe {
    name: String,
    fail_init: bool,
    runs: bool,
}

impl Probe {
    /// Hand what is fed over in runs (each what is there when the first arrives), recording
    /// every step of each run as the source sees it, and going on after the stop until the
    /// run is over.
    async fn read_runs(&self, ctx: InputContext) {
        let (mut rx, steps) = {
            let mut f = feeds().lock().unwrap();
            let feed = f.get_mut(&self.name).unwrap();
            (feed.events.take().unwrap(), feed.steps.clone())
        };
        loop {
            let first = tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                ev = rx.recv() => match ev { Some(d) => d, None => break },
            };
            let mut run = vec![(first, MetadataMap::new())];
            while let Ok(d) = rx.try_recv() {
                run.push((d, MetadataMap::new()));
            }
            let mut handed = ctx.sink.start_run(run).await;
            loop {
                let step = handed.next().await;
                steps.lock().unwrap().push(step.clone());
                if matches!(step, RunStep::Done(_)) {
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl InputBinding for Probe {
    async fn read(&self, ctx: InputContext) -> bindery::Result<()> {
        if self.runs {
            self.read_runs(ctx).await;
            return Ok(());
        }
        let (mut rx, verdicts) = {
            let mut f = feeds().lock().unwrap();
            let feed = f.get_mut(&self.name).unwrap();
            (feed.events.take().unwrap(), feed.verdicts.clone())
        };
        // Submit as fast as the sink takes them; record each verdict when it comes.
        let mut waits = Vec::new();
        loop {
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                ev = rx.recv() => match ev {
                    Some(data) => match ctx.sink.submit(data, MetadataMap::new()).await {
                        Ok(p) => {
                            let v = verdicts.clone();
                            waits.push(tokio::spawn(async move { let verdict = p.wait().await; v.lock().unwrap().push(verdict) }));
                        }
                        Err(_) => break,
                    },
                    None => break,
                },
            }
        }
        for w in waits {
            let _ = w.await;
        }
        Ok(())
    }
}

#[async_trait]
impl OutputBinding for Probe {
    async fn init(&self) -> bindery::Result<()> {
        if self.fail_init {
            return Err(bindery::Error::upstream("probe cannot reach its server"));
        }
        Ok(())
    }
    async fn invoke(&self, req: InvokeRequest) -> bindery::Result<InvokeResponse> {
        if req.operation == "panic" {
            panic!("the probe was asked to panic");
        }
        Ok(InvokeResponse {
            data: req.data,
            metadata: req.metadata,
        })
    }
}

fn build_probe(s: &mut Settings) -> bindery::Result<BindingParts> {
    let probe = Arc::new(Probe {
        name: s.name().to_string(),
        fail_init: s.flag("failInit", false),
        runs: s.flag("runs", false),
    });
    let input: Arc<dyn InputBinding> = probe.clone();
    let output: Arc<dyn OutputBinding> = probe;
    let sides = s.direction();
    Ok(BindingParts {
        input: sides.input.then_some(input),
        output: sides.output.then_some(output),
    })
}

const PROBE_FIELDS: &[Field] = &[
    Field::optional("failInit", FieldKind::Bool, "false"),
    Field::optional("runs", FieldKind::Bool, "false"),
];

fn registry() -> Registry {
    suite::harness::registry_with(
        "bindings.probe",
        &["echo", "panic"],
        PROBE_FIELDS,
        build_probe,
    )
}

struct Setup {
    rt: Runtime,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    verdicts: Arc<Mutex<Vec<Verdict>>>,
    steps: Arc<Mutex<Vec<RunStep>>>,
    _dir: tempfile::TempDir,
}

/// A runtime with one probe input named `name` plus the given extra component YAML.
fn setup(name: &str, extra: &str, input: InputOptions) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("probe.yaml"),
        format!("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: bindings.probe\n  version: v1\n{extra}"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("out.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: files\nspec:\n  type: bindings.localstorage\n  version: v1\n  metadata:\n  - name: rootPath\n    value: ROOT\n"
            .replace("ROOT", &dir.path().join("files").display().to_string()),
    )
    .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let verdicts = Arc::new(Mutex::new(Vec::new()));
    let steps = Arc::new(Mutex::new(Vec::new()));
    feeds().lock().unwrap().insert(
        name.to_string(),
        Feed {
            events: Some(rx),
            verdicts: verdicts.clone(),
            steps: steps.clone(),
        },
    );
    let rt = Runtime::builder()
        .resources_path(dir.path())
        .registry(registry())
        .options(bindery::Options {
            input,
            ..Default::default()
        })
        .build()
        .unwrap();
    Setup {
        rt,
        tx,
        verdicts,
        steps,
        _dir: dir,
    }
}

/// Handlers of an input run at most `concurrency` at once, with `queue_capacity` events queued.
fn options(concurrency: usize, queue_capacity: usize) -> InputOptions {
    InputOptions {
        concurrency,
        queue_capacity,
    }
}

impl Setup {
    /// Invoke `op` on `name` with no data and no metadata: the error.
    async fn refused(&self, name: &str, op: &str) -> bindery::Error {
        let done = self
            .rt
            .invoke(name, op, Vec::new(), MetadataMap::new())
            .await;
        done.expect_err("the call fails")
    }

    /// Start, and feed the events 0..n (one byte each).
    async fn start_fed(&self, n: u8) {
        self.rt.start().await.unwrap();
        for i in 0..n {
            self.tx.send(vec![i]).unwrap();
        }
    }

    /// Start, feed `data`, and wait for a verdict on each: the verdicts, and the counters of
    /// the input `name` (delivered, acked, nacked, panicked).
    async fn judged(&self, name: &str, data: &[&str]) -> (Vec<Verdict>, (u64, u64, u64, u64)) {
        self.rt.start().await.unwrap();
        for d in data {
            self.tx.send(d.as_bytes().to_vec()).unwrap();
        }
        let verdicts = wait_for(&self.verdicts, data.len()).await;
        let s = self.rt.input_stats(name).unwrap();
        (verdicts, (s.delivered, s.acked, s.nacked, s.panicked))
    }
}

const ACK: Verdict = Verdict::Ack;

/// The nack of a handler that answered "the handler said no".
fn no() -> Verdict {
    Verdict::Nack("the handler said no".into())
}

/// The nack of a handler that panicked with "the handler blew up".
fn panicked() -> Verdict {
    Verdict::Nack("handler panicked: the handler blew up".into())
}

async fn wait_for(verdicts: &Arc<Mutex<Vec<Verdict>>>, n: usize) -> Vec<Verdict> {
    for _ in 0..500 {
        if verdicts.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    verdicts.lock().unwrap().clone()
}

/// A handler of runs (what the Python and Node layers register) gets a single delivery as a
/// run of one; a failure, a panic and an answer that acks more than it was given are nacks.
#[tokio::test]
async fn a_run_handler_takes_single_events_and_its_failures_panics_and_bad_answers_nack() {
    let s = setup("probe-runs", "", InputOptions::default());
    s.rt.on_runs("probe-runs", |events, _progress| async move {
        assert_eq!(events.len(), 1, "a single delivery is a run of one");
        match events[0].text().as_str() {
            "fail" => bindery::RunVerdict::failed_at(0, "the handler said no"),
            "panic" => panic!("the handler blew up"),
            "overcount" => bindery::RunVerdict::all(2),
            _ => bindery::RunVerdict::all(1),
        }
    })
    .unwrap();
    let data = ["ok-1", "fail", "panic", "overcount", "ok-2"];
    let (verdicts, counts) = s.judged("probe-runs", &data).await;
    let overcount = Verdict::Nack("the handler answered 2 acked of 1 events".into());
    assert_eq!(verdicts, [ACK, no(), panicked(), overcount, ACK]);
    assert_eq!(counts, (5, 2, 3, 1));
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

const RUNS: &str = "  metadata:\n  - name: runs\n    value: \"true\"\n";

/// Feed six events that go over as one run of slow events (50ms each), wait until the source
/// settled two, stop: the source saw each event acked as it completed (not at the end of the
/// run), the handler ended the run after the event in hand, and the source settled that one
/// too before the run's verdict.
async fn run_progress_and_stop(s: Setup, name: &str) {
    for i in 0..6u8 {
        s.tx.send(vec![i]).unwrap();
    }
    s.rt.start().await.unwrap();
    let t = std::time::Instant::now();
    for _ in 0..500 {
        if s.steps.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let two = t.elapsed();
    assert!(
        two < Duration::from_millis(250),
        "the first two events were settled after {two:?}, not as each completed"
    );
    let report = s.rt.shutdown(Duration::from_secs(2)).await.unwrap();
    assert!(report.drained);
    assert_eq!(
        *s.steps.lock().unwrap(),
        [
            RunStep::Acked(0..1),
            RunStep::Acked(1..2),
            RunStep::Acked(2..3),
            RunStep::Done(RunVerdict::stopped_at(3)),
        ]
    );
    let stats = s.rt.input_stats(name).unwrap();
    assert_eq!((stats.delivered, stats.acked, stats.nacked), (3, 3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_handler_s_progress_is_settled_per_event_and_a_stop_ends_the_run_after_the_event_in_hand(
) {
    let s = setup("probe-progress-runs", RUNS, InputOptions::default());
    s.rt.on_runs("probe-progress-runs", |events, progress| async move {
        assert_eq!(events.len(), 6, "the events fed together are one run");
        for i in 0..events.len() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            progress.acked(i + 1);
            if progress.stopping() {
                return RunVerdict::stopped_at(i + 1);
            }
        }
        RunVerdict::all(events.len())
    })
    .unwrap();
    run_progress_and_stop(s, "probe-progress-runs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_given_to_a_handler_of_single_events_is_settled_per_event_and_stops_after_the_event_in_hand(
) {
    let s = setup("probe-progress-one", RUNS, InputOptions::default());
    s.rt.on_event("probe-progress-one", |_| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    })
    .unwrap();
    run_progress_and_stop(s, "probe-progress-one").await;
}

/// A handler that answers fewer acked than it reported keeps the ones it reported acked (its
/// source settled them already); one that panics fails the first event it did not report.
#[tokio::test]
async fn a_run_handler_cannot_take_back_reported_progress() {
    let s = setup("probe-floor", RUNS, InputOptions::default());
    s.rt.on_runs("probe-floor", |events, progress| async move {
        progress.acked(2);
        match events[0].data[..] {
            [0] => RunVerdict::failed_at(0, "changed its mind"),
            _ => panic!("after two"),
        }
    })
    .unwrap();
    s.tx.send(vec![0]).unwrap();
    s.tx.send(vec![0]).unwrap();
    s.tx.send(vec![0]).unwrap();
    s.rt.start().await.unwrap();
    for _ in 0..200 {
        if s.steps.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.tx.send(vec![1]).unwrap();
    s.tx.send(vec![1]).unwrap();
    s.tx.send(vec![1]).unwrap();
    for _ in 0..200 {
        if s.steps.lock().unwrap().len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
    assert_eq!(
        *s.steps.lock().unwrap(),
        [
            RunStep::Acked(0..2),
            RunStep::Done(RunVerdict::failed_at(2, "changed its mind")),
            RunStep::Acked(0..2),
            RunStep::Done(RunVerdict::failed_at(2, "handler panicked: after two")),
        ]
    );
}

#[tokio::test]
async fn handler_errors_and_panics_nack_and_the_runtime_goes_on() {
    let s = setup("probe-verdicts", "", InputOptions::default());
    s.rt.on_event("probe-verdicts", |ev| async move {
        match ev.text().as_str() {
            "fail" => Err("the handler said no".into()),
            "panic" => panic!("the handler blew up"),
            _ => Ok(()),
        }
    })
    .unwrap();
    let data = ["ok-1", "fail", "panic", "ok-2"];
    let (verdicts, counts) = s.judged("probe-verdicts", &data).await;
    assert_eq!(verdicts, [ACK, no(), panicked(), ACK]);
    assert_eq!(counts, (4, 2, 2, 1));
    // Outputs still answer after a handler panicked.
    let resp =
        s.rt.invoke(
            "probe-verdicts",
            "echo",
            b"still here".to_vec(),
            MetadataMap::new(),
        )
        .await
        .unwrap();
    assert_eq!(resp.data, b"still here");
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn shutdown_waits_for_the_in_flight_handler() {
    let s = setup("probe-drain", "", options(1, 8));
    let finished = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(tokio::sync::Notify::new());
    {
        let finished = finished.clone();
        let started = started.clone();
        s.rt.on_event("probe-drain", move |_| {
            let finished = finished.clone();
            let started = started.clone();
            async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .unwrap();
    }
    s.start_fed(3).await;
    started.notified().await;
    let report = s.rt.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(report.drained);
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the in-flight handler finished before shutdown returned"
    );
    // The two events still queued were never handled: they are nacked, so a source redelivers.
    let verdicts = wait_for(&s.verdicts, 3).await;
    assert_eq!(verdicts.len(), 3);
    assert_eq!(
        verdicts.iter().filter(|v| v.is_ack()).count(),
        1,
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&Verdict::Nack(
            "the runtime shut down before the event was handled".into()
        )),
        "{verdicts:?}"
    );
    // And invoke is closed now.
    let err = s.refused("files", "list").await;
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn shutdown_gives_up_at_its_deadline() {
    let s = setup("probe-deadline", "", InputOptions::default());
    let started = Arc::new(tokio::sync::Notify::new());
    let st = started.clone();
    s.rt.on_event("probe-deadline", move |_| {
        let st = st.clone();
        async move {
            st.notify_one();
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
    })
    .unwrap();
    s.rt.start().await.unwrap();
    s.tx.send(b"slow".to_vec()).unwrap();
    started.notified().await;
    let t = std::time::Instant::now();
    let report = s.rt.shutdown(Duration::from_millis(200)).await.unwrap();
    assert!(!report.drained);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let s = setup("probe-concurrency", "", options(3, 4));
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    {
        let (now, max) = (now.clone(), max.clone());
        s.rt.on_event("probe-concurrency", move |_| {
            let (now, max) = (now.clone(), max.clone());
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .unwrap();
    }
    s.start_fed(20).await;
    let verdicts = wait_for(&s.verdicts, 20).await;
    assert_eq!(verdicts.len(), 20);
    assert!(verdicts.iter().all(Verdict::is_ack));
    assert_eq!(max.load(Ordering::SeqCst), 3);
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn one_at_a_time_keeps_order() {
    let s = setup("probe-order", "", InputOptions::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sn = seen.clone();
    s.rt.on_event("probe-order", move |ev| {
        let sn = sn.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(u64::from(10 - ev.data[0] % 10))).await;
            sn.lock().unwrap().push(ev.data[0]);
            Ok(())
        }
    })
    .unwrap();
    s.start_fed(30).await;
    wait_for(&s.verdicts, 30).await;
    assert_eq!(*seen.lock().unwrap(), (0..30).collect::<Vec<u8>>());
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn registration_errors_name_the_input_bindings() {
    let s = setup("probe-names", "", InputOptions::default());
    let err =
        s.rt.on_event("probe-nmaes", |_| async { Ok(()) })
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "probe-nmaes: no input binding named \"probe-nmaes\"; the input bindings are (nearest first): probe-names");

    let err = s.rt.on_event("files", |_| async { Ok(()) }).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.message().starts_with(
            "\"files\" is not an input binding (bindings.localstorage is an output binding only)"
        ),
        "{err}"
    );

    s.rt.on_event("probe-names", |_| async { Ok(()) }).unwrap();
    let err =
        s.rt.on_event("probe-names", |_| async { Ok(()) })
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);

    s.rt.start().await.unwrap();
    let err =
        s.rt.on_event("probe-names", |_| async { Ok(()) })
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(
        s.rt.start().await.unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

/// An input the app declines (a bridge's probe said so) is not started and not reported as
/// unhandled; it then takes no handler, and one with a handler cannot be declined.
#[tokio::test]
async fn a_declined_input_is_not_started_nor_reported_unhandled() {
    let s = setup("probe-declined", "", InputOptions::default());
    s.rt.decline("probe-declined").unwrap();
    let err =
        s.rt.on_event("probe-declined", |_| async { Ok(()) })
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("declined"), "{err}");
    assert_eq!(
        s.rt.decline("no-such").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    s.rt.start().await.unwrap();
    assert!(s.rt.unhandled_inputs().is_empty());
    assert!(s.rt.input_stats("probe-declined").is_none());
    s.tx.send(b"x".to_vec()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(s.verdicts.lock().unwrap().is_empty());
    assert_eq!(
        s.rt.decline("probe-declined").unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();

    let s = setup("probe-taken", "", InputOptions::default());
    s.rt.on_event("probe-taken", |_| async { Ok(()) }).unwrap();
    assert_eq!(
        s.rt.decline("probe-taken").unwrap_err().kind(),
        ErrorKind::InvalidState
    );
}

#[tokio::test]
async fn an_input_without_handler_is_not_started_and_reported() {
    let s = setup("probe-unhandled", "", InputOptions::default());
    s.rt.start().await.unwrap();
    assert_eq!(s.rt.unhandled_inputs(), ["probe-unhandled"]);
    assert!(s.rt.input_stats("probe-unhandled").is_none());
    s.tx.send(b"x".to_vec()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(s.verdicts.lock().unwrap().is_empty());
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn invoke_errors_are_named() {
    let s = setup(
        "probe-invoke",
        "  metadata:\n  - name: direction\n    value: input\n",
        InputOptions::default(),
    );
    let err = s.refused("fils", "get").await;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.message(),
        "no output binding named \"fils\"; the output bindings are (nearest first): files"
    );

    let err = s.refused("files", "read").await;
    assert_eq!(err.kind(), ErrorKind::UnsupportedOperation);
    assert_eq!(err.to_string(), "files (read): bindings.localstorage has no operation \"read\"; its operations are: create, get, list, delete");

    let err = s.refused("files", "lst").await;
    assert!(err.message().contains("(did you mean \"list\"?)"), "{err}");

    let err = s.refused("probe-invoke", "echo").await;
    assert_eq!(err.kind(), ErrorKind::UnsupportedOperation);
    assert!(
        err.message()
            .contains("direction metadata leaves output out"),
        "{err}"
    );
}

#[tokio::test]
async fn a_failing_init_fails_start_unless_ignore_errors() {
    let s = setup(
        "probe-init",
        "  metadata:\n  - name: failInit\n    value: \"true\"\n",
        InputOptions::default(),
    );
    let err = s.rt.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert_eq!(err.component(), Some("probe-init"));

    let s = setup(
        "probe-ignore",
        "  ignoreErrors: true\n  metadata:\n  - name: failInit\n    value: \"true\"\n",
        InputOptions::default(),
    );
    s.rt.start().await.unwrap();
    let err = s.refused("probe-ignore", "echo").await;
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(err.to_string().contains("probe cannot reach its server"));
    // The other outputs work.
    s.rt.invoke("files", "list", Vec::new(), MetadataMap::new())
        .await
        .unwrap();
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[test]
fn error_codes_are_stable() {
    let codes: Vec<(i32, &str)> = ErrorKind::ALL
        .iter()
        .map(|k| (k.code(), k.name()))
        .collect();
    assert_eq!(
        codes,
        [
            (1, "invalid_config"),
            (2, "not_found"),
            (3, "unsupported_operation"),
            (4, "invalid_argument"),
            (5, "timeout"),
            (6, "circuit_open"),
            (7, "upstream"),
            (8, "closed"),
            (9, "internal"),
            (10, "invalid_state"),
            (11, "handler_failed"),
        ]
    );
    assert_eq!(ErrorKind::from_code(7), ErrorKind::Upstream);
    assert_eq!(ErrorKind::from_code(999), ErrorKind::Internal);
}

/// A handler's `Reject` is a verdict of its own, beside ack and nack: the source is told not to
/// redeliver the event, and it is counted as rejected (not nacked).
#[tokio::test]
async fn a_reject_from_a_handler_is_its_own_verdict_and_counted_as_rejected() {
    let s = setup("probe-reject", "", InputOptions::default());
    s.rt.on_event("probe-reject", |ev| async move {
        match ev.text().as_str() {
            "bad" => Err(bindery::Reject::new("not an order").into()),
            "fail" => Err("the handler said no".into()),
            _ => Ok(()),
        }
    })
    .unwrap();
    s.rt.start().await.unwrap();
    for data in ["ok-1", "bad", "fail", "ok-2"] {
        s.tx.send(data.as_bytes().to_vec()).unwrap();
    }
    let verdicts = wait_for(&s.verdicts, 4).await;
    assert_eq!(
        verdicts,
        [
            Verdict::Ack,
            Verdict::Reject("not an order".into()),
            Verdict::Nack("the handler said no".into()),
            Verdict::Ack,
        ]
    );
    let stats = s.rt.input_stats("probe-reject").unwrap();
    assert_eq!(
        (
            stats.delivered,
            stats.acked,
            stats.nacked,
            stats.rejected,
            stats.panicked
        ),
        (4, 2, 1, 1, 0)
    );
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

/// A handler of runs rejects the event it stops at with `RunVerdict::rejected_at`.
#[tokio::test]
async fn a_run_handler_rejects_with_rejected_at() {
    let s = setup("probe-reject-runs", "", InputOptions::default());
    s.rt.on_runs("probe-reject-runs", |events, _progress| async move {
        match events[0].text().as_str() {
            "bad" => RunVerdict::rejected_at(0, "not an order"),
            _ => RunVerdict::all(1),
        }
    })
    .unwrap();
    s.rt.start().await.unwrap();
    for data in ["ok-1", "bad", "ok-2"] {
        s.tx.send(data.as_bytes().to_vec()).unwrap();
    }
    let verdicts = wait_for(&s.verdicts, 3).await;
    assert_eq!(
        verdicts,
        [
            Verdict::Ack,
            Verdict::Reject("not an order".into()),
            Verdict::Ack
        ]
    );
    let stats = s.rt.input_stats("probe-reject-runs").unwrap();
    assert_eq!(
        (stats.delivered, stats.acked, stats.nacked, stats.rejected),
        (3, 2, 0, 1)
    );
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

/// A run handed to a handler of single events ends at the event it rejects: the source sees
/// the events before it acked and that one rejected, and settles the rest later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_ends_at_a_rejected_event_and_says_so() {
    let s = setup("probe-reject-run", RUNS, InputOptions::default());
    s.rt.on_event("probe-reject-run", |ev| async move {
        match ev.data[..] {
            [2] => Err(bindery::Reject::new("two is not welcome").into()),
            _ => Ok(()),
        }
    })
    .unwrap();
    for i in 0..4u8 {
        s.tx.send(vec![i]).unwrap();
    }
    s.rt.start().await.unwrap();
    for _ in 0..500 {
        if matches!(s.steps.lock().unwrap().last(), Some(RunStep::Done(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
    let steps = s.steps.lock().unwrap().clone();
    let acked: Vec<usize> = steps
        .iter()
        .filter_map(|s| match s {
            RunStep::Acked(r) => Some(r.clone()),
            RunStep::Done(_) => None,
        })
        .flatten()
        .collect();
    assert_eq!(acked, [0, 1], "{steps:?}");
    assert_eq!(
        steps.last(),
        Some(&RunStep::Done(RunVerdict::rejected_at(
            2,
            "two is not welcome"
        )))
    );
    let stats = s.rt.input_stats("probe-reject-run").unwrap();
    assert_eq!(
        (stats.delivered, stats.acked, stats.nacked, stats.rejected),
        (3, 2, 0, 1)
    );
}

/// The old names of `on_runs` and `RunVerdict` still work (deprecated).
#[tokio::test]
#[allow(deprecated)]
async fn the_old_run_names_still_work() {
    let s = setup("probe-old-names", "", InputOptions::default());
    s.rt.on_events_in_order("probe-old-names", |events, _progress| async move {
        bindery::BatchVerdict::all(events.len())
    })
    .unwrap();
    s.rt.start().await.unwrap();
    s.tx.send(b"ok".to_vec()).unwrap();
    assert_eq!(wait_for(&s.verdicts, 1).await, [Verdict::Ack]);
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

/// A binding that panics in `invoke` answers an `Internal` error that says so, and the
/// runtime (and the binding's other operations) go on.
#[tokio::test]
async fn a_binding_that_panics_in_invoke_answers_internal() {
    let s = setup("probe-panic", "", InputOptions::default());
    s.rt.start().await.unwrap();
    let err =
        s.rt.invoke("probe-panic", "panic", Vec::new(), MetadataMap::new())
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(
        err.to_string(),
        "probe-panic (panic): the binding panicked: the probe was asked to panic"
    );
    let resp =
        s.rt.invoke("probe-panic", "echo", b"after".to_vec(), MetadataMap::new())
            .await
            .unwrap();
    assert_eq!(resp.data, b"after");
    s.rt.shutdown(Duration::from_secs(1)).await.unwrap();
}
