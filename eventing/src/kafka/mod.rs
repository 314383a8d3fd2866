//! Kafka plumbing shared by the services: client configuration with a raw librdkafka
//! passthrough, topic administration, and the keyed consumer runtime ([`keyed`]: key-ordered
//! concurrency, offsets committed only below the lowest unfinished record, retry tiers, dead
//! letters with Spring Kafka's headers, durable per-key parking).

mod admin;
mod config;
mod consumer;
pub mod keyed;

pub use admin::{create_topic, topic_exists};
pub use config::{JAVA_COMPATIBLE_PARTITIONER, KafkaArgs};
pub use consumer::{ConsumedRecord, HandlerError};
