//! Message brokers: RabbitMQ (AMQP 0-9-1), MQTT 3.1.1 and Kafka.

#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
