//! Flags and environment variables (`payment-processor --help` lists them all). Durations are
//! humantime (`500ms`, `10s`, `10m`), as in every binary of the project.

use clap::Parser;
use eventing::kafka::KafkaArgs;
use eventing::kafka::keyed::{KeyedConsumerArgs, RetryArgs};
use service_kit::postgres::PgUrl;
use service_kit::{HttpServerArgs, LogArgs, RedactedUrl};
use std::net::SocketAddr;
use std::time::Duration;

/// Consumes OrderCreated events, charges the payment gateway exactly once per order (idempotency
/// key per order), retries transient failures through retry topics and dead-letters the rest.
#[derive(Debug, Parser)]
#[command(name = "payment-processor", version, about)]
pub struct Config {
    /// Address of the operational HTTP endpoints (/healthz, /readyz, /metrics).
    #[arg(
        long,
        env = "PAYMENT_PROCESSOR_OPS_ADDR",
        default_value = "127.0.0.1:8082"
    )]
    pub ops_addr: SocketAddr,
    /// The payments database (owned by this service; migrated at start-up).
    /// TLS as in libpq: `?sslmode=verify-full&sslrootcert=/ca.crt` (`sslcert`/`sslkey` for a
    /// client certificate); see the README's "Security" section.
    #[arg(
        long,
        env = "PAYMENTS_DATABASE_URL",
        default_value = "postgres://pipeline:pipeline@127.0.0.1:54329/payments",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub database_url: PgUrl,
    /// Use this schema of the payments database instead of `public` (tests isolate themselves).
    #[arg(long, env = "PAYMENT_PROCESSOR_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// Database connections (concurrent payments beyond this wait for a connection).
    #[arg(long, env = "PAYMENT_PROCESSOR_POOL_SIZE", default_value_t = 16)]
    pub pool_size: usize,
    /// Most payments per group-committed statement / transaction of steps (a) and (c); 1
    /// commits every event on its own.
    #[arg(long, env = "PAYMENT_PROCESSOR_DB_BATCH_MAX", default_value_t = 64)]
    pub db_batch_max: usize,
    /// Group-commit batches in flight at once per step (each holds a pooled connection).
    #[arg(long, env = "PAYMENT_PROCESSOR_DB_BATCH_WORKERS", default_value_t = 4)]
    pub db_batch_workers: usize,
    /// Bound on connecting to the database and on waiting for a pooled connection.
    #[arg(long, env = "PAYMENT_PROCESSOR_DATABASE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub database_timeout: Duration,
    /// Schema registry (Confluent API) URL.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7",
        hide_env_values = true
    )]
    pub schema_registry_url: RedactedUrl,
    /// Base URL of the payment gateway (the simulator: payment-gateway-sim).
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_URL",
        default_value = "http://127.0.0.1:8090",
        hide_env_values = true
    )]
    pub gateway_url: RedactedUrl,
    /// Bound on one gateway request; past it the attempt counts as transient (the idempotency
    /// key makes the retry safe even if the gateway did charge).
    #[arg(long, env = "PAYMENT_GATEWAY_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub gateway_timeout: Duration,
    /// An OrderCreated older than this is never charged: dead letter with reason `expired`.
    #[arg(long, env = "PAYMENT_DEADLINE", default_value = "10m", value_parser = humantime::parse_duration)]
    pub payment_deadline: Duration,
    /// Topic of OrderCreated events (the orders outbox, relayed).
    #[arg(
        long,
        env = "PAYMENT_PROCESSOR_SOURCE_TOPIC",
        default_value = "outbox.event.order"
    )]
    pub source_topic: String,
    /// Retry topics, one per tier, in order (same partition count as the source topic);
    /// `--retry-delays` gives each tier's delay.
    #[arg(
        long,
        env = "PAYMENT_PROCESSOR_RETRY_TOPICS",
        value_delimiter = ',',
        default_value = "payments.retry.5s,payments.retry.30s"
    )]
    pub retry_topics: Vec<String>,
    /// Dead-letter topic (same partition count as the source topic).
    #[arg(
        long,
        env = "PAYMENT_PROCESSOR_DLQ_TOPIC",
        default_value = "payments.dlq"
    )]
    pub dlq_topic: String,
    /// Kafka consumer group (also the processed-events and parked-keys namespace).
    #[arg(
        long,
        env = "PAYMENT_PROCESSOR_GROUP_ID",
        default_value = "payment-processor"
    )]
    pub group_id: String,
    /// TEST ONLY: abort the process right after the gateway answered and before the settlement
    /// transaction, to prove that a crash there charges once and emits one result event.
    #[arg(
        long,
        env = "PAYMENT_PROCESSOR_TEST_CRASH_AFTER_GATEWAY",
        default_value_t = false
    )]
    pub test_crash_after_gateway: bool,
    #[command(flatten)]
    pub consumer: KeyedConsumerArgs,
    #[command(flatten)]
    pub retry: RetryArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub http: HttpServerArgs,
    #[command(flatten)]
    pub log: LogArgs,
}
