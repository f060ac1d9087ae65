//! `bindery run` end to end: the binary runs apps that know nothing of bindery, only Dapr's
//! HTTP API (plain Python and shell scripts, and Dapr's own bindings quickstart apps,
//! unchanged), as `dapr run` would run them with a daprd sidecar.
//!
//! Each test has ports of its own (Dapr's HTTP API on 3501-3519, the app on 6101-6119). The
//! broker and database tests need the servers of `tests/servers/start` (rabbitmq, postgres);
//! the quickstart tests install Flask and requests into a venv, and express and axios with
//! npm, in a temporary folder.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long anything may take on a loaded 2-core machine before a test gives up.
const DEADLINE: Duration = Duration::from_secs(60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn component(dir: &Path, file: &str, name: &str, type_name: &str, fields: &[(&str, &str)]) {
    let mut text = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {type_name}\n  version: v1\n  metadata:\n"
    );
    for (k, v) in fields {
        text.push_str(&format!("  - name: {k}\n    value: \"{v}\"\n"));
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(file), text).unwrap();
}

/// The folder `components` under `dir` with the local storage output `files`, rooted at
/// `dir/root`: the folder and the root.
fn files_component(dir: &Path) -> (PathBuf, PathBuf) {
    let (comps, root) = (dir.join("components"), dir.join("root"));
    component(
        &comps,
        "files.yaml",
        "files",
        "bindings.localstorage",
        &[("rootPath", &root.display().to_string())],
    );
    (comps, root)
}

/// `bindery run ARGS`, its output in files (read on failure), stopped with SIGTERM (and
/// killed after 30 s) when dropped.
struct Bindery {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    status: Option<ExitStatus>,
}

impl Bindery {
    fn start(dir: &Path, cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Bindery {
        let out = dir.join("bindery.out");
        let err = dir.join("bindery.err");
        let child = Command::new(env!("CARGO_BIN_EXE_bindery"))
            .arg("run")
            .args(args)
            .current_dir(cwd)
            .env("BINDERY_LOG", "warn")
            // The apps call bindery on loopback: never through a proxy the machine may set.
            .env("NO_PROXY", "127.0.0.1,localhost,::1")
            .env("no_proxy", "127.0.0.1,localhost,::1")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("the bindery binary runs");
        Bindery {
            child,
            out,
            err,
            status: None,
        }
    }

    fn output(&self) -> String {
        format!(
            "--- bindery run's stdout:\n{}\n--- its stderr:\n{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        let _ = rustix::process::kill_process(pid, sig);
    }

    /// Wait for bindery to exit by itself.
    fn wait(&mut self, within: Duration) -> ExitStatus {
        if let Some(st) = self.status {
            return st;
        }
        let end = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.status = Some(st);
                return st;
            }
            if Instant::now() > end {
                panic!(
                    "bindery run did not exit within {within:?}\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, as a terminal or a service manager stops it, and wait for the exit.
    fn stop(&mut self) -> ExitStatus {
        self.signal(rustix::process::Signal::TERM);
        self.wait(Duration::from_secs(30))
    }
}

impl Drop for Bindery {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.signal(rustix::process::Signal::TERM);
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll `check` until it gives a value, failing with `what` and bindery's output after
/// `DEADLINE`.
fn eventually<T>(b: &Bindery, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > end {
            panic!("{what}: not within {DEADLINE:?}\n{}", b.output());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The JSON lines an app wrote.
fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn server(what: &str, port: u16, start: &str) {
    if !listening(port) {
        panic!("{what} does not answer on 127.0.0.1:{port}: start it with `tests/servers/start {start}`");
    }
}

/// A Python app using the standard library only: it serves `/tick` (and refuses the
/// `OPTIONS` probe of any other route, as an app without that route does), records each
/// event, then calls the `files` output through Dapr's HTTP API, and a binding that does not
/// exist, and exits 7.
const TICK_APP: &str = r#"
import http.server, json, os, sys, threading, urllib.error, urllib.request

out = sys.argv[1]
dapr = os.environ["DAPR_HTTP_PORT"]

def record(obj):
    with open(out, "a") as f:
        f.write(json.dumps(obj) + "\n")

def call(name, body):
    req = urllib.request.Request(
        "http://127.0.0.1:%s/v1.0/bindings/%s" % (dapr, name),
        data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return [r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()]

ticked = threading.Event()

class App(http.server.BaseHTTPRequestHandler):
    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_OPTIONS(self):
        self.answer(200 if self.path == "/tick" else 404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        record({"path": self.path, "body": body.decode(),
                "headers": {k.lower(): v for k, v in self.headers.items()}})
        self.answer(200)
        ticked.set()

    def log_message(self, *args):
        pass

record({"env": {k: os.environ.get(k) for k in
                ["APP_ID", "APP_PORT", "APP_PROTOCOL", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT"]}})
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), App)
threading.Thread(target=server.serve_forever, daemon=True).start()
ticked.wait()
record({
    "create": call("files", {"operation": "create", "data": {"order": 1},
                             "metadata": {"fileName": "orders/1.json"}}),
    "get": call("files", {"operation": "get", "metadata": {"fileName": "orders/1.json"}}),
    "missing": call("nope", {"operation": "get"}),
})
server.shutdown()
sys.exit(7)
"#;

#[test]
fn an_app_without_an_sdk_gets_its_input_event_calls_an_output_and_gives_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let (comps, root) = files_component(dir.path());
    component(
        &comps,
        "tick.yaml",
        "tick",
        "bindings.cron",
        &[("schedule", "@every 1s")],
    );
    // An input the app has no route for: the OPTIONS probe says so and it is not started.
    component(
        &comps,
        "other.yaml",
        "other",
        "bindings.cron",
        &[("schedule", "@every 1s")],
    );
    std::fs::write(dir.path().join("app.py"), TICK_APP).unwrap();
    let log = dir.path().join("app.jsonl");
    let mut b = Bindery::start(
        dir.path(),
        dir.path(),
        &[
            "--app-id",
            "ticker",
            "--app-port",
            "6102",
            "--dapr-http-port",
            "3502",
            "--resources-path",
            "components",
            "--",
            "python3",
            "app.py",
            &log.display().to_string(),
        ],
        &[],
    );
    let status = b.wait(DEADLINE);
    assert_eq!(status.code(), Some(7), "{}", b.output());

    let recs = records(&log);
    let env = recs.iter().find_map(|r| r.get("env")).expect("the app ran");
    assert_eq!(
        env,
        &json!({"APP_ID": "ticker", "APP_PORT": "6102", "APP_PROTOCOL": "http",
                "DAPR_HTTP_PORT": "3502", "DAPR_GRPC_PORT": null}),
        "{}",
        b.output()
    );
    let event = recs
        .iter()
        .find(|r| r.get("path").is_some())
        .expect("an event reached the app");
    assert_eq!(event["path"], "/tick", "{event}");
    assert_eq!(event["headers"]["content-type"], "application/json");
    assert!(
        event["headers"]["readtimeutc"].is_string() && event["headers"]["timezone"].is_string(),
        "the cron event's metadata comes as headers: {event}"
    );
    assert!(
        recs.iter().all(|r| r["path"] != "/other"),
        "no event for the binding the app has no route for: {recs:?}"
    );
    assert!(
        b.stderr().contains(
            "the app does not take input binding \"other\" (OPTIONS /other answered 404)"
        ),
        "{}",
        b.output()
    );
    // Declined, not forgotten: no "register a handler" hint for what the app turned down.
    assert!(!b.stderr().contains("has no handler"), "{}", b.output());

    let calls = recs
        .iter()
        .find(|r| r.get("create").is_some())
        .expect("the app called the outputs");
    assert_eq!(calls["create"][0], 200, "{calls}");
    assert_eq!(
        std::fs::read_to_string(root.join("orders/1.json")).unwrap(),
        r#"{"order":1}"#
    );
    assert_eq!(calls["get"][0], 200, "{calls}");
    assert_eq!(calls["get"][2], r#"{"order":1}"#, "{calls}");
    assert_eq!(calls["get"][1]["content-type"], "application/json");
    // daprd: 500 ERR_INVOKE_OUTPUT_BINDING "error invoking output binding nope: couldn't find
    // output binding nope"; bindery adds the names there are.
    assert_eq!(calls["missing"][0], 500, "{calls}");
    let body: Value = serde_json::from_str(calls["missing"][2].as_str().unwrap()).unwrap();
    assert_eq!(body["errorCode"], "ERR_INVOKE_OUTPUT_BINDING");
    let message = body["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("error invoking output binding nope: couldn't find output binding nope"),
        "{message}"
    );
    assert!(message.contains("files"), "{message}");
}

#[test]
fn a_shell_app_calls_outputs_with_curl() {
    let dir = tempfile::tempdir().unwrap();
    let (_, root) = files_component(dir.path());
    let script = r#"
set -e
api="http://localhost:$DAPR_HTTP_PORT/v1.0/bindings"
# A JSON string as data: Dapr's local storage binding writes its text.
curl -sS -o create.out -w '%{http_code}' -X POST "$api/files" \
  -d '{"operation": "create", "data": "hello from sh", "metadata": {"fileName": "note.txt"}}' > create.code
curl -sS -o get.out -w '%{http_code}' -X PUT "$api/files" \
  -d '{"operation": "get", "metadata": {"fileName": "note.txt"}}' > get.code
curl -sS -o delete.out -w '%{http_code}' -X POST "$api/files" \
  -d '{"operation": "delete", "metadata": {"fileName": "note.txt"}}' > delete.code
exit 3
"#;
    std::fs::write(dir.path().join("app.sh"), script).unwrap();
    let mut b = Bindery::start(
        dir.path(),
        dir.path(),
        &[
            "-a",
            "shell",
            "-H",
            "3506",
            "-d",
            "components",
            "--",
            "sh",
            "app.sh",
        ],
        &[],
    );
    assert_eq!(b.wait(DEADLINE).code(), Some(3), "{}", b.output());
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
    assert_eq!(read("create.code"), "200", "{}", b.output());
    assert_eq!(read("get.code"), "200");
    assert_eq!(read("get.out"), "hello from sh");
    // delete answers nothing: daprd's 204.
    assert_eq!(read("delete.code"), "204");
    assert!(!root.join("note.txt").exists());
}

#[test]
fn the_http_api_answers_as_daprd_and_a_signal_reaches_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let (comps, root) = files_component(dir.path());
    // An HTTP output pointed at bindery's own health endpoint: a response with metadata
    // (statusCode) and no data.
    component(
        &comps,
        "health.yaml",
        "health",
        "bindings.http",
        &[("url", "http://127.0.0.1:3501/v1.0/healthz")],
    );
    let app = r#"
import signal, sys, time
def stop(sig, frame):
    open("stopped", "w").write("TERM")
    sys.exit(42)
signal.signal(signal.SIGTERM, stop)
open("ready", "w").write("yes")
while True:
    time.sleep(0.1)
"#;
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let mut b = Bindery::start(
        dir.path(),
        dir.path(),
        &[
            "--app-id",
            "api",
            "--dapr-http-port",
            "3501",
            "--components-path",
            "components",
            "--",
            "python3",
            "app.py",
        ],
        &[],
    );
    eventually(&b, "the API listens and the app runs", || {
        (listening(3501) && dir.path().join("ready").exists()).then_some(())
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let call = |method: reqwest::Method, path: &str, body: &str| {
        let req = client
            .request(method, format!("http://127.0.0.1:3501{path}"))
            .body(body.to_string());
        rt.block_on(async {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.text().await.unwrap();
            (status, headers, body)
        })
    };
    use reqwest::Method;
    let error = |body: &str| -> (String, String) {
        let v: Value = serde_json::from_str(body).unwrap();
        (
            v["errorCode"].as_str().unwrap().to_string(),
            v["message"].as_str().unwrap().to_string(),
        )
    };

    let (status, ..) = call(Method::GET, "/v1.0/healthz", "");
    assert_eq!(status, 204);

    // Data is json.Marshal of the value: an object as compact JSON, keys sorted.
    let (status, _, body) = call(
        Method::PUT,
        "/v1.0/bindings/files",
        r#"{"operation": "create", "data": {"b": [1, 2], "a": "x"}, "metadata": {"fileName": "o.json"}}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(root.join("o.json")).unwrap(),
        r#"{"a":"x","b":[1,2]}"#
    );

    // Response metadata as metadata.<key> headers; no data: 200 with an empty body.
    let (status, headers, body) = call(
        Method::POST,
        "/v1.0/bindings/health",
        r#"{"operation": "get"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "");
    assert_eq!(headers["metadata.statuscode"], "204", "{headers:?}");

    let (status, _, body) = call(Method::POST, "/v1.0/bindings/files", r#"{"operation": "#);
    assert_eq!(status, 400);
    let (code, message) = error(&body);
    assert_eq!(code, "ERR_MALFORMED_REQUEST");
    assert!(
        message.starts_with("failed deserializing HTTP body: "),
        "{message}"
    );

    let (status, _, body) = call(
        Method::POST,
        "/v1.0/bindings/files",
        r#"{"metadata": {"fileName": 1}}"#,
    );
    assert_eq!(
        (status, error(&body).0.as_str()),
        (400, "ERR_MALFORMED_REQUEST")
    );

    let (status, _, body) = call(Method::POST, "/v1.0/bindings/files", r#"{"data": 1}"#);
    assert_eq!(status, 500);
    assert_eq!(
        error(&body),
        (
            "ERR_INVOKE_OUTPUT_BINDING".to_string(),
            "error invoking output binding files: operation field is missing from request"
                .to_string()
        )
    );

    let (status, _, body) = call(
        Method::POST,
        "/v1.0/bindings/files",
        r#"{"operation": "gte"}"#,
    );
    assert_eq!(status, 500);
    let (code, message) = error(&body);
    assert_eq!(code, "ERR_INVOKE_OUTPUT_BINDING");
    assert!(message.contains("did you mean \"get\""), "{message}");

    let (status, _, body) = call(
        Method::POST,
        "/v1.0/bindings/file",
        r#"{"operation": "get"}"#,
    );
    assert_eq!(status, 500);
    let (code, message) = error(&body);
    assert_eq!(code, "ERR_INVOKE_OUTPUT_BINDING");
    assert!(
        message
            .starts_with("error invoking output binding file: couldn't find output binding file"),
        "{message}"
    );

    let (status, _, body) = call(Method::GET, "/v1.0/metadata", "");
    assert_eq!(status, 200);
    let meta: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(meta["id"], "api");
    let names: BTreeSet<&str> = meta["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["files", "health"]));

    // SIGTERM goes on to the app, whose exit code is bindery's.
    assert_eq!(b.stop().code(), Some(42), "{}", b.output());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("stopped")).unwrap(),
        "TERM"
    );
    assert!(!listening(3501), "the API stops with the app");
}

#[test]
fn component_errors_stop_it_before_the_app_starts() {
    let dir = tempfile::tempdir().unwrap();
    let comps = dir.path().join("components");
    component(&comps, "hook.yaml", "hook", "bindings.htp", &[]);
    let mut b = Bindery::start(
        dir.path(),
        dir.path(),
        &["-H", "3507", "-d", "components", "--", "touch", "started"],
        &[],
    );
    assert_eq!(b.wait(DEADLINE).code(), Some(1), "{}", b.output());
    let err = b.stderr();
    assert!(
        err.contains(
            "hook.yaml:6:9: error in component \"hook\": unknown binding type \"bindings.htp\""
        ),
        "{err}"
    );
    assert!(
        err.contains("fix: did you mean \"bindings.http\"?"),
        "{err}"
    );
    assert!(err.contains("1 error(s), 0 warning(s)"), "{err}");
    assert!(!dir.path().join("started").exists());
}

/// A Python app (standard library only) that answers 500 the first time it sees an event and
/// 200 the second; it publishes the event itself through the binding's output side.
const FLAKY_APP: &str = r#"
import http.server, json, os, sys, threading, urllib.request

out = sys.argv[1]
seen = {}
done = threading.Event()

class App(http.server.BaseHTTPRequestHandler):
    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_OPTIONS(self):
        self.answer(200)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        seen[body] = seen.get(body, 0) + 1
        code = 500 if seen[body] == 1 else 200
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "body": body, "answer": code}) + "\n")
        self.answer(code)
        if code == 200:
            done.set()

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), App)
threading.Thread(target=server.serve_forever, daemon=True).start()
req = urllib.request.Request(
    "http://127.0.0.1:%s/v1.0/bindings/jobs" % os.environ["DAPR_HTTP_PORT"],
    data=json.dumps({"operation": "create", "data": "job-1"}).encode(), method="POST")
urllib.request.urlopen(req).read()
done.wait()
server.shutdown()
"#;

#[test]
fn a_non_2xx_answer_nacks_and_the_event_comes_again() {
    server("RabbitMQ", 5672, "rabbitmq");
    let dir = tempfile::tempdir().unwrap();
    let comps = dir.path().join("components");
    let queue = format!(
        "bindery-run-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    component(
        &comps,
        "jobs.yaml",
        "jobs",
        "bindings.rabbitmq",
        &[
            ("queueName", &queue),
            ("host", "amqp://guest:guest@127.0.0.1:5672"),
            ("durable", "false"),
            ("deleteWhenUnused", "true"),
            ("backOffDuration", "100ms"),
        ],
    );
    std::fs::write(dir.path().join("app.py"), FLAKY_APP).unwrap();
    let log = dir.path().join("app.jsonl");
    let mut b = Bindery::start(
        dir.path(),
        dir.path(),
        &[
            "-a",
            "jobs",
            "-p",
            "6103",
            "-H",
            "3503",
            "-d",
            "components",
            "--",
            "python3",
            "app.py",
            &log.display().to_string(),
        ],
        &[],
    );
    assert_eq!(b.wait(DEADLINE).code(), Some(0), "{}", b.output());
    let recs = records(&log);
    let answers: Vec<(&str, &str, i64)> = recs
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap(),
                r["body"].as_str().unwrap(),
                r["answer"].as_i64().unwrap(),
            )
        })
        .collect();
    // daprd hands the binding json.Marshal of the data: a JSON string keeps its quotes.
    assert_eq!(
        answers,
        [("/jobs", "\"job-1\"", 500), ("/jobs", "\"job-1\"", 200)],
        "{}",
        b.output()
    );
}

// ---- Dapr's bindings quickstart, the HTTP variants, unchanged ----

fn psql(db: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            sql,
        ])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A database of the test's own with the quickstart's table (`bindings/db/orders.sql`).
struct OrdersDb(String);

impl OrdersDb {
    fn create(name: &str) -> OrdersDb {
        server("PostgreSQL", 5432, "postgres");
        psql("postgres", &format!("drop database if exists {name}")).unwrap();
        psql("postgres", &format!("create database {name}")).unwrap();
        let sql = std::fs::read_to_string(quickstarts().join("bindings/db/orders.sql")).unwrap();
        // The file starts with `\c orders;`: this database stands in for `orders`.
        let sql: String = sql
            .lines()
            .filter(|l| !l.starts_with("\\c"))
            .collect::<Vec<_>>()
            .join("\n");
        psql(name, &sql).unwrap();
        OrdersDb(name.to_string())
    }

    fn rows(&self) -> BTreeSet<String> {
        psql(&self.0, "select orderid, customer, price from orders")
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn count(&self) -> usize {
        psql(&self.0, "select count(*) from orders")
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for OrdersDb {
    fn drop(&mut self) {
        let _ = psql(
            "postgres",
            &format!("drop database if exists {} with (force)", self.0),
        );
    }
}

fn quickstarts() -> PathBuf {
    workspace().join("tests/dapr-quickstarts")
}

/// The quickstart's tree in `dir` (its apps read `../../../orders.json`), with its components
/// in `bindings/components`, adapted only where a test needs it.
fn quickstart_tree(dir: &Path, app: &str, db: &str) -> PathBuf {
    let src = quickstarts().join("bindings");
    let dst = dir.join("bindings");
    std::fs::create_dir_all(dst.join(app)).unwrap();
    std::fs::copy(src.join("orders.json"), dst.join("orders.json")).unwrap();
    for entry in std::fs::read_dir(src.join(app)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(app).join(entry.file_name())).unwrap();
    }
    let comps_src = workspace().join("tests/dapr-components/dapr/quickstarts/bindings/components");
    let comps = dst.join("components");
    std::fs::create_dir_all(&comps).unwrap();
    let cron = std::fs::read_to_string(comps_src.join("binding-cron.yaml")).unwrap();
    // `@every 10s` becomes 1s, so a test waits one second for the first batch, not ten.
    assert!(cron.contains("\"@every 10s\""));
    std::fs::write(
        comps.join("binding-cron.yaml"),
        cron.replace("\"@every 10s\"", "\"@every 1s\""),
    )
    .unwrap();
    let pg = std::fs::read_to_string(comps_src.join("binding-postgres.yaml")).unwrap();
    // dbname=orders becomes a database of this test's own, so that tests running at the same
    // time (these and the SDK quickstarts') each see their own rows; host=localhost becomes
    // 127.0.0.1, where the test server trusts every database (::1 only dapr_test).
    assert!(pg.contains("host=localhost") && pg.contains("dbname=orders"));
    std::fs::write(
        comps.join("binding-postgres.yaml"),
        pg.replace("host=localhost", "host=127.0.0.1")
            .replace("dbname=orders", &format!("dbname={db}")),
    )
    .unwrap();
    dst.join(app)
}

/// The rows the quickstart writes: each batch inserts the three orders of orders.json.
fn check_orders(b: &Bindery, db: &OrdersDb, app_says: &str) {
    eventually(b, "the quickstart app inserted a batch of orders", || {
        (db.count() >= 3).then_some(())
    });
    assert_eq!(
        db.rows(),
        BTreeSet::from([
            "1|John Smith|100.32".to_string(),
            "2|Jane Bond|15.4".to_string(),
            "3|Tony James|35.56".to_string(),
        ]),
        "{}",
        b.output()
    );
    // The cron binding's direction says input: delivered without the OPTIONS probe.
    assert!(
        b.stderr()
            .contains("input binding \"cron\" is delivered to POST /cron"),
        "{}",
        b.output()
    );
    assert!(
        std::fs::read_to_string(&b.out).unwrap().contains(app_says),
        "{}",
        b.output()
    );
    eprintln!("{}", b.output());
}

/// Did a package manager fail because it could not reach its registry (the only reason to
/// skip rather than fail)?
fn unreachable_registry(output: &str) -> bool {
    [
        "NewConnectionError",
        "Max retries exceeded",
        "Temporary failure in name resolution",
        "Name or service not known",
        "Network is unreachable",
        "ENOTFOUND",
        "EAI_AGAIN",
        "ECONNREFUSED",
        "ETIMEDOUT",
        "ENETUNREACH",
    ]
    .iter()
    .any(|m| output.contains(m))
}

fn install(what: &str, cmd: &mut Command) -> bool {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    if out.status.success() {
        return true;
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if unreachable_registry(&text) {
        eprintln!("SKIPPED: {what} cannot reach its registry:\n{text}");
        return false;
    }
    panic!("{what} failed:\n{text}");
}

#[test]
fn dapr_quickstart_python_http_app_runs_unchanged() {
    let db = OrdersDb::create("bindery_run_quickstart_py");
    let dir = tempfile::tempdir().unwrap();
    let app = quickstart_tree(dir.path(), "python/http/batch", &db.0);
    // Its requirements.txt also names uvicorn, which the app does not import.
    let venv = dir.path().join("venv");
    assert!(Command::new("python3")
        .args(["-m", "venv", &venv.display().to_string()])
        .status()
        .unwrap()
        .success());
    if !install(
        "pip install flask requests",
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "flask",
            "requests",
        ]),
    ) {
        return;
    }
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The quickstart's dapr.yaml (appID batch-http, resourcesPath ../../../components,
    // command python3 app.py) as `dapr run` flags.
    let mut b = Bindery::start(
        dir.path(),
        &app,
        &[
            "--app-id",
            "batch-http",
            "--app-port",
            "6104",
            "--dapr-http-port",
            "3504",
            "--resources-path",
            "../../../components",
            "--",
            "python3",
            "app.py",
        ],
        &[("PATH", path)],
    );
    check_orders(&b, &db, "Finished processing batch");
    b.stop();
}

#[test]
fn dapr_quickstart_javascript_http_app_runs_unchanged() {
    let db = OrdersDb::create("bindery_run_quickstart_js");
    let dir = tempfile::tempdir().unwrap();
    let app = quickstart_tree(dir.path(), "javascript/http/batch", &db.0);
    if !install(
        "npm install (express, axios)",
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&app),
    ) {
        return;
    }
    // The command line in the quickstart's index.js, with `dapr` replaced.
    let mut b = Bindery::start(
        dir.path(),
        &app,
        &[
            "--app-id",
            "batch-http",
            "--app-port",
            "6105",
            "--dapr-http-port",
            "3505",
            "--resources-path",
            "../../../components",
            "--",
            "node",
            "index.js",
        ],
        &[],
    );
    check_orders(&b, &db, "Finished processing batch");
    b.stop();
}
