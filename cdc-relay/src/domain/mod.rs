//! The pure core of the relay: no I/O, no async runtime, no Postgres or Kafka client crates.
//!
//! The dataflow the I/O layer wires together:
//!
//! ```text
//! XLogData bytes ──pgoutput::decode_message──▶ PgOutputMessage
//!   Relation ──▶ RelationCache::upsert
//!   Insert   ──▶ RelationCache::row_from_insert ──▶ Row
//!                  ──outbox_routing::outbox_row_to_record──▶ OutboxRecord ──▶ Kafka producer
//! Begin / Commit / Keepalive / Kafka acks ──▶ AckTracker ──flushable_lsn──▶ standby status update
//! ```
//!
//! Every function here either decides or transforms; none of them waits, retries or logs.

pub mod ack_tracker;
pub mod bad_row;
pub mod lsn;
pub mod outbox_routing;
pub mod pgoutput;
pub mod relation_cache;
pub mod seq_window;
