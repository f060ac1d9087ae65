//! What the CLI's test files share: the installed-style `bindery` binary, run as a user would.

use std::process::{Command, Output};

/// Run the `bindery` binary cargo built for these tests, with errors-only logging.
pub fn bindery(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bindery"))
        .args(args)
        .env("BINDERY_LOG", "error")
        .output()
        .expect("the bindery binary runs")
}
