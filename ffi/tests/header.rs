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

/// The header's `BINDERY_ERR_*` codes are the core's `ErrorKind`s, one to one: each kind has a
/// code of its number named after it (`not_found` -> `BINDERY_ERR_NOT_FOUND 2`), and the header
/// has no other. A kind added to the core without its C code fails here.
#[test]
fn error_codes_match_the_core_kinds_one_to_one() {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/bindery.h"))
            .expect("include/bindery.h is readable");
    let mut in_header: Vec<(String, i32)> = header
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("#define BINDERY_ERR_")?;
            let (name, value) = rest.split_once(' ')?;
            Some((name.to_string(), value.trim().parse().expect("a number")))
        })
        .collect();
    in_header.sort_by_key(|(_, code)| *code);
    let from_core: Vec<(String, i32)> = bindery_core::ErrorKind::ALL
        .iter()
        .map(|k| (k.name().to_ascii_uppercase(), k.code()))
        .collect();
    assert_eq!(in_header, from_core);
    let mut codes: Vec<i32> = from_core.iter().map(|(_, c)| *c).collect();
    codes.dedup();
    assert_eq!(codes.len(), from_core.len(), "each kind has its own code");
    assert!(codes.iter().all(|c| *c != 0), "0 is BINDERY_OK");
}
