//! Owning a tokio runtime for a language layer: the C ABI and the Python module each hold
//! one `Embedded` per runtime they hand out (start it with the core's worker-thread limit,
//! wait for futures from the caller's thread, spawn onto it, stop it with a deadline), and
//! every layer (Node too, on napi's runtime) ends the calls still in flight at a stop through
//! a `CallGate`. One copy of this, instead of one per layer.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind, Result};

/// The most worker threads an `Embedded` runtime starts.
pub const MAX_WORKER_THREADS: usize = 1024;

/// A multi-thread tokio runtime owned by a language layer, with the calls made through it.
/// Every wait and spawn holds it for its duration, so `shutdown` never pulls it from under a
/// call; after `shutdown` each answers `Closed`.
#[derive(Debug)]
pub struct Embedded {
    tokio: RwLock<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
}

impl Embedded {
    /// Start a runtime of `worker_threads` threads named "bindery"; `configure` may add to the
    /// builder (thread hooks). A count outside 1..=`MAX_WORKER_THREADS` is `InvalidArgument`.
    /// The threads are tried first, because tokio panics when the system refuses one of its
    /// workers and then hangs joining the others; a count the system cannot give is an
    /// `Internal` error instead.
    pub fn start(
        worker_threads: usize,
        configure: impl FnOnce(&mut tokio::runtime::Builder),
    ) -> Result<Self> {
        if !(1..=MAX_WORKER_THREADS).contains(&worker_threads) {
            return Err(Error::invalid_argument(format!(
                "worker_threads must be from 1 to {MAX_WORKER_THREADS}, got {worker_threads}"
            )));
        }
        try_threads(worker_threads).map_err(|(started, e)| {
            Error::internal(format!(
                "cannot start {worker_threads} worker threads: the system refused thread {} ({e}); ask for fewer",
                started + 1
            ))
        })?;
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .worker_threads(worker_threads)
            .thread_name("bindery")
            .enable_all();
        configure(&mut builder);
        let tokio = builder.build().map_err(|e| {
            Error::internal(format!("cannot start {worker_threads} worker threads: {e}"))
        })?;
        Ok(Embedded {
            handle: tokio.handle().clone(),
            tokio: RwLock::new(Some(tokio)),
        })
    }

    /// The runtime's handle (valid after `shutdown` too; what is spawned then never runs).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    fn freed() -> Error {
        Error::new(ErrorKind::Closed, "the runtime is closed")
    }

    /// Run `fut` to completion from synchronous code: on the calling thread when it is none of
    /// tokio's (no thread hop), else (a handler calling back in from one of the runtime's
    /// threads) handed to the runtime and waited for on a channel, so that a re-entrant call
    /// cannot deadlock. Must not be called from an async task. `Closed` after `shutdown`.
    pub fn block_on<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        let guard = self.tokio.read().unwrap_or_else(|e| e.into_inner());
        let Some(tokio) = guard.as_ref() else {
            return Err(Self::freed());
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(tokio.block_on(fut));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        tokio.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| Error::internal("the runtime stopped before the call finished"))
    }

    /// Spawn `fut` onto the runtime; `Closed` after `shutdown` (then `fut` is dropped here).
    pub fn spawn<F>(&self, fut: F) -> Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let guard = self.tokio.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(tokio) => Ok(tokio.spawn(fut)),
            None => Err(Self::freed()),
        }
    }

    /// Whether `shutdown` was called.
    pub fn is_shut_down(&self) -> bool {
        self.tokio
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Stop the threads, waiting up to `deadline` for their tasks to end (tasks are dropped at
    /// their next await; a thread busy in a blocking call may outlive the wait). With a zero
    /// deadline, or when called from inside a tokio runtime (where waiting is not allowed),
    /// it does not wait. Later calls do nothing.
    pub fn shutdown(&self, deadline: Duration) {
        let taken = self.tokio.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = taken {
            if deadline.is_zero() || tokio::runtime::Handle::try_current().is_ok() {
                t.shutdown_background();
            } else {
                t.shutdown_timeout(deadline);
            }
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(t) = self.tokio.get_mut().ok().and_then(Option::take) {
            // Dropped on any thread, possibly one of tokio's own: never block here.
            t.shutdown_background();
        }
    }
}

/// Start `n` threads (with the default stack size, as tokio's) that live until all are
/// started; on failure, how many were started and the system's error.
fn try_threads(n: usize) -> std::result::Result<(), (usize, std::io::Error)> {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let mut threads = Vec::with_capacity(n);
    let mut failed = None;
    for _ in 0..n {
        let gate = gate.clone();
        let spawned = std::thread::Builder::new()
            .name("bindery-try".into())
            .spawn(move || {
                let (open, cv) = &*gate;
                let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
                while !*open {
                    open = cv.wait(open).unwrap_or_else(|e| e.into_inner());
                }
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                failed = Some((threads.len(), e));
                break;
            }
        }
    }
    *gate.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
    gate.1.notify_all();
    for t in threads {
        let _ = t.join();
    }
    failed.map_or(Ok(()), Err)
}

/// Ends the calls still in flight when a language runtime stops: each call is wrapped with
/// `guard`, and once `close` is called every guarded call not finished yet answers `Closed`
/// with the gate's message (a stopped runtime's outputs are closed, so waiting on would only
/// wait for their timeouts).
#[derive(Debug)]
pub struct CallGate {
    closed: watch::Sender<bool>,
    message: &'static str,
}

impl CallGate {
    /// An open gate; calls it ends fail with `Closed` and `message`.
    pub fn new(message: &'static str) -> Self {
        CallGate {
            closed: watch::Sender::new(false),
            message,
        }
    }

    /// End every guarded call in flight, and every one guarded later, with `Closed`.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// `fut`, or `Closed` once the gate is closed (or dropped).
    pub fn guard<T>(
        &self,
        fut: impl Future<Output = Result<T>>,
    ) -> impl Future<Output = Result<T>> {
        let mut closed = self.closed.subscribe();
        let message = self.message;
        async move {
            tokio::select! {
                biased;
                r = fut => r,
                _ = closed.wait_for(|c| *c) => Err(Error::new(ErrorKind::Closed, message)),
            }
        }
    }
}

/// `fut`'s outcome, or an `Internal` error saying that it panicked (and with what), so that a
/// language layer's completion is called with an error rather than dropped by the unwinding.
pub async fn catch_panic<T>(what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(p) => Err(Error::internal(format!(
            "{what} panicked: {}",
            crate::runtime::panic_message(&*p)
        ))),
    }
}
