//! What the bindings share, one place each: TLS and PEM handling, Go's text forms, Dapr's
//! back-off settings and the in-order delivery of a broker's runs.

// Each family uses its part of what is here: a build with some of the bindings leaves the
// rest unused.
#![cfg_attr(not(feature = "all-bindings"), allow(dead_code, unused_imports))]

#[cfg(feature = "_broker")]
pub(crate) mod backoff;
#[cfg(feature = "_broker")]
pub(crate) mod delivery;
#[cfg(feature = "_gotext")]
pub(crate) mod gotext;
#[cfg(feature = "_tls")]
pub(crate) mod tls;
