//! Adapters: Postgres (repository, outbox writer, migrations), HTTP (axum) and Kafka (payment
//! results consumer). Everything that does I/O lives here.

pub mod http;
pub mod kafka;
pub mod postgres;
