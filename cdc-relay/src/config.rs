//! Command-line flags and environment (clap), checked once at startup.

use std::net::SocketAddr;
use std::time::Duration;

use eventing::kafka::KafkaArgs;
use service_kit::postgres::PgUrl;
use service_kit::{HttpServerArgs, LogArgs};

use crate::application::{BadRowPolicy, RelaySettings};
use crate::domain::outbox_routing::{
    DEFAULT_TOPIC_TEMPLATE, HeaderColumn, OutboxColumns, RoutingConfig,
};

/// Relays outbox inserts from the Postgres WAL (logical replication, pgoutput) to Kafka.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "cdc-relay", version, about, long_about = None)]
pub struct RelayArgs {
    /// Postgres URL of the database holding the outbox table. The role needs the REPLICATION
    /// attribute and must own the outbox table (to create the publication). TLS as in libpq:
    /// `?sslmode=verify-full&sslrootcert=/ca.crt` (also `sslcert`/`sslkey` for a client
    /// certificate); the replication connection uses the same settings.
    #[arg(long, env = "CDC_RELAY_DATABASE_URL", hide_env_values = true)]
    pub database_url: PgUrl,
    /// Logical replication slot (pgoutput), created when missing. A plain identifier.
    #[arg(long, env = "CDC_RELAY_SLOT_NAME", default_value = "outbox_relay", value_parser = parse_identifier)]
    pub slot_name: String,
    /// Publication `FOR TABLE <outbox>`, created when missing. A plain identifier.
    #[arg(long, env = "CDC_RELAY_PUBLICATION", default_value = "outbox_pub", value_parser = parse_identifier)]
    pub publication: String,
    /// Outbox table, `table` or `schema.table` (plain identifiers).
    #[arg(long, env = "CDC_RELAY_OUTBOX_TABLE", default_value = "outbox", value_parser = parse_table)]
    pub outbox_table: (String, String),
    /// Topic name; `{aggregatetype}` is replaced by the row's aggregate type.
    #[arg(long, env = "CDC_RELAY_TOPIC_TEMPLATE", default_value = DEFAULT_TOPIC_TEMPLATE)]
    pub topic_template: String,
    /// Event id column (`id` header).
    #[arg(long, default_value = "id")]
    pub event_id_column: String,
    /// Aggregate type column (routes the event).
    #[arg(long, default_value = "aggregatetype")]
    pub aggregate_type_column: String,
    /// Aggregate id column (record key).
    #[arg(long, default_value = "aggregateid")]
    pub aggregate_id_column: String,
    /// Event type column (`type` header).
    #[arg(long, default_value = "type")]
    pub event_type_column: String,
    /// Payload column (record value).
    #[arg(long, default_value = "payload")]
    pub payload_column: String,
    /// Extra column copied into a header, `column` or `column:header`; repeatable
    /// (e.g. `--header-column traceparent`).
    #[arg(long = "header-column", env = "CDC_RELAY_HEADER_COLUMNS", value_delimiter = ',', value_parser = parse_header_column)]
    pub header_columns: Vec<HeaderColumn>,
    /// What to do with a row that cannot be routed: stop (exit non-zero naming its LSN) or
    /// publish it to the error topic.
    #[arg(long, env = "CDC_RELAY_ON_BAD_ROW", value_enum, default_value = "stop")]
    pub on_bad_row: BadRowPolicyArg,
    /// Topic for unroutable rows (with `--on-bad-row error-topic`).
    #[arg(long, env = "CDC_RELAY_ERROR_TOPIC", default_value = "cdc.errors")]
    pub error_topic: String,
    /// Most records sent to Kafka from the oldest one not yet acknowledged on (so also most
    /// records unacknowledged); when reached, WAL reading pauses.
    #[arg(long, env = "CDC_RELAY_MAX_IN_FLIGHT", default_value_t = 10_000)]
    pub max_in_flight: usize,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "CDC_RELAY_OPS_ADDR", default_value = "127.0.0.1:8090")]
    pub ops_addr: SocketAddr,
    /// Warn when the slot retains more WAL than this many bytes.
    #[arg(long, env = "CDC_RELAY_LAG_WARN_BYTES", default_value_t = 1 << 30)]
    pub lag_warn_bytes: u64,
    /// Write a heartbeat (see --heartbeat-mode) when no outbox transaction committed for this
    /// long (e.g. `10s`, `500ms`).
    #[arg(long, env = "CDC_RELAY_HEARTBEAT_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,
    /// How the heartbeat writes WAL. `table`: upsert this slot's row of --heartbeat-table, an
    /// UNLOGGED table the relay creates if missing; no logical decoding client (Debezium,
    /// test_decoding, FOR ALL TABLES publications) ever sees it, and the slot advances through
    /// the server's keepalives. `logical-message`: `pg_logical_emit_message`, seen by every
    /// logical decoding client of the database (Debezium publishes it to `<prefix>.message`).
    /// `off`: no heartbeat; keepalives alone advance the slot.
    #[arg(
        long,
        env = "CDC_RELAY_HEARTBEAT_MODE",
        value_enum,
        default_value = "table"
    )]
    pub heartbeat_mode: HeartbeatModeArg,
    /// The heartbeat table of --heartbeat-mode table, `table` or `schema.table` (plain
    /// identifiers; unqualified: the outbox table's schema). One row per slot, so relays of
    /// several slots can share it.
    #[arg(long, env = "CDC_RELAY_HEARTBEAT_TABLE", default_value = DEFAULT_HEARTBEAT_TABLE, value_parser = parse_optionally_qualified)]
    pub heartbeat_table: (Option<String>, String),
    /// How often progress is reported to Postgres.
    #[arg(long, env = "CDC_RELAY_STATUS_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub status_interval: Duration,
    /// How often the slot lag is polled.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub lag_poll_interval: Duration,
    /// Threads of the async runtime. 1: one thread runs the replication stream, the relay and
    /// the ops server, so handing a WAL event from one task to the next is a queue push rather
    /// than a wake-up of another thread, and what one task allocates another frees on the same
    /// thread (librdkafka runs its own threads either way).
    #[arg(long, env = "CDC_RELAY_RUNTIME_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub runtime_threads: u16,
    /// On SIGTERM, how long to wait for in-flight acknowledgements.
    #[arg(long, env = "CDC_RELAY_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub http: HttpServerArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

/// `--heartbeat-table` default.
pub const DEFAULT_HEARTBEAT_TABLE: &str = "cdc_relay_heartbeat";

/// `--heartbeat-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HeartbeatModeArg {
    Table,
    LogicalMessage,
    Off,
}

/// `--on-bad-row` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BadRowPolicyArg {
    Stop,
    ErrorTopic,
}

impl RelayArgs {
    /// The routing configuration (validated).
    pub fn routing(&self) -> Result<RoutingConfig, String> {
        let routing = RoutingConfig {
            topic_template: self.topic_template.clone(),
            columns: OutboxColumns {
                event_id: self.event_id_column.clone(),
                aggregate_type: self.aggregate_type_column.clone(),
                aggregate_id: self.aggregate_id_column.clone(),
                event_type: self.event_type_column.clone(),
                payload: self.payload_column.clone(),
            },
            header_columns: self.header_columns.clone(),
        };
        routing.validate().map_err(|e| e.to_string())?;
        crate::domain::outbox_routing::validate_topic_name(&self.error_topic)
            .map_err(|e| format!("--error-topic: {e}"))?;
        Ok(routing)
    }

    /// The relay use case's settings.
    pub fn relay_settings(&self) -> Result<RelaySettings, String> {
        if self.heartbeat_interval.is_zero() {
            return Err(
                "--heartbeat-interval must be more than 0 (use --heartbeat-mode off)".into(),
            );
        }
        if self.max_in_flight == 0 {
            return Err("--max-in-flight must be at least 1".into());
        }
        Ok(RelaySettings {
            routing: self.routing()?,
            outbox_schema: self.outbox_table.0.clone(),
            outbox_table: self.outbox_table.1.clone(),
            bad_row_policy: match self.on_bad_row {
                BadRowPolicyArg::Stop => BadRowPolicy::Stop,
                BadRowPolicyArg::ErrorTopic => BadRowPolicy::ErrorTopic,
            },
            error_topic: self.error_topic.clone(),
            max_in_flight: self.max_in_flight,
            heartbeat_interval: (self.heartbeat_mode != HeartbeatModeArg::Off)
                .then_some(self.heartbeat_interval),
            shutdown_timeout: self.shutdown_timeout,
            max_retry_backoff: Duration::from_secs(10),
        })
    }

    /// `(schema, table)` of `--heartbeat-table`; an unqualified name is in the outbox's schema.
    pub fn heartbeat_table(&self) -> (String, String) {
        let (schema, table) = self.heartbeat_table.clone();
        (schema.unwrap_or_else(|| self.outbox_table.0.clone()), table)
    }
}

/// A plain lowercase identifier (`[a-z_][a-z0-9_]*`, at most 63 bytes): the replication
/// protocol does not quote slot names, so nothing else is accepted.
pub fn parse_identifier(raw: &str) -> Result<String, String> {
    let mut chars = raw.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && raw.len() <= 63 {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "`{raw}` is not a plain identifier ([a-z_][a-z0-9_]*, at most 63 bytes)"
        ))
    }
}

fn parse_table(raw: &str) -> Result<(String, String), String> {
    let (schema, table) = parse_optionally_qualified(raw)?;
    Ok((schema.unwrap_or_else(|| "public".to_owned()), table))
}

/// `table` or `schema.table`, plain identifiers; the schema when given.
fn parse_optionally_qualified(raw: &str) -> Result<(Option<String>, String), String> {
    match raw.split_once('.') {
        Some((schema, table)) => Ok((Some(parse_identifier(schema)?), parse_identifier(table)?)),
        None => Ok((None, parse_identifier(raw)?)),
    }
}

fn parse_header_column(raw: &str) -> Result<HeaderColumn, String> {
    match raw.split_once(':') {
        Some((column, header)) if !column.is_empty() && !header.is_empty() => Ok(HeaderColumn {
            column: column.to_owned(),
            header: header.to_owned(),
        }),
        Some(_) => Err(format!("`{raw}`: expected column or column:header")),
        None if raw.is_empty() => Err("empty header column".into()),
        None => Ok(HeaderColumn::same_name(raw)),
    }
}

/// `250ms`, `10s`, `2m`, or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let invalid = || format!("`{raw}` is not a duration like 500ms, 10s or 2m");
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, ""), |at| raw.split_at(at));
    let value: u64 = number.parse().map_err(|_| invalid())?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "" | "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value * 60)),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_match_the_documented_ones() {
        let args = RelayArgs::parse_from(["cdc-relay", "--database-url", "postgres://u:p@h/db"]);
        assert_eq!(args.slot_name, "outbox_relay");
        assert_eq!(args.publication, "outbox_pub");
        assert_eq!(args.outbox_table, ("public".into(), "outbox".into()));
        assert_eq!(args.error_topic, "cdc.errors");
        assert_eq!(args.on_bad_row, BadRowPolicyArg::Stop);
        assert_eq!(args.heartbeat_interval, Duration::from_secs(10));
        assert_eq!(args.heartbeat_mode, HeartbeatModeArg::Table);
        assert_eq!(
            args.heartbeat_table(),
            ("public".into(), "cdc_relay_heartbeat".into())
        );
        assert_eq!(args.ops_addr.to_string(), "127.0.0.1:8090");
        assert!(args.relay_settings().is_ok());
    }

    #[test]
    fn heartbeat_mode_off_disables_the_heartbeat_and_the_table_follows_the_outbox_schema() {
        let base = ["cdc-relay", "--database-url", "postgres://u:p@h/db"];
        let args = RelayArgs::parse_from(base.iter().chain(&["--outbox-table", "orders.outbox"]));
        assert_eq!(
            args.heartbeat_table(),
            ("orders".into(), "cdc_relay_heartbeat".into()),
            "unqualified: the outbox's schema"
        );
        let settings = args.relay_settings().expect("valid");
        assert_eq!(settings.heartbeat_interval, Some(Duration::from_secs(10)));

        let args = RelayArgs::parse_from(base.iter().chain(&[
            "--heartbeat-mode",
            "off",
            "--heartbeat-table",
            "ops.beats",
        ]));
        assert_eq!(args.heartbeat_table(), ("ops".into(), "beats".into()));
        assert_eq!(
            args.relay_settings().expect("valid").heartbeat_interval,
            None
        );

        let args =
            RelayArgs::parse_from(base.iter().chain(&["--heartbeat-mode", "logical-message"]));
        assert_eq!(args.heartbeat_mode, HeartbeatModeArg::LogicalMessage);
        let zero = RelayArgs::parse_from(base.iter().chain(&["--heartbeat-interval", "0s"]));
        assert!(zero.relay_settings().is_err(), "a zero interval is refused");
        for bad in ["Beats", "a.b.c", "x-y", ""] {
            assert!(
                RelayArgs::try_parse_from(base.iter().chain(&["--heartbeat-table", bad])).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn header_columns_repeat_and_alias() {
        let args = RelayArgs::parse_from([
            "cdc-relay",
            "--database-url",
            "postgres://u:p@h/db",
            "--header-column",
            "traceparent",
            "--header-column",
            "tenant:x-tenant",
            "--on-bad-row",
            "error-topic",
        ]);
        assert_eq!(
            args.header_columns,
            vec![
                HeaderColumn::same_name("traceparent"),
                HeaderColumn {
                    column: "tenant".into(),
                    header: "x-tenant".into()
                }
            ]
        );
        assert_eq!(args.on_bad_row, BadRowPolicyArg::ErrorTopic);
    }

    #[test]
    fn slot_names_must_be_plain_identifiers() {
        assert!(parse_identifier("outbox_relay_2").is_ok());
        for bad in ["", "2slot", "Slot", "a-b", "a\"b", "a b"] {
            assert!(parse_identifier(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
