//! `bindery run`: `dapr run` with bindery in place of the daprd sidecar, for apps in any
//! language that call the sidecar's HTTP API. It starts the app command, serves Dapr's
//! bindings HTTP API on loopback (`POST`/`PUT /v1.0/bindings/{name}`), and delivers input
//! bindings to the app's routes as daprd does. Everything here translates between HTTP and the
//! runtime (`Runtime::invoke`, `Runtime::on_event`); no binding logic lives here.
//!
//! What daprd does, and so what this does (dapr/dapr `pkg/api/http/http.go`
//! `onOutputBindingMessage`, `pkg/runtime/processor/binding/send.go`, `pkg/runtime/runtime.go`
//! `blockUntilAppIsReady`; dapr/cli `pkg/standalone/run.go`, `cmd/run.go`, `cmd/run_unix.go`):
//!
//! - The request body is `{"data": ..., "operation": "...", "metadata": {...}}`, decoded as Go
//!   decodes it into a struct (the first JSON value; field names in any case; `null` is an
//!   empty request). The binding gets `json.Marshal(data)`: an object as compact JSON, a string
//!   with its quotes, no data as `null`.
//! - 200 with the response data as the body (`Content-Type: application/json`) and each
//!   response metadata entry as a `metadata.<key>` header; 204 when the binding answered
//!   nothing (no data, no metadata: daprd's nil response). A body that does not decode is 400
//!   `ERR_MALFORMED_REQUEST`; every failure of the call, a missing binding or operation
//!   included, is 500 `ERR_INVOKE_OUTPUT_BINDING`.
//! - Inputs: once the app's port accepts connections, each input binding whose `direction`
//!   does not name `input` is probed with `OPTIONS <route>` (3 s); a 2xx or 405 answer means
//!   the app takes it, anything else that it does not, and the binding is not started. Each
//!   event is `POST <route>` with the data as body, `Content-Type: application/json` and the
//!   event metadata as headers; a 2xx answer acks, anything else or no answer nacks. Over
//!   HTTP daprd reads no `{"to": [...]}` from the app's answer (only its gRPC callback does),
//!   so neither does this.
//! - The app runs in a process group of its own with `APP_ID`, `APP_PORT`, `APP_PROTOCOL`,
//!   `APP_CHANNEL_ADDRESS` and `DAPR_HTTP_PORT` set; SIGINT and SIGTERM are passed on to the
//!   group (SIGKILL after 5 s). Unlike `dapr run`, which exits 1 on any app error, `bindery
//!   run` exits with the app's exit code (128 + the signal when a signal ended it).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use bindery::component::Severity;
use bindery::{BindingInfo, ErrorKind, Event, HandlerResult, MetadataMap, Options, Runtime};
use clap::Args;
use rustix::process::{Pid, Signal};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How long the app has to exit after a signal is passed on before it is killed (the Dapr
/// CLI's grace period).
const GRACE: Duration = Duration::from_secs(5);
/// How long input handlers get to finish when the runtime stops.
const DRAIN: Duration = Duration::from_secs(5);
/// daprd's `--app-binding-options-timeout` default.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Headers that frame a request, which event metadata may not set (Go's client leaves them
/// out of a request's header map too).
const FRAMING: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "trailer",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "proxy-connection",
];
/// daprd's `--max-body-size` default (4Mi).
const MAX_BODY: usize = 4 << 20;

/// The flags of `bindery run`, named as the Dapr CLI's `dapr run` names them.
#[derive(Args)]
pub struct RunArgs {
    /// The app ID: exported as APP_ID, used for components' `scopes` and `{appID}`.
    #[arg(long = "app-id", short = 'a')]
    app_id: Option<String>,
    /// The port the app listens on; input bindings are delivered there (none without it).
    #[arg(long = "app-port", short = 'p')]
    app_port: Option<u16>,
    /// The port of Dapr's HTTP API on 127.0.0.1 (a free one when not given); exported as
    /// DAPR_HTTP_PORT.
    #[arg(long = "dapr-http-port", short = 'H')]
    dapr_http_port: Option<u16>,
    /// Accepted for `dapr run` command lines and ignored: bindery serves no gRPC API.
    #[arg(long = "dapr-grpc-port", short = 'G')]
    dapr_grpc_port: Option<u16>,
    /// A folder of Dapr component YAML files (repeatable, or comma-separated as Dapr takes it).
    #[arg(
        long = "resources-path",
        short = 'd',
        visible_alias = "components-path",
        default_value = "./components",
        value_delimiter = ','
    )]
    resources_path: Vec<PathBuf>,
    /// How bindery calls the app: http (the only one bindery speaks).
    #[arg(long = "app-protocol", short = 'P', default_value = "http")]
    app_protocol: String,
    /// The address the app listens on.
    #[arg(long = "app-channel-address", default_value = "127.0.0.1")]
    app_channel_address: String,
    /// How many events of one input binding may be in the app at once (default 1: in order).
    #[arg(long = "app-max-concurrency", allow_negative_numbers = true)]
    app_max_concurrency: Option<i64>,
    /// Log level (debug, info, warn, error), when BINDERY_LOG is not set.
    #[arg(long = "log-level")]
    log_level: Option<String>,
    /// The app command and its arguments, after `--`. Without one, bindery serves the API
    /// until it is stopped.
    #[arg(last = true)]
    command: Vec<String>,
}

impl RunArgs {
    /// Apply `--log-level` as BINDERY_LOG when that is unset; called before logging starts,
    /// while the process has one thread.
    pub fn apply_log_level(&self) {
        if std::env::var_os("BINDERY_LOG").is_some() {
            return;
        }
        if let Some(level) = &self.log_level {
            let level = match level.to_ascii_lowercase().as_str() {
                "fatal" | "panic" => "error".to_string(),
                other => other.to_string(),
            };
            std::env::set_var("BINDERY_LOG", level);
        }
    }
}

/// Run `bindery run` to its end; the exit code is the app's.
pub fn main(args: RunArgs) -> u8 {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = rt.block_on(run(args));
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

fn say(line: impl std::fmt::Display) {
    eprintln!("bindery: {line}");
}

/// Build the runtime, printing every diagnostic as `bindery validate` does (on stderr, as the
/// app owns stdout); `None` when any is an error.
fn build_runtime(args: &RunArgs, app_id: &str) -> Option<Runtime> {
    let mut options = Options::default();
    if let Some(n) = args.app_max_concurrency.filter(|n| *n > 0) {
        let n = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(u32::MAX as usize);
        options.input.concurrency = n;
        options.input.queue_capacity = options.input.queue_capacity.max(n);
    }
    let built = Runtime::builder()
        .resources_paths(args.resources_path.clone())
        .options(options)
        .app_id(app_id)
        .build();
    match built {
        Ok(rt) => {
            for d in rt.diagnostics() {
                eprintln!("{d}");
            }
            Some(rt)
        }
        Err(e) if e.kind() == ErrorKind::InvalidConfig && !e.diagnostics().is_empty() => {
            for d in e.diagnostics() {
                eprintln!("{d}");
            }
            let errors = e
                .diagnostics()
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            let warnings = e.diagnostics().len() - errors;
            eprintln!(
                "{errors} error(s), {warnings} warning(s): the app is not started (`bindery validate` checks the files alone)"
            );
            None
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

async fn run(args: RunArgs) -> u8 {
    if !args.app_protocol.eq_ignore_ascii_case("http") {
        eprintln!(
            "error: --app-protocol {}: bindery run calls the app over HTTP only (it serves no gRPC app callback); use --app-protocol http",
            args.app_protocol
        );
        return 1;
    }
    if let Some(p) = args.dapr_grpc_port {
        say(format_args!(
            "--dapr-grpc-port {p} is ignored: bindery serves Dapr's HTTP API only, so DAPR_GRPC_PORT is not set"
        ));
    }
    let app_id = args
        .app_id
        .clone()
        .unwrap_or_else(|| format!("bindery-{}", std::process::id()));
    let Some(rt) = build_runtime(&args, &app_id) else {
        return 1;
    };
    let infos = rt.bindings();
    let app_port = args.app_port.filter(|p| *p > 0);

    // Dapr's HTTP API, before the app starts: apps call it from their first line.
    let port = args.dapr_http_port.unwrap_or(0);
    let v4 = match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port} for Dapr's HTTP API: {e}");
            return 1;
        }
    };
    let port = v4.local_addr().map(|a| a.port()).unwrap_or(port);
    // Also ::1, for apps whose `localhost` is IPv6 first; where that fails, 127.0.0.1 serves.
    let v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).await.ok();
    let api = Arc::new(Api {
        rt: rt.clone(),
        app_id: app_id.clone(),
        bindings: infos.clone(),
        app_port,
        app_channel_address: args.app_channel_address.clone(),
        extended: Mutex::new(BTreeMap::new()),
    });
    let (stop_server, server_stopping) = watch::channel(false);
    let mut servers = Vec::new();
    for listener in std::iter::once(v4).chain(v6) {
        let router = router(api.clone());
        let mut stopping = server_stopping.clone();
        servers.push(tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                })
                .await;
        }));
    }
    say(format_args!(
        "app id {app_id:?}; Dapr's HTTP API on http://127.0.0.1:{port}"
    ));

    let (mut sigint, mut sigterm) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: cannot listen for signals: {e}");
            return 1;
        }
    };

    let mut app = None;
    if let Some(program) = args.command.first() {
        let mut cmd = Command::new(program);
        cmd.args(&args.command[1..])
            .env("APP_ID", &app_id)
            .env("APP_CHANNEL_ADDRESS", &args.app_channel_address)
            .env("APP_PROTOCOL", "http")
            .env("DAPR_HTTP_PORT", port.to_string())
            .process_group(0);
        if let Some(p) = app_port {
            cmd.env("APP_PORT", p.to_string());
        }
        match cmd.spawn() {
            Ok(child) => app = Some(child),
            Err(e) => {
                eprintln!("error: cannot start {program:?}: {e}");
                stop(&rt, stop_server, servers).await;
                return 1;
            }
        }
    }
    let pid = app.as_ref().and_then(Child::id);

    // Inputs go to the app once it listens, as daprd waits for the app channel.
    let inputs: Vec<&BindingInfo> = infos.iter().filter(|b| b.input).collect();
    let channel = app_port.map(|p| {
        Arc::new(AppChannel {
            // The app is local: never through an HTTP_PROXY.
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default(),
            base: format!("http://{}:{p}", host_for_url(&args.app_channel_address)),
        })
    });
    if !inputs.is_empty() && channel.is_none() {
        say(format_args!(
            "no --app-port, so input bindings are not delivered (as with daprd): {}",
            inputs
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let prepare = async {
        if let (Some(channel), false) = (&channel, inputs.is_empty()) {
            wait_for_app(&args.app_channel_address, app_port.unwrap_or_default()).await;
            subscribe(&rt, channel, &inputs).await;
        }
    };
    enum Next {
        Ready,
        Exited(Option<ExitStatus>),
        Signalled(Signal),
    }
    let next = tokio::select! {
        _ = prepare => Next::Ready,
        st = wait_app(&mut app) => Next::Exited(st),
        sig = next_signal(&mut sigint, &mut sigterm) => Next::Signalled(sig),
    };
    let next = match next {
        Next::Ready => {
            if let Err(e) = rt.start().await {
                eprintln!("error: {e}");
                end_app(&mut app, pid, Signal::TERM).await;
                stop(&rt, stop_server, servers).await;
                return 1;
            }
            tokio::select! {
                st = wait_app(&mut app) => Next::Exited(st),
                sig = next_signal(&mut sigint, &mut sigterm) => Next::Signalled(sig),
            }
        }
        other => other,
    };
    let status = match next {
        Next::Exited(st) => st,
        Next::Signalled(sig) => end_app(&mut app, pid, sig).await,
        Next::Ready => None,
    };
    // What the app left in its group goes with it, as with `dapr run`.
    if let Some(pid) = pid {
        signal_group(pid, Signal::TERM);
    }
    stop(&rt, stop_server, servers).await;
    match (status, pid) {
        (Some(st), _) => exit_code(st),
        // The app's status could not be read.
        (None, Some(_)) => 1,
        // No app: stopped by a signal.
        (None, None) => 0,
    }
}

/// Stop the runtime (inputs first, handlers drained, outputs closed), then the API.
async fn stop(
    rt: &Runtime,
    stop_server: watch::Sender<bool>,
    servers: Vec<tokio::task::JoinHandle<()>>,
) {
    match rt.shutdown(DRAIN).await {
        Ok(report) if !report.drained => say(
            "some events were still in the app when bindery stopped; their sources redeliver them",
        ),
        Ok(_) => {}
        Err(e) => eprintln!("error: stopping the runtime: {e}"),
    }
    let _ = stop_server.send(true);
    for server in servers {
        let abort = server.abort_handle();
        if tokio::time::timeout(GRACE, server).await.is_err() {
            abort.abort();
        }
    }
}

fn exit_code(st: ExitStatus) -> u8 {
    match (st.code(), st.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        _ => 1,
    }
}

/// The app's exit, or never when there is no app (`None` in the result: no status).
async fn wait_app(app: &mut Option<Child>) -> Option<ExitStatus> {
    match app {
        Some(child) => match child.wait().await {
            Ok(st) => Some(st),
            Err(e) => {
                eprintln!("error: waiting for the app: {e}");
                None
            }
        },
        None => std::future::pending().await,
    }
}

async fn next_signal(
    sigint: &mut tokio::signal::unix::Signal,
    sigterm: &mut tokio::signal::unix::Signal,
) -> Signal {
    tokio::select! {
        _ = sigint.recv() => Signal::INT,
        _ = sigterm.recv() => Signal::TERM,
    }
}

/// Pass `sig` on to the app's process group, and kill the group when the app has not exited
/// after the grace period.
async fn end_app(app: &mut Option<Child>, pid: Option<u32>, sig: Signal) -> Option<ExitStatus> {
    let (Some(child), Some(pid)) = (app.as_mut(), pid) else {
        return None;
    };
    signal_group(pid, sig);
    match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(Ok(st)) => Some(st),
        _ => {
            say(format_args!(
                "the app did not exit within {}s of the signal; killing it",
                GRACE.as_secs()
            ));
            signal_group(pid, Signal::KILL);
            child.wait().await.ok()
        }
    }
}

fn signal_group(pid: u32, sig: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // ESRCH: the group is gone already, which is what is wanted.
        let _ = rustix::process::kill_process_group(pid, sig);
    }
}

fn host_for_url(address: &str) -> String {
    if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]")
    } else {
        address.to_string()
    }
}

/// Wait until the app accepts connections on its port, as daprd's `blockUntilAppIsReady`:
/// a dial every 100 ms, each given 500 ms.
async fn wait_for_app(address: &str, port: u16) {
    let mut tries: u64 = 0;
    loop {
        let dial = TcpStream::connect((address, port));
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), dial).await {
            return;
        }
        tries += 1;
        if tries.is_multiple_of(100) {
            say(format_args!(
                "waiting for the app to listen on {address}:{port}; input bindings start then"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How bindery reaches the app.
struct AppChannel {
    client: reqwest::Client,
    /// `http://host:port`.
    base: String,
}

/// Register a handler for each input binding the app takes: one whose `direction` names
/// `input`, or one whose route answers the `OPTIONS` probe with a 2xx or 405.
async fn subscribe(rt: &Runtime, channel: &Arc<AppChannel>, inputs: &[&BindingInfo]) {
    for b in inputs {
        let explicit = b
            .direction
            .as_deref()
            .is_some_and(|d| d.split(',').any(|p| p.trim().eq_ignore_ascii_case("input")));
        if !explicit {
            match probe(channel, &b.route).await {
                Ok(code) if code / 100 == 2 || code == 405 => {}
                Ok(code) => {
                    say(format_args!(
                        "the app does not take input binding {:?} (OPTIONS {} answered {code}), so it is not started",
                        b.name, b.route
                    ));
                    let _ = rt.decline(&b.name);
                    continue;
                }
                Err(e) => {
                    say(format_args!(
                        "could not ask the app whether it takes input binding {:?} (OPTIONS {}): {e}; it is not started",
                        b.name, b.route
                    ));
                    let _ = rt.decline(&b.name);
                    continue;
                }
            }
        }
        let channel = channel.clone();
        let url = format!("{}{}", channel.base, b.route);
        let registered = rt.on_event(&b.name, move |ev| {
            let channel = channel.clone();
            let url = url.clone();
            async move { deliver(&channel, &url, ev).await }
        });
        match registered {
            Ok(()) => say(format_args!(
                "input binding {:?} is delivered to POST {}",
                b.name, b.route
            )),
            Err(e) => eprintln!("error: {e}"),
        }
    }
}

async fn probe(channel: &AppChannel, route: &str) -> Result<u16, String> {
    let resp = channel
        .client
        .request(Method::OPTIONS, format!("{}{route}", channel.base))
        .header(CONTENT_TYPE, "application/json")
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    Ok(resp.status().as_u16())
}

/// POST one event to the app: a 2xx answer acks it, anything else nacks it.
async fn deliver(channel: &AppChannel, url: &str, ev: Event) -> HandlerResult {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (k, v) in &ev.metadata {
        match (HeaderName::from_bytes(k.as_bytes()), header_value(v)) {
            (Ok(name), Some(value)) if !FRAMING.contains(&name.as_str()) => {
                headers.insert(name, value);
            }
            _ => {
                tracing::debug!(binding = %ev.binding, "metadata {k:?} cannot be an HTTP header; left out")
            }
        }
    }
    let resp = channel
        .client
        .post(url)
        .headers(headers)
        .body(ev.data)
        .send()
        .await
        .map_err(|e| format!("error invoking app: {}", error_chain(&e)))?;
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    if status.is_success() {
        return Ok(());
    }
    let shown = String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned();
    Err(format!(
        "fails to send binding event to http app channel, status code: {} body: {shown}",
        status.as_u16()
    )
    .into())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A metadata value as a header value: CR and LF become spaces (as Go's server writes them),
/// as do the other control characters a header cannot carry.
fn header_value(v: &str) -> Option<HeaderValue> {
    let cleaned: String = v
        .chars()
        .map(|c| {
            if c.is_ascii_control() && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    HeaderValue::from_str(&cleaned).ok()
}

/// What the API handlers share.
struct Api {
    rt: Runtime,
    app_id: String,
    bindings: Vec<BindingInfo>,
    app_port: Option<u16>,
    app_channel_address: String,
    /// Set with `PUT /v1.0/metadata/{key}`, shown by `GET /v1.0/metadata`.
    extended: Mutex<BTreeMap<String, String>>,
}

fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route(
            "/v1.0/bindings/{name}",
            post(invoke_binding).put(invoke_binding),
        )
        .route("/v1.0/healthz", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/v1.0/healthz/outbound",
            get(|| async { StatusCode::NO_CONTENT }),
        )
        .route("/v1.0/metadata", get(metadata))
        .route("/v1.0/metadata/{key}", put(set_metadata))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// `{"errorCode": ..., "message": ...}`, as daprd's `APIError.JSONErrorValue`.
fn api_error(status: StatusCode, code: &str, message: String) -> Response {
    let body = json!({ "errorCode": code, "message": message }).to_string();
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

/// daprd's `OutputBindingRequest` after `json.NewDecoder(body).Decode`.
#[derive(Debug, Default, PartialEq)]
struct OutputRequest {
    data: Value,
    operation: String,
    metadata: MetadataMap,
}

fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Decode the body as Go's `json.Decoder` decodes it into daprd's request struct: the first
/// JSON value (what follows it is not read); `null` is an empty request; field names match
/// in any case; a field of the wrong type is an error.
fn parse_request(body: &[u8]) -> Result<OutputRequest, String> {
    let value = match serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()
    {
        None => return Err("EOF".into()),
        Some(Err(e)) if e.is_eof() => return Err("unexpected EOF".into()),
        Some(Err(e)) => return Err(e.to_string()),
        Some(Ok(v)) => v,
    };
    let mut req = OutputRequest::default();
    let fields = match value {
        Value::Null => return Ok(req),
        Value::Object(fields) => fields,
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type http.OutputBindingRequest",
                go_kind(&other)
            ))
        }
    };
    let wrong = |field: &str, v: &Value, want: &str| {
        format!(
            "json: cannot unmarshal {} into Go struct field OutputBindingRequest.{field} of type {want}",
            go_kind(v)
        )
    };
    for (key, v) in fields {
        match key.to_ascii_lowercase().as_str() {
            "data" => req.data = v,
            "operation" => match v {
                Value::String(s) => req.operation = s,
                Value::Null => {}
                other => return Err(wrong("operation", &other, "string")),
            },
            "metadata" => match v {
                Value::Object(entries) => {
                    for (k, v) in entries {
                        match v {
                            Value::String(s) => req.metadata.insert(k, s),
                            Value::Null => req.metadata.insert(k, String::new()),
                            other => return Err(wrong("metadata", &other, "string")),
                        };
                    }
                }
                Value::Null => {}
                other => return Err(wrong("metadata", &other, "map[string]string")),
            },
            _ => {}
        }
    }
    Ok(req)
}

/// `json.Marshal` of the decoded data, as daprd hands it to the binding: compact JSON, object
/// keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped as Go escapes them. (Go turns every
/// number into a float64 on the way; bindery keeps integers exact.)
fn go_json(v: &Value) -> Vec<u8> {
    let text = serde_json::to_string(v).expect("a JSON value serializes");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

/// The bytes the binding gets. Dapr's local storage binding unquotes what daprd quoted
/// (`strconv.Unquote` in its `create`), so a JSON string `data` is written as its text;
/// bindery's binding takes bytes as given, so the unquoting is done here, for that binding's
/// `create` only. (The base64 decoding that follows it in Dapr is not: see the README, "Where
/// bindery is stricter than Dapr".)
fn request_data(type_name: Option<&str>, operation: &str, data: &Value) -> Vec<u8> {
    match (type_name, operation, data) {
        (Some("bindings.localstorage"), "create", Value::String(s)) => s.clone().into_bytes(),
        _ => go_json(data),
    }
}

async fn invoke_binding(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let req = match parse_request(&body) {
        Ok(req) => req,
        Err(why) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "ERR_MALFORMED_REQUEST",
                format!("failed deserializing HTTP body: {why}"),
            )
        }
    };
    let failed = |why: String| {
        api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_INVOKE_OUTPUT_BINDING",
            format!("error invoking output binding {name}: {why}"),
        )
    };
    if req.operation.is_empty() {
        return failed("operation field is missing from request".into());
    }
    let output = api.bindings.iter().find(|b| b.name == name && b.output);
    let data = request_data(
        output.map(|b| b.type_name.as_str()),
        &req.operation,
        &req.data,
    );
    match api
        .rt
        .invoke(&name, &req.operation, data, req.metadata)
        .await
    {
        Ok(resp) => {
            let mut headers = HeaderMap::new();
            for (k, v) in &resp.metadata {
                match (
                    HeaderName::from_bytes(format!("metadata.{k}").as_bytes()),
                    header_value(v),
                ) {
                    (Ok(name), Some(value)) => {
                        headers.append(name, value);
                    }
                    _ => {
                        tracing::debug!(component = %name, "response metadata {k:?} cannot be an HTTP header; left out")
                    }
                }
            }
            if resp.data.is_empty() && resp.metadata.is_empty() {
                return (StatusCode::NO_CONTENT, headers).into_response();
            }
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            (StatusCode::OK, headers, resp.data).into_response()
        }
        Err(e) => {
            let mut why = e.message().to_string();
            if let Some(source) = e.source_text() {
                why = format!("{why}: {source}");
            }
            if output.is_none() {
                // daprd's words, then bindery's reason.
                why = format!("couldn't find output binding {name} ({why})");
            }
            failed(why)
        }
    }
}

async fn metadata(State(api): State<Arc<Api>>) -> Response {
    let components: Vec<Value> = api
        .bindings
        .iter()
        .map(|b| json!({ "name": b.name, "type": b.type_name, "capabilities": [] }))
        .collect();
    let extended = api.extended.lock().unwrap().clone();
    let mut connection = json!({
        "protocol": "http",
        "channelAddress": api.app_channel_address,
    });
    if let Some(p) = api.app_port {
        connection["port"] = json!(p);
    }
    let body = json!({
        "id": api.app_id,
        "runtimeVersion": format!("bindery {}", env!("CARGO_PKG_VERSION")),
        "enabledFeatures": [],
        "components": components,
        "extended": extended,
        "subscriptions": [],
        "httpEndpoints": [],
        "appConnectionProperties": connection,
    });
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn set_metadata(
    State(api): State<Arc<Api>>,
    Path(key): Path<String>,
    body: Bytes,
) -> StatusCode {
    let value = String::from_utf8_lossy(&body).into_owned();
    api.extended.lock().unwrap().insert(key, value);
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_decodes_as_go_decodes_it_into_the_request_struct() {
        let req = parse_request(br#"{"Operation": "create", "data": {"b": 1, "a": "<x>"}, "metadata": {"k": "v", "n": null}, "other": 1} trailing"#).unwrap();
        assert_eq!(req.operation, "create");
        assert_eq!(go_json(&req.data), br#"{"a":"\u003cx\u003e","b":1}"#);
        assert_eq!(req.metadata["k"], "v");
        assert_eq!(req.metadata["n"], "");
        assert_eq!(parse_request(b"null").unwrap(), OutputRequest::default());
        assert_eq!(parse_request(b"").unwrap_err(), "EOF");
        assert!(parse_request(b"[1]")
            .unwrap_err()
            .contains("cannot unmarshal array"));
        assert!(parse_request(br#"{"metadata": {"k": 1}}"#)
            .unwrap_err()
            .contains("OutputBindingRequest.metadata of type string"));
        assert!(parse_request(br#"{"operation": 1}"#).is_err());
    }

    #[test]
    fn data_is_json_marshal_of_the_value_and_local_storage_unquotes_a_string() {
        assert_eq!(go_json(&Value::Null), b"null");
        assert_eq!(go_json(&json!("hi")), br#""hi""#);
        assert_eq!(
            request_data(Some("bindings.localstorage"), "create", &json!("hi")),
            b"hi"
        );
        assert_eq!(
            request_data(Some("bindings.redis"), "create", &json!("hi")),
            br#""hi""#
        );
        assert_eq!(
            request_data(Some("bindings.localstorage"), "create", &json!({"a": 1})),
            br#"{"a":1}"#
        );
    }

    #[test]
    fn header_values_lose_control_characters() {
        assert_eq!(header_value("a\r\nb").unwrap(), "a  b");
        assert_eq!(header_value("a\tb").unwrap(), "a\tb");
    }
}
