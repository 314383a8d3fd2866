//! Adapters: Postgres (metadata connection and the replication stream) and Kafka.

pub mod kafka;
pub mod postgres;
pub mod replication;
