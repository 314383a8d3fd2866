//! Adapters: Postgres (metadata connection, heartbeat and the replication stream) and Kafka.

pub mod heartbeat;
pub mod kafka;
pub mod postgres;
pub mod replication;
