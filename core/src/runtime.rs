//! The runtime: loads components, holds the handler table, runs input bindings into their
//! handlers and answers `invoke` on output bindings.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::{mpsc, OnceCell, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::binding::{
    Delivery, Event, EventSink, InputContext, InvokeRequest, InvokeResponse, MetadataMap,
    OutputBinding, Refusal, Reject, RunProgress, RunVerdict, Verdict,
};
use crate::component::{self, ranked, Diagnostic, ValidBinding};
use crate::error::{Error, ErrorKind, Result};
use crate::registry::Registry;

/// What a handler returns: `Ok` acks the event, `Err` nacks it, and `Err` of a `Reject`
/// (`Err(bindery::Reject::new(why).into())`) rejects it: it is not redelivered.
pub type HandlerResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

type HandlerFn = Arc<dyn Fn(Event) -> BoxFuture<'static, HandlerResult> + Send + Sync>;
type RunFn = Arc<dyn Fn(Vec<Event>, RunProgress) -> BoxFuture<'static, RunVerdict> + Send + Sync>;

/// A registered handler: of one event, or of a run of events in order.
#[derive(Clone)]
enum Handler {
    One(HandlerFn),
    Runs(RunFn),
}

/// How an input binding's events reach its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputOptions {
    /// How many events may be in the handler at once (1: one at a time, in order).
    pub concurrency: usize,
    /// How many events may wait for the handler before the source is made to wait.
    pub queue_capacity: usize,
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            concurrency: 1,
            queue_capacity: 16,
        }
    }
}

/// Options of a runtime.
#[derive(Debug, Clone)]
pub struct Options {
    /// The app ID, for Dapr's `scopes` and the `{appID}` template tag.
    pub app_id: Option<String>,
    /// The input options of handlers registered with `on_event`.
    pub input: InputOptions,
    /// How long `shutdown` waits for in-flight handlers by default.
    pub shutdown_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            app_id: None,
            input: InputOptions::default(),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Builds a `Runtime` from resources paths and options.
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    paths: Vec<PathBuf>,
    registry: Option<Registry>,
    options: Options,
    only: Option<Vec<String>>,
}

impl RuntimeBuilder {
    /// Add a resources path: a folder of component YAML files, or one file.
    pub fn resources_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.paths.push(path.into());
        self
    }

    /// Add several resources paths.
    pub fn resources_paths<P: Into<PathBuf>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.paths.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Use these options.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Set the app ID (for `scopes`).
    pub fn app_id(mut self, id: impl Into<String>) -> Self {
        self.options.app_id = Some(id.into());
        self
    }

    /// Use this registry instead of the built-in one (e.g. with bindings of your own).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Start only the named components (all are still validated).
    pub fn only<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.only = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Load and validate every component. No network I/O happens here. On any error, the
    /// returned `InvalidConfig` error carries every diagnostic found.
    pub fn build(self) -> Result<Runtime> {
        let registry = self.registry.unwrap_or_default();
        let (components, diags) = component::load_paths(&self.paths);
        let validated =
            component::validate(components, &registry, self.options.app_id.as_deref(), diags);
        if !validated.is_ok() {
            return Err(Error::invalid_config(validated.diagnostics));
        }
        for d in &validated.diagnostics {
            tracing::warn!("{d}");
        }
        let mut bindings = validated.bindings;
        if let Some(only) = &self.only {
            let names: Vec<&str> = bindings.iter().map(|b| b.config.name.as_str()).collect();
            for want in only {
                if !names.contains(&want.as_str()) {
                    return Err(not_found(want, "binding", &names));
                }
            }
            bindings.retain(|b| only.contains(&b.config.name));
        }
        let outputs = bindings
            .iter()
            .filter_map(|b| {
                b.parts.output.clone().map(|o| {
                    (
                        b.config.name.clone(),
                        Arc::new(OutputSlot {
                            binding: o,
                            operations: b.spec.operations,
                            init: OnceCell::new(),
                            timeout: b.component.init_timeout,
                            ignore_errors: b.component.ignore_errors,
                        }),
                    )
                })
            })
            .collect();
        Ok(Runtime {
            inner: Arc::new(Inner {
                bindings,
                diagnostics: validated.diagnostics,
                options: self.options,
                outputs,
                state: Mutex::new(State::Created),
                handlers: Mutex::new(HashMap::new()),
                stats: Mutex::new(HashMap::new()),
                stop_inputs: CancellationToken::new(),
                tracker: TaskTracker::new(),
                readers: Mutex::new(Vec::new()),
                unhandled: Mutex::new(Vec::new()),
                declined: Mutex::new(Vec::new()),
            }),
        })
    }
}

fn not_found(name: &str, what: &str, names: &[&str]) -> Error {
    let list = ranked(name, names.iter().copied());
    let msg = if list.is_empty() {
        format!("no {what} named {name:?}: there are none in the resources path")
    } else {
        format!(
            "no {what} named {name:?}; the {what}s are (nearest first): {}",
            list.join(", ")
        )
    };
    Error::new(ErrorKind::NotFound, msg).with_component(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Created,
    Started,
    Stopping,
    Stopped,
}

struct OutputSlot {
    binding: Arc<dyn OutputBinding>,
    /// The operations its type declares (`BindingSpec::operations`).
    operations: &'static [&'static str],
    init: OnceCell<std::result::Result<(), Error>>,
    timeout: Duration,
    ignore_errors: bool,
}

impl OutputSlot {
    async fn ready(&self, name: &str) -> Result<()> {
        self.init
            .get_or_init(|| init_within(name, self.timeout, self.binding.init()))
            .await
            .clone()
            .map_err(|e| e.with_component(name))
    }
}

/// Counters of one input binding.
#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    acked: AtomicU64,
    nacked: AtomicU64,
    panicked: AtomicU64,
    rejected: AtomicU64,
}

/// What happened to an input binding's events so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Events handed to the handler.
    pub delivered: u64,
    /// Events the handler succeeded on.
    pub acked: u64,
    /// Events the handler failed on (errors and panics): redelivered where the source can.
    pub nacked: u64,
    /// Of the nacked events, those whose handler panicked.
    pub panicked: u64,
    /// Events the handler rejected (`Reject`): not redelivered, dead-lettered where the source
    /// can.
    pub rejected: u64,
}

struct Registered {
    handler: Handler,
    options: InputOptions,
}

struct Inner {
    bindings: Vec<ValidBinding>,
    diagnostics: Vec<Diagnostic>,
    options: Options,
    outputs: HashMap<String, Arc<OutputSlot>>,
    state: Mutex<State>,
    handlers: Mutex<HashMap<String, Registered>>,
    stats: Mutex<HashMap<String, Arc<Counters>>>,
    stop_inputs: CancellationToken,
    tracker: TaskTracker,
    readers: Mutex<Vec<(String, JoinHandle<()>)>>,
    unhandled: Mutex<Vec<String>>,
    /// Inputs the app said it does not take ([`Runtime::decline`]).
    declined: Mutex<Vec<String>>,
}

/// A description of one binding the runtime loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingInfo {
    /// `metadata.name`.
    pub name: String,
    /// `spec.type`.
    pub type_name: String,
    /// Used as an input binding.
    pub input: bool,
    /// Used as an output binding.
    pub output: bool,
    /// Dapr's route for the input (default `/<name>`).
    pub route: String,
    /// The `direction` metadata as written, when given. Like Dapr, an app bridge delivers to
    /// a binding whose direction names `input` without probing the app first.
    pub direction: Option<String>,
    /// The operations of the output side.
    pub operations: Vec<String>,
}

/// What `shutdown` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Whether every in-flight handler finished before the deadline.
    pub drained: bool,
}

/// The bindery runtime. Cheap to clone; all clones share one runtime.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field(
                "bindings",
                &self
                    .inner
                    .bindings
                    .iter()
                    .map(|b| &b.config.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

impl Runtime {
    /// A builder.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Load and validate the components under one resources path, with default options.
    pub fn from_path(path: impl Into<PathBuf>) -> Result<Runtime> {
        Runtime::builder().resources_path(path).build()
    }

    /// Warnings found while loading (unknown fields, skipped components).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.inner.diagnostics
    }

    /// Every binding loaded.
    pub fn bindings(&self) -> Vec<BindingInfo> {
        self.inner
            .bindings
            .iter()
            .map(|b| BindingInfo {
                name: b.config.name.clone(),
                type_name: b.config.type_name.clone(),
                input: b.parts.input.is_some(),
                output: b.parts.output.is_some(),
                route: b.route.clone(),
                direction: b.config.metadata.get("direction").map(str::to_string),
                operations: if b.parts.output.is_some() {
                    b.spec.operations.iter().map(|s| s.to_string()).collect()
                } else {
                    Vec::new()
                },
            })
            .collect()
    }

    fn binding(&self, name: &str) -> Option<&ValidBinding> {
        self.inner.bindings.iter().find(|b| b.config.name == name)
    }

    fn input_names(&self) -> Vec<&str> {
        self.inner
            .bindings
            .iter()
            .filter(|b| b.parts.input.is_some())
            .map(|b| b.config.name.as_str())
            .collect()
    }

    /// Register the handler of an input binding, by its component name. A handler that
    /// returns `Ok` acks the event; `Err` or a panic nacks it (the source redelivers it where
    /// it can); `Err` of a `Reject` rejects it (the source does not redeliver it).
    pub fn on_event<F, Fut>(&self, name: &str, handler: F) -> Result<()>
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.on_event_with(name, self.inner.options.input, handler)
    }

    /// Register a handler with its own concurrency and queue bound.
    pub fn on_event_with<F, Fut>(&self, name: &str, options: InputOptions, handler: F) -> Result<()>
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let handler: HandlerFn = Arc::new(move |ev| handler(ev).boxed());
        self.register(name, options, Handler::One(handler))
    }

    /// Register a handler that takes events in runs: it handles them one after the other in
    /// the order given, stops at the first it does not ack, and says how far it got. Sources
    /// with several events ready hand them over in one go (`EventSink::start_run`); others
    /// hand over runs of one. For language layers, where one crossing per run rather than per
    /// event is what makes a stream fast.
    ///
    /// As it goes, the handler reports each event it acked through the run's `RunProgress`
    /// (`progress.acked(i + 1)`), so that the source settles it (offset stored, basic.ack,
    /// PUBACK) as it completes, and checks `progress.stopping()` after each event: when the
    /// runtime is stopping it returns `RunVerdict::stopped_at(i + 1)`, leaving the rest for
    /// later. It ends a run at an event it fails on with `RunVerdict::failed_at(i, why)` and
    /// at one it rejects with `RunVerdict::rejected_at(i, why)`. A handler that reports
    /// nothing still works, but its source settles the run only when it is over, and a stop
    /// mid-run throws its work away. A panic counts as a failure of the first event not
    /// reported acked.
    pub fn on_runs<F, Fut>(&self, name: &str, handler: F) -> Result<()>
    where
        F: Fn(Vec<Event>, RunProgress) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RunVerdict> + Send + 'static,
    {
        let handler: RunFn = Arc::new(move |evs, progress| handler(evs, progress).boxed());
        self.register(name, self.inner.options.input, Handler::Runs(handler))
    }

    /// The old name of `on_runs`.
    #[deprecated(
        since = "0.1.0",
        note = "renamed `on_runs` (one word, run, for a run of events)"
    )]
    pub fn on_events_in_order<F, Fut>(&self, name: &str, handler: F) -> Result<()>
    where
        F: Fn(Vec<Event>, RunProgress) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RunVerdict> + Send + 'static,
    {
        self.on_runs(name, handler)
    }

    /// Leave input binding `name` unstarted on purpose, as when the app answers a bridge's
    /// `OPTIONS` probe that it does not take it (daprd's rule): `start` skips it without the
    /// no-handler warning, and it is not among [`Runtime::unhandled_inputs`]. Like
    /// [`Runtime::on_event`], only before `start`, and only for an input binding.
    pub fn decline(&self, name: &str) -> Result<()> {
        self.check_input(name)?;
        if self.inner.handlers.lock().unwrap().contains_key(name) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "a handler is registered for this binding; it cannot be declined",
            )
            .with_component(name));
        }
        self.inner.declined.lock().unwrap().push(name.to_string());
        Ok(())
    }

    /// `name` is an input binding and the runtime has not started: else the error saying so.
    fn check_input(&self, name: &str) -> Result<()> {
        if *self.inner.state.lock().unwrap() != State::Created {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "handlers must be registered before start",
            )
            .with_component(name));
        }
        match self.binding(name) {
            Some(b) if b.parts.input.is_some() => {}
            Some(b) => {
                let why = if b.spec.input {
                    "its direction metadata leaves input out".to_string()
                } else {
                    format!("{} is an output binding only", b.spec.type_name)
                };
                let mut e = not_found(name, "input binding", &self.input_names());
                e = Error::new(
                    ErrorKind::NotFound,
                    format!("{name:?} is not an input binding ({why}); {}", e.message()),
                )
                .with_component(name);
                return Err(e);
            }
            None => return Err(not_found(name, "input binding", &self.input_names())),
        }
        Ok(())
    }

    fn register(&self, name: &str, options: InputOptions, handler: Handler) -> Result<()> {
        self.check_input(name)?;
        if self
            .inner
            .declined
            .lock()
            .unwrap()
            .iter()
            .any(|d| d == name)
        {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "this binding was declined; it cannot have a handler",
            )
            .with_component(name));
        }
        if options.concurrency == 0 || options.queue_capacity == 0 {
            return Err(Error::invalid_argument(
                "concurrency and queue_capacity must be at least 1",
            )
            .with_component(name));
        }
        let mut handlers = self.inner.handlers.lock().unwrap();
        if handlers.contains_key(name) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "a handler is already registered for this binding",
            )
            .with_component(name));
        }
        handlers.insert(name.to_string(), Registered { handler, options });
        Ok(())
    }

    /// Input bindings that were not started because no handler was registered for them.
    pub fn unhandled_inputs(&self) -> Vec<String> {
        self.inner.unhandled.lock().unwrap().clone()
    }

    /// The counters of an input binding, once started.
    pub fn input_stats(&self, name: &str) -> Option<InputStats> {
        self.inner
            .stats
            .lock()
            .unwrap()
            .get(name)
            .map(|c| InputStats {
                delivered: c.delivered.load(Ordering::Relaxed),
                acked: c.acked.load(Ordering::Relaxed),
                nacked: c.nacked.load(Ordering::Relaxed),
                panicked: c.panicked.load(Ordering::Relaxed),
                rejected: c.rejected.load(Ordering::Relaxed),
            })
    }

    /// Initialise the outputs and start every input binding that has a handler. Must be called
    /// inside a tokio runtime; the bindings' tasks run on it.
    pub async fn start(&self) -> Result<()> {
        {
            let mut st = self.inner.state.lock().unwrap();
            if *st != State::Created {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    "the runtime was already started",
                ));
            }
            *st = State::Started;
        }
        // Outputs first, so that handlers can invoke them from their first event.
        let mut failures = Vec::new();
        let inits =
            self.inner.outputs.iter().map(|(name, slot)| async move {
                (name, slot.ready(name).await, slot.ignore_errors)
            });
        for (name, res, ignore) in futures::future::join_all(inits).await {
            if let Err(e) = res {
                if ignore {
                    tracing::warn!(component = %name, "output binding failed to initialise and is skipped (ignoreErrors): {e}");
                } else {
                    failures.push(e);
                }
            }
        }
        if let Some(e) = failures.into_iter().next() {
            *self.inner.state.lock().unwrap() = State::Stopped;
            return Err(e);
        }

        let mut handlers: HashMap<String, Registered> =
            std::mem::take(&mut *self.inner.handlers.lock().unwrap());
        for b in &self.inner.bindings {
            let Some(input) = b.parts.input.clone() else {
                continue;
            };
            let name = b.config.name.clone();
            let Some(reg) = handlers.remove(&name) else {
                if self.inner.declined.lock().unwrap().contains(&name) {
                    tracing::debug!(component = %name, "input binding {name:?} is declined by the app, so it is not started");
                    continue;
                }
                tracing::warn!(
                    component = %name,
                    "input binding {name:?} has no handler, so it is not started; register one with on_event({name:?}, ...), or set its direction metadata to \"output\""
                );
                self.inner.unhandled.lock().unwrap().push(name);
                continue;
            };
            if let Err(e) = init_within(&name, b.component.init_timeout, input.init()).await {
                if b.component.ignore_errors {
                    tracing::warn!(component = %name, "input binding failed to initialise and is skipped (ignoreErrors): {e}");
                    continue;
                }
                self.abort_started().await;
                return Err(e.with_component(&name));
            }
            let counters = Arc::new(Counters::default());
            self.inner
                .stats
                .lock()
                .unwrap()
                .insert(name.clone(), counters.clone());
            let (tx, rx) = mpsc::channel::<Delivery>(reg.options.queue_capacity);
            let shared_name: Arc<str> = Arc::from(name.as_str());
            let sink = EventSink::new(shared_name.clone(), tx, self.inner.stop_inputs.clone());
            self.inner.tracker.spawn(dispatch(
                shared_name,
                rx,
                reg,
                counters,
                self.inner.stop_inputs.clone(),
                self.inner.tracker.clone(),
            ));
            let ctx = InputContext {
                sink,
                shutdown: self.inner.stop_inputs.child_token(),
            };
            let reader_name = name.clone();
            let handle = tokio::spawn(async move {
                match AssertUnwindSafe(input.read(ctx)).catch_unwind().await {
                    Ok(Ok(())) => {
                        tracing::debug!(component = %reader_name, "input binding stopped")
                    }
                    Ok(Err(e)) => {
                        tracing::error!(component = %reader_name, "input binding failed: {e}")
                    }
                    Err(p) => {
                        tracing::error!(component = %reader_name, "input binding panicked: {}", panic_message(&*p))
                    }
                }
            });
            self.inner.readers.lock().unwrap().push((name, handle));
        }
        Ok(())
    }

    async fn abort_started(&self) {
        let _ = self.shutdown(Duration::from_secs(1)).await;
    }

    /// Call an output binding: `operation` with `data` and request `metadata`.
    pub async fn invoke(
        &self,
        name: &str,
        operation: &str,
        data: impl Into<Vec<u8>>,
        metadata: MetadataMap,
    ) -> Result<InvokeResponse> {
        self.invoke_request(
            name,
            InvokeRequest {
                operation: operation.to_string(),
                data: data.into(),
                metadata,
            },
        )
        .await
    }

    /// Call an output binding with a whole request.
    pub async fn invoke_request(&self, name: &str, req: InvokeRequest) -> Result<InvokeResponse> {
        let op = req.operation.clone();
        let slot = self.output_slot(name, &op)?;
        // A binding that panics is a bug; its caller (a C completion, a Python future, a JS
        // promise) gets an `Internal` error saying so rather than a dropped call.
        crate::embed::catch_panic("the binding", async {
            slot.ready(name).await?;
            slot.binding.invoke(req).await
        })
        .await
        .map_err(|e| e.with_component(name).with_operation(&op))
    }

    fn output_slot(&self, name: &str, op: &str) -> Result<Arc<OutputSlot>> {
        let state = *self.inner.state.lock().unwrap();
        if state == State::Stopped {
            return Err(Error::new(ErrorKind::Closed, "the runtime is shut down")
                .with_component(name)
                .with_operation(op));
        }
        let Some(slot) = self.inner.outputs.get(name) else {
            let outputs: Vec<&str> = self.inner.outputs.keys().map(String::as_str).collect();
            if let Some(b) = self.binding(name) {
                let why = if b.spec.output {
                    "its direction metadata leaves output out"
                } else {
                    "its type has no output side"
                };
                return Err(Error::new(
                    ErrorKind::UnsupportedOperation,
                    format!(
                        "{name:?} ({}) is not an output binding: {why}",
                        b.spec.type_name
                    ),
                )
                .with_component(name)
                .with_operation(op));
            }
            return Err(not_found(name, "output binding", &outputs).with_operation(op));
        };
        let ops = slot.operations;
        if !ops.contains(&op) {
            let type_name = self.binding(name).map(|b| b.spec.type_name).unwrap_or("");
            let near = component::nearest(op, ops.iter().copied())
                .map(|n| format!(" (did you mean {n:?}?)"))
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "{type_name} has no operation {op:?}{near}; its operations are: {}",
                    ops.join(", ")
                ),
            )
            .with_component(name)
            .with_operation(op));
        }
        Ok(slot.clone())
    }

    /// Stop the inputs, wait up to `deadline` for in-flight handlers, then close the bindings.
    /// Events queued but not yet handled are nacked, so their sources redeliver them.
    pub async fn shutdown(&self, deadline: Duration) -> Result<ShutdownReport> {
        {
            let mut st = self.inner.state.lock().unwrap();
            match *st {
                State::Stopping | State::Stopped => return Ok(ShutdownReport { drained: true }),
                _ => *st = State::Stopping,
            }
        }
        let until = tokio::time::Instant::now() + deadline;
        self.inner.stop_inputs.cancel();
        let readers: Vec<(String, JoinHandle<()>)> =
            std::mem::take(&mut *self.inner.readers.lock().unwrap());
        for (name, mut h) in readers {
            if tokio::time::timeout_at(until, &mut h).await.is_err() {
                tracing::warn!(component = %name, "input binding did not stop in time; it is aborted");
                h.abort();
            }
        }
        self.inner.tracker.close();
        let drained = tokio::time::timeout_at(until, self.inner.tracker.wait())
            .await
            .is_ok();
        if !drained {
            tracing::warn!("shutdown deadline of {deadline:?} passed with handlers still running; their events stay unacked");
        }
        for b in &self.inner.bindings {
            if let Some(i) = &b.parts.input {
                if let Err(e) = i.close().await {
                    tracing::warn!(component = %b.config.name, "closing the input failed: {e}");
                }
            }
        }
        *self.inner.state.lock().unwrap() = State::Stopped;
        for (name, slot) in &self.inner.outputs {
            if slot.init.get().is_some_and(|r| r.is_ok()) {
                if let Err(e) = slot.binding.close().await {
                    tracing::warn!(component = %name, "closing the output failed: {e}");
                }
            }
        }
        Ok(ShutdownReport { drained })
    }

    /// Stop with the default deadline (`Options::shutdown_timeout`).
    pub async fn stop(&self) -> Result<ShutdownReport> {
        self.shutdown(self.inner.options.shutdown_timeout).await
    }
}

/// Run a handler on one event, counting it; an error or a panic is a nack, a `Reject` error
/// a reject.
async fn run_one(name: &str, counters: &Counters, handler: &HandlerFn, event: Event) -> Verdict {
    counters.delivered.fetch_add(1, Ordering::Relaxed);
    match AssertUnwindSafe(handler(event)).catch_unwind().await {
        Ok(Ok(())) => {
            counters.acked.fetch_add(1, Ordering::Relaxed);
            Verdict::Ack
        }
        Ok(Err(e)) => match e.downcast_ref::<Reject>() {
            Some(r) => {
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::info!(component = %name, "handler rejected the event: {}", r.reason());
                Verdict::Reject(r.reason().to_string())
            }
            None => {
                counters.nacked.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(component = %name, "handler failed, event nacked: {e}");
                Verdict::Nack(e.to_string())
            }
        },
        Err(p) => {
            counters.nacked.fetch_add(1, Ordering::Relaxed);
            counters.panicked.fetch_add(1, Ordering::Relaxed);
            let msg = panic_message(&*p);
            tracing::error!(component = %name, "handler panicked, event nacked: {msg}");
            Verdict::Nack(format!("handler panicked: {msg}"))
        }
    }
}

/// Run a handler of runs on `events`, counting each event it handled. The events it reported
/// acked through `progress` stay acked whatever it answers (its source may have settled them).
async fn handle_run(
    name: &str,
    counters: &Counters,
    handler: &RunFn,
    events: Vec<Event>,
    progress: RunProgress,
) -> RunVerdict {
    let n = events.len();
    let outcome = AssertUnwindSafe(handler(events, progress.clone()))
        .catch_unwind()
        .await;
    let floor = progress.acked_so_far();
    let (mut verdict, panicked) = match outcome {
        Ok(v) if v.acked < n || (v.acked == n && v.refused.is_none()) => (v, false),
        Ok(v) => (
            RunVerdict::failed_at(
                floor,
                format!(
                    "the handler answered {} acked of {n} events{}",
                    v.acked,
                    if v.refused.is_some() {
                        " and a failure"
                    } else {
                        ""
                    }
                ),
            ),
            false,
        ),
        Err(p) => {
            counters.panicked.fetch_add(1, Ordering::Relaxed);
            let msg = panic_message(&*p);
            tracing::error!(component = %name, "handler panicked, event nacked: {msg}");
            (
                RunVerdict::failed_at(floor, format!("handler panicked: {msg}")),
                true,
            )
        }
    };
    if verdict.acked < floor {
        tracing::warn!(component = %name, "the handler answered {} acked of {n} events after it reported {floor}; {floor} count as acked", verdict.acked);
        verdict.acked = floor;
    }
    if verdict.acked >= n {
        verdict = RunVerdict::all(n);
    }
    let ran = verdict.acked + usize::from(verdict.refused.is_some());
    counters.delivered.fetch_add(ran as u64, Ordering::Relaxed);
    counters
        .acked
        .fetch_add(verdict.acked as u64, Ordering::Relaxed);
    match &verdict.refused {
        Some(Refusal::Nack(why)) => {
            counters.nacked.fetch_add(1, Ordering::Relaxed);
            if !panicked {
                tracing::warn!(component = %name, "handler failed, event nacked: {why}");
            }
        }
        Some(Refusal::Reject(why)) => {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::info!(component = %name, "handler rejected the event: {why}");
        }
        None => {}
    }
    verdict
}

/// A binding's `init`, bounded by its component's `spec.initTimeout`.
async fn init_within(
    name: &str,
    limit: Duration,
    init: impl Future<Output = Result<()>>,
) -> Result<()> {
    match tokio::time::timeout(limit, init).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("init timeout for component {name} exceeded after {limit:?}"),
        )
        .with_component(name)),
    }
}

/// Take deliveries off the queue and run the handler on each, at most `concurrency` at once.
async fn dispatch(
    name: Arc<str>,
    mut rx: mpsc::Receiver<Delivery>,
    reg: Registered,
    counters: Arc<Counters>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let sem = Arc::new(Semaphore::new(reg.options.concurrency));
    loop {
        let delivery = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            d = rx.recv() => match d { Some(d) => d, None => break },
        };
        let permit = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let handler = reg.handler.clone();
        let counters = counters.clone();
        let name = name.clone();
        let stop = stop.clone();
        tracker.spawn(async move {
            match delivery {
                Delivery::One { event, reply } => {
                    let verdict = match handler {
                        Handler::One(h) => run_one(&name, &counters, &h, event).await,
                        Handler::Runs(h) => {
                            let progress = RunProgress::new(1, stop.clone());
                            match handle_run(&name, &counters, &h, vec![event], progress).await {
                                RunVerdict {
                                    refused: Some(refusal),
                                    ..
                                } => refusal.into(),
                                _ => Verdict::Ack,
                            }
                        }
                    };
                    let _ = reply.send(verdict);
                }
                Delivery::Run {
                    events,
                    progress,
                    reply,
                } => {
                    let verdict = match handler {
                        Handler::Runs(h) => {
                            handle_run(&name, &counters, &h, events, progress).await
                        }
                        Handler::One(h) => {
                            // Each event acked is reported at once, so that the source settles
                            // it then; at a stop, the rest are left for later.
                            let mut verdict = RunVerdict::all(0);
                            for event in events {
                                if stop.is_cancelled() {
                                    break;
                                }
                                match run_one(&name, &counters, &h, event).await {
                                    Verdict::Ack => {
                                        verdict.acked += 1;
                                        progress.acked(verdict.acked);
                                    }
                                    Verdict::Nack(why) => {
                                        verdict.refused = Some(Refusal::Nack(why));
                                        break;
                                    }
                                    Verdict::Reject(why) => {
                                        verdict.refused = Some(Refusal::Reject(why));
                                        break;
                                    }
                                }
                            }
                            verdict
                        }
                    };
                    let _ = reply.send(verdict);
                }
            }
            drop(permit);
        });
    }
    // Whatever is still queued is dropped unhandled: each waiting source sees a nack.
    rx.close();
    while rx.try_recv().is_ok() {}
}
