//! Flags and env of `dlq-handler` (clap); durations in humantime (`500ms`, `5s`, `1m`).

use clap::{Args, Parser, Subcommand};
use eventing::kafka::KafkaArgs;
use eventing::kafka::keyed::KeyedConsumerArgs;
use service_kit::postgres::PgUrl;
use service_kit::{HttpServerArgs, LogArgs, RedactedUrl};
use std::net::SocketAddr;
use std::time::Duration;

/// Turns the payment processor's dead letters into PaymentFailed events that flow back to the
/// order service; keeps what cannot be turned (see `kept_dead_letters`).
#[derive(Debug, Parser)]
#[command(name = "dlq-handler", version, about)]
pub struct Config {
    /// Without a command, run the service.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address of the operational HTTP endpoints (/healthz, /readyz, /metrics).
    #[arg(long, env = "DLQ_HANDLER_OPS_ADDR", default_value = "127.0.0.1:8083")]
    pub ops_addr: SocketAddr,
    /// The payments database (shared with payment-processor, which owns its tables).
    /// TLS as in libpq: `?sslmode=verify-full&sslrootcert=/ca.crt` (`sslcert`/`sslkey` for a
    /// client certificate); see the README's "Security" section.
    #[arg(
        long,
        env = "PAYMENTS_DATABASE_URL",
        default_value = "postgres://pipeline:pipeline@127.0.0.1:54329/payments",
        hide_env_values = true
    )]
    pub database_url: PgUrl,
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
    #[arg(
        long,
        env = "GATEWAY_URL",
        default_value = "http://127.0.0.1:8090",
        hide_env_values = true
    )]
    pub gateway_url: RedactedUrl,
    /// Bound on each ledger request.
    #[arg(long, env = "GATEWAY_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub gateway_timeout: Duration,
    /// The payment processor's dead-letter topic.
    #[arg(long, env = "DLQ_TOPIC", default_value = "payments.dlq", global = true)]
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
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7",
        hide_env_values = true
    )]
    pub schema_registry_url: RedactedUrl,
    #[command(flatten)]
    pub consumer: KeyedConsumerArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub http: HttpServerArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

/// Operator commands (they read the dead-letter topic from its beginning and commit nothing).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List dead letters (and whether dlq-handler kept them): position, reason, order id, age.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter: every header, the key, the value decoded when it can be.
    Show {
        /// `partition:offset` on the dead-letter topic.
        #[arg(value_parser = crate::domain::parse_position)]
        position: (i32, i64),
    },
    /// Produce selected dead letters back to the topic they came from, with a fresh attempt
    /// count and `dlq.replayed-from` / `dlq.replayed-at` headers.
    Replay {
        #[command(flatten)]
        filter: FilterArgs,
        /// Where a dead letter that does not name its source topic goes.
        #[arg(long, default_value = "outbox.event.order")]
        source_topic: String,
        /// Say what would be replayed, produce nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replay everything the filters select (without any filter nothing is replayed).
        #[arg(long)]
        all_selected: bool,
    },
}

/// Which dead letters a command selects; every given filter must match.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Only this `dlq.reason` (expired, retries_exhausted, invalid_event).
    #[arg(long)]
    pub reason: Option<String>,
    /// Only this order.
    #[arg(long)]
    pub order_id: Option<uuid::Uuid>,
    /// Only dead letters at least this old (e.g. `10m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub older_than: Option<Duration>,
    /// Only those dlq-handler kept (unreadable, or charged at the gateway).
    #[arg(long)]
    pub kept: bool,
    /// Only these `partition:offset` positions (repeatable).
    #[arg(long = "at", value_parser = crate::domain::parse_position)]
    pub positions: Vec<(i32, i64)>,
}

impl FilterArgs {
    pub fn selection(&self) -> crate::domain::Selection {
        crate::domain::Selection {
            reason: self.reason.clone(),
            order_id: self.order_id,
            older_than_ms: self
                .older_than
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            kept_only: self.kept,
            positions: self.positions.clone(),
        }
    }

    /// Whether any filter is given (replay refuses to select everything by accident).
    pub fn any(&self) -> bool {
        self.reason.is_some()
            || self.order_id.is_some()
            || self.older_than.is_some()
            || self.kept
            || !self.positions.is_empty()
    }
}
