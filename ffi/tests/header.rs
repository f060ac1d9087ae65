//! The committed `include/bindery.h` must be what cbindgen generates from `ffi/src/lib.rs`.
//! Regenerate it with `BINDERY_BLESS=1 cargo test -p bindery-ffi --test header`.

use std::path::Path;

#[test]
fn committed_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = crate_dir.join("../include/bindery.h");
    if std::env::var_os("BINDERY_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/bindery.h is stale: regenerate it with `BINDERY_BLESS=1 cargo test -p bindery-ffi --test header` and commit it"
    );
}
