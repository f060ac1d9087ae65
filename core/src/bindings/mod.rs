//! One module per binding type, each behind the cargo feature of its family.

#[cfg(any(feature = "rabbitmq", feature = "mqtt", feature = "kafka"))]
pub(crate) mod broker;
#[cfg(feature = "cron")]
pub mod cron;
#[cfg(any(feature = "redis", feature = "postgresql", feature = "mysql"))]
pub(crate) mod dbutil;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "localstorage")]
pub mod localstorage;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgresql")]
pub mod postgresql;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(
    feature = "redis",
    feature = "postgresql",
    feature = "mysql",
    feature = "rabbitmq",
    feature = "mqtt",
    feature = "kafka"
))]
pub(crate) mod tls;
