//! One module per binding type, each behind the cargo feature of its family.

#[cfg(feature = "cron")]
pub mod cron;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "localstorage")]
pub mod localstorage;
