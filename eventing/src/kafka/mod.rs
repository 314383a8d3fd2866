//! Kafka plumbing shared by the services: client configuration with a raw librdkafka
//! passthrough, topic administration, and the consumer runtime (at-least-once, offsets stored
//! only after the handler succeeded, poison records dead-lettered with headers).

mod admin;
mod config;
mod consumer;
mod dead_letter;
pub mod keyed;

pub use admin::{create_topic, topic_exists};
pub use config::KafkaArgs;
pub use consumer::{ConsumedRecord, ConsumerRuntime, HandlerError, RecordHandler, RetryBackoff};
pub use dead_letter::{DeadLetter, dead_letter_headers};
