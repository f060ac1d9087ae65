//! The component loader, from a file's bytes through YAML, the schema, validation against the
//! builtin registry (every binding) and each binding's factory: `RuntimeBuilder::build`, which
//! does no network I/O. Any input must end in a runtime or an InvalidConfig error, quickly,
//! without a panic, a crash or unbounded memory (the YAML alias bomb of issue 10).

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One file, rewritten for each input, in a folder kept for the whole run.
fn file() -> &'static PathBuf {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &FILE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let file = dir.path().join("component.yaml");
            (dir, file)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let file = file();
    std::fs::write(file, data).expect("the input is written");
    match bindery_core::Runtime::builder()
        .resources_path(file)
        .app_id("fuzz")
        .build()
    {
        Ok(rt) => drop(rt),
        Err(e) => {
            assert_eq!(e.kind(), bindery_core::ErrorKind::InvalidConfig, "{e}");
            // Every diagnostic renders (file, line, message, fix).
            for d in e.diagnostics() {
                let _ = d.to_string();
            }
        }
    }
});
