//! `payment-processor` — charges each order exactly once and feeds the result back.
//!
//! Dataflow:
//!
//! ```text
//!  outbox.event.order ──▶ key-ordered consumer runtime (eventing) ──▶ OrderCreatedHandler
//!   payments.retry.* ──▶        │ one record per order id at a time,     │ decode (registry)
//!                               │ up to --max-in-flight across orders     ▼
//!                               │                          PaymentService: (a) payment row
//!                               │                          PENDING + idempotency key, committed
//!                               │                          (b) gateway charge with the key
//!                               │                          (c) ONE tx: status + outbox result
//!                               │                              event + processed-events row
//!                               ├─ transient ─▶ payments.retry.<tier> (due time in a header)
//!                               └─ poison / exhausted / expired ─▶ payments.dlq (headers)
//!  payments outbox ──WAL──▶ cdc-relay ──▶ outbox.event.payment ──▶ order-producer
//! ```
//!
//! Guarantees:
//! * **Never a double charge**: the gateway idempotency key is derived from the order id and
//!   stored before the gateway is called; every repetition (redelivery, duplicate `OrderCreated`
//!   with another event id, retry, crash between the gateway's answer and (c), a rebalance that
//!   hands the order to another instance) asks for the same charge.
//! * **One result event per order**: (c) leaves PENDING at most once and writes the
//!   `PaymentCompleted` / `PaymentFailed` outbox row only when it did. Nothing here produces
//!   result events to Kafka directly: the payments database's cdc-relay publishes the outbox.
//! * **Nothing lost**: a record's offset is committed only after (c) committed, or after its
//!   hand-off to a retry or dead-letter topic was acknowledged by Kafka. A crash anywhere
//!   redelivers from the last committed offset; the steps make the repetition harmless.
//! * **Per-order order survives retries**: while an order's record waits in a retry topic,
//!   later records of that order are parked in Postgres and released behind it.
//! * **Deadline**: an `OrderCreated` older than `--payment-deadline` is never charged; it is
//!   dead-lettered with reason `expired` (an attempt whose answer was lost is looked up first).

pub mod application;
pub mod config;
pub mod domain;
pub mod infrastructure;
