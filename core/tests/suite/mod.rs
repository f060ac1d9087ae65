//! The behaviour suite: one set of scenarios run against every binding, each binding described
//! by a fixture (`fixtures/<binding>.rs`). `behaviour.rs` runs it; the per-binding test files
//! use its fixtures and helpers for what only their binding does.
//!
//! - [`fixture`]: the [`fixture::Fixture`] trait and the capabilities a binding declares.
//! - [`scenarios`]: the scenarios, generic over a fixture, and which capabilities each needs.
//! - [`crash`]: the crash-safety scenario (a consumer process killed mid-stream).
//! - [`fixtures`]: one fixture per binding (its server, components and capabilities).
//! - [`harness`]: component files, runtimes and handlers the tests share.
//! - [`sql`]: what the SQL bindings' tests share, and their fixture over a dialect.
//! - [`pki`], [`tls_proxy`]: a test CA, and a TLS front with it for plain servers.
#![allow(dead_code)]

pub mod crash;
pub mod fixture;
pub mod fixtures;
pub mod harness;
pub mod pki;
pub mod scenarios;
pub mod sql;
pub mod tls_proxy;
