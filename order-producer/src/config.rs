//! Settings: command-line flags, each with an environment variable (`--help` lists them all).

use crate::infrastructure::http::DEFAULT_MAX_BODY_BYTES;
use clap::Parser;
use eventing::kafka::KafkaArgs;
use eventing::runtime::LogArgs;
use std::net::SocketAddr;

/// The order service: takes orders over HTTP, stores each with its OrderCreated outbox event in
/// one Postgres transaction, and settles orders from payment results consumed from Kafka.
#[derive(Debug, Clone, Parser)]
#[command(name = "order-producer", version)]
pub struct Config {
    /// Address of the HTTP API (orders, health, readiness, metrics, OpenAPI).
    #[arg(
        long,
        env = "ORDER_PRODUCER_LISTEN_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub listen_addr: SocketAddr,

    /// Orders database, `postgres://user:password@host:port/db`. Logged with the password
    /// redacted. Default: the local stack's orders database.
    #[arg(
        long,
        env = "ORDERS_DATABASE_URL",
        default_value = "postgres://pipeline:pipeline@127.0.0.1:54329/orders",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Most pooled database connections.
    #[arg(long, env = "ORDER_PRODUCER_DB_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: usize,

    /// Bound in milliseconds on connecting to the database and on waiting for a pooled
    /// connection; past it a request fails fast with 503.
    #[arg(long, env = "ORDER_PRODUCER_DB_TIMEOUT_MS", default_value_t = 3000)]
    pub database_timeout_ms: u64,

    /// Confluent-compatible schema registry (Avro schemas of the events).
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    pub schema_registry_url: String,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Consumer group of the payment-results consumer (also the processed-events namespace).
    #[arg(
        long,
        env = "ORDER_PRODUCER_CONSUMER_GROUP",
        default_value = "order-producer"
    )]
    pub consumer_group: String,

    /// Topic with PaymentCompleted / PaymentFailed events.
    #[arg(
        long,
        env = "ORDER_PRODUCER_PAYMENT_TOPIC",
        default_value = "outbox.event.payment"
    )]
    pub payment_topic: String,

    /// Topic for payment-result records that can never be processed (undecodable, unknown type).
    #[arg(
        long,
        env = "ORDER_PRODUCER_DEAD_LETTER_TOPIC",
        default_value = "order-producer.dlq"
    )]
    pub dead_letter_topic: String,

    /// Run only the HTTP API, without the payment-results consumer.
    #[arg(long, env = "ORDER_PRODUCER_DISABLE_CONSUMER")]
    pub disable_consumer: bool,

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "ORDER_PRODUCER_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    #[command(flatten)]
    pub log: LogArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_documents_every_setting_without_secrets() {
        let help = Config::command().render_long_help().to_string();
        for flag in [
            "--listen-addr",
            "--database-url",
            "--database-pool-size",
            "--database-timeout-ms",
            "--schema-registry-url",
            "--kafka-bootstrap-servers",
            "--consumer-group",
            "--payment-topic",
            "--dead-letter-topic",
            "--disable-consumer",
            "--max-body-bytes",
            "--log-format",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
        assert!(!help.contains("pipeline:pipeline"), "password in --help");
    }
}
