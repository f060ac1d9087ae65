//! `bindery._native`: the thin PyO3 layer under the `bindery` Python package. It owns a
//! tokio runtime and a core `Runtime`, releases the GIL for every wait, and takes the GIL
//! only to call a Python handler or completion. The Pythonic API (decorators, asyncio,
//! context managers, exception classes) lives in the Python package.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use bindery::{BatchVerdict, Error, InputOptions, MetadataMap, Options, Runtime};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

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

/// The native runtime. One tokio runtime per instance.
#[pyclass(frozen, module = "bindery._native")]
struct NativeRuntime {
    /// Read-locked by every call for its duration; write-locked only by `close`.
    tokio: RwLock<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    rt: Runtime,
}

impl NativeRuntime {
    /// Wait for `fut` with the GIL released.
    fn wait<T: Send + 'static>(
        &self,
        py: Python<'_>,
        fut: impl std::future::Future<Output = bindery::Result<T>> + Send + 'static,
    ) -> PyResult<T> {
        let result = py.allow_threads(|| {
            let guard = self.tokio.read().unwrap();
            match guard.as_ref() {
                Some(tokio) => bindery::runtime::block_on(tokio, fut).and_then(|r| r),
                None => Err(Error::new(
                    bindery::ErrorKind::Closed,
                    "the runtime is closed",
                )),
            }
        });
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
        if concurrency == 0 || queue_capacity == 0 || worker_threads == 0 {
            return Err(to_py_err(
                py,
                &Error::invalid_argument(
                    "concurrency, queue_capacity and worker_threads must be at least 1",
                ),
            ));
        }
        if !(shutdown_timeout.is_finite() && shutdown_timeout >= 0.0) {
            return Err(to_py_err(
                py,
                &Error::invalid_argument("shutdown_timeout must be a number of seconds >= 0"),
            ));
        }
        let options = Options {
            app_id,
            input: InputOptions {
                concurrency,
                queue_capacity,
            },
            shutdown_timeout: Duration::from_secs_f64(shutdown_timeout),
        };
        let rt = py
            .allow_threads(|| {
                Runtime::builder()
                    .resources_paths(paths)
                    .options(options)
                    .build()
            })
            .map_err(|e| to_py_err(py, &e))?;
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads)
            .thread_name("bindery")
            .enable_all()
            .build()
            .map_err(|e| to_py_err(py, &Error::internal(format!("cannot start threads: {e}"))))?;
        Ok(NativeRuntime {
            handle: tokio.handle().clone(),
            tokio: RwLock::new(Some(tokio)),
            rt,
        })
    }

    /// Register `callback(binding, data, metadata) -> bool` for an input binding: True acks;
    /// False or an exception nacks. It is called on a bindery thread with the GIL taken, once
    /// per event, in order, for each run of events a source hands over at once (a Kafka
    /// fetch, say), stopping at the first it fails on. Each event acked is reported to the
    /// source at once (which settles it: offset stored, basic.ack, PUBACK), and when the
    /// runtime is stopping the run ends after the event in hand.
    fn on_event(&self, py: Python<'_>, name: &str, callback: PyObject) -> PyResult<()> {
        // Shared by reference count, so that handing it to each run needs no GIL on the
        // async worker that dispatches.
        let callback = std::sync::Arc::new(callback);
        self.rt
            .on_events_in_order(name, move |events, progress| {
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
                                        .extract::<bool>(py)
                                });
                                match outcome {
                                    Ok(true) => {
                                        // Atomics only: no GIL release, no crossing.
                                        progress.acked(i + 1);
                                        if progress.stopping() {
                                            return BatchVerdict::stopped_at(i + 1);
                                        }
                                    }
                                    Ok(false) => {
                                        return BatchVerdict::failed_at(
                                            i,
                                            "the Python handler failed",
                                        )
                                    }
                                    Err(e) => {
                                        return BatchVerdict::failed_at(
                                            i,
                                            format!("the Python handler raised: {e}"),
                                        )
                                    }
                                }
                            }
                            BatchVerdict::all(events.len())
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
        let resp = self.wait(py, async move {
            rt.invoke(&name, &operation, data, metadata).await
        })?;
        Ok((
            PyBytes::new(py, &resp.data),
            metadata_dict(py, &resp.metadata)?,
        ))
    }

    /// Call an output binding without waiting: `done(error, result)` is called once on a
    /// bindery thread with the GIL taken, with `(None, (data, metadata))` or `(exception, None)`.
    fn invoke_async(
        &self,
        py: Python<'_>,
        name: String,
        operation: String,
        data: Vec<u8>,
        metadata: HashMap<String, String>,
        done: PyObject,
    ) -> PyResult<()> {
        if self.tokio.read().unwrap().is_none() {
            return Err(to_py_err(
                py,
                &Error::new(bindery::ErrorKind::Closed, "the runtime is closed"),
            ));
        }
        let rt = self.rt.clone();
        self.handle.spawn(async move {
            let result = rt.invoke(&name, &operation, data, metadata).await;
            // On this worker (its other tasks handed to another thread meanwhile), with the
            // thread's kept Python thread state: no hop to the blocking pool per call.
            tokio::task::block_in_place(move || {
                keep_python_thread_state();
                Python::with_gil(|py| {
                    let call = match result {
                        Ok(resp) => metadata_dict(py, &resp.metadata).and_then(|md| {
                            done.call1(py, (py.None(), (PyBytes::new(py, &resp.data), md)))
                        }),
                        Err(e) => done.call1(py, (to_py_err(py, &e).into_value(py), py.None())),
                    };
                    if let Err(e) = call {
                        e.write_unraisable(py, None);
                    }
                })
            });
        });
        Ok(())
    }

    /// Stop the inputs, wait up to `timeout` seconds for handlers in flight, close the
    /// bindings (GIL released). Returns whether every handler finished in time.
    fn shutdown(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        if !(timeout.is_finite() && timeout >= 0.0) {
            return Err(to_py_err(
                py,
                &Error::invalid_argument("timeout must be a number of seconds >= 0"),
            ));
        }
        let rt = self.rt.clone();
        let deadline = Duration::from_secs_f64(timeout);
        self.wait(
            py,
            async move { rt.shutdown(deadline).await.map(|r| r.drained) },
        )
    }

    /// Stop the runtime's threads. Call after `shutdown`; the object is unusable afterwards.
    fn close(&self, py: Python<'_>) {
        let tokio = py.allow_threads(|| self.tokio.write().unwrap().take());
        if let Some(t) = tokio {
            py.allow_threads(|| {
                if tokio::runtime::Handle::try_current().is_ok() {
                    t.shutdown_background();
                } else {
                    t.shutdown_timeout(Duration::from_secs(5));
                }
            });
        }
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

    /// The counters of a started input binding: (delivered, acked, nacked), or None.
    fn input_stats(&self, name: &str) -> Option<(u64, u64, u64)> {
        self.rt
            .input_stats(name)
            .map(|s| (s.delivered, s.acked, s.nacked))
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
}

impl Drop for NativeRuntime {
    fn drop(&mut self) {
        if let Some(t) = self.tokio.get_mut().ok().and_then(Option::take) {
            // Dropped on any thread, possibly one of tokio's own: never block here.
            t.shutdown_background();
        }
    }
}

/// The ABI version of the core this module was built with.
#[pyfunction]
fn core_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeRuntime>()?;
    m.add_function(wrap_pyfunction!(core_version, m)?)?;
    Ok(())
}
