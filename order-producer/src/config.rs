//! Settings: command-line flags, each with an environment variable (`--help` lists them all).

use crate::domain::IdempotencyKeyRetention;
use crate::infrastructure::http::DEFAULT_MAX_BODY_BYTES;
use crate::infrastructure::idempotency_cleanup::IdempotencyCleanupSettings;
use clap::Parser;
use eventing::kafka::KafkaArgs;
use eventing::kafka::keyed::KeyedConsumerArgs;
use service_kit::postgres::PgUrl;
use service_kit::{HttpServerArgs, LogArgs, RedactedUrl};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

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
    /// TLS as in libpq: `?sslmode=verify-full&sslrootcert=/ca.crt` (`sslcert`/`sslkey` for a
    /// client certificate); see the README's "Security" section.
    #[arg(
        long,
        env = "ORDERS_DATABASE_URL",
        default_value = "postgres://pipeline:pipeline@127.0.0.1:54329/orders",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub database_url: PgUrl,

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
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7",
        hide_env_values = true
    )]
    pub schema_registry_url: RedactedUrl,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub consumer_runtime: KeyedConsumerArgs,

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

    /// How long an `Idempotency-Key` is remembered, in hours (1 to 87600). Within this time a
    /// retry with the same key and request replays the first response. After it the key is
    /// forgotten: a retry with the same key creates a NEW order (like Stripe, whose keys expire
    /// after 24 hours), so clients must not retry with a key older than this.
    #[arg(
        long,
        env = "ORDER_PRODUCER_IDEMPOTENCY_KEY_RETENTION_HOURS",
        default_value_t = IdempotencyKeyRetention::DEFAULT_HOURS,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(IdempotencyKeyRetention::MAX_HOURS))
    )]
    pub idempotency_key_retention_hours: u32,

    /// Seconds between two runs of the background task that deletes expired idempotency keys
    /// (the first run is at start-up). Expired keys are ignored even before they are deleted.
    #[arg(
        long,
        env = "ORDER_PRODUCER_IDEMPOTENCY_CLEANUP_INTERVAL_SECS",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub idempotency_cleanup_interval_secs: u64,

    /// Most expired idempotency keys deleted per statement; the cleanup repeats batches until
    /// one comes back short, so this bounds lock time and WAL bursts, not the total.
    #[arg(
        long,
        env = "ORDER_PRODUCER_IDEMPOTENCY_CLEANUP_BATCH_SIZE",
        default_value_t = NonZeroU32::new(1000).expect("1000 is not zero")
    )]
    pub idempotency_cleanup_batch_size: NonZeroU32,

    /// How long a payment result for an order not visible here yet is retried (in place, that
    /// order's key only) before it is recorded as ignored (`unknown_order`). A result can
    /// arrive before its order's commit is visible to other sessions: logical decoding sees a
    /// commit once its WAL is flushed. Format: humantime (`90s`, `2m`).
    #[arg(
        long,
        env = "ORDER_PRODUCER_UNKNOWN_ORDER_GRACE",
        default_value = "2m",
        value_parser = humantime::parse_duration
    )]
    pub unknown_order_grace: std::time::Duration,

    #[command(flatten)]
    pub http: HttpServerArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

impl Config {
    /// The idempotency-key retention (the flag's range guarantees it is valid).
    pub fn idempotency_key_retention(&self) -> IdempotencyKeyRetention {
        IdempotencyKeyRetention::from_hours(self.idempotency_key_retention_hours)
            .expect("--idempotency-key-retention-hours is range-checked by clap")
    }

    /// When and how much the idempotency-key cleanup deletes.
    pub fn idempotency_cleanup(&self) -> IdempotencyCleanupSettings {
        IdempotencyCleanupSettings {
            interval: Duration::from_secs(self.idempotency_cleanup_interval_secs),
            batch_size: self.idempotency_cleanup_batch_size,
        }
    }
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
            "--idempotency-key-retention-hours",
            "ORDER_PRODUCER_IDEMPOTENCY_KEY_RETENTION_HOURS",
            "--idempotency-cleanup-interval-secs",
            "ORDER_PRODUCER_IDEMPOTENCY_CLEANUP_INTERVAL_SECS",
            "--idempotency-cleanup-batch-size",
            "--http-header-read-timeout",
            "--http-body-read-timeout",
            "--http-idle-timeout",
            "--http-max-connections",
            "HTTP_MAX_CONNECTIONS",
            "--log-format",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
        assert!(!help.contains("pipeline:pipeline"), "password in --help");
        assert!(
            help.contains("creates a NEW order"),
            "--help must say what a retry after the retention does"
        );
    }

    #[test]
    fn idempotency_defaults_are_24_hours_and_5_minutes() {
        let config = Config::parse_from(["order-producer"]);
        assert_eq!(config.idempotency_key_retention().hours(), 24);
        let cleanup = config.idempotency_cleanup();
        assert_eq!(cleanup.interval, Duration::from_secs(300));
        assert_eq!(cleanup.batch_size.get(), 1000);
    }

    #[test]
    fn zero_retention_or_interval_is_rejected() {
        for args in [
            ["order-producer", "--idempotency-key-retention-hours", "0"],
            [
                "order-producer",
                "--idempotency-key-retention-hours",
                "87601",
            ],
            ["order-producer", "--idempotency-cleanup-interval-secs", "0"],
            ["order-producer", "--idempotency-cleanup-batch-size", "0"],
        ] {
            assert!(Config::try_parse_from(args).is_err(), "{args:?} accepted");
        }
    }
}
