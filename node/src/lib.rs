//! The napi-rs layer under the `bindery` npm package. It holds a core `Runtime` on napi's
//! tokio runtime and hands input events to JavaScript by pull: the JS side awaits
//! `recv(name)` for the next run of events (the ones a source had ready, in order; often one)
//! and answers with `settle(id, acked, reason)` once it handled them one after the other;
//! meanwhile `progress(id, acked)` lets the source settle the events handled so far (the JS
//! side calls it for slow events and when stopping). Nothing here blocks the
//! JS thread, and once the runtime is stopped every pending `recv` resolves to null, so the
//! process holds no handle and may exit. Errors reach JS as `[<code name>] <message>`, which
//! the JS wrapper turns into a `BinderyError`.

#![deny(clippy::all)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindery::embed::CallGate;
use bindery::{Event, InputOptions, Options, RunProgress, RunVerdict, Runtime};
use napi::bindgen_prelude::Buffer;
use napi::threadsafe_function::{ErrorStrategy, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Env;
use napi_derive::napi;
use tokio::sync::{mpsc, oneshot};

fn js_error(e: &bindery::Error) -> napi::Error {
    napi::Error::from_reason(format!("[{}] {e}", e.kind().name()))
}

fn invalid(message: &str) -> napi::Error {
    napi::Error::from_reason(format!("[invalid_argument] {message}"))
}

/// An input event handed to JavaScript.
#[napi(object)]
pub struct NativeEvent {
    pub binding: String,
    pub data: Buffer,
    pub metadata: HashMap<String, String>,
}

/// Events to handle one after the other, in order; `id` is passed back to `settle`.
#[napi(object)]
pub struct NativeRun {
    pub id: u32,
    pub events: Vec<NativeEvent>,
}

/// The answer of an output binding.
#[napi(object)]
pub struct NativeResponse {
    pub data: Buffer,
    pub metadata: HashMap<String, String>,
}

/// Runtime options.
#[napi(object)]
pub struct NativeOptions {
    pub app_id: Option<String>,
    pub concurrency: Option<u32>,
    pub queue_capacity: Option<u32>,
    pub shutdown_timeout_ms: Option<u32>,
}

/// A binding the runtime loaded.
#[napi(object)]
pub struct NativeBindingInfo {
    pub name: String,
    pub r#type: String,
    pub input: bool,
    pub output: bool,
    pub route: String,
    pub direction: Option<String>,
    pub operations: Vec<String>,
}

/// Counters of a started input binding.
#[napi(object)]
pub struct NativeStats {
    pub delivered: f64,
    pub acked: f64,
    pub nacked: f64,
    pub rejected: f64,
    pub panicked: f64,
}

type Pending = (Vec<Event>, RunProgress, oneshot::Sender<RunVerdict>);

/// What `invoke_start` hands back through the completion function:
/// (id, error or null, data or null, metadata or null).
type Completion = (
    u32,
    Option<String>,
    Option<Buffer>,
    Option<HashMap<String, String>>,
);
type CompletionFn = ThreadsafeFunction<Completion, ErrorStrategy::Fatal>;

struct Inner {
    rt: Runtime,
    inboxes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>>>,
    waiting: Mutex<HashMap<u32, (oneshot::Sender<RunVerdict>, RunProgress)>>,
    next_id: AtomicU32,
    completions: Mutex<Option<CompletionFn>>,
    /// Closed once the runtime is stopped: calls still in flight then fail with `closed`.
    gate: CallGate,
}

/// The native runtime.
#[napi]
pub struct NativeRuntime {
    inner: Arc<Inner>,
}

#[napi]
impl NativeRuntime {
    /// Load and validate the components (no network I/O).
    #[napi(constructor)]
    pub fn new(paths: Vec<String>, options: Option<NativeOptions>) -> napi::Result<Self> {
        // BINDERY_LOG, when set, logs to stderr (capped and scrubbed of secrets); once.
        bindery::logging::init_if_asked();
        if paths.is_empty() {
            return Err(invalid("give at least one resources path"));
        }
        let defaults = Options::default();
        let mut opts = defaults.clone();
        if let Some(o) = options {
            opts.app_id = o.app_id;
            opts.input = InputOptions {
                concurrency: o
                    .concurrency
                    .map(|c| c as usize)
                    .unwrap_or(defaults.input.concurrency),
                queue_capacity: o
                    .queue_capacity
                    .map(|c| c as usize)
                    .unwrap_or(defaults.input.queue_capacity),
            };
            if let Some(ms) = o.shutdown_timeout_ms {
                opts.shutdown_timeout = Duration::from_millis(u64::from(ms));
            }
        }
        if opts.input.concurrency == 0 || opts.input.queue_capacity == 0 {
            return Err(invalid("concurrency and queueCapacity must be at least 1"));
        }
        let rt = Runtime::builder()
            .resources_paths(paths.into_iter().map(PathBuf::from))
            .options(opts)
            .build()
            .map_err(|e| js_error(&e))?;
        Ok(NativeRuntime {
            inner: Arc::new(Inner {
                rt,
                inboxes: Mutex::new(HashMap::new()),
                waiting: Mutex::new(HashMap::new()),
                next_id: AtomicU32::new(1),
                completions: Mutex::new(None),
                gate: CallGate::new("the runtime was stopped before the call finished"),
            }),
        })
    }

    /// Take the events of an input binding; read them with `recv(name)`.
    #[napi]
    pub fn on(&self, name: String) -> napi::Result<()> {
        let (tx, rx) = mpsc::unbounded_channel::<Pending>();
        self.inner
            .rt
            .on_runs(&name, move |events, progress| {
                let tx = tx.clone();
                async move {
                    let (reply, verdict) = oneshot::channel();
                    if tx.send((events, progress, reply)).is_err() {
                        return RunVerdict::failed_at(0, "the JavaScript side is gone");
                    }
                    verdict.await.unwrap_or_else(|_| {
                        RunVerdict::failed_at(0, "the JavaScript handler never answered")
                    })
                }
            })
            .map_err(|e| js_error(&e))?;
        self.inner
            .inboxes
            .lock()
            .unwrap()
            .insert(name, Arc::new(tokio::sync::Mutex::new(rx)));
        Ok(())
    }

    /// The next run of events of an input binding, or null once the runtime stopped.
    #[napi]
    pub async fn recv(&self, name: String) -> napi::Result<Option<NativeRun>> {
        let inbox = self.inner.inboxes.lock().unwrap().get(&name).cloned();
        let Some(inbox) = inbox else {
            return Err(invalid(&format!("no handler was registered for {name:?}")));
        };
        let next = inbox.lock().await.recv().await;
        Ok(next.map(|(events, progress, reply)| {
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            self.inner
                .waiting
                .lock()
                .unwrap()
                .insert(id, (reply, progress));
            NativeRun {
                id,
                events: events
                    .into_iter()
                    .map(|ev| NativeEvent {
                        binding: ev.binding,
                        data: ev.data.into(),
                        metadata: ev.metadata,
                    })
                    .collect(),
            }
        }))
    }

    /// Answer a run: its first `acked` events were handled; when `reason` is given, the next
    /// one failed with it, or was rejected when `rejected` is true (and the rest were not
    /// handled).
    #[napi]
    pub fn settle(&self, id: u32, acked: u32, reason: Option<String>, rejected: Option<bool>) {
        if let Some((reply, _)) = self.inner.waiting.lock().unwrap().remove(&id) {
            let acked = acked as usize;
            let _ = reply.send(match reason {
                None => RunVerdict::all(acked),
                Some(why) if rejected == Some(true) => RunVerdict::rejected_at(acked, why),
                Some(why) => RunVerdict::failed_at(acked, why),
            });
        }
    }

    /// While a run is in hand: its first `acked` events were handled, so that the source
    /// settles them now rather than when the whole run is answered.
    #[napi]
    pub fn progress(&self, id: u32, acked: u32) {
        if let Some((_, progress)) = self.inner.waiting.lock().unwrap().get(&id) {
            progress.acked(acked as usize);
        }
    }

    /// Initialise the outputs and start the inputs that have handlers.
    #[napi]
    pub async fn start(&self) -> napi::Result<()> {
        self.inner.rt.start().await.map_err(|e| js_error(&e))
    }

    /// Set the function every `invoke_start` completes through, called on the JS thread as
    /// `done(id, error, data, metadata)`. One thread-safe function serves every call (one per
    /// call is what makes napi's async functions slow); it starts unreferenced, so it keeps
    /// the process alive only between `ref_completions` and `unref_completions`.
    #[napi]
    pub fn set_completions(&self, env: Env, mut done: CompletionFn) -> napi::Result<()> {
        done.unref(&env)?;
        *self.inner.completions.lock().unwrap() = Some(done);
        Ok(())
    }

    /// Keep the process alive while calls are in flight (the JS side counts them).
    #[napi]
    pub fn ref_completions(&self, env: Env) -> napi::Result<()> {
        if let Some(f) = self.inner.completions.lock().unwrap().as_mut() {
            f.refer(&env)?;
        }
        Ok(())
    }

    /// Let the process exit when no call is in flight.
    #[napi]
    pub fn unref_completions(&self, env: Env) -> napi::Result<()> {
        if let Some(f) = self.inner.completions.lock().unwrap().as_mut() {
            f.unref(&env)?;
        }
        Ok(())
    }

    /// Start a call of an output binding; its outcome arrives through the completion
    /// function with this `id` (`closed` when the runtime is stopped before it finished).
    #[napi]
    pub fn invoke_start(
        &self,
        id: u32,
        name: String,
        operation: String,
        data: Buffer,
        metadata: Option<HashMap<String, String>>,
    ) -> napi::Result<()> {
        let Some(done) = self.inner.completions.lock().unwrap().clone() else {
            return Err(invalid("set_completions was not called"));
        };
        let data: Vec<u8> = data.to_vec();
        let rt = self.inner.rt.clone();
        let call = self.inner.gate.guard(async move {
            rt.invoke(&name, &operation, data, metadata.unwrap_or_default())
                .await
        });
        napi::bindgen_prelude::spawn(async move {
            let result = bindery::embed::catch_panic("the call", call).await;
            let completion = match result {
                Ok(resp) => (id, None, Some(resp.data.into()), Some(resp.metadata)),
                Err(e) => (id, Some(format!("[{}] {e}", e.kind().name())), None, None),
            };
            done.call(completion, ThreadsafeFunctionCallMode::NonBlocking);
        });
        Ok(())
    }

    /// Stop the inputs, wait up to `timeout_ms` for handlers in flight, close the bindings;
    /// calls still in flight then fail with `closed`. Resolves to whether every handler
    /// finished in time.
    #[napi]
    pub async fn shutdown(&self, timeout_ms: u32) -> napi::Result<bool> {
        let report = self
            .inner
            .rt
            .shutdown(Duration::from_millis(u64::from(timeout_ms)))
            .await;
        self.inner.gate.close();
        let report = report.map_err(|e| js_error(&e))?;
        // Events never answered are nacked; waiting `recv`s see their channels close.
        self.inner.waiting.lock().unwrap().clear();
        Ok(report.drained)
    }

    /// Every binding loaded.
    #[napi]
    pub fn bindings(&self) -> Vec<NativeBindingInfo> {
        self.inner
            .rt
            .bindings()
            .into_iter()
            .map(|b| NativeBindingInfo {
                name: b.name,
                r#type: b.type_name,
                input: b.input,
                output: b.output,
                route: b.route,
                direction: b.direction,
                operations: b.operations,
            })
            .collect()
    }

    /// Counters of a started input binding, or null.
    #[napi]
    pub fn stats(&self, name: String) -> Option<NativeStats> {
        self.inner.rt.input_stats(&name).map(|s| NativeStats {
            delivered: s.delivered as f64,
            acked: s.acked as f64,
            nacked: s.nacked as f64,
            rejected: s.rejected as f64,
            panicked: s.panicked as f64,
        })
    }

    /// Warnings found in the component files.
    #[napi]
    pub fn diagnostics(&self) -> Vec<String> {
        self.inner
            .rt
            .diagnostics()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    /// Input bindings not started for want of a handler.
    #[napi]
    pub fn unhandled_inputs(&self) -> Vec<String> {
        self.inner.rt.unhandled_inputs()
    }

    /// Leave input `name` unstarted: the app does not take it (a bridge's probe said so).
    #[napi]
    pub fn decline(&self, name: String) -> napi::Result<()> {
        self.inner.rt.decline(&name).map_err(|e| js_error(&e))
    }
}
