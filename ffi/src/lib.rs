//! The C ABI of bindery. Every function is `extern "C"`, checks its arguments, catches panics,
//! and returns a status code (`BINDERY_OK` or one of the `BINDERY_ERR_*` codes, which are the
//! core's stable `ErrorKind` codes). The detail of the last error on the calling thread is
//! read with `bindery_last_error_message`. No logic lives here beyond the translation.
//!
//! The header `include/bindery.h` is generated from this file by cbindgen (`ffi/cbindgen.toml`);
//! the doc comments below are the header's documentation.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]
// every function's contract is in its doc comment (the header's)
// Every unsafe operation is in an `unsafe` block of its own, with a `// SAFETY:` comment that
// says why it holds; each `unsafe fn` has one saying what its caller must uphold.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::mem::offset_of;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use bindery_core::embed::{CallGate, Embedded};
use bindery_core::{Error, ErrorKind, InputOptions, MetadataMap, Options, RunVerdict, Runtime};

#[cfg(feature = "testing")]
mod testing;

/// The version of this ABI. It changes only when a function or struct changes incompatibly.
pub const BINDERY_ABI_VERSION: u32 = 2;

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

// The codes above are the core's `ErrorKind` codes (the header needs them written out); a
// kind without a code here, or a code without its kind, fails `ffi/tests/header.rs`.
const _: () = {
    assert!(BINDERY_ERR_INVALID_CONFIG == ErrorKind::InvalidConfig.code());
    assert!(BINDERY_ERR_NOT_FOUND == ErrorKind::NotFound.code());
    assert!(BINDERY_ERR_UNSUPPORTED_OPERATION == ErrorKind::UnsupportedOperation.code());
    assert!(BINDERY_ERR_INVALID_ARGUMENT == ErrorKind::InvalidArgument.code());
    assert!(BINDERY_ERR_TIMEOUT == ErrorKind::Timeout.code());
    assert!(BINDERY_ERR_CIRCUIT_OPEN == ErrorKind::CircuitOpen.code());
    assert!(BINDERY_ERR_UPSTREAM == ErrorKind::Upstream.code());
    assert!(BINDERY_ERR_CLOSED == ErrorKind::Closed.code());
    assert!(BINDERY_ERR_INTERNAL == ErrorKind::Internal.code());
    assert!(BINDERY_ERR_INVALID_STATE == ErrorKind::InvalidState.code());
    assert!(BINDERY_ERR_HANDLER_FAILED == ErrorKind::HandlerFailed.code());
};

/// A handler's return value that acks the event (it was handled).
pub const BINDERY_ACK: i32 = 0;
/// A handler's return value that nacks the event: it failed, and the binding redelivers it
/// where its system can. Any value but `BINDERY_ACK` and `BINDERY_REJECT` nacks.
pub const BINDERY_NACK: i32 = 1;
/// A handler's return value that rejects the event: it is never redelivered, and the binding
/// dead-letters it where its system can (RabbitMQ: rejected without requeue, so the queue's
/// dead-letter exchange gets it; Kafka: its offset is committed past it; MQTT: acknowledged),
/// logging it. For an event that can never succeed. A value no error code or errno is, so
/// that a handler passing one on never rejects by accident.
pub const BINDERY_REJECT: i32 = 0x5245_4A45;

/// The most worker threads a runtime may have (see `bindery_options_set_worker_threads`).
pub const BINDERY_MAX_WORKER_THREADS: u32 = 1024;
// The header needs the number written out; the core's limit is the one that holds.
const _: () =
    assert!(BINDERY_MAX_WORKER_THREADS as usize == bindery_core::embed::MAX_WORKER_THREADS);

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
/// Fields are only ever added at the end: set `size` to `sizeof(bindery_input_stats)` before
/// the call, and a library built with fewer fields fills those it has (and says how far it got
/// in `size`), one built with more fills only what fits in yours.
#[repr(C)]
#[derive(Default)]
pub struct bindery_input_stats {
    /// In: the size of the caller's struct (`sizeof(bindery_input_stats)`). Out: how many
    /// bytes of it the library filled, this field included.
    pub size: usize,
    /// Events handed to the handler.
    pub delivered: u64,
    /// Events the handler acked (returned 0).
    pub acked: u64,
    /// Events the handler nacked (returned anything but `BINDERY_ACK` and `BINDERY_REJECT`),
    /// or whose handler panicked.
    pub nacked: u64,
    /// Of the nacked events, those whose handler panicked (inside bindery: a C handler cannot).
    pub panicked: u64,
    /// Events the handler rejected (returned `BINDERY_REJECT`): not redelivered.
    pub rejected: u64,
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

/// An input handler. Return `BINDERY_ACK` (0) to ack the event, `BINDERY_REJECT` to reject
/// it (it is never redelivered; dead-lettered where the binding's system can); any other value
/// (`BINDERY_NACK`, say) nacks it, and the binding redelivers it where its system can. Runs on
/// a bindery worker thread, never on the thread that registered it; several handlers may run
/// at once on different threads. It may call `bindery_invoke` (or any other function but
/// `bindery_runtime_free`) on the same runtime.
pub type bindery_event_cb =
    Option<unsafe extern "C" fn(ev: *const bindery_event, user_data: *mut c_void) -> i32>;

/// A finalizer of a `user_data` (see `bindery_on_event`, `bindery_invoke_async`): called
/// exactly once, when bindery is done with `user_data`, on a bindery thread or in
/// `bindery_runtime_free`. It must not call back into bindery.
pub type bindery_free_cb = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

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
    /// The tokio runtime, shared with the Python layer's way of owning one.
    embedded: Embedded,
    runtime: Runtime,
    /// Closed once the runtime is shut down: calls still in flight then answer CLOSED.
    gate: CallGate,
    /// The callbacks bindery still holds (async completions, handlers' `user_data`), which
    /// `bindery_runtime_free` waits for.
    callbacks: Arc<Outstanding>,
}

/// A count of what still holds a caller's callback or `user_data`; `wait_idle` returns once
/// every one was let go (its finalizer, if any, called).
#[derive(Default)]
struct Outstanding {
    count: Mutex<usize>,
    idle: Condvar,
}

impl Outstanding {
    /// Count one more until the token is dropped.
    fn enter(self: &Arc<Self>) -> Token {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Token(self.clone())
    }

    fn wait_idle(&self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = self.idle.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// One count of an `Outstanding`, until dropped.
struct Token(Arc<Outstanding>);

impl Drop for Token {
    fn drop(&mut self) {
        let mut n = self.0.count.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// A caller's `user_data` and its finalizer, which is called once when this is dropped (the
/// last handle to it let go), unless the call that took it failed (`disarm`): then the
/// caller still owns it. Counted in the runtime's `callbacks` until after the finalizer.
struct UserData {
    ptr: *mut c_void,
    free: bindery_free_cb,
    armed: AtomicBool,
    // Dropped after the fields above, so that `bindery_runtime_free` returns after the
    // finalizer ran.
    _counted: Token,
}

// SAFETY: `ptr` is only handed back to the caller's callbacks, which may run on any bindery
// thread and several at once; `bindery_on_event` and `bindery_invoke_async` require of the
// caller that `user_data` (and its finalizer) be usable from other threads. bindery itself
// never dereferences it.
unsafe impl Send for UserData {}
// SAFETY: as for `Send`: shared references only read `ptr`, `free` and the atomic `armed`.
unsafe impl Sync for UserData {}

impl UserData {
    fn new(ptr: *mut c_void, free: bindery_free_cb, callbacks: &Arc<Outstanding>) -> Self {
        UserData {
            ptr,
            free,
            armed: AtomicBool::new(true),
            _counted: callbacks.enter(),
        }
    }

    /// The call that took this failed: the caller keeps `user_data`, no finalizer is called.
    fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        if let Some(free) = self.free {
            // SAFETY: the caller gave `free` as the finalizer of `ptr`; this is the one call
            // (`Drop` runs once, and only armed, i.e. after the call that took it succeeded),
            // made after the last use of `ptr` by a handler or completion.
            unsafe { free(self.ptr) }
        }
    }
}

/// The completion of one async invoke. Whatever ends the call, `done` is called exactly once:
/// with the outcome by `complete`, else (the task was dropped unfinished, when the runtime's
/// threads stopped) with CLOSED when this is dropped; then the `user_data`'s finalizer.
struct Completion {
    done: unsafe extern "C" fn(i32, *const c_char, *mut bindery_response, *mut c_void),
    called: bool,
    // Dropped after `done` was called (in `Drop::drop` at the latest): the finalizer runs
    // after the completion returned.
    user: UserData,
}

impl Completion {
    fn complete(mut self, result: Result<bindery_core::InvokeResponse, Error>) {
        self.called = true;
        match result {
            Ok(resp) => {
                let resp = into_response(resp);
                // SAFETY: `done` is the caller's completion, called once (`called` is set),
                // with a response it now owns and its own `user_data`, as documented.
                unsafe { (self.done)(BINDERY_OK, std::ptr::null(), resp, self.user.ptr) }
            }
            Err(e) => {
                let msg = c_string(&e.to_string());
                // SAFETY: as above; `msg` outlives the call, as the documentation promises.
                unsafe { (self.done)(e.code(), msg.as_ptr(), std::ptr::null_mut(), self.user.ptr) }
            }
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if !self.called {
            self.called = true;
            let msg = c"the runtime was freed before the call finished";
            // SAFETY: the one call of the caller's completion (`called` was false and is now
            // set), with a static message and its own `user_data`.
            unsafe {
                (self.done)(
                    BINDERY_ERR_CLOSED,
                    msg.as_ptr(),
                    std::ptr::null_mut(),
                    self.user.ptr,
                )
            }
        }
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
// SAFETY: `p` is NULL or points to a NUL-terminated string that stays valid and unchanged for
// `'a` (the caller's argument, for the duration of the call).
unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, i32> {
    if p.is_null() {
        return Err(invalid(&format!("{what} is NULL")));
    }
    // SAFETY: not NULL, and NUL-terminated and valid for `'a` by this function's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| {
        invalid(&format!(
            "{what} is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })
}

/// `len` bytes at `p` (NULL allowed when `len` is 0).
// SAFETY: when `len` > 0 and `p` is not NULL, `p` points to `len` readable bytes that stay
// valid and unchanged for `'a`.
unsafe fn bytes_arg<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], i32> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(invalid(&format!("{what} is NULL but its length is {len}")));
    }
    // SAFETY: not NULL and `len` readable bytes for `'a`, by this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `len` metadata pairs at `p` (NULL allowed when `len` is 0), copied.
// SAFETY: when `len` > 0 and `p` is not NULL, `p` points to `len` `bindery_kv`s whose
// non-NULL pointers are NUL-terminated strings, all valid for the duration of the call.
unsafe fn metadata_arg(p: *const bindery_kv, len: usize) -> Result<MetadataMap, i32> {
    if len == 0 {
        return Ok(MetadataMap::new());
    }
    if p.is_null() {
        return Err(invalid(&format!(
            "metadata is NULL but metadata_len is {len}"
        )));
    }
    // SAFETY: not NULL and `len` pairs, by this function's contract.
    let pairs = unsafe { std::slice::from_raw_parts(p, len) };
    let mut map = HashMap::with_capacity(len);
    for (i, kv) in pairs.iter().enumerate() {
        // SAFETY: each key and value is NULL or a valid string, by this function's contract;
        // both are copied before the call returns.
        let (k, v) = unsafe {
            (
                str_arg(kv.key, &format!("metadata[{i}].key"))?,
                str_arg(kv.value, &format!("metadata[{i}].value"))?,
            )
        };
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

/// Run `fut` on the runtime and wait for it on this thread (see `Embedded::block_on`).
fn block_on<T: Send + 'static>(
    rt: &bindery_runtime,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, i32> {
    rt.embedded.block_on(fut).map_err(|e| fail(&e))
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

/// A short stable name for an error code ("ok", "invalid_config", "not_found", ...): the
/// core's name of the kind. Static storage; never NULL. Unknown codes give "internal".
#[no_mangle]
pub extern "C" fn bindery_error_name(code: i32) -> *const c_char {
    static NAMES: OnceLock<Vec<(ErrorKind, CString)>> = OnceLock::new();
    if code == BINDERY_OK {
        return c"ok".as_ptr();
    }
    let names = NAMES.get_or_init(|| {
        ErrorKind::ALL
            .iter()
            .map(|k| (*k, CString::new(k.name()).unwrap_or_default()))
            .collect()
    });
    let kind = ErrorKind::from_code(code);
    names
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(c"internal".as_ptr(), |(_, name)| name.as_ptr())
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
// SAFETY: `options` is NULL or came from `bindery_options_new` and was not freed before.
#[no_mangle]
pub unsafe extern "C" fn bindery_options_free(options: *mut bindery_options) {
    if !options.is_null() {
        // SAFETY: a pointer from `bindery_options_new` (`Box::into_raw`), freed once, by this
        // function's contract.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(options) })));
    }
}

/// `options` as a mutable reference, or INVALID_ARGUMENT for NULL.
// SAFETY: `options` is NULL or a live pointer from `bindery_options_new`, not used by another
// thread during the call.
unsafe fn options_arg<'a>(options: *mut bindery_options) -> Result<&'a mut bindery_options, i32> {
    // SAFETY: NULL or live and unshared for the call, by this function's contract.
    unsafe { options.as_mut() }.ok_or_else(|| invalid("options is NULL"))
}

/// `rt` as a reference, or INVALID_ARGUMENT for NULL.
// SAFETY: `rt` is NULL or a live pointer from `bindery_runtime_new` (not freed), as every
// function taking a runtime requires of its caller. A runtime is only ever shared.
unsafe fn runtime_arg<'a>(rt: *mut bindery_runtime) -> Result<&'a bindery_runtime, i32> {
    // SAFETY: NULL or live for the call, by this function's contract; nothing takes `&mut`.
    unsafe { rt.as_ref() }.ok_or_else(|| invalid("rt is NULL"))
}

/// Set the app ID, used by Dapr's `scopes` and the `{appID}` template tag. The string is
/// copied. Errors: INVALID_ARGUMENT for NULL or non-UTF-8.
// SAFETY: `options` is NULL or live from `bindery_options_new`; `app_id` NULL or a
// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn bindery_options_set_app_id(
    options: *mut bindery_options,
    app_id: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's pointers, as this function's contract says they are.
        let (o, id) =
            match unsafe { options_arg(options).and_then(|o| Ok((o, str_arg(app_id, "app_id")?))) }
            {
                Ok(a) => a,
                Err(c) => return c,
            };
        o.app_id = Some(id.to_string());
        BINDERY_OK
    })
}

/// Set how many events of one input binding may be in its handler at once (default 1: one
/// at a time, in order) and how many may wait (default 16); both at least 1.
// SAFETY: `options` is NULL or live from `bindery_options_new`.
#[no_mangle]
pub unsafe extern "C" fn bindery_options_set_concurrency(
    options: *mut bindery_options,
    concurrency: u32,
    queue_capacity: u32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's pointer, as this function's contract says it is.
        let o = match unsafe { options_arg(options) } {
            Ok(o) => o,
            Err(c) => return c,
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
// SAFETY: `options` is NULL or live from `bindery_options_new`.
#[no_mangle]
pub unsafe extern "C" fn bindery_options_set_worker_threads(
    options: *mut bindery_options,
    threads: u32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's pointer, as this function's contract says it is.
        let o = match unsafe { options_arg(options) } {
            Ok(o) => o,
            Err(c) => return c,
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
// SAFETY: `resources_paths` is NULL or points to `n_paths` pointers, each NULL or a
// NUL-terminated string; `options` is NULL or live from `bindery_options_new`; `out` is NULL
// or writable.
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
        // SAFETY: not NULL, and `n_paths` pointers, by this function's contract.
        let raw_paths = unsafe { std::slice::from_raw_parts(resources_paths, n_paths) };
        let mut paths = Vec::with_capacity(n_paths);
        for (i, p) in raw_paths.iter().enumerate() {
            // SAFETY: each is NULL or a NUL-terminated string, by this function's contract.
            match unsafe { str_arg(*p, &format!("resources_paths[{i}]")) } {
                Ok(s) => paths.push(PathBuf::from(s)),
                Err(c) => return c,
            }
        }
        let defaults = bindery_options::default();
        // SAFETY: NULL or live options, by this function's contract; only read.
        let opts = unsafe { options.as_ref() }.unwrap_or(&defaults);
        let core_options = Options {
            app_id: opts.app_id.clone(),
            input: opts.input,
            shutdown_timeout: opts.shutdown_timeout,
        };
        let threads = opts.worker_threads;
        let builder = Runtime::builder()
            .resources_paths(paths)
            .options(core_options);
        #[cfg(feature = "testing")]
        let builder = builder.registry(testing::registry());
        let runtime = match builder.build() {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        let embedded = match Embedded::start(threads, |_| {}) {
            Ok(t) => t,
            Err(e) => return fail(&e),
        };
        let rt = Box::into_raw(Box::new(bindery_runtime {
            embedded,
            runtime,
            gate: CallGate::new("the runtime was shut down before the call finished"),
            callbacks: Arc::default(),
        }));
        // SAFETY: `out` is not NULL (checked) and writable, by this function's contract.
        unsafe { out.write(rt) };
        BINDERY_OK
    })
}

/// Register the handler of the input binding named `binding` (its component name). Must be
/// called before `bindery_start`. `user_data` is passed to every call of `cb` and must be
/// usable from other threads. When bindery is done with the handler (the runtime shut down
/// and the last call of `cb` returned, at the latest in `bindery_runtime_free`),
/// `free_user_data` is called with `user_data`, exactly once, unless it is NULL. If this
/// function returns an error, `cb` is never called and neither is `free_user_data`: the
/// caller keeps `user_data`. Errors: INVALID_ARGUMENT (NULL, non-UTF-8), NOT_FOUND (no input
/// binding of that name: the message lists those there are, nearest first), INVALID_STATE
/// (already started, or a handler is already registered for that binding: it stays).
// SAFETY: `rt` is NULL or live from `bindery_runtime_new`; `binding` NULL or a NUL-terminated
// string; `cb` and `free_user_data` NULL or functions with these signatures, callable from any
// thread with `user_data`, as the documentation requires.
#[no_mangle]
pub unsafe extern "C" fn bindery_on_event(
    rt: *mut bindery_runtime,
    binding: *const c_char,
    cb: bindery_event_cb,
    user_data: *mut c_void,
    free_user_data: bindery_free_cb,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's pointers, as this function's contract says they are.
        let (rt, name) = match unsafe {
            runtime_arg(rt).and_then(|rt| Ok((rt, str_arg(binding, "binding")?)))
        } {
            Ok(a) => a,
            Err(c) => return c,
        };
        let Some(cb) = cb else {
            return invalid("cb is NULL");
        };
        let user = Arc::new(UserData::new(user_data, free_user_data, &rt.callbacks));
        let held = user.clone();
        // The events a source hands over together (a Kafka fetch, say) are passed to `cb` one
        // by one, in order, on a bindery worker whose other tasks move to another thread
        // meanwhile (`block_in_place`): no hop to a blocking-pool thread per event. Each one
        // acked is reported to the source at once, which settles it (offset stored,
        // basic.ack, PUBACK); when the runtime is stopping, the run ends after the event in
        // hand. Each run holds `user` until it returns, so its finalizer runs after the last.
        let res = rt.runtime.on_runs(name, move |events, progress| {
            let user = held.clone();
            async move {
                tokio::task::block_in_place(move || {
                    for (i, ev) in events.iter().enumerate() {
                        match call_handler(cb, ev, &user) {
                            BINDERY_ACK => {
                                progress.acked(i + 1);
                                if progress.stopping() {
                                    return RunVerdict::stopped_at(i + 1);
                                }
                            }
                            BINDERY_REJECT => {
                                return RunVerdict::rejected_at(
                                    i,
                                    "the C handler returned BINDERY_REJECT",
                                )
                            }
                            n => {
                                return RunVerdict::failed_at(
                                    i,
                                    format!("the C handler returned {n}"),
                                )
                            }
                        }
                    }
                    RunVerdict::all(events.len())
                })
            }
        });
        match res {
            Ok(()) => BINDERY_OK,
            Err(e) => {
                // The handler was dropped unregistered: the caller keeps `user_data`.
                user.disarm();
                fail(&e)
            }
        }
    })
}

fn call_handler(
    cb: unsafe extern "C" fn(*const bindery_event, *mut c_void) -> i32,
    ev: &bindery_core::Event,
    user: &UserData,
) -> i32 {
    #[cfg(feature = "testing")]
    testing::maybe_panic(ev);
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
    // SAFETY: `cb` is the caller's handler, called with its own `user_data` (still held, so
    // not finalized) and an event whose pointers (`binding`, `strings`, `kvs`, the event's
    // data) all live until after it returns, as `bindery_event` documents.
    unsafe { cb(&event, user.ptr) }
}

/// Read the counters of the started input binding `binding` into `*out`. Set `out->size` to
/// `sizeof(bindery_input_stats)` first: the fields that fit in that size are filled (a
/// library knowing more fields than the caller's header fills only those), and `out->size` is
/// set to the bytes filled (a library knowing fewer says so). Thread-safe. Errors:
/// INVALID_ARGUMENT (NULL, non-UTF-8, `out->size` smaller than the `size` field), NOT_FOUND
/// (no started input binding of that name: not an input, or no handler, or the runtime not
/// started).
// SAFETY: `rt` is NULL or live from `bindery_runtime_new`; `binding` NULL or a NUL-terminated
// string; `out` NULL or pointing to `out->size` writable bytes (at least its `size` field).
#[no_mangle]
pub unsafe extern "C" fn bindery_get_input_stats(
    rt: *mut bindery_runtime,
    binding: *const c_char,
    out: *mut bindery_input_stats,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's pointers, as this function's contract says they are.
        let (rt, name) = match unsafe {
            runtime_arg(rt).and_then(|rt| Ok((rt, str_arg(binding, "binding")?)))
        } {
            Ok(a) => a,
            Err(c) => return c,
        };
        if out.is_null() {
            return invalid("out is NULL");
        }
        // SAFETY: not NULL, and it starts with the `size` field, by this function's contract.
        let size = unsafe { out.cast::<usize>().read_unaligned() };
        if size < std::mem::size_of::<usize>() {
            return invalid(&format!(
                "out->size is {size}: set it to sizeof(bindery_input_stats)"
            ));
        }
        let Some(st) = rt.runtime.input_stats(name) else {
            return set_error(
                BINDERY_ERR_NOT_FOUND,
                &format!("no started input binding named {name:?}"),
            );
        };
        let fields = [
            (offset_of!(bindery_input_stats, delivered), st.delivered),
            (offset_of!(bindery_input_stats, acked), st.acked),
            (offset_of!(bindery_input_stats, nacked), st.nacked),
            (offset_of!(bindery_input_stats, panicked), st.panicked),
            (offset_of!(bindery_input_stats, rejected), st.rejected),
        ];
        let mut filled = std::mem::size_of::<usize>();
        for (offset, value) in fields {
            let end = offset + std::mem::size_of::<u64>();
            if end > size {
                break;
            }
            // SAFETY: `offset..end` lies within the caller's `size` bytes at `out` (checked
            // just above), writable by this function's contract; unaligned-safe.
            unsafe {
                out.cast::<u8>()
                    .add(offset)
                    .cast::<u64>()
                    .write_unaligned(value)
            };
            filled = end;
        }
        // SAFETY: the `size` field, within the caller's struct (read above).
        unsafe { out.cast::<usize>().write_unaligned(filled) };
        BINDERY_OK
    })
}

/// Initialise the output bindings and start every input binding that has a handler; an input
/// binding with no handler is not started (a warning is logged). Returns once started; events
/// then arrive on bindery's threads. Errors: INVALID_STATE (already started), or the error of
/// a binding that failed to initialise (e.g. UPSTREAM, TIMEOUT) unless it has `ignoreErrors`.
// SAFETY: `rt` is NULL or live from `bindery_runtime_new`.
#[no_mangle]
pub unsafe extern "C" fn bindery_start(rt: *mut bindery_runtime) -> i32 {
    guard(|| {
        // SAFETY: the caller's pointer, as this function's contract says it is.
        let rt = match unsafe { runtime_arg(rt) } {
            Ok(rt) => rt,
            Err(c) => return c,
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
/// lists the operations), UPSTREAM, TIMEOUT, CLOSED, INTERNAL (the binding panicked), and the
/// binding's own.
// SAFETY: `rt` is NULL or live from `bindery_runtime_new`; `name` and `operation` NULL or
// NUL-terminated strings; `data` and `metadata` as `invoke_args` requires; `out` NULL or
// writable.
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
        // SAFETY: not NULL, and writable by this function's contract.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the caller's pointers, as this function's contract says they are.
        let args =
            unsafe { invoke_args(rt, name, operation, data, data_len, metadata, metadata_len) };
        let (rt, (name, op, data, md)) = match args {
            Ok(a) => a,
            Err(c) => return c,
        };
        let r = rt.runtime.clone();
        let call = rt
            .gate
            .guard(async move { r.invoke(&name, &op, data, md).await });
        match block_on(rt, call) {
            Ok(Ok(resp)) => {
                // SAFETY: as above.
                unsafe { out.write(into_response(resp)) };
                BINDERY_OK
            }
            Ok(Err(e)) => fail(&e),
            Err(c) => c,
        }
    })
}

type InvokeArgs = (String, String, Vec<u8>, MetadataMap);

/// The runtime of an invoke, and its arguments, copied.
// SAFETY: `rt` is NULL or live for the call (see `runtime_arg`); `name` and `operation` are
// NULL or NUL-terminated strings; `data` NULL or `data_len` readable bytes; `metadata` NULL or
// `metadata_len` pairs of NULL or NUL-terminated strings; all valid for the duration of the
// call.
unsafe fn invoke_args<'a>(
    rt: *mut bindery_runtime,
    name: *const c_char,
    operation: *const c_char,
    data: *const u8,
    data_len: usize,
    metadata: *const bindery_kv,
    metadata_len: usize,
) -> Result<(&'a bindery_runtime, InvokeArgs), i32> {
    // SAFETY: each argument as its helper requires, by this function's contract; all copied.
    unsafe {
        Ok((
            runtime_arg(rt)?,
            (
                str_arg(name, "name")?.to_string(),
                str_arg(operation, "operation")?.to_string(),
                bytes_arg(data, data_len, "data")?.to_vec(),
                metadata_arg(metadata, metadata_len)?,
            ),
        ))
    }
}

/// Like `bindery_invoke`, but returns at once: the arguments are copied, the call runs on
/// bindery's threads, and `done` is called exactly once with the outcome (see
/// `bindery_invoke_cb`), on a bindery thread, possibly before this function returns. A call
/// still in flight when the runtime is shut down or freed completes with CLOSED; one whose
/// binding panicked completes with INTERNAL, saying so. After `done` returned,
/// `free_user_data` (unless NULL) is called with `user_data`, exactly once.
/// `bindery_runtime_free` returns only after every completion and finalizer has returned. If
/// this function itself returns an error (INVALID_ARGUMENT), neither `done` nor
/// `free_user_data` is ever called.
// SAFETY: as `bindery_invoke` for `rt` and the call's arguments; `done` and `free_user_data`
// NULL or functions with these signatures, callable from any thread with `user_data`.
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
    free_user_data: bindery_free_cb,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's pointers, as this function's contract says they are.
        let args =
            unsafe { invoke_args(rt, name, operation, data, data_len, metadata, metadata_len) };
        let (rt, (name, op, data, md)) = match args {
            Ok(a) => a,
            Err(c) => return c,
        };
        let Some(done) = done else {
            return invalid("done is NULL");
        };
        let r = rt.runtime.clone();
        let call = rt
            .gate
            .guard(async move { r.invoke(&name, &op, data, md).await });
        // Called with CLOSED when dropped unfinished (the task dropped as the threads stop,
        // or never spawned because they stopped).
        let completion = Completion {
            done,
            called: false,
            user: UserData::new(user_data, free_user_data, &rt.callbacks),
        };
        let _ = rt.embedded.spawn(async move {
            let result = bindery_core::embed::catch_panic("the call", call).await;
            tokio::task::block_in_place(move || completion.complete(result));
        });
        BINDERY_OK
    })
}

/// Free a response from `bindery_invoke` or a `bindery_invoke_cb`. NULL is ignored. Freeing
/// it twice, or using it afterwards, is the caller's fault.
// SAFETY: `response` is NULL or a response bindery handed out and that was not freed before.
#[no_mangle]
pub unsafe extern "C" fn bindery_response_free(response: *mut bindery_response) {
    if response.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by `into_response` (`Box::into_raw`), freed once, by this contract.
        let r = unsafe { Box::from_raw(response) };
        if !r.data.is_null() {
            // SAFETY: `data` is the boxed slice of `data_len` bytes `into_response` made.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(r.data, r.data_len)) });
        }
        if !r.metadata.is_null() {
            // SAFETY: `metadata` is the boxed slice of `metadata_len` pairs `into_response`
            // made, each key and value from `CString::into_raw`.
            let kvs = unsafe {
                Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                    r.metadata,
                    r.metadata_len,
                ))
            };
            for kv in kvs.iter() {
                // SAFETY: as above: each string came from `CString::into_raw`, freed once.
                unsafe {
                    drop(CString::from_raw(kv.key as *mut c_char));
                    drop(CString::from_raw(kv.value as *mut c_char));
                }
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
// SAFETY: `rt` is NULL or live from `bindery_runtime_new`.
#[no_mangle]
pub unsafe extern "C" fn bindery_shutdown(rt: *mut bindery_runtime, timeout_ms: u32) -> i32 {
    guard(|| {
        // SAFETY: the caller's pointer, as this function's contract says it is.
        let rt = match unsafe { runtime_arg(rt) } {
            Ok(rt) => rt,
            Err(c) => return c,
        };
        let r = rt.runtime.clone();
        let deadline = Duration::from_millis(u64::from(timeout_ms));
        let result = block_on(rt, async move { r.shutdown(deadline).await });
        rt.gate.close();
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
/// threads and free the runtime. When this returns, every async invoke's completion has
/// returned (those still in flight are called with CLOSED), no handler is running any more,
/// and every `free_user_data` has been called: a handler still running past the deadline is
/// waited for. NULL is ignored. Must not be called from a handler or a completion callback of
/// the same runtime; using `rt` afterwards is the caller's fault.
// SAFETY: `rt` is NULL or live from `bindery_runtime_new`, not freed before, and no other
// thread uses it during or after the call.
#[no_mangle]
pub unsafe extern "C" fn bindery_runtime_free(rt: *mut bindery_runtime) {
    if rt.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by `bindery_runtime_new` (`Box::into_raw`), freed once and used by no
        // one else from now on, by this function's contract.
        let rt = unsafe { Box::from_raw(rt) };
        let r = rt.runtime.clone();
        let _ = block_on(&rt, async move { r.stop().await });
        rt.gate.close();
        rt.embedded.shutdown(Duration::from_secs(5));
        // What holds the callbacks now is dropped: the core runtime (handlers never started)
        // and the tasks the stopping threads dropped (whose completions are called with
        // CLOSED). A handler still running holds its `user_data` until it returns.
        let bindery_runtime {
            runtime,
            callbacks,
            embedded,
            gate,
        } = *rt;
        drop((runtime, embedded, gate));
        callbacks.wait_idle();
    }));
}
