//! The C ABI entry points as a C caller can misuse them: `bindery_runtime_new` from arbitrary
//! path bytes, and `bindery_invoke` with arbitrary (or NULL) name, operation, data and
//! metadata bytes and lengths (NULL with a length), on one runtime built once from a small
//! folder: a local storage binding whose rootPath is in a temporary folder, beside a file
//! outside it that no call may read or touch, and a cron binding (input, with the `delete`
//! output). The ffi crate builds only a cdylib and a staticlib, so its source is compiled in
//! here as a module.

#![no_main]

#[path = "../../ffi/src/lib.rs"]
#[allow(dead_code, unused_imports)]
mod ffi;

use std::ffi::{c_char, CString};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use ffi::{
    bindery_invoke, bindery_kv, bindery_last_error_code, bindery_last_error_message,
    bindery_response, bindery_response_free, bindery_runtime, bindery_runtime_free,
    bindery_runtime_new, BINDERY_ERR_HANDLER_FAILED, BINDERY_ERR_INTERNAL, BINDERY_OK,
};
use libfuzzer_sys::fuzz_target;

const SENTINEL: &[u8] = b"outside rootPath: never read, written or removed";

// The input, as text a person can write a seed in: the first line is the resources path for
// `bindery_runtime_new`; each further line is one `bindery_invoke` (at most 8), its fields
// separated by tabs: name, operation, data, then metadata entries `key=value`. A field that is
// exactly one NUL byte is a NULL pointer (data: NULL with length 7; a metadata entry: the whole
// metadata NULL with its count as length; a key or value of one NUL: that pointer NULL); a
// name starting with byte 0x02 calls with a NULL runtime. Strings end at their first NUL, as
// in C.

const NULL: &[u8] = b"\0";

struct Call<'a> {
    null_runtime: bool,
    name: Option<CString>,
    operation: Option<CString>,
    data: Option<&'a [u8]>,
    /// None: NULL metadata with this many entries.
    metadata: Option<Vec<(Option<CString>, Option<CString>)>>,
    metadata_count: usize,
}

fn c_string(field: &[u8]) -> Option<CString> {
    if field == NULL {
        return None;
    }
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    Some(CString::new(&field[..end]).unwrap())
}

fn parse_call(line: &[u8]) -> Call<'_> {
    let mut fields = line.split(|&b| b == b'\t');
    let name = fields.next().unwrap_or_default();
    let null_runtime = name.first() == Some(&2);
    let operation = fields.next().unwrap_or_default();
    let data = fields.next().unwrap_or_default();
    let entries: Vec<&[u8]> = fields.collect();
    let metadata = if entries.iter().any(|e| *e == NULL) {
        None
    } else {
        Some(
            entries
                .iter()
                .map(|e| {
                    let (k, v) = match e.iter().position(|&b| b == b'=') {
                        Some(i) => (&e[..i], &e[i + 1..]),
                        None => (*e, &[][..]),
                    };
                    (c_string(k), c_string(v))
                })
                .collect(),
        )
    };
    Call {
        null_runtime,
        name: c_string(name),
        operation: c_string(operation),
        data: (data != NULL).then_some(data),
        metadata,
        metadata_count: entries.len(),
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    sentinel: PathBuf,
    rt: usize, // *mut bindery_runtime, kept for the whole run
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let components = tmp.path().join("components");
        let root = tmp.path().join("root");
        std::fs::create_dir_all(&components).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        let sentinel = tmp.path().join("outside/sentinel");
        std::fs::write(&sentinel, SENTINEL).unwrap();
        std::fs::write(
            components.join("files.yaml"),
            format!(
                "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: files\nspec:\n  type: bindings.localstorage\n  version: v1\n  metadata:\n  - name: rootPath\n    value: \"{}\"\n",
                root.display()
            ),
        )
        .unwrap();
        std::fs::write(
            components.join("tick.yaml"),
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: tick\nspec:\n  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"@every 1h\"\n",
        )
        .unwrap();
        let path = CString::new(components.to_str().unwrap()).unwrap();
        let paths = [path.as_ptr()];
        let mut rt: *mut bindery_runtime = std::ptr::null_mut();
        let code = unsafe { bindery_runtime_new(paths.as_ptr(), 1, std::ptr::null(), &mut rt) };
        assert_eq!(code, BINDERY_OK, "the fixture runtime is built");
        Fixture {
            root,
            sentinel,
            rt: rt as usize,
            _tmp: tmp,
        }
    })
}

fn ptr(c: &Option<CString>) -> *const c_char {
    c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// A failed call left a code in range and a message.
fn check_error(code: i32) {
    assert!(
        (1..=BINDERY_ERR_HANDLER_FAILED).contains(&code),
        "code {code}"
    );
    assert_ne!(code, BINDERY_ERR_INTERNAL, "an internal error is a bug");
    assert_eq!(bindery_last_error_code(), code);
    assert!(!bindery_last_error_message().is_null());
}

fuzz_target!(|input: &[u8]| {
    let fx = fixture();
    let mut lines = input.split(|&b| b == b'\n');

    // A runtime from arbitrary path bytes: an error, or (for a real folder) a runtime.
    let path = c_string(lines.next().unwrap_or_default());
    let paths = [ptr(&path)];
    let mut out: *mut bindery_runtime = std::ptr::null_mut();
    let code = unsafe { bindery_runtime_new(paths.as_ptr(), 1, std::ptr::null(), &mut out) };
    if code == BINDERY_OK {
        assert!(!out.is_null());
        unsafe { bindery_runtime_free(out) };
    } else {
        check_error(code);
    }

    for call in lines.take(8).map(parse_call) {
        let (data, data_len) = match call.data {
            Some(d) => (d.as_ptr(), d.len()),
            None => (std::ptr::null(), 7),
        };
        let kvs: Vec<bindery_kv> = call
            .metadata
            .iter()
            .flatten()
            .map(|(k, v)| bindery_kv {
                key: ptr(k),
                value: ptr(v),
            })
            .collect();
        let (metadata, metadata_len) = match &call.metadata {
            Some(_) => (kvs.as_ptr(), kvs.len()),
            None => (std::ptr::null(), call.metadata_count),
        };
        let rt = if call.null_runtime {
            std::ptr::null_mut()
        } else {
            fx.rt as *mut bindery_runtime
        };
        let mut resp: *mut bindery_response = std::ptr::null_mut();
        let code = unsafe {
            bindery_invoke(
                rt,
                ptr(&call.name),
                ptr(&call.operation),
                data,
                data_len,
                metadata,
                metadata_len,
                &mut resp,
            )
        };
        if code == BINDERY_OK {
            assert!(!resp.is_null());
            let r = unsafe { &*resp };
            if r.data_len > 0 {
                let bytes = unsafe { std::slice::from_raw_parts(r.data, r.data_len) };
                assert_ne!(bytes, SENTINEL, "a call read the file outside rootPath");
            }
            unsafe { bindery_response_free(resp) };
        } else {
            assert!(resp.is_null());
            check_error(code);
        }
    }

    // Now and then: the file outside is intact, and rootPath is emptied (creates add up).
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    if RUNS.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
        assert_eq!(std::fs::read(&fx.sentinel).unwrap(), SENTINEL);
        let _ = std::fs::remove_dir_all(&fx.root);
    }
});
