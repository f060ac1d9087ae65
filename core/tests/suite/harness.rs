//! What the tests share: component files in a temporary folder, a runtime over them, a
//! handler that forwards every event to a channel and acks it, the redelivery handlers, and
//! the test TLS files.

use std::time::Duration;

use bindery::{Event, Runtime};
use tokio::sync::mpsc;

/// A component document of `type_name` named `name` with `fields` (multi-line values, such
/// as PEM text, become block scalars).
pub fn component_yaml(type_name: &str, name: &str, fields: &[(&str, &str)]) -> String {
    let mut s = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {type_name}\n  version: v1\n  metadata:\n"
    );
    for (k, v) in fields {
        if v.contains('\n') {
            s.push_str(&format!("  - name: {k}\n    value: |\n"));
            for line in v.lines() {
                s.push_str(&format!("      {line}\n"));
            }
        } else {
            s.push_str(&format!("  - name: {k}\n    value: \"{v}\"\n"));
        }
    }
    s
}

/// A folder of component files, removed when dropped.
pub struct Dir(pub tempfile::TempDir);

/// Write each document to its own file in a new folder.
pub fn components(docs: &[String]) -> Dir {
    let dir = tempfile::tempdir().unwrap();
    for (i, d) in docs.iter().enumerate() {
        std::fs::write(dir.path().join(format!("c{i}.yaml")), d).unwrap();
    }
    Dir(dir)
}

/// A runtime over the folder; a validation failure panics with every diagnostic.
pub fn runtime(dir: &Dir) -> Runtime {
    Runtime::from_path(dir.0.path()).unwrap_or_else(|e| panic!("{e}: {:#?}", e.diagnostics()))
}

/// What the runtime's diagnostics say, in order.
pub fn said(rt: &Runtime) -> Vec<String> {
    rt.diagnostics().iter().map(|d| d.message.clone()).collect()
}

/// A folder holding one component of `type_name` named `name`, and its path.
pub fn one_component(
    type_name: &str,
    name: &str,
    fields: &[(&str, &str)],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let Dir(dir) = components(&[component_yaml(type_name, name, fields)]);
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// A runtime over a folder holding one component of `type_name` named `name`.
pub fn one_runtime(
    type_name: &str,
    name: &str,
    fields: &[(&str, &str)],
) -> (tempfile::TempDir, Runtime) {
    let (dir, path) = one_component(type_name, name, fields);
    let rt = Runtime::from_path(path).expect("the component is valid");
    (dir, rt)
}

/// Request metadata from pairs.
pub fn meta(pairs: &[(&str, &str)]) -> bindery::MetadataMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A port on 127.0.0.1 that nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// How often each text was seen.
pub fn counts(seen: &[String]) -> std::collections::HashMap<String, usize> {
    let mut n = std::collections::HashMap::new();
    for t in seen {
        *n.entry(t.clone()).or_insert(0) += 1;
    }
    n
}

/// `create` `data` with request metadata `md` through `rt`'s output `name`, which must
/// succeed.
pub async fn create(
    rt: &Runtime,
    name: &str,
    data: impl Into<Vec<u8>>,
    md: &[(&str, &str)],
) -> bindery::InvokeResponse {
    rt.invoke(name, "create", data.into(), meta(md))
        .await
        .unwrap_or_else(|e| panic!("create on {name}: {e}"))
}

/// Register a handler that forwards every event and acks it.
pub fn collect(rt: &Runtime, name: &str) -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    rt.on_event(name, move |ev| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ev);
            Ok(())
        }
    })
    .unwrap();
    rx
}

/// How long the tests wait for an event before they fail.
pub const WAIT: Duration = Duration::from_secs(60);

/// Register a handler on `name` in each runtime that forwards every event, with the
/// runtime's letter, and acks it.
pub fn collect_each(
    runtimes: &[(char, &Runtime)],
    name: &str,
) -> mpsc::UnboundedReceiver<(char, Event)> {
    let (tx, rx) = mpsc::unbounded_channel();
    for (who, rt) in runtimes {
        let (tx, who) = (tx.clone(), *who);
        rt.on_event(name, move |ev| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((who, ev));
                Ok(())
            }
        })
        .unwrap();
    }
    rx
}

/// The next event, or a panic after [`WAIT`].
pub async fn next(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    next_within(rx, WAIT).await
}

/// The next event, or a panic after `wait`.
pub async fn next_within(rx: &mut mpsc::UnboundedReceiver<Event>, wait: Duration) -> Event {
    tokio::time::timeout(wait, rx.recv())
        .await
        .expect("an event within the wait")
        .expect("the channel is open")
}

/// Add `text` to `seen`: how often it was seen, this time included.
pub fn seen_again(seen: &std::sync::Mutex<Vec<String>>, text: &str) -> usize {
    let mut s = seen.lock().unwrap();
    s.push(text.to_string());
    s.iter().filter(|t| *t == text).count()
}

/// Register a handler on `name` that records each event's text, fails the first two
/// deliveries of `m0`, and signals once `m9` is handled: the redelivery scenario every broker
/// test runs. Returns what it saw, in order, and the signal.
pub fn fail_m0_twice(
    rt: &Runtime,
    name: &str,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    mpsc::UnboundedReceiver<()>,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (done_tx, done) = mpsc::unbounded_channel::<()>();
    let record = seen.clone();
    rt.on_event(name, move |ev| {
        let seen = record.clone();
        let done_tx = done_tx.clone();
        async move {
            let text = ev.text();
            let count = seen_again(&seen, &text);
            if text == "m0" && count <= 2 {
                return Err(format!("failure {count} of m0").into());
            }
            if text == "m9" {
                let _ = done_tx.send(());
            }
            Ok(())
        }
    })
    .unwrap();
    (seen, done)
}

/// Register a handler of runs (`on_runs`, what the Python and Node layers use) on
/// `name` that records each event's text and each run's size, fails `m5` the first two times
/// it sees it (as the event of the run it is at), and signals once `m19` is handled: the
/// redelivery scenario for sources that hand over runs. Returns what it saw, in order, the run
/// sizes, and the signal.
#[allow(clippy::type_complexity)]
pub fn fail_m5_twice_in_runs(
    rt: &Runtime,
    name: &str,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
    mpsc::UnboundedReceiver<()>,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let runs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let (done_tx, done) = mpsc::unbounded_channel::<()>();
    let (record, sizes) = (seen.clone(), runs.clone());
    rt.on_runs(name, move |events, progress| {
        let (seen, runs, done_tx) = (record.clone(), sizes.clone(), done_tx.clone());
        async move {
            runs.lock().unwrap().push(events.len());
            for (i, ev) in events.iter().enumerate() {
                if i > 0 {
                    progress.acked(i);
                }
                let text = ev.text();
                let count = seen_again(&seen, &text);
                if text == "m5" && count <= 2 {
                    return bindery::RunVerdict::failed_at(i, format!("failure {count} of m5"));
                }
                if text == "m19" {
                    let _ = done_tx.send(());
                }
            }
            bindery::RunVerdict::all(events.len())
        }
    })
    .unwrap();
    (seen, runs, done)
}

/// Send m0..m{n-1} with `op` through the output side of `name`, from a runtime of its own
/// over `dir` that is never started (so nothing consumes them there).
pub async fn produce_numbered(dir: &Dir, name: &str, op: &str, n: usize) {
    let producer = Runtime::builder()
        .resources_path(dir.0.path())
        .only([name])
        .build()
        .unwrap();
    for i in 0..n {
        producer
            .invoke(
                name,
                op,
                format!("m{i}").into_bytes(),
                bindery::MetadataMap::new(),
            )
            .await
            .unwrap();
    }
    producer.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// The scenario for sources that hand over runs, once m0..m19 wait at the source: a runtime
/// over `dir` with `fail_m5_twice_in_runs` on `name` sees m5 twice more and nothing lost or
/// reordered, and got some of them in runs of more than one. Returns its counters, read
/// before it stopped.
pub async fn check_runs_resume_at_a_failure(
    dir: &Dir,
    name: &str,
    wait: Duration,
) -> bindery::InputStats {
    let rt = runtime(dir);
    let (seen, runs, mut done) = fail_m5_twice_in_runs(&rt, name);
    rt.start().await.unwrap();
    tokio::time::timeout(wait, done.recv()).await.unwrap();
    // A moment for a stray duplicate to show up, if there were one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = rt.input_stats(name).unwrap();
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), m5_failed_twice());
    let runs = runs.lock().unwrap().clone();
    assert!(
        runs.iter().any(|n| *n > 1),
        "ready events came in runs: {runs:?}"
    );
    stats
}

/// What `fail_m5_twice_in_runs` sees when nothing is lost or reordered: m0..m5, m5 twice more,
/// then m6..m19.
pub fn m5_failed_twice() -> Vec<String> {
    let mut want: Vec<String> = (0..6).map(|i| format!("m{i}")).collect();
    want.push("m5".into());
    want.extend((5..20).map(|i| format!("m{i}")));
    want
}

/// The folder of the test CA and certificates `tests/servers/start` makes (`ca.crt`,
/// `server.crt`, `client.crt`, `client.key`): `$BINDERY_TLS_DIR`, else
/// `~/.cache/bindery/tls`.
pub fn tls_dir() -> std::path::PathBuf {
    match std::env::var_os("BINDERY_TLS_DIR") {
        Some(d) => d.into(),
        None => std::path::Path::new(&std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/bindery/tls"),
    }
}

/// A file of the test TLS folder, as a string path.
pub fn tls_file(name: &str) -> String {
    let p = tls_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run tests/servers/start",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

/// A PEM file holding a CA that signed nothing the test servers use: trusting only it, a
/// client must refuse them.
pub fn other_ca_file() -> tempfile::NamedTempFile {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "some other CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), cert.pem()).unwrap();
    file
}

/// Start `rt`, which must fail with `kind`, its text saying each of `says`: the error.
pub async fn start_fails(rt: &Runtime, kind: bindery::ErrorKind, says: &[&str]) -> bindery::Error {
    let err = rt.start().await.expect_err("the start fails");
    let text = err.to_string();
    assert_eq!(err.kind(), kind, "{text}");
    for s in says {
        assert!(text.contains(s), "{text}");
    }
    err
}

/// Check the error of a start that met a server certificate from a CA it does not trust: it
/// names the component, stays so (not retryable), says `UnknownIssuer` and what that means,
/// and the setting `hint` that fixes it. Its text.
pub fn untrusted(err: &bindery::Error, component: &str, hint: &str) -> String {
    let text = err.to_string();
    assert_eq!(err.kind(), bindery::ErrorKind::Upstream, "{text}");
    assert_eq!(err.component(), Some(component));
    assert!(
        !err.is_retryable(),
        "an untrusted certificate stays untrusted: {text}"
    );
    assert!(text.contains("UnknownIssuer"), "{text}");
    let says = "TLS: the server's certificate is not signed by a trusted CA";
    assert!(text.contains(says) && text.contains(hint), "{text}");
    eprintln!("untrusted: {text}");
    text
}

/// How long the handlers of `stop_mid_run` take on an event: m0 long enough for the rest to
/// arrive meanwhile (so that they come as one run), m20 (in hand at the stop) longer than the
/// stop's deadline.
fn slow(text: &str) -> Duration {
    match text {
        "m0" => Duration::from_millis(300),
        "m20" => Duration::from_secs(1),
        _ => Duration::from_millis(10),
    }
}

/// Once m0..m59 wait at the source of `name`: consume them with a slow handler (of runs
/// reporting its progress, or of single events), stop with a deadline of 50ms once m0..m19
/// are handled and while m20 is in hand, then consume the rest with a new runtime over
/// `dir`. Every event handled before the stop was settled at the source as it completed, so
/// the new runtime gets none of them again: it starts at m20, and nothing is lost.
pub async fn stop_mid_run(dir: &Dir, name: &str, in_runs: bool, wait: Duration) {
    use std::sync::{Arc, Mutex};
    let rt = runtime(dir);
    let handled = Arc::new(Mutex::new(Vec::<String>::new()));
    let sizes = Arc::new(Mutex::new(Vec::<usize>::new()));
    if in_runs {
        let (handled, sizes) = (handled.clone(), sizes.clone());
        rt.on_runs(name, move |events, progress| {
            let (handled, sizes) = (handled.clone(), sizes.clone());
            async move {
                sizes.lock().unwrap().push(events.len());
                for (i, ev) in events.iter().enumerate() {
                    tokio::time::sleep(slow(&ev.text())).await;
                    handled.lock().unwrap().push(ev.text());
                    progress.acked(i + 1);
                    if progress.stopping() {
                        return bindery::RunVerdict::stopped_at(i + 1);
                    }
                }
                bindery::RunVerdict::all(events.len())
            }
        })
        .unwrap();
    } else {
        let handled = handled.clone();
        rt.on_event(name, move |ev| {
            let handled = handled.clone();
            async move {
                tokio::time::sleep(slow(&ev.text())).await;
                handled.lock().unwrap().push(ev.text());
                Ok(())
            }
        })
        .unwrap();
    }
    rt.start().await.unwrap();
    tokio::time::timeout(wait, async {
        while handled.lock().unwrap().len() < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let before_stop = handled.lock().unwrap().clone();
    let want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(before_stop, want);
    rt.shutdown(Duration::from_millis(50)).await.unwrap();

    let rt = runtime(dir);
    let mut rx = collect(&rt, name);
    rt.start().await.unwrap();
    let mut after = Vec::new();
    let all: std::collections::HashSet<String> = (0..60).map(|i| format!("m{i}")).collect();
    loop {
        let got: std::collections::HashSet<String> =
            before_stop.iter().chain(after.iter()).cloned().collect();
        if got == all {
            break;
        }
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(ev)) => after.push(ev.text()),
            _ => panic!("missing after the restart: {:?}", all.difference(&got)),
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(ev) = rx.try_recv() {
        after.push(ev.text());
    }
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    let again: Vec<&String> = before_stop.iter().filter(|t| after.contains(t)).collect();
    assert!(
        again.is_empty(),
        "handled before the stop and again after it: {again:?} (runs: {:?})",
        sizes.lock().unwrap()
    );
    assert_eq!(after.first().map(String::as_str), Some("m20"), "{after:?}");
}

/// Register a handler on `name` (of runs when `in_runs`, else of single events) that rejects
/// `m3` and `m7` (`Reject`), fails `m5` the first time it sees it, and acks the rest; each
/// event's text goes to the returned channel as it is handled. The scenario of a reject beside
/// a nack.
pub fn reject_m3_m7_fail_m5_once(
    rt: &Runtime,
    name: &str,
    in_runs: bool,
) -> mpsc::UnboundedReceiver<String> {
    use std::sync::{Arc, Mutex};
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let m5_failed = Arc::new(Mutex::new(false));
    // What the handler does with one event: Ok(true) acks, Ok(false) rejects, Err nacks.
    let judge = move |text: String| -> Result<bool, String> {
        let _ = tx.send(text.clone());
        match text.as_str() {
            "m3" | "m7" => Ok(false),
            "m5" if !std::mem::replace(&mut *m5_failed.lock().unwrap(), true) => {
                Err("m5 fails once".into())
            }
            _ => Ok(true),
        }
    };
    let judge = Arc::new(judge);
    if in_runs {
        rt.on_runs(name, move |events, progress| {
            let judge = judge.clone();
            async move {
                for (i, ev) in events.iter().enumerate() {
                    match judge(ev.text()) {
                        Ok(true) => progress.acked(i + 1),
                        Ok(false) => {
                            return bindery::RunVerdict::rejected_at(
                                i,
                                format!("{} is not welcome", ev.text()),
                            )
                        }
                        Err(why) => return bindery::RunVerdict::failed_at(i, why),
                    }
                }
                bindery::RunVerdict::all(events.len())
            }
        })
        .unwrap();
    } else {
        rt.on_event(name, move |ev| {
            let judge = judge.clone();
            async move {
                match judge(ev.text()) {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        Err(bindery::Reject::new(format!("{} is not welcome", ev.text())).into())
                    }
                    Err(why) => Err(why.into()),
                }
            }
        })
        .unwrap();
    }
    rx
}

/// Once m0..m9 wait at the source of `name`: a runtime over `dir` with
/// `reject_m3_m7_fail_m5_once` sees every message, m5 twice (the nack is redelivered) and m3
/// and m7 once each (the rejects are not), and counts them so. Returns what it saw, in order.
pub async fn check_reject_beside_nack(
    dir: &Dir,
    name: &str,
    in_runs: bool,
    wait: Duration,
) -> Vec<String> {
    let rt = runtime(dir);
    let mut rx = reject_m3_m7_fail_m5_once(&rt, name, in_runs);
    rt.start().await.unwrap();
    let mut seen = Vec::new();
    let count = |seen: &[String], t: &str| seen.iter().filter(|s| *s == t).count();
    tokio::time::timeout(wait, async {
        while !((0..10).all(|i| count(&seen, &format!("m{i}")) >= 1) && count(&seen, "m5") >= 2) {
            seen.push(rx.recv().await.unwrap());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("every message and m5 twice within {wait:?}; saw {seen:?}"));
    // A moment for a redelivered reject to show up, if there were one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(t) = rx.try_recv() {
        seen.push(t);
    }
    let stats = rt.input_stats(name).unwrap();
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
    for i in 0..10 {
        let m = format!("m{i}");
        let want = if i == 5 { 2 } else { 1 };
        assert_eq!(count(&seen, &m), want, "{m} in {seen:?}");
    }
    assert_eq!(
        (stats.delivered, stats.acked, stats.nacked, stats.rejected),
        (11, 8, 1, 2),
        "{stats:?}"
    );
    seen
}

/// What `reject_m3_m7_fail_m5_once` sees from a source that keeps order: m0..m5, m5 again (its
/// retry), m6..m9.
pub fn m5_failed_once() -> Vec<String> {
    let mut want: Vec<String> = (0..6).map(|i| format!("m{i}")).collect();
    want.extend((5..10).map(|i| format!("m{i}")));
    want
}

/// The built-in binding types and one of a test's own, `type_name` (input and output, version
/// v1): a probe whose behaviour the test controls.
pub fn registry_with(
    type_name: &'static str,
    operations: &'static [&'static str],
    fields: &'static [bindery::registry::Field],
    build: bindery::registry::Factory,
) -> bindery::Registry {
    let mut r = bindery::Registry::builtin();
    r.register(bindery::registry::BindingSpec {
        type_name,
        aliases: &[],
        versions: &["v1"],
        input: true,
        output: true,
        operations,
        fields,
        build,
    });
    r
}
