//! cdc-relay: relays outbox inserts from the Postgres WAL (logical replication, `pgoutput`
//! protocol version 1, text tuple format) to Kafka, Debezium-style.
//!
//! Placeholder: the crate-level overview (dataflow, delivery guarantee, configuration) is written
//! once the I/O layer lands. Today the crate holds only the pure [`domain`] core: decoding
//! `pgoutput`, turning inserts into rows, routing outbox rows to Kafka records, and tracking which
//! WAL position is safe to acknowledge.

pub mod domain;
