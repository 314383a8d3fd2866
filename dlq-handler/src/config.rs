//! Flags and env of `dlq-handler` (clap); durations in humantime (`500ms`, `5s`, `1m`).

use clap::Parser;
use eventing::kafka::KafkaArgs;
use eventing::kafka::keyed::KeyedConsumerArgs;
use service_kit::LogArgs;
use std::net::SocketAddr;
use std::time::Duration;

/// Turns the payment processor's dead letters into PaymentFailed events that flow back to the
/// order service; keeps what cannot be turned (see `kept_dead_letters`).
#[derive(Debug, Parser)]
#[command(name = "dlq-handler", version, about)]
pub struct Config {
    /// Address of the operational HTTP endpoints (/healthz, /readyz, /metrics).
    #[arg(long, env = "DLQ_HANDLER_OPS_ADDR", default_value = "127.0.0.1:8083")]
    pub ops_addr: SocketAddr,
    /// The payments database (shared with payment-processor, which owns its tables).
    #[arg(
        long,
        env = "PAYMENTS_DATABASE_URL",
        default_value = "postgres://pipeline:pipeline@127.0.0.1:54329/payments"
    )]
    pub database_url: String,
    /// Schema of the payments tables (tests and benchmarks use their own).
    #[arg(long, env = "DLQ_HANDLER_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// Connections in the pool.
    #[arg(long, env = "DLQ_HANDLER_POOL_SIZE", default_value_t = 8)]
    pub pool_size: usize,
    /// Bound on getting a connection and on each statement.
    #[arg(long, env = "DLQ_HANDLER_DATABASE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub database_timeout: Duration,
    /// The payment gateway, whose ledger is asked before failing an order it may have charged.
    #[arg(long, env = "GATEWAY_URL", default_value = "http://127.0.0.1:8090")]
    pub gateway_url: String,
    /// Bound on each ledger request.
    #[arg(long, env = "GATEWAY_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub gateway_timeout: Duration,
    /// The payment processor's dead-letter topic.
    #[arg(long, env = "DLQ_TOPIC", default_value = "payments.dlq")]
    pub dlq_topic: String,
    /// Where a record whose handling panicked goes (the runtime's own dead letters).
    #[arg(
        long,
        env = "DLQ_HANDLER_UNHANDLED_TOPIC",
        default_value = "payments.dlq.unhandled"
    )]
    pub unhandled_topic: String,
    /// Consumer group (also the processed-events namespace).
    #[arg(long, env = "DLQ_HANDLER_GROUP_ID", default_value = "dlq-handler")]
    pub group_id: String,
    /// Schema registry (Confluent API) URL.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    pub schema_registry_url: String,
    #[command(flatten)]
    pub consumer: KeyedConsumerArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub log: LogArgs,
}
