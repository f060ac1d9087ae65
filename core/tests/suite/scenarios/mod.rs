//! The scenarios: each a function generic over a [`Fixture`], run for every binding whose
//! capabilities allow it (`behaviour.rs` lists them per binding; [`check_listed`] holds the
//! list to the capabilities).

mod config;
mod conformance;
mod input;
mod output;

// Every scenario, for behaviour.rs (the per-binding test files use none).
#[allow(unused_imports)]
pub use super::crash::a_consumer_killed_mid_stream_loses_nothing;
#[allow(unused_imports)]
pub use config::*;
#[allow(unused_imports)]
pub use conformance::*;
#[allow(unused_imports)]
pub use input::*;
#[allow(unused_imports)]
pub use output::*;

use std::collections::BTreeSet;

use bindery::{MetadataMap, Runtime};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::fixture::{Case, Fields, Fixture};
use super::harness::{self, Dir};

/// The component name of a scenario's subject: its type without `bindings.`.
pub fn name<F: Fixture>() -> &'static str {
    F::TYPE.strip_prefix("bindings.").unwrap_or(F::TYPE)
}

/// A component document of `F` named `name` with `fields`.
pub fn yaml<F: Fixture>(name: &str, fields: &Fields) -> String {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    harness::component_yaml(F::TYPE, name, &pairs)
}

/// The fixture's component for `case`, named `name`, with `extra` set (replacing a field of
/// the same name).
pub fn doc<F: Fixture>(fx: &F, name: &str, case: Case, extra: &[(&str, &str)]) -> String {
    let mut all = fx.fields(case);
    for (k, v) in extra {
        match all.iter_mut().find(|(n, _)| n == k) {
            Some(entry) => entry.1 = v.to_string(),
            None => all.push((k.to_string(), v.to_string())),
        }
    }
    yaml::<F>(name, &all)
}

/// A folder holding the fixture's component for `case`, named `name`.
pub fn folder<F: Fixture>(fx: &F, name: &str, case: Case) -> Dir {
    harness::components(&[doc(fx, name, case, &[])])
}

/// A runtime over one component of `F` with `fields`, named as in the scenarios.
pub fn subject<F: Fixture>(fields: &[(&str, &str)]) -> (tempfile::TempDir, Runtime) {
    harness::one_runtime(F::TYPE, name::<F>(), fields)
}

/// A runtime over one component of `F` with the fixture's ordinary fields.
pub async fn plain<F: Fixture>() -> (tempfile::TempDir, Runtime) {
    let fields = F::new().await.fields(Case::Plain);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    subject::<F>(&pairs)
}

/// A fixture whose server is reached and set up.
pub async fn ready<F: Fixture>() -> F {
    let fx = F::new().await;
    fx.prepare().await;
    fx
}

/// A runtime over `dir` that starts only `name`.
pub fn only(dir: &Dir, name: &str) -> Runtime {
    Runtime::builder()
        .resources_path(dir.0.path())
        .only([name])
        .build()
        .unwrap_or_else(|e| panic!("{e}: {:#?}", e.diagnostics()))
}

/// A key (file name, Redis key, ...) no other test or run uses.
pub fn unique_key(what: &str) -> String {
    format!("bindery-suite-{what}-{}", uuid::Uuid::new_v4().simple())
}

/// Request metadata with one field.
pub fn one(field: &str, value: &str) -> MetadataMap {
    harness::meta(&[(field, value)])
}

/// Every scenario takes the servers for reading; one that restarts a server takes them for
/// itself, so that nothing else of this binary talks to a server while it is down.
static SERVERS: RwLock<()> = RwLock::const_new(());

/// What a scenario holds of the servers while it runs.
pub enum Servers {
    Shared(RwLockReadGuard<'static, ()>),
    Alone(RwLockWriteGuard<'static, ()>),
}

/// The servers, for the scenario named `scenario`.
pub async fn servers(scenario: &str) -> Servers {
    if scenario == "a_server_restart_loses_nothing" {
        Servers::Alone(SERVERS.write().await)
    } else {
        Servers::Shared(SERVERS.read().await)
    }
}

/// What a group of scenarios needs of a binding (`behaviour.rs` maps each to its
/// scenarios, and lists per binding the ones it has).
#[derive(Clone, Copy, Debug)]
pub enum Needs {
    Aliases,
    Required,
    Mistakes,
    Output,
    Store,
    RequestField,
    BadRequests,
    Close,
    Sql,
    Down,
    Login,
    Input,
    InOrder,
    RunsInOrder,
    Aside,
    Redelivered,
    SettlesMidRun,
    CrashSafe,
    Restart,
    TlsProxy,
    Conformance,
}

const ALL_NEEDS: [Needs; 21] = [
    Needs::Aliases,
    Needs::Required,
    Needs::Mistakes,
    Needs::Output,
    Needs::Store,
    Needs::RequestField,
    Needs::BadRequests,
    Needs::Close,
    Needs::Sql,
    Needs::Down,
    Needs::Login,
    Needs::Input,
    Needs::InOrder,
    Needs::RunsInOrder,
    Needs::Aside,
    Needs::Redelivered,
    Needs::SettlesMidRun,
    Needs::CrashSafe,
    Needs::Restart,
    Needs::TlsProxy,
    Needs::Conformance,
];

/// Whether `F` has what a scenario needs.
fn has<F: Fixture>(needs: Needs) -> bool {
    let caps = F::caps();
    let input = caps.input.as_ref();
    match needs {
        Needs::Aliases => !F::ALIASES.is_empty(),
        Needs::Required => !F::REQUIRED.is_empty(),
        Needs::Mistakes => !caps.mistakes.is_empty(),
        Needs::Output => !F::OPERATIONS.is_empty(),
        Needs::Store => caps.store.is_some(),
        Needs::RequestField => caps.request_field.is_some(),
        Needs::BadRequests => !caps.bad_requests.is_empty(),
        Needs::Close => caps.close.is_some(),
        Needs::Sql => caps.sql.is_some(),
        Needs::Down => caps.down.is_some(),
        Needs::Login => caps.login.is_some(),
        Needs::Input => input.is_some(),
        Needs::InOrder => input.is_some_and(|i| i.in_order),
        Needs::RunsInOrder => input.is_some_and(|i| i.runs_in_order),
        Needs::Aside => input.is_some_and(|i| i.aside),
        Needs::Redelivered => input.is_some_and(|i| i.redelivered),
        Needs::SettlesMidRun => input.is_some_and(|i| i.settles_mid_run),
        Needs::CrashSafe => input.is_some_and(|i| i.crash_safe),
        Needs::Restart => caps.restart.is_some(),
        Needs::TlsProxy => caps.tls_proxy.is_some(),
        Needs::Conformance => caps.conformance.is_some(),
    }
}

/// The groups of scenarios `behaviour.rs` lists for `F` are exactly the ones its
/// capabilities allow.
pub fn check_listed<F: Fixture>(listed: &[&str]) {
    let want: BTreeSet<String> = ALL_NEEDS
        .into_iter()
        .filter(|n| has::<F>(*n))
        .map(|n| format!("{n:?}"))
        .collect();
    let got: BTreeSet<String> = listed.iter().map(|s| s.to_string()).collect();
    let missing: Vec<&String> = want.difference(&got).collect();
    let extra: Vec<&String> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "behaviour.rs lists the wrong scenarios for {}: add {missing:?}, remove {extra:?}",
        F::TYPE
    );
}
