//! `bindery._native`: the thin PyO3 layer under the `bindery` Python package. It owns a
//! tokio runtime and a core `Runtime`, releases the GIL for every wait, and takes the GIL
//! only to call a Python handler or completion. The Pythonic API (decorators, asyncio,
//! context managers, exception classes) lives in the Python package.

// Every unsafe block says why it holds.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use bindery::embed::{CallGate, Embedded};
use bindery::{Error, ErrorKind, InputOptions, MetadataMap, Options, RunVerdict, Runtime};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// The most `concurrency` and `queue_capacity` may be (the C ABI's `uint32_t`).
const MAX_COUNT: usize = u32::MAX as usize;

/// The longest wait a timeout in seconds stands for: `u32::MAX` ms (49.7 days), as in the C
/// ABI and Node. Longer ones would overflow the clock's instants.
fn seconds(timeout: f64, what: &str) -> Result<Duration, Error> {
    if !(timeout.is_finite() && timeout >= 0.0) {
        return Err(Error::invalid_argument(format!(
            "{what} must be a number of seconds >= 0"
        )));
    }
    Ok(Duration::from_secs_f64(
        timeout.min(f64::from(u32::MAX) / 1000.0),
    ))
}

/// The tokio threads of every runtime of this process that are still alive, counted by the
/// threads themselves. Python must not finalize while one may still run Python code or call
/// into it: a handler returning then aborts the process ("Fatal Python error"), and a bindery
/// thread cannot be made to exit the way Python ends its daemon threads. So the package's exit
/// hook waits for this to reach 0 (`_wait_for_threads`).
static THREADS: Mutex<usize> = Mutex::new(0);
static THREAD_EXITED: Condvar = Condvar::new();

/// Set by `_wait_for_threads` once Python may finalize: nothing may call into it any more.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Whether a bindery thread may still call into Python.
fn python_usable() -> bool {
    // SAFETY: Py_IsInitialized may be called at any time, without the GIL.
    !EXITING.load(Ordering::Acquire) && unsafe { pyo3::ffi::Py_IsInitialized() } != 0
}

fn closed_error(what: &str) -> Error {
    Error::new(ErrorKind::Closed, what)
}

/// The completion of one `invoke_async`: `done` is called exactly once, with the outcome by
/// `complete`, else (the task was dropped unfinished as the runtime's threads stopped) with a
/// `ClosedError` when this is dropped; never once Python is exiting.
struct Completion(Option<PyObject>);

impl Completion {
    fn complete(mut self, result: bindery::Result<bindery::InvokeResponse>) {
        let Some(done) = self.0.take() else { return };
        if !python_usable() {
            return; // `done` is dropped without the GIL: pyo3 defers its decref
        }
        keep_python_thread_state();
        Python::with_gil(|py| {
            let call = match result {
                Ok(resp) => metadata_dict(py, &resp.metadata)
                    .and_then(|md| done.call1(py, (py.None(), (PyBytes::new(py, &resp.data), md)))),
                Err(e) => done.call1(py, (to_py_err(py, &e).into_value(py), py.None())),
            };
            if let Err(e) = call {
                e.write_unraisable(py, None);
            }
        })
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        let Some(done) = self.0.take() else { return };
        if !python_usable() {
            return;
        }
        Python::with_gil(|py| {
            let e = closed_error("the runtime was stopped before the call finished");
            if let Err(e) = done.call1(py, (to_py_err(py, &e).into_value(py), py.None())) {
                e.write_unraisable(py, None);
            }
        })
    }
}

/// Build the `bindery.BindingError` subclass for a core error (classes live in `bindery._errors`).
fn to_py_err(py: Python<'_>, e: &Error) -> PyErr {
    let built = py.import("bindery._errors").and_then(|m| {
        m.getattr("_from_native")?.call1((
            e.code(),
            e.to_string(),
            e.component(),
            e.operation(),
            e.is_retryable(),
        ))
    });
    match built {
        Ok(exc) => PyErr::from_value(exc),
        Err(import_failed) => import_failed,
    }
}

fn metadata_dict<'py>(py: Python<'py>, md: &MetadataMap) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in md {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// What a handler callback answers: True (ack) or False (nack), or the reason of a reject.
#[derive(FromPyObject)]
enum Answer {
    Handled(bool),
    Rejected(String),
}

/// The native runtime. One tokio runtime per instance.
#[pyclass(frozen, module = "bindery._native")]
struct NativeRuntime {
    /// The tokio runtime; every wait and spawn holds it, `close` stops it.
    embedded: Embedded,
    rt: Runtime,
    /// Closed by `shutdown`: calls still in flight then fail with `ClosedError`.
    gate: CallGate,
}

impl NativeRuntime {
    /// Wait for `fut` with the GIL released.
    fn wait<T: Send + 'static>(
        &self,
        py: Python<'_>,
        fut: impl std::future::Future<Output = bindery::Result<T>> + Send + 'static,
    ) -> PyResult<T> {
        let result = py.allow_threads(|| self.embedded.block_on(fut).and_then(|r| r));
        result.map_err(|e| to_py_err(py, &e))
    }
}

/// Give this (bindery) thread a Python thread state for the rest of its life, once. Without
/// it each `Python::with_gil` on a thread Python did not create makes a thread state and
/// drops it again, which costs more than a small handler does. The state is made with the GIL
/// and the GIL is released at once; `with_gil` then only takes and releases the GIL.
fn keep_python_thread_state() {
    thread_local! {
        static KEPT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    KEPT.with(|kept| {
        if !kept.get() {
            // SAFETY: the interpreter runs (this is its extension module), and this thread
            // holds no GIL and no thread state here (it is a bindery thread, outside any
            // `with_gil`). The state from `PyGILState_Ensure` is never released, on purpose.
            unsafe {
                pyo3::ffi::PyGILState_Ensure();
                pyo3::ffi::PyEval_SaveThread();
            }
            kept.set(true);
        }
    });
}

#[pymethods]
impl NativeRuntime {
    #[new]
    #[pyo3(signature = (paths, app_id=None, concurrency=1, queue_capacity=16, worker_threads=2, shutdown_timeout=10.0))]
    fn new(
        py: Python<'_>,
        paths: Vec<PathBuf>,
        app_id: Option<String>,
        concurrency: usize,
        queue_capacity: usize,
        worker_threads: usize,
        shutdown_timeout: f64,
    ) -> PyResult<Self> {
        for (name, n) in [
            ("concurrency", concurrency),
            ("queue_capacity", queue_capacity),
        ] {
            if !(1..=MAX_COUNT).contains(&n) {
                return Err(to_py_err(
                    py,
                    &Error::invalid_argument(format!(
                        "{name} must be an integer from 1 to {MAX_COUNT}, got {n}"
                    )),
                ));
            }
        }
        let shutdown_timeout =
            seconds(shutdown_timeout, "shutdown_timeout").map_err(|e| to_py_err(py, &e))?;
        if EXITING.load(Ordering::Acquire) {
            return Err(to_py_err(py, &closed_error("the interpreter is exiting")));
        }
        let options = Options {
            app_id,
            input: InputOptions {
                concurrency,
                queue_capacity,
            },
            shutdown_timeout,
        };
        let rt = py
            .allow_threads(|| {
                Runtime::builder()
                    .resources_paths(paths)
                    .options(options)
                    .build()
            })
            .map_err(|e| to_py_err(py, &e))?;
        let embedded = py
            .allow_threads(|| {
                Embedded::start(worker_threads, |b| {
                    b.on_thread_start(|| *THREADS.lock().unwrap() += 1)
                        .on_thread_stop(|| {
                            *THREADS.lock().unwrap() -= 1;
                            THREAD_EXITED.notify_all();
                        });
                })
            })
            .map_err(|e| to_py_err(py, &e))?;
        Ok(NativeRuntime {
            embedded,
            rt,
            gate: CallGate::new("the runtime was stopped before the call finished"),
        })
    }

    /// Register `callback(binding, data, metadata) -> bool | str` for an input binding: True
    /// acks; False or an exception nacks; a str rejects (the event is not redelivered; the
    /// str is the reason). It is called on a bindery thread with the GIL taken, once per
    /// event, in order, for each run of events a source hands over at once (a Kafka fetch,
    /// say), stopping at the first it does not ack. Each event acked is reported to the
    /// source at once (which settles it: offset stored, basic.ack, PUBACK), and when the
    /// runtime is stopping the run ends after the event in hand.
    fn on_event(&self, py: Python<'_>, name: &str, callback: PyObject) -> PyResult<()> {
        // Shared by reference count, so that handing it to each run needs no GIL on the
        // async worker that dispatches.
        let callback = std::sync::Arc::new(callback);
        self.rt
            .on_runs(name, move |events, progress| {
                let callback = callback.clone();
                async move {
                    // On this worker thread, its core handed to another thread meanwhile
                    // (no hop to a blocking-pool thread and back), with the GIL taken once
                    // for the whole run.
                    tokio::task::block_in_place(move || {
                        keep_python_thread_state();
                        Python::with_gil(|py| {
                            for (i, ev) in events.iter().enumerate() {
                                let outcome = metadata_dict(py, &ev.metadata).and_then(|md| {
                                    let data = PyBytes::new(py, &ev.data);
                                    callback
                                        .call1(py, (ev.binding.as_str(), data, md))?
                                        .extract::<Answer>(py)
                                });
                                match outcome {
                                    Ok(Answer::Handled(true)) => {
                                        // Atomics only: no GIL release, no crossing.
                                        progress.acked(i + 1);
                                        if progress.stopping() {
                                            return RunVerdict::stopped_at(i + 1);
                                        }
                                    }
                                    Ok(Answer::Handled(false)) => {
                                        return RunVerdict::failed_at(
                                            i,
                                            "the Python handler failed",
                                        )
                                    }
                                    Ok(Answer::Rejected(why)) => {
                                        return RunVerdict::rejected_at(i, why)
                                    }
                                    Err(e) => {
                                        return RunVerdict::failed_at(
                                            i,
                                            format!("the Python handler raised: {e}"),
                                        )
                                    }
                                }
                            }
                            RunVerdict::all(events.len())
                        })
                    })
                }
            })
            .map_err(|e| to_py_err(py, &e))
    }

    /// Initialise the outputs and start the inputs that have handlers (GIL released).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let rt = self.rt.clone();
        self.wait(py, async move { rt.start().await })
    }

    /// Call an output binding and wait (GIL released): returns (data, metadata).
    #[pyo3(signature = (name, operation, data, metadata))]
    fn invoke<'py>(
        &self,
        py: Python<'py>,
        name: String,
        operation: String,
        data: Vec<u8>,
        metadata: HashMap<String, String>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyDict>)> {
        let rt = self.rt.clone();
        let call = self
            .gate
            .guard(async move { rt.invoke(&name, &operation, data, metadata).await });
        let resp = self.wait(py, call)?;
        Ok((
            PyBytes::new(py, &resp.data),
            metadata_dict(py, &resp.metadata)?,
        ))
    }

    /// Call an output binding without waiting: `done(error, result)` is called once on a
    /// bindery thread with the GIL taken, with `(None, (data, metadata))` or `(exception, None)`;
    /// a call still in flight when the runtime is stopped gets a `ClosedError`.
    fn invoke_async(
        &self,
        py: Python<'_>,
        name: String,
        operation: String,
        data: Vec<u8>,
        metadata: HashMap<String, String>,
        done: PyObject,
    ) -> PyResult<()> {
        if self.embedded.is_shut_down() {
            return Err(to_py_err(py, &closed_error("the runtime is closed")));
        }
        let rt = self.rt.clone();
        let call = self
            .gate
            .guard(async move { rt.invoke(&name, &operation, data, metadata).await });
        let completion = Completion(Some(done));
        // Spawned unless the runtime was closed meanwhile: then `completion` is dropped, which
        // calls `done` with a `ClosedError`.
        let _ = self.embedded.spawn(async move {
            let result = bindery::embed::catch_panic("the call", call).await;
            // On this worker (its other tasks handed to another thread meanwhile), with the
            // thread's kept Python thread state: no hop to the blocking pool per call.
            tokio::task::block_in_place(move || completion.complete(result));
        });
        Ok(())
    }

    /// Stop the inputs, wait up to `timeout` seconds for handlers in flight, close the
    /// bindings (GIL released); calls still in flight then fail with `ClosedError`. Returns
    /// whether every handler finished in time.
    fn shutdown(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let deadline = seconds(timeout, "timeout").map_err(|e| to_py_err(py, &e))?;
        let rt = self.rt.clone();
        let drained = self.wait(
            py,
            async move { rt.shutdown(deadline).await.map(|r| r.drained) },
        );
        self.gate.close();
        drained
    }

    /// Stop the runtime's threads, without waiting for them: a handler still running past
    /// `shutdown`'s deadline keeps its thread until it returns (the package's exit hook waits
    /// for it, see `_wait_for_threads`). Call after `shutdown`; the object is unusable after.
    fn close(&self, py: Python<'_>) {
        py.allow_threads(|| self.embedded.shutdown(Duration::ZERO));
    }

    /// Every binding loaded: a list of dicts with name, type, input, output, route, direction
    /// (as written, or None) and operations.
    fn bindings<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.rt
            .bindings()
            .into_iter()
            .map(|b| {
                let d = PyDict::new(py);
                d.set_item("name", b.name)?;
                d.set_item("type", b.type_name)?;
                d.set_item("input", b.input)?;
                d.set_item("output", b.output)?;
                d.set_item("route", b.route)?;
                d.set_item("direction", b.direction)?;
                d.set_item("operations", b.operations)?;
                Ok(d)
            })
            .collect()
    }

    /// The counters of a started input binding: (delivered, acked, nacked, rejected,
    /// panicked), or None.
    fn input_stats(&self, name: &str) -> Option<(u64, u64, u64, u64, u64)> {
        self.rt
            .input_stats(name)
            .map(|s| (s.delivered, s.acked, s.nacked, s.rejected, s.panicked))
    }

    /// Warnings found while loading the component files.
    fn diagnostics(&self) -> Vec<String> {
        self.rt
            .diagnostics()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    /// Input bindings not started for want of a handler.
    fn unhandled_inputs(&self) -> Vec<String> {
        self.rt.unhandled_inputs()
    }

    /// Leave input `name` unstarted: the app does not take it (a bridge's probe said so).
    fn decline(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        self.rt.decline(name).map_err(|e| to_py_err(py, &e))
    }
}

/// The ABI version of the core this module was built with.
#[pyfunction]
fn core_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Wait up to `timeout` seconds (GIL released) for every bindery thread to end; returns how
/// many are left. At 0, Python may finalize: bindery never calls into it again, and no new
/// runtime can be made. For the package's exit hook, after it closed every runtime.
#[pyfunction]
fn _wait_for_threads(py: Python<'_>, timeout: f64) -> PyResult<usize> {
    let timeout = seconds(timeout, "timeout").map_err(|e| to_py_err(py, &e))?;
    let left = py.allow_threads(|| {
        let threads = THREADS.lock().unwrap();
        let (threads, _) = THREAD_EXITED
            .wait_timeout_while(threads, timeout, |n| *n > 0)
            .unwrap();
        *threads
    });
    if left == 0 {
        EXITING.store(true, Ordering::Release);
    }
    Ok(left)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // BINDERY_LOG, when set, logs to stderr (capped and scrubbed of secrets).
    bindery::logging::init_if_asked();
    m.add_class::<NativeRuntime>()?;
    m.add_function(wrap_pyfunction!(core_version, m)?)?;
    m.add_function(wrap_pyfunction!(_wait_for_threads, m)?)?;
    m.add("MAX_WORKER_THREADS", bindery::embed::MAX_WORKER_THREADS)?;
    m.add("MAX_COUNT", MAX_COUNT)?;
    Ok(())
}
