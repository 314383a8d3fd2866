//! Adapters: the Postgres ledger, the axum HTTP API and the metric definitions.

pub mod http;
pub mod metrics;
pub mod postgres;
