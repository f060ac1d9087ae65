//! The bindings bindery ships: one module per binding type, grouped in one folder per family
//! or provider (`messaging/`, `sql/`, `aws/`), with what they share in `common/`. Each binding is
//! behind its own cargo feature; `builtin` is the one list of them.

#[cfg(feature = "_aws")]
pub mod aws;
pub(crate) mod common;
#[cfg(feature = "cron")]
pub mod cron;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "localstorage")]
pub mod localstorage;
#[cfg(feature = "_messaging")]
pub mod messaging;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "_sql")]
pub mod sql;

use crate::binding::BindingSpec;

/// Every binding type compiled in: one line a binding.
pub fn builtin() -> Vec<BindingSpec> {
    vec![
        #[cfg(feature = "cron")]
        cron::spec(),
        #[cfg(feature = "http")]
        http::spec(),
        #[cfg(feature = "localstorage")]
        localstorage::spec(),
        #[cfg(feature = "rabbitmq")]
        messaging::rabbitmq::spec(),
        #[cfg(feature = "mqtt")]
        messaging::mqtt::spec(),
        #[cfg(feature = "kafka")]
        messaging::kafka::spec(),
        #[cfg(feature = "redis")]
        redis::spec(),
        #[cfg(feature = "postgresql")]
        sql::postgresql::spec(),
        #[cfg(feature = "mysql")]
        sql::mysql::spec(),
        #[cfg(feature = "aws-s3")]
        aws::s3::spec(),
        #[cfg(feature = "aws-sqs")]
        aws::sqs::spec(),
        #[cfg(feature = "aws-sns")]
        aws::sns::spec(),
        #[cfg(feature = "aws-dynamodb")]
        aws::dynamodb::spec(),
        #[cfg(feature = "aws-kinesis")]
        aws::kinesis::spec(),
    ]
}
