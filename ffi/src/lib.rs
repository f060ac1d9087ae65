//! The C ABI of bindery. Every function is `extern "C"`, checks its arguments, catches panics,
//! and returns a status code (`BINDERY_OK` or one of the `BINDERY_ERR_*` codes, which are the
//! core's stable `ErrorKind` codes). The detail of the last error on the calling thread is
//! read with `bindery_last_error_message`. No logic lives here beyond the translation.
//!
//! The header `include/bindery.h` is generated from this file by cbindgen (`ffi/cbindgen.toml`);
//! the doc comments below are the header's documentation.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)] // every function's safety contract is in its doc comment

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bindery_core::{Error, ErrorKind, InputOptions, MetadataMap, Options, Runtime};
use tokio::sync::watch;

/// The version of this ABI. It changes only when a function or struct changes incompatibly.
pub const BINDERY_ABI_VERSION: u32 = 1;

/// Success.
pub const BINDERY_OK: i32 = 0;
/// The component files are invalid; the message lists every problem with file and line.
pub const BINDERY_ERR_INVALID_CONFIG: i32 = 1;
/// No binding (or file, or secret) by that name.
pub const BINDERY_ERR_NOT_FOUND: i32 = 2;
/// The binding has no such operation, or is not usable in that direction.
pub const BINDERY_ERR_UNSUPPORTED_OPERATION: i32 = 3;
/// An argument is invalid: a NULL pointer, a string that is not UTF-8, a bad value.
pub const BINDERY_ERR_INVALID_ARGUMENT: i32 = 4;
/// The operation did not finish in time.
pub const BINDERY_ERR_TIMEOUT: i32 = 5;
/// A circuit breaker is open; the call was not attempted.
pub const BINDERY_ERR_CIRCUIT_OPEN: i32 = 6;
/// The external system failed or could not be reached.
pub const BINDERY_ERR_UPSTREAM: i32 = 7;
/// The runtime is shut down.
pub const BINDERY_ERR_CLOSED: i32 = 8;
/// A bug inside bindery (including a caught panic).
pub const BINDERY_ERR_INTERNAL: i32 = 9;
/// The call is not valid in the runtime's current state (e.g. registering after start).
pub const BINDERY_ERR_INVALID_STATE: i32 = 10;
/// An application handler failed.
pub const BINDERY_ERR_HANDLER_FAILED: i32 = 11;

/// The most worker threads a runtime may have (see `bindery_options_set_worker_threads`).
pub const BINDERY_MAX_WORKER_THREADS: u32 = 1024;
// The header needs the number written out; the core's limit is the one that holds.
const _: () =
    assert!(BINDERY_MAX_WORKER_THREADS as usize == bindery_core::runtime::MAX_WORKER_THREADS);

/// A key/value pair of metadata: two NUL-terminated UTF-8 strings.
#[repr(C)]
pub struct bindery_kv {
    /// The key.
    pub key: *const c_char,
    /// The value.
    pub value: *const c_char,
}

/// An input event, as a handler sees it. Every pointer in it is valid only during the
/// handler call; copy what you keep.
#[repr(C)]
pub struct bindery_event {
    /// The component name of the input binding (NUL-terminated).
    pub binding: *const c_char,
    /// The payload (`data_len` bytes; may be NULL when `data_len` is 0). Not NUL-terminated.
    pub data: *const u8,
    /// The payload's length in bytes.
    pub data_len: usize,
    /// The event's metadata, `metadata_len` pairs (may be NULL when `metadata_len` is 0).
    pub metadata: *const bindery_kv,
    /// The number of metadata pairs.
    pub metadata_len: usize,
}

/// What happened to an input binding's events so far (see `bindery_get_input_stats`).
#[repr(C)]
#[derive(Default)]
pub struct bindery_input_stats {
    /// Events handed to the handler.
    pub delivered: u64,
    /// Events the handler acked (returned 0).
    pub acked: u64,
    /// Events the handler nacked (returned non-zero).
    pub nacked: u64,
}

/// The answer of an output binding. Owned by the caller; release it with `bindery_response_free`.
#[repr(C)]
pub struct bindery_response {
    /// The payload (`data_len` bytes; NULL when `data_len` is 0). Not NUL-terminated.
    pub data: *mut u8,
    /// The payload's length in bytes.
    pub data_len: usize,
    /// The response metadata, `metadata_len` pairs (NULL when `metadata_len` is 0).
    pub metadata: *mut bindery_kv,
    /// The number of metadata pairs.
    pub metadata_len: usize,
}

/// An input handler. Return 0 to ack the event; any other value nacks it, and the binding
/// redelivers where its system can. Runs on a bindery worker thread, never on the thread that
/// registered it; several handlers may run at once on different threads. It may call
/// `bindery_invoke` (or any other function but `bindery_runtime_free`) on the same runtime.
pub type bindery_event_cb =
    Option<unsafe extern "C" fn(ev: *const bindery_event, user_data: *mut c_void) -> i32>;

/// The completion of `bindery_invoke_async`, called exactly once on a bindery worker thread.
/// On success `code` is `BINDERY_OK`, `error_message` is NULL and `response` is a response the
/// callback owns (free it with `bindery_response_free`). On failure `code` is the error code,
/// `error_message` the message (valid during the call only) and `response` is NULL. A call
/// still in flight when the runtime is shut down or freed completes with `BINDERY_ERR_CLOSED`.
pub type bindery_invoke_cb = Option<
    unsafe extern "C" fn(
        code: i32,
        error_message: *const c_char,
        response: *mut bindery_response,
        user_data: *mut c_void,
    ),
>;

/// Options for `bindery_runtime_new`. Create with `bindery_options_new`, free with
/// `bindery_options_free`. Opaque, so that options can be added without breaking the ABI.
pub struct bindery_options {
    app_id: Option<String>,
    input: InputOptions,
    worker_threads: usize,
    shutdown_timeout: Duration,
}

/// A runtime: loaded components, handlers, and the threads that run them. Opaque.
pub struct bindery_runtime {
    tokio: Option<tokio::runtime::Runtime>,
    runtime: Runtime,
    /// Set once the runtime is shut down: calls still in flight then answer CLOSED.
    closed: watch::Sender<bool>,
    /// Async invokes whose completion has not returned yet.
    calls: Arc<InFlight>,
}

/// A count of async invokes in flight, which `bindery_runtime_free` waits to reach 0.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

impl InFlight {
    fn wait_idle(&self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = self.idle.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The completion of one async invoke. Whatever ends the call, `done` is called exactly once:
/// with the outcome by `complete`, else (the task was dropped unfinished, when the runtime's
/// threads stopped) with CLOSED when this is dropped.
struct Completion {
    done: unsafe extern "C" fn(i32, *const c_char, *mut bindery_response, *mut c_void),
    user: UserData,
    calls: Arc<InFlight>,
    called: bool,
}

impl Completion {
    fn new(
        done: unsafe extern "C" fn(i32, *const c_char, *mut bindery_response, *mut c_void),
        user: UserData,
        calls: Arc<InFlight>,
    ) -> Self {
        *calls.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Completion {
            done,
            user,
            calls,
            called: false,
        }
    }

    fn complete(mut self, result: Result<bindery_core::InvokeResponse, Error>) {
        self.called = true;
        match result {
            Ok(resp) => unsafe {
                (self.done)(
                    BINDERY_OK,
                    std::ptr::null(),
                    into_response(resp),
                    self.user.0,
                )
            },
            Err(e) => {
                let msg = c_string(&e.to_string());
                unsafe { (self.done)(e.code(), msg.as_ptr(), std::ptr::null_mut(), self.user.0) }
            }
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if !self.called {
            self.called = true;
            let msg = c"the runtime was freed before the call finished";
            unsafe {
                (self.done)(
                    BINDERY_ERR_CLOSED,
                    msg.as_ptr(),
                    std::ptr::null_mut(),
                    self.user.0,
                )
            }
        }
        let mut n = self.calls.count.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            self.calls.idle.notify_all();
        }
    }
}

/// `fut`, or CLOSED once the runtime is shut down (`closed` turns true or is dropped).
async fn unless_closed<T>(
    mut closed: watch::Receiver<bool>,
    fut: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::select! {
        biased;
        r = fut => r,
        _ = closed.wait_for(|c| *c) => Err(Error::new(
            ErrorKind::Closed,
            "the runtime was shut down before the call finished",
        )),
    }
}

thread_local! {
    static LAST_ERROR: RefCell<(i32, CString)> = RefCell::new((BINDERY_OK, CString::default()));
}

fn set_error(code: i32, message: &str) -> i32 {
    let msg = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = (code, msg));
    code
}

fn clear_error() {
    LAST_ERROR.with(|e| *e.borrow_mut() = (BINDERY_OK, CString::default()));
}

fn fail(e: &Error) -> i32 {
    set_error(e.code(), &e.to_string())
}

fn invalid(message: &str) -> i32 {
    set_error(BINDERY_ERR_INVALID_ARGUMENT, message)
}

/// Run `f`, turning a panic into `BINDERY_ERR_INTERNAL`. Clears the last error first.
fn guard(f: impl FnOnce() -> i32) -> i32 {
    clear_error();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_error(
                BINDERY_ERR_INTERNAL,
                &format!("internal error (a panic was caught): {what}"),
            )
        }
    }
}

/// A C string argument as `&str`, or an error code naming the argument.
unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, i32> {
    if p.is_null() {
        return Err(invalid(&format!("{what} is NULL")));
    }
    CStr::from_ptr(p).to_str().map_err(|e| {
        invalid(&format!(
            "{what} is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })
}

unsafe fn bytes_arg<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], i32> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(invalid(&format!("{what} is NULL but its length is {len}")));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

unsafe fn metadata_arg(p: *const bindery_kv, len: usize) -> Result<MetadataMap, i32> {
    if len == 0 {
        return Ok(MetadataMap::new());
    }
    if p.is_null() {
        return Err(invalid(&format!(
            "metadata is NULL but metadata_len is {len}"
        )));
    }
    let mut map = HashMap::with_capacity(len);
    for (i, kv) in std::slice::from_raw_parts(p, len).iter().enumerate() {
        let k = str_arg(kv.key, &format!("metadata[{i}].key"))?;
        let v = str_arg(kv.value, &format!("metadata[{i}].value"))?;
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

fn into_response(resp: bindery_core::InvokeResponse) -> *mut bindery_response {
    let data_len = resp.data.len();
    let data = if data_len == 0 {
        std::ptr::null_mut()
    } else {
        Box::into_raw(resp.data.into_boxed_slice()) as *mut u8
    };
    let mut pairs: Vec<(String, String)> = resp.metadata.into_iter().collect();
    pairs.sort();
    let metadata_len = pairs.len();
    let metadata = if metadata_len == 0 {
        std::ptr::null_mut()
    } else {
        let kvs: Box<[bindery_kv]> = pairs
            .iter()
            .map(|(k, v)| bindery_kv {
                key: c_string(k).into_raw(),
                value: c_string(v).into_raw(),
            })
            .collect();
        Box::into_raw(kvs) as *mut bindery_kv
    };
    Box::into_raw(Box::new(bindery_response {
        data,
        data_len,
        metadata,
        metadata_len,
    }))
}

/// A raw pointer that may cross threads: the caller promised it may (see the docs).
#[derive(Clone, Copy)]
struct UserData(*mut c_void);
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

/// Run `fut` on the runtime and wait for it on this thread (see `bindery::runtime::block_on`).
fn block_on<T: Send + 'static>(
    rt: &bindery_runtime,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, i32> {
    let Some(tokio) = rt.tokio.as_ref() else {
        return Err(set_error(BINDERY_ERR_CLOSED, "the runtime is freed"));
    };
    bindery_core::runtime::block_on(tokio, fut).map_err(|e| fail(&e))
}

/// The ABI version this library implements (`BINDERY_ABI_VERSION`). Compare it with the
/// header's `BINDERY_ABI_VERSION` at start-up. Thread-safe; never fails.
#[no_mangle]
pub extern "C" fn bindery_abi_version() -> u32 {
    BINDERY_ABI_VERSION
}

/// The message of the last error on the calling thread, or "" when the last call succeeded.
/// The string is owned by bindery and valid until the next bindery call on this thread.
/// Never NULL. Secrets never appear in it.
#[no_mangle]
pub extern "C" fn bindery_last_error_message() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().1.as_ptr())
}

/// The code of the last error on the calling thread (`BINDERY_OK` after a success).
#[no_mangle]
pub extern "C" fn bindery_last_error_code() -> i32 {
    LAST_ERROR.with(|e| e.borrow().0)
}

/// A short stable name for an error code ("ok", "invalid_config", "not_found", ...). Static
/// storage; never NULL. Unknown codes give "internal".
#[no_mangle]
pub extern "C" fn bindery_error_name(code: i32) -> *const c_char {
    const NAMES: [&CStr; 12] = [
        c"ok",
        c"invalid_config",
        c"not_found",
        c"unsupported_operation",
        c"invalid_argument",
        c"timeout",
        c"circuit_open",
        c"upstream",
        c"closed",
        c"internal",
        c"invalid_state",
        c"handler_failed",
    ];
    let i = if code == 0 {
        0
    } else {
        ErrorKind::from_code(code).code() as usize
    };
    NAMES.get(i).copied().unwrap_or(c"internal").as_ptr()
}

/// New options with the defaults: no app ID, one event at a time per input binding, a queue
/// of 16 events, 2 worker threads, a 10 s shutdown deadline. Free with `bindery_options_free`.
/// Returns NULL only if memory is exhausted.
#[no_mangle]
pub extern "C" fn bindery_options_new() -> *mut bindery_options {
    Box::into_raw(Box::default())
}

impl Default for bindery_options {
    fn default() -> Self {
        let d = Options::default();
        bindery_options {
            app_id: None,
            input: d.input,
            worker_threads: 2,
            shutdown_timeout: d.shutdown_timeout,
        }
    }
}

/// Free options. NULL is ignored. Using `options` afterwards is the caller's fault.
#[no_mangle]
pub unsafe extern "C" fn bindery_options_free(options: *mut bindery_options) {
    if !options.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(options))));
    }
}

/// Set the app ID, used by Dapr's `scopes` and the `{appID}` template tag. The string is
/// copied. Errors: INVALID_ARGUMENT for NULL or non-UTF-8.
#[no_mangle]
pub unsafe extern "C" fn bindery_options_set_app_id(
    options: *mut bindery_options,
    app_id: *const c_char,
) -> i32 {
    guard(|| {
        let Some(o) = options.as_mut() else {
            return invalid("options is NULL");
        };
        match str_arg(app_id, "app_id") {
            Ok(s) => {
                o.app_id = Some(s.to_string());
                BINDERY_OK
            }
            Err(c) => c,
        }
    })
}

/// Set how many events of one input binding may be in its handler at once (default 1: one
/// at a time, in order) and how many may wait (default 16); both at least 1.
#[no_mangle]
pub unsafe extern "C" fn bindery_options_set_concurrency(
    options: *mut bindery_options,
    concurrency: u32,
    queue_capacity: u32,
) -> i32 {
    guard(|| {
        let Some(o) = options.as_mut() else {
            return invalid("options is NULL");
        };
        if concurrency == 0 || queue_capacity == 0 {
            return invalid("concurrency and queue_capacity must be at least 1");
        }
        o.input = InputOptions {
            concurrency: concurrency as usize,
            queue_capacity: queue_capacity as usize,
        };
        BINDERY_OK
    })
}

/// Set the number of worker threads of the runtime (default 2; from 1 to
/// `BINDERY_MAX_WORKER_THREADS`, 1024, else INVALID_ARGUMENT). A handler runs on the worker
/// that has its event, which meanwhile hands its other work to another thread (from a pool
/// that grows as needed), so a slow handler does not hold the others up.
#[no_mangle]
pub unsafe extern "C" fn bindery_options_set_worker_threads(
    options: *mut bindery_options,
    threads: u32,
) -> i32 {
    guard(|| {
        let Some(o) = options.as_mut() else {
            return invalid("options is NULL");
        };
        if !(1..=BINDERY_MAX_WORKER_THREADS).contains(&threads) {
            return invalid(&format!(
                "worker_threads must be from 1 to {BINDERY_MAX_WORKER_THREADS}, got {threads}"
            ));
        }
        o.worker_threads = threads as usize;
        BINDERY_OK
    })
}

/// Load and validate the components under `n_paths` resources paths (folders of Dapr
/// component YAML files, or single files; NUL-terminated UTF-8) and create a runtime in
/// `*out`. `options` may be NULL for the defaults; it is not kept and may be freed after.
/// No network I/O happens here. On INVALID_CONFIG the last error message lists every problem,
/// one per line, with file, line and fix. `*out` is set only on success; free it with
/// `bindery_runtime_free`. Errors: INVALID_ARGUMENT (NULL, non-UTF-8, `n_paths` 0),
/// INVALID_CONFIG, INTERNAL (the system refused the worker threads: ask for fewer).
#[no_mangle]
pub unsafe extern "C" fn bindery_runtime_new(
    resources_paths: *const *const c_char,
    n_paths: usize,
    options: *const bindery_options,
    out: *mut *mut bindery_runtime,
) -> i32 {
    guard(|| {
        if out.is_null() {
            return invalid("out is NULL");
        }
        if resources_paths.is_null() || n_paths == 0 {
            return invalid("give at least one resources path");
        }
        let mut paths = Vec::with_capacity(n_paths);
        for (i, p) in std::slice::from_raw_parts(resources_paths, n_paths)
            .iter()
            .enumerate()
        {
            match str_arg(*p, &format!("resources_paths[{i}]")) {
                Ok(s) => paths.push(PathBuf::from(s)),
                Err(c) => return c,
            }
        }
        let defaults = bindery_options::default();
        let opts = options.as_ref().unwrap_or(&defaults);
        let core_options = Options {
            app_id: opts.app_id.clone(),
            input: opts.input,
            shutdown_timeout: opts.shutdown_timeout,
        };
        let threads = opts.worker_threads;
        let runtime = match Runtime::builder()
            .resources_paths(paths)
            .options(core_options)
            .build()
        {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        let tokio = match bindery_core::runtime::threaded_runtime(threads, |_| {}) {
            Ok(t) => t,
            Err(e) => return fail(&e),
        };
        *out = Box::into_raw(Box::new(bindery_runtime {
            tokio: Some(tokio),
            runtime,
            closed: watch::Sender::new(false),
            calls: Arc::default(),
        }));
        BINDERY_OK
    })
}

/// Register the handler of the input binding named `binding` (its component name). Must be
/// called before `bindery_start`. `user_data` is passed to every call of `cb` and must stay
/// valid, and usable from other threads, until the runtime is freed. Errors: INVALID_ARGUMENT
/// (NULL, non-UTF-8), NOT_FOUND (no input binding of that name: the message lists those there
/// are, nearest first), INVALID_STATE (already started, or already registered).
#[no_mangle]
pub unsafe extern "C" fn bindery_on_event(
    rt: *mut bindery_runtime,
    binding: *const c_char,
    cb: bindery_event_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let Some(rt) = rt.as_ref() else {
            return invalid("rt is NULL");
        };
        let name = match str_arg(binding, "binding") {
            Ok(s) => s,
            Err(c) => return c,
        };
        let Some(cb) = cb else {
            return invalid("cb is NULL");
        };
        let user = UserData(user_data);
        // The events a source hands over together (a Kafka fetch, say) are passed to `cb` one
        // by one, in order, on a bindery worker whose other tasks move to another thread
        // meanwhile (`block_in_place`): no hop to a blocking-pool thread per event. Each one
        // acked is reported to the source at once, which settles it (offset stored,
        // basic.ack, PUBACK); when the runtime is stopping, the run ends after the event in
        // hand.
        let res = rt
            .runtime
            .on_events_in_order(name, move |events, progress| async move {
                tokio::task::block_in_place(move || {
                    for (i, ev) in events.iter().enumerate() {
                        match call_handler(cb, ev, user) {
                            0 => {
                                progress.acked(i + 1);
                                if progress.stopping() {
                                    return bindery_core::BatchVerdict::stopped_at(i + 1);
                                }
                            }
                            n => {
                                return bindery_core::BatchVerdict::failed_at(
                                    i,
                                    format!("the C handler returned {n}"),
                                )
                            }
                        }
                    }
                    bindery_core::BatchVerdict::all(events.len())
                })
            });
        match res {
            Ok(()) => BINDERY_OK,
            Err(e) => fail(&e),
        }
    })
}

fn call_handler(
    cb: unsafe extern "C" fn(*const bindery_event, *mut c_void) -> i32,
    ev: &bindery_core::Event,
    user: UserData,
) -> i32 {
    let binding = c_string(&ev.binding);
    let strings: Vec<(CString, CString)> = ev
        .metadata
        .iter()
        .map(|(k, v)| (c_string(k), c_string(v)))
        .collect();
    let kvs: Vec<bindery_kv> = strings
        .iter()
        .map(|(k, v)| bindery_kv {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let event = bindery_event {
        binding: binding.as_ptr(),
        data: if ev.data.is_empty() {
            std::ptr::null()
        } else {
            ev.data.as_ptr()
        },
        data_len: ev.data.len(),
        metadata: if kvs.is_empty() {
            std::ptr::null()
        } else {
            kvs.as_ptr()
        },
        metadata_len: kvs.len(),
    };
    unsafe { cb(&event, user.0) }
}

/// Read the counters of the started input binding `binding` into `*out`. Thread-safe.
/// Errors: INVALID_ARGUMENT (NULL, non-UTF-8), NOT_FOUND (no started input binding of that
/// name: not an input, or no handler, or the runtime not started).
#[no_mangle]
pub unsafe extern "C" fn bindery_get_input_stats(
    rt: *mut bindery_runtime,
    binding: *const c_char,
    out: *mut bindery_input_stats,
) -> i32 {
    guard(|| {
        let Some(rt) = rt.as_ref() else {
            return invalid("rt is NULL");
        };
        if out.is_null() {
            return invalid("out is NULL");
        }
        let name = match str_arg(binding, "binding") {
            Ok(s) => s,
            Err(c) => return c,
        };
        match rt.runtime.input_stats(name) {
            Some(st) => {
                *out = bindery_input_stats {
                    delivered: st.delivered,
                    acked: st.acked,
                    nacked: st.nacked,
                };
                BINDERY_OK
            }
            None => set_error(
                BINDERY_ERR_NOT_FOUND,
                &format!("no started input binding named {name:?}"),
            ),
        }
    })
}

/// Initialise the output bindings and start every input binding that has a handler; an input
/// binding with no handler is not started (a warning is logged). Returns once started; events
/// then arrive on bindery's threads. Errors: INVALID_STATE (already started), or the error of
/// a binding that failed to initialise (e.g. UPSTREAM, TIMEOUT) unless it has `ignoreErrors`.
#[no_mangle]
pub unsafe extern "C" fn bindery_start(rt: *mut bindery_runtime) -> i32 {
    guard(|| {
        let Some(rt) = rt.as_ref() else {
            return invalid("rt is NULL");
        };
        let r = rt.runtime.clone();
        match block_on(rt, async move { r.start().await }) {
            Ok(Ok(())) => BINDERY_OK,
            Ok(Err(e)) => fail(&e),
            Err(c) => c,
        }
    })
}

/// Call the output binding `name` with `operation`, `data_len` bytes of `data` (NULL allowed
/// when 0) and `metadata_len` metadata pairs (NULL allowed when 0), waiting for the answer.
/// The arguments are copied before the call returns. On success `*out` is a response the
/// caller owns (free with `bindery_response_free`); on failure `*out` is set to NULL.
/// Thread-safe, and may be called from inside a handler. Errors: INVALID_ARGUMENT, NOT_FOUND
/// (the message names the output bindings, nearest first), UNSUPPORTED_OPERATION (the message
/// lists the operations), UPSTREAM, TIMEOUT, CLOSED, and the binding's own.
#[no_mangle]
pub unsafe extern "C" fn bindery_invoke(
    rt: *mut bindery_runtime,
    name: *const c_char,
    operation: *const c_char,
    data: *const u8,
    data_len: usize,
    metadata: *const bindery_kv,
    metadata_len: usize,
    out: *mut *mut bindery_response,
) -> i32 {
    guard(|| {
        if out.is_null() {
            return invalid("out is NULL");
        }
        *out = std::ptr::null_mut();
        let Some(rt) = rt.as_ref() else {
            return invalid("rt is NULL");
        };
        let (name, op, data, md) =
            match invoke_args(name, operation, data, data_len, metadata, metadata_len) {
                Ok(a) => a,
                Err(c) => return c,
            };
        let r = rt.runtime.clone();
        let closed = rt.closed.subscribe();
        match block_on(rt, async move {
            unless_closed(closed, r.invoke(&name, &op, data, md)).await
        }) {
            Ok(Ok(resp)) => {
                *out = into_response(resp);
                BINDERY_OK
            }
            Ok(Err(e)) => fail(&e),
            Err(c) => c,
        }
    })
}

type InvokeArgs = (String, String, Vec<u8>, MetadataMap);

unsafe fn invoke_args(
    name: *const c_char,
    operation: *const c_char,
    data: *const u8,
    data_len: usize,
    metadata: *const bindery_kv,
    metadata_len: usize,
) -> Result<InvokeArgs, i32> {
    Ok((
        str_arg(name, "name")?.to_string(),
        str_arg(operation, "operation")?.to_string(),
        bytes_arg(data, data_len, "data")?.to_vec(),
        metadata_arg(metadata, metadata_len)?,
    ))
}

/// Like `bindery_invoke`, but returns at once: the arguments are copied, the call runs on
/// bindery's threads, and `done` is called exactly once with the outcome (see
/// `bindery_invoke_cb`), on a bindery thread, possibly before this function returns.
/// `user_data` must stay valid until then. A call still in flight when the runtime is shut
/// down or freed completes with CLOSED; `bindery_runtime_free` returns only after every
/// completion has returned. If this function itself returns an error (INVALID_ARGUMENT,
/// CLOSED), `done` is never called.
#[no_mangle]
pub unsafe extern "C" fn bindery_invoke_async(
    rt: *mut bindery_runtime,
    name: *const c_char,
    operation: *const c_char,
    data: *const u8,
    data_len: usize,
    metadata: *const bindery_kv,
    metadata_len: usize,
    done: bindery_invoke_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let Some(rt) = rt.as_ref() else {
            return invalid("rt is NULL");
        };
        let Some(done) = done else {
            return invalid("done is NULL");
        };
        let (name, op, data, md) =
            match invoke_args(name, operation, data, data_len, metadata, metadata_len) {
                Ok(a) => a,
                Err(c) => return c,
            };
        let Some(tokio) = rt.tokio.as_ref() else {
            return set_error(BINDERY_ERR_CLOSED, "the runtime is freed");
        };
        let r = rt.runtime.clone();
        let closed = rt.closed.subscribe();
        // Called with CLOSED when dropped unfinished (the task dropped as the threads stop).
        let completion = Completion::new(done, UserData(user_data), rt.calls.clone());
        tokio.spawn(async move {
            let result = unless_closed(closed, r.invoke(&name, &op, data, md)).await;
            tokio::task::block_in_place(move || completion.complete(result));
        });
        BINDERY_OK
    })
}

/// Free a response from `bindery_invoke` or a `bindery_invoke_cb`. NULL is ignored. Freeing
/// it twice, or using it afterwards, is the caller's fault.
#[no_mangle]
pub unsafe extern "C" fn bindery_response_free(response: *mut bindery_response) {
    if response.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let r = Box::from_raw(response);
        if !r.data.is_null() {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                r.data, r.data_len,
            )));
        }
        if !r.metadata.is_null() {
            let kvs = Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                r.metadata,
                r.metadata_len,
            ));
            for kv in kvs.iter() {
                drop(CString::from_raw(kv.key as *mut c_char));
                drop(CString::from_raw(kv.value as *mut c_char));
            }
        }
    }));
}

/// Stop the input bindings, wait up to `timeout_ms` for handlers in flight, then close the
/// bindings; invokes still in flight then fail with CLOSED (an async one through its
/// completion). Events queued but not handled are nacked, so their sources redeliver them.
/// Returns TIMEOUT when handlers were still running at the deadline (their events stay
/// unacked); calling it again is a no-op that succeeds. A handler that calls this on its own
/// runtime waits for itself until the deadline. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn bindery_shutdown(rt: *mut bindery_runtime, timeout_ms: u32) -> i32 {
    guard(|| {
        let Some(rt) = rt.as_ref() else {
            return invalid("rt is NULL");
        };
        let r = rt.runtime.clone();
        let deadline = Duration::from_millis(u64::from(timeout_ms));
        let result = block_on(rt, async move { r.shutdown(deadline).await });
        rt.closed.send_replace(true);
        match result {
            Ok(Ok(report)) if report.drained => BINDERY_OK,
            Ok(Ok(_)) => set_error(
                BINDERY_ERR_TIMEOUT,
                &format!(
                    "handlers were still running after {timeout_ms} ms; their events stay unacked"
                ),
            ),
            Ok(Err(e)) => fail(&e),
            Err(c) => c,
        }
    })
}

/// Shut down (with the options' deadline, 10 s by default) if that was not done, stop the
/// threads and free the runtime. Every async invoke's completion has returned when this
/// returns: those still in flight are called with CLOSED. NULL is ignored. Must not be called
/// from a handler or a completion callback of the same runtime; using `rt` afterwards is the
/// caller's fault.
#[no_mangle]
pub unsafe extern "C" fn bindery_runtime_free(rt: *mut bindery_runtime) {
    if rt.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let mut rt = Box::from_raw(rt);
        let r = rt.runtime.clone();
        let _ = block_on(&rt, async move { r.stop().await });
        rt.closed.send_replace(true);
        if let Some(t) = rt.tokio.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                t.shutdown_background();
            } else {
                t.shutdown_timeout(Duration::from_secs(5));
            }
        }
        // Completions of calls the stopping threads dropped run as those tasks are dropped.
        rt.calls.wait_idle();
    }));
}
