//! The key-ordered concurrent consumer runtime, with non-blocking retry topics, a dead-letter
//! topic and durable per-key parking — every consumer of the project runs on it.
//!
//! Modelled on Confluent's Parallel Consumer in KEY ordering mode, with Spring Kafka's retry-
//! topic and dead-letter conventions, and without Spring's weakness (a record in retry being
//! overtaken by later records of its key).
//!
//! # Dataflow
//!
//! ```text
//! source topic ─┐                                     ┌─ Ok ─────────────▶ finished
//! retry tiers ──┴▶ poll thread ─▶ one task per key ──▶├─ transient ──▶ park key ─▶ retry tier (due time in headers)
//!   (held + paused until due)    (offset order)       ├─ permanent / exhausted ──▶ dead-letter topic
//!                                                     └─ key parked by another ──▶ parked_records (Postgres)
//! owner settles ─▶ parked records of its key handled in order ─▶ key released
//! committed offset = lowest unfinished offset per partition
//! ```
//!
//! # Guarantees
//!
//! - **At-least-once.** An offset is committed only once every record before it is finished:
//!   handled (`Ok`: its effects committed), handed off to a retry tier or the dead-letter topic
//!   (acknowledged by Kafka, idempotent producer, `acks=all`), or durably parked. A crash or an
//!   abandoned revocation redelivers from the last commit; handlers must be idempotent.
//! - **Per-key order.** At most one record of a key runs at a time, across every subscribed
//!   topic, in arrival order (offset order within a partition). With parking, later records of
//!   a key wait in Postgres until the record in retry settles, also across restarts and
//!   rebalances. Records without a key are ordered with nothing.
//! - **Nothing dropped.** A failing hand-off (broker down) or parking store (database down) is
//!   retried in place with backoff; the offset stays unfinished meanwhile.
//! - **Bounded memory.** At `max_in_flight` records received and not finished, every partition
//!   is paused; the poll loop keeps polling.
//! - **Typed routing.** `Transient` → next retry tier (or retry in place when there are no
//!   tiers) → dead letter `retries_exhausted`; `Permanent` → dead letter at once with
//!   `invalid_event` or the handler's typed reason (`expired`). Never by message text.
//!
//! See [`runtime`] for what happens on crash, restart, duplicate, reorder, rebalance and bad
//! input, [`offset_tracker`] and [`key_scheduler`] for the pure state machines and why they are
//! safe, and [`parking`] for the parking protocol.

pub mod config;
pub mod dead_letter_headers;
pub mod handler;
pub mod key_scheduler;
pub mod offset_tracker;
pub mod parking;
pub mod parking_postgres;
mod processor;
pub mod retry_headers;
pub mod retry_policy;
pub mod runtime;

pub use config::{KeyedConsumerArgs, OrderingMode, RetryArgs};
pub use dead_letter_headers::{DeadLetterCause, DeadLetterReason, dead_letter_headers};
pub use handler::{Delivery, KeyedHandler, RecordPosition};
pub use parking::{KeyParking, ParkedKey, ParkingError};
pub use parking_postgres::{PARKED_KEYS_TABLES_DDL, PgKeyParking};
pub use retry_policy::{RetryDecision, RetryPolicy, RetryTier};
pub use runtime::{KeyedConsumer, KeyedConsumerConfig, KeyedRuntimeError, RuntimeStatus};
