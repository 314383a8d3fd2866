//! Adapters: Postgres (repository, outbox writer, migrations), HTTP (axum) and Kafka (payment
//! results consumer), and the idempotency-key cleanup task. Everything that does I/O lives here.

pub mod http;
pub mod idempotency_cleanup;
pub mod kafka;
pub mod postgres;
