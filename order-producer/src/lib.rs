//! # order-producer — the order service of the order → payment pipeline
//!
//! Hexagonal layout: [`domain`] (the `Order` aggregate and its status state machine, pure),
//! [`application`] (use cases over ports, transaction boundaries), [`infrastructure`] (Postgres,
//! HTTP, Kafka adapters); `main.rs` only wires them.
//!
//! ## Dataflow
//!
//! ```text
//!  POST /orders ──► OrderService::place_order ──► ONE Postgres transaction:
//!                     idempotency key claim · orders + order_items + order_status_history
//!                     · outbox INSERT (OrderCreated, Confluent-framed Avro, traceparent)
//!                     · outbox DELETE of the same row · idempotent response
//!                   COMMIT ──► 201
//!  WAL ──► cdc-relay (logical replication) ──► Kafka `outbox.event.order` ──► payment-processor
//!  Kafka `outbox.event.payment` ──► payment-results consumer ──► apply_payment_result:
//!                     ONE transaction: processed_events row · order status + history
//!                     (or an ignored_payment_results row) ──► COMMIT ──► store the offset
//! ```
//!
//! This service never talks to Kafka on the request path: the outbox row *is* the publication.
//!
//! ## Guarantees — what is committed when, and what a crash does
//!
//! * **Order and event are atomic.** The order rows and the outbox row commit in the same
//!   transaction; a failure anywhere before COMMIT (bad statement, registry down while encoding,
//!   crash, lost connection) rolls back both, and the client gets an error (503 when retrying can
//!   help), never a 201. A crash *after* COMMIT but before the 201 reaches the client leaves a
//!   committed order: the client retries with the same `Idempotency-Key` and gets the first
//!   response instead of a second order.
//! * **At-least-once publication.** Once committed, the INSERT is in the WAL; the relay reads it
//!   from its replication slot, which only advances after Kafka acknowledged the record, so a
//!   relay crash re-publishes (consumers de-duplicate on the event id = outbox `id`).
//! * **Outbox retention: insert, then delete in the same transaction.** Logical decoding
//!   (pgoutput for our relay, or Debezium) emits the INSERT from the WAL whatever happens to the
//!   row afterwards; the DELETE makes the row invisible to every other transaction, so the table
//!   is always empty between transactions: no cleanup job, no bloat, no unbounded growth. The
//!   relay must ignore the DELETE (Debezium's outbox router does, for tombstones off). To replay
//!   events, read Kafka, not the table.
//! * **Payment results apply exactly once in effect.** Each result is applied in one
//!   transaction together with a `processed_events(consumer_group, event_id)` row; the Kafka
//!   offset is stored only after that COMMIT. A crash before COMMIT redelivers and re-applies; a
//!   crash after COMMIT but before the offset is stored redelivers and the duplicate is a no-op.
//!   Results that contradict the state machine (late `PaymentFailed` after `PAID`, unknown
//!   order, amount or currency mismatch) are recorded in `ignored_payment_results`, counted in
//!   `order_producer_payment_results_ignored_total{reason}`, and change nothing.
//! * **Idempotency keys are kept for a limited time** (`--idempotency-key-retention-hours`,
//!   default 24, as Stripe does). Within it, a retry with the same `Idempotency-Key` and request
//!   replays the first response (a different request with that key is a 422). **After it the key
//!   is forgotten: a retry with the same key creates a NEW order**, so clients must not retry
//!   with a key older than the retention. The claim ignores an expired key even when its row is
//!   still there (it takes the row over in the same INSERT … ON CONFLICT), so behaviour never
//!   depends on when cleanup runs. A background task deletes expired keys every
//!   `--idempotency-cleanup-interval-secs` (default 300) in batches of
//!   `--idempotency-cleanup-batch-size` rows (index on `created_at`), counts them in
//!   `order_producer_idempotency_keys_expired_total`, logs and retries database errors at the
//!   next interval, and stops on shutdown: the table holds about one retention's worth of keys.
//! * **Bad input never writes.** Every request is validated before the transaction starts; each
//!   problem is a 4xx JSON error naming the field.
//! * **Database outages are transient.** Requests fail fast with 503 while the database is
//!   unreachable; the pool drops broken connections and the service recovers by itself.
//! * **Migrations** (plain SQL in `migrations/`, refinery) run at start-up under a
//!   `pg_advisory_lock`, so several instances can start at once.

pub mod application;
pub mod config;
pub mod domain;
pub mod infrastructure;
