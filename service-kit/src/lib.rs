//! What every binary needs around its business logic: logs, shutdown, health and metrics, the
//! HTTP server with its connection limits and timeouts ([`server`]), the problem-details error
//! body and JSON request-body reading of every HTTP API ([`http`]); with the
//! `postgres` feature, the database plumbing of `postgres` (pool, error classification,
//! locked migrations).

pub mod http;
mod json_shape;
mod ops;
#[cfg(feature = "postgres")]
mod pg_url;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod server;
mod shutdown;
mod skeleton;
mod telemetry;

pub use ops::{LATENCY_BUCKETS_SECONDS, ReadinessCheck, all_ready, install_metrics, ops_router};
pub use server::{HttpServerArgs, serve};
pub use shutdown::shutdown_token;
pub use skeleton::LogArgs;
pub use telemetry::{LogFormat, RedactedUrl, init_tracing, redact_url};
