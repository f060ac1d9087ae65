//! Scenarios of the input side: an event reaches its handler (Dapr's conformance step), and
//! bindery's delivery promises: a nack comes again (in order, or aside), a run resumes at a
//! failure, a stop keeps what was not handled for the next runtime and settles what was, and
//! a restart of the server loses nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use bindery::{ErrorKind, MetadataMap, Runtime};
use tokio::sync::mpsc;

use super::{folder, ready, yaml, Case, Fixture};
use crate::suite::fixture::{fields, Input, MadeBy};
use crate::suite::harness::{self, collect, components, counts, Dir};
use crate::suite::tls_proxy;

/// The component name of the input scenarios.
const JOBS: &str = "jobs";

fn input<F: Fixture>() -> Input {
    F::caps().input.expect("an input")
}

/// The operation that makes an event.
fn maker<F: Fixture>() -> &'static str {
    match input::<F>().made_by {
        MadeBy::Operation(op) => op,
        MadeBy::Itself(_) => panic!("{} makes its own events", F::TYPE),
    }
}

/// Make an event with each text through `rt`'s output `name`.
async fn make<F: Fixture>(rt: &Runtime, name: &str, texts: impl IntoIterator<Item = String>) {
    for text in texts {
        rt.invoke(name, maker::<F>(), text.into_bytes(), MetadataMap::new())
            .await
            .unwrap_or_else(|e| panic!("making an event: {e}"));
    }
}

/// m0..m{n-1}.
fn numbered(prefix: &str, n: usize) -> impl Iterator<Item = String> + '_ {
    (0..n).map(move |i| format!("{prefix}{i}"))
}

/// Wait until `seen` holds `n` texts.
async fn until_seen<F: Fixture>(seen: &std::sync::Mutex<Vec<String>>, n: usize) {
    tokio::time::timeout(F::WAIT, async {
        while seen.lock().unwrap().len() < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("seen: {:?}", seen.lock().unwrap()));
}

/// Once `seen` holds `n` texts and a moment passed (for a stray duplicate to show up, if
/// there were one), stop `rt`: what it saw.
async fn seen_then_stop<F: Fixture>(
    rt: &Runtime,
    seen: &std::sync::Mutex<Vec<String>>,
    n: usize,
) -> Vec<String> {
    until_seen::<F>(seen, n).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    seen
}

/// `seen` holds each of `total` events once, but `failed` three times.
fn failed_one_came_thrice(seen: &[String], total: usize, failed: &str) {
    let n = counts(seen);
    assert_eq!(n.len(), total, "{seen:?}");
    assert_eq!(n[failed], 3, "{seen:?}");
    assert_eq!(
        n.values().filter(|c| **c == 1).count(),
        total - 1,
        "{seen:?}"
    );
}

/// A new runtime over `dir` gets, as its first event, one made after it started: the runtimes
/// before left nothing unacked at the source.
async fn only_a_new_event_arrives<F: Fixture>(dir: &Dir) {
    let rt = harness::runtime(dir);
    let mut rx = collect(&rt, JOBS);
    rt.start().await.unwrap();
    make::<F>(&rt, JOBS, ["after".to_string()]).await;
    let first = harness::next_within(&mut rx, F::WAIT).await;
    assert_eq!(first.text(), "after", "the source still held an event");
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// Create, then the input fires within the deadline (Dapr's conformance step), with the data
/// unchanged; the event is acked.
pub async fn an_event_reaches_the_handler_within_the_deadline<F: Fixture>() {
    let fx = ready::<F>().await;
    let dir = folder(&fx, JOBS, Case::Plain);
    let rt = harness::runtime(&dir);
    let mut rx = collect(&rt, JOBS);
    rt.start().await.unwrap();
    let data: &[u8] = match input::<F>().made_by {
        MadeBy::Operation(op) => {
            let data: &[u8] = if input::<F>().text_only {
                "hello \u{2713}".as_bytes()
            } else {
                b"hello \x00\xff"
            };
            let resp = rt
                .invoke(JOBS, op, data.to_vec(), MetadataMap::new())
                .await
                .unwrap();
            assert!(resp.data.is_empty() && resp.metadata.is_empty());
            data
        }
        MadeBy::Itself(data) => data,
    };
    let ev = harness::next_within(&mut rx, F::WAIT).await;
    assert_eq!(ev.binding, JOBS);
    assert_eq!(ev.data, data);
    fx.check_event(&ev);
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
    assert!(rt.input_stats(JOBS).unwrap().acked >= 1);
    fx.cleanup().await;
}

/// A handler that fails the first two deliveries of m0 sees it a third time, then every later
/// event once, in order; nothing is left at the source. With `retries` 5 the binding retries
/// in process; with 0 each failure goes back to the source, which delivers it again.
pub async fn nack_in_order<F: Fixture>(retries: &'static str) {
    let fx = ready::<F>().await;
    let dir = folder(&fx, JOBS, Case::InOrder(retries));
    let rt = harness::runtime(&dir);
    let (seen, mut done) = harness::fail_m0_twice(&rt, JOBS);
    rt.start().await.unwrap();
    make::<F>(&rt, JOBS, numbered("m", 10)).await;
    tokio::time::timeout(F::WAIT, done.recv()).await.unwrap();
    // A moment for a stray duplicate to show up, if there were one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
    let mut want = vec!["m0".to_string(), "m0".to_string()];
    want.extend(numbered("m", 10));
    assert_eq!(*seen.lock().unwrap(), want);
    only_a_new_event_arrives::<F>(&dir).await;
    fx.cleanup().await;
}

/// A handler of runs (what the Python and Node layers register) gets the events the source
/// has ready in runs; one it fails on is retried alone and nothing after it is lost or
/// reordered (`harness::check_runs_resume_at_a_failure`).
pub async fn runs_in_order<F: Fixture>(retries: &'static str) {
    let fx = ready::<F>().await;
    let dir = folder(&fx, JOBS, Case::InOrder(retries));
    fx.before_producing(&dir).await;
    // Made before the consumer starts, so that they are ready together.
    harness::produce_numbered(&dir, JOBS, maker::<F>(), 20).await;
    let stats = harness::check_runs_resume_at_a_failure(&dir, JOBS, F::WAIT).await;
    assert_eq!(
        (stats.delivered, stats.acked, stats.nacked),
        (22, 20, 2),
        "{stats:?}"
    );
    only_a_new_event_arrives::<F>(&dir).await;
    fx.cleanup().await;
}

/// A message the handler fails on (m0, twice) waits out its back-off aside (retried in
/// process, or given back to the source when no retry is left) while the ones after it go
/// on: each is handled once, m0 a third time after m9; nothing is left at the source.
pub async fn nack_aside<F: Fixture>(retries: &'static str) {
    let fx = ready::<F>().await;
    let dir = folder(&fx, JOBS, Case::Aside(retries));
    let rt = harness::runtime(&dir);
    let (seen, _done) = harness::fail_m0_twice(&rt, JOBS);
    rt.start().await.unwrap();
    make::<F>(&rt, JOBS, numbered("m", 10)).await;
    let seen = seen_then_stop::<F>(&rt, &seen, 12).await;
    failed_one_came_thrice(&seen, 10, "m0");
    let second_m0 = seen.iter().skip(1).position(|t| t == "m0").unwrap() + 1;
    let m9 = seen.iter().position(|t| t == "m9").unwrap();
    assert!(m9 < second_m0, "the rest did not wait for m0: {seen:?}");
    only_a_new_event_arrives::<F>(&dir).await;
    fx.cleanup().await;
}

/// A handler of runs gets the events already received in one run; one it fails on (m5) is
/// set aside for its back-off and the rest go on; nothing is lost.
pub async fn runs_aside<F: Fixture>(retries: &'static str) {
    let fx = ready::<F>().await;
    let dir = folder(&fx, JOBS, Case::AsideRuns(retries));
    // Queued before the consumer starts, so that they arrive together.
    harness::produce_numbered(&dir, JOBS, maker::<F>(), 20).await;
    let rt = harness::runtime(&dir);
    let (seen, runs, _done) = harness::fail_m5_twice_in_runs(&rt, JOBS);
    rt.start().await.unwrap();
    let seen = seen_then_stop::<F>(&rt, &seen, 22).await;
    failed_one_came_thrice(&seen, 20, "m5");
    let m19 = seen.iter().position(|t| t == "m19").unwrap();
    assert!(
        m19 < seen.len() - 2,
        "the rest did not wait for m5: {seen:?}"
    );
    let runs = runs.lock().unwrap().clone();
    assert!(
        runs.iter().any(|n| *n > 1),
        "ready events came in runs: {runs:?}"
    );
    only_a_new_event_arrives::<F>(&dir).await;
    fx.cleanup().await;
}

/// Register a handler on `name` that signals each event, and after `takes` acks it (or, with
/// `fails`, nacks it).
fn signalling(
    rt: &Runtime,
    name: &str,
    takes: Duration,
    fails: bool,
) -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel::<()>();
    rt.on_event(name, move |_ev| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(());
            tokio::time::sleep(takes).await;
            if fails {
                return Err("not now".into());
            }
            Ok(())
        }
    })
    .unwrap();
    rx
}

/// A new runtime over `dir` gets `want`, in order, and nothing more.
async fn the_next_runtime_gets<F: Fixture>(dir: &Dir, want: &[String]) {
    let rt = harness::runtime(dir);
    let mut rx = collect(&rt, JOBS);
    rt.start().await.unwrap();
    let mut got = Vec::new();
    while got.len() < want.len() {
        got.push(harness::next_within(&mut rx, F::WAIT).await.text());
    }
    assert_eq!(got, want);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "nothing more");
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// A runtime whose handler fails every event stops: nothing was acked, so the next runtime
/// over the same component gets every event, in order.
pub async fn nacked_events_come_again_to_the_next_runtime<F: Fixture>() {
    let fx = ready::<F>().await;
    let dir = folder(&fx, JOBS, Case::Plain);
    let rt = harness::runtime(&dir);
    let mut failed = signalling(&rt, JOBS, Duration::ZERO, true);
    rt.start().await.unwrap();
    make::<F>(&rt, JOBS, numbered("p", 3)).await;
    tokio::time::timeout(F::WAIT, failed.recv()).await.unwrap();
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    the_next_runtime_gets::<F>(&dir, &numbered("p", 3).collect::<Vec<_>>()).await;
    fx.cleanup().await;
}

/// Shutting down with events not yet handled settles what was handled and nothing more: the
/// next runtime gets exactly the rest, in order.
pub async fn shutdown_leaves_unhandled_events_for_redelivery<F: Fixture>() {
    let fx = ready::<F>().await;
    let dir = folder(&fx, JOBS, Case::Shutdown);
    let rt = harness::runtime(&dir);
    let mut first = signalling(&rt, JOBS, Duration::from_millis(200), false);
    rt.start().await.unwrap();
    make::<F>(&rt, JOBS, numbered("s", 5)).await;
    tokio::time::timeout(F::WAIT, first.recv()).await.unwrap();
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
    let handled = rt.input_stats(JOBS).unwrap().acked as usize;
    assert!((1..5).contains(&handled), "{handled}");
    let rest: Vec<String> = (handled..5).map(|i| format!("s{i}")).collect();
    the_next_runtime_gets::<F>(&dir, &rest).await;
    fx.cleanup().await;
}

/// A stop with a short deadline in the middle of a run (`harness::stop_mid_run`): every
/// event handled before it was settled at the source, so a new runtime gets only the rest.
pub async fn stop_mid_run<F: Fixture>(in_runs: bool) {
    let fx = ready::<F>().await;
    let dir = folder(&fx, JOBS, Case::Plain);
    fx.before_producing(&dir).await;
    harness::produce_numbered(&dir, JOBS, maker::<F>(), 60).await;
    harness::stop_mid_run(&dir, JOBS, in_runs, F::WAIT).await;
    only_a_new_event_arrives::<F>(&dir).await;
    fx.cleanup().await;
}

/// Starts the server again when dropped, whatever happened meanwhile.
struct StartAgain(fn());

impl Drop for StartAgain {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// Stop the server and start it again while events flow: a call while it is down fails
/// clearly, the output reconnects by itself, the input reconnects and resumes, and nothing
/// is lost.
pub async fn a_server_restart_loses_nothing<F: Fixture>() {
    let restart = F::caps().restart.expect("a restart");
    if let Some(why) = (restart.unavailable)() {
        eprintln!("{why}; skipped");
        return;
    }
    let fx = ready::<F>().await;
    let rt = harness::runtime(&folder(&fx, JOBS, Case::Restart));
    // A slow handler, so that events are queued and in flight when the server stops.
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.on_event(JOBS, move |ev| {
        let tx = tx.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(ev.text());
            Ok(())
        }
    })
    .unwrap();
    rt.start().await.unwrap();
    make::<F>(&rt, JOBS, numbered("r", 20)).await;
    {
        let _start_again = StartAgain(restart.start);
        (restart.stop)();
        let e = rt
            .invoke(JOBS, maker::<F>(), b"lost".to_vec(), MetadataMap::new())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Upstream, "{e}");
    }
    if let Some(server) = F::SERVER {
        server.reach();
    }
    // Once it is back, making events reconnects by itself.
    for text in (20..30).map(|i| format!("r{i}")) {
        let mut tries = 0;
        while let Err(e) = rt
            .invoke(
                JOBS,
                maker::<F>(),
                text.clone().into_bytes(),
                MetadataMap::new(),
            )
            .await
        {
            tries += 1;
            assert!(tries < 30, "making events never recovered: {e}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let want: BTreeSet<String> = numbered("r", 30).collect();
    let mut got = BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while got.len() < want.len() {
            got.insert(rx.recv().await.unwrap());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {got:?} of {} arrived", want.len()));
    assert_eq!(got, want);
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    fx.cleanup().await;
}

/// TLS with `caCert` (PEM text), `clientCert` and `clientKey` (PEM files), through a TLS
/// front that requires the client certificate; without the certificate, or without the CA,
/// connecting fails clearly.
pub async fn tls_with_a_client_certificate<F: Fixture>() {
    let proxy = F::caps().tls_proxy.expect("TLS");
    let fx = ready::<F>().await;
    let (port, pki) = tls_proxy::start(proxy.upstream, true).await;
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (
        files.path().join("client.pem"),
        files.path().join("client.key"),
    );
    std::fs::write(&cert, &pki.client.cert_pem).unwrap();
    std::fs::write(&key, &pki.client.key_pem).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let ca = pki.ca.cert_pem.as_str();
    let secure = |certs: &[(&str, &str)], direction: Option<&str>| {
        let mut all = fx.tls_target(port);
        all.extend(fields(certs));
        all.extend(direction.map(|d| ("direction".to_string(), d.to_string())));
        components(&[yaml::<F>("secure", &all)])
    };
    let both = [("caCert", ca), ("clientCert", cert), ("clientKey", key)];
    let rt = harness::runtime(&secure(&both, None));
    let mut rx = collect(&rt, "secure");
    rt.start().await.unwrap();
    make::<F>(&rt, "secure", ["sealed".to_string()]).await;
    let ev = harness::next_within(&mut rx, F::WAIT).await;
    assert_eq!(ev.text(), "sealed");
    fx.check_event(&ev);
    rt.shutdown(Duration::from_secs(5)).await.unwrap();

    for (what, certs) in [
        ("no client certificate", &both[..1]),
        ("no caCert", &both[1..]),
    ] {
        let rt = harness::runtime(&secure(certs, Some("output")));
        let e = rt
            .invoke("secure", maker::<F>(), b"x".to_vec(), MetadataMap::new())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Upstream, "{what}: {e}");
        let says = format!("{}:{port}", proxy.says);
        assert!(e.to_string().contains(&says), "{what}: {e}");
    }
    fx.cleanup().await;
}
