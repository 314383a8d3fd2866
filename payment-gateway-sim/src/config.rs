//! Settings: command-line flags, each with an environment variable (`--help` lists them all).
//! Durations use the humantime format (`250ms`, `30s`, `1m 30s`), like every binary here.

use crate::domain::{Behaviour, Rate};
use crate::infrastructure::postgres::SynchronousCommit;
use crate::ops::{HttpServerArgs, LogArgs};
use clap::Parser;
use service_kit::postgres::PgUrl;
use std::net::SocketAddr;
use std::time::Duration;

fn parse_rate(raw: &str) -> Result<f64, String> {
    let value: f64 = raw.parse().map_err(|e| format!("not a number: {e}"))?;
    Rate::new("rate", value)
        .map(Rate::get)
        .map_err(|e| e.message)
}

/// Payment gateway simulator: a Stripe-like `POST /v1/charges` with idempotency keys, a durable
/// Postgres ledger (`GET /v1/ledger`), and latency / faults changeable at run time
/// (`PATCH /admin/behaviour`). Customers starting with `test-decline`, `test-unavailable` or
/// `test-timeout` always get that outcome.
#[derive(Debug, Clone, Parser)]
#[command(name = "payment-gateway-sim", version)]
pub struct Config {
    /// Address of the HTTP API (charges, ledger, admin, health, readiness, metrics).
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_SIM_LISTEN_ADDR",
        default_value = "127.0.0.1:8090"
    )]
    pub listen_addr: SocketAddr,

    /// Ledger database, `postgres://user:password@host:port/db`. Logged with the password
    /// redacted. Default: the local stack's gateway database.
    /// TLS as in libpq: `?sslmode=verify-full&sslrootcert=/ca.crt` (`sslcert`/`sslkey` for a
    /// client certificate); see the README's "Security" section.
    #[arg(
        long,
        env = "GATEWAY_DATABASE_URL",
        default_value = "postgres://pipeline:pipeline@127.0.0.1:54329/gateway",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub database_url: PgUrl,

    /// Most pooled database connections. Each charge holds one for a single INSERT (about a
    /// millisecond), so a handful serves thousands of charges per second.
    #[arg(long, env = "PAYMENT_GATEWAY_SIM_POOL_SIZE", default_value_t = 8)]
    pub pool_size: usize,

    /// Bound on connecting to the database and on waiting for a pooled connection; past it a
    /// charge fails fast with 503 `ledger_unavailable` (nothing charged).
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_SIM_DATABASE_TIMEOUT",
        default_value = "3s",
        value_parser = humantime::parse_duration
    )]
    pub database_timeout: Duration,

    /// Postgres `synchronous_commit` of the ledger's sessions. `off` (default): each charge is
    /// one cheap INSERT whose commit does not wait for the disk; only a crash of the Postgres
    /// SERVER can lose the last few hundred milliseconds of ledger rows, a crash of the
    /// simulator never does. `on`: full durability, one WAL flush per charge.
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_SIM_SYNCHRONOUS_COMMIT",
        value_enum,
        default_value = "off"
    )]
    pub synchronous_commit: SynchronousCommit,

    /// Fixed wait before every charge answer (humantime, e.g. `20ms`).
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_SIM_LATENCY",
        default_value = "0ms",
        value_parser = humantime::parse_duration
    )]
    pub latency: Duration,

    /// Extra uniform random wait in [0, jitter) on top of --latency.
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_SIM_JITTER",
        default_value = "0ms",
        value_parser = humantime::parse_duration
    )]
    pub jitter: Duration,

    /// Share (0 to 1) of charges answered 503 `gateway_unavailable`, with nothing recorded.
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_SIM_TRANSIENT_FAILURE_RATE",
        default_value = "0",
        value_parser = parse_rate
    )]
    pub transient_failure_rate: f64,

    /// Share (0 to 1) of charges that are recorded and then answered only after
    /// --timeout-delay: "charged, but the answer was lost" as the client sees it.
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_SIM_TIMEOUT_RATE",
        default_value = "0",
        value_parser = parse_rate
    )]
    pub timeout_rate: f64,

    /// How long a timed-out charge holds its answer (longer than the client's timeout).
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_SIM_TIMEOUT_DELAY",
        default_value = "30s",
        value_parser = humantime::parse_duration
    )]
    pub timeout_delay: Duration,

    /// Share (0 to 1) of recorded charges declined with 402 (`card_declined` or
    /// `insufficient_funds`).
    #[arg(
        long,
        env = "PAYMENT_GATEWAY_SIM_DECLINE_RATE",
        default_value = "0",
        value_parser = parse_rate
    )]
    pub decline_rate: f64,

    /// Start in an outage: every charge answers 503 `gateway_outage`, nothing is recorded.
    /// Switch it with `PATCH /admin/behaviour {"outage": false}`.
    #[arg(long, env = "PAYMENT_GATEWAY_SIM_OUTAGE")]
    pub outage: bool,

    #[command(flatten)]
    pub http: HttpServerArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

impl Config {
    /// The behaviour at start-up (every rate is range-checked by its value parser).
    pub fn behaviour(&self) -> Behaviour {
        let rate = |field, value| Rate::new(field, value).expect("range-checked by clap");
        Behaviour {
            latency: self.latency,
            jitter: self.jitter,
            transient_failure_rate: rate("transient_failure_rate", self.transient_failure_rate),
            timeout_rate: rate("timeout_rate", self.timeout_rate),
            timeout_delay: self.timeout_delay,
            decline_rate: rate("decline_rate", self.decline_rate),
            outage: self.outage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_documents_every_flag_without_secrets() {
        let help = Config::command().render_long_help().to_string();
        for flag in [
            "--listen-addr",
            "--database-url",
            "GATEWAY_DATABASE_URL",
            "--pool-size",
            "--database-timeout",
            "--synchronous-commit",
            "--latency",
            "--jitter",
            "--transient-failure-rate",
            "--timeout-rate",
            "--timeout-delay",
            "--decline-rate",
            "--outage",
            "--log-format",
            "PAYMENT_GATEWAY_SIM_LATENCY",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
        assert!(!help.contains("pipeline:pipeline"), "password in --help");
        assert!(
            help.contains("SERVER"),
            "--help must explain synchronous_commit off"
        );
    }

    #[test]
    fn defaults_are_a_fast_reliable_gateway() {
        let config = Config::parse_from(["payment-gateway-sim"]);
        assert_eq!(config.behaviour(), Behaviour::default());
        assert_eq!(config.synchronous_commit, SynchronousCommit::Off);
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8090");
    }

    #[test]
    fn flags_set_the_behaviour_and_rates_are_range_checked() {
        let config = Config::parse_from([
            "payment-gateway-sim",
            "--latency",
            "20ms",
            "--decline-rate",
            "0.25",
            "--timeout-delay",
            "2s",
        ]);
        let behaviour = config.behaviour();
        assert_eq!(behaviour.latency, Duration::from_millis(20));
        assert_eq!(behaviour.decline_rate.get(), 0.25);
        assert_eq!(behaviour.timeout_delay, Duration::from_secs(2));
        for bad in [
            ["--timeout-rate", "1.5"],
            ["--latency", "fast"],
            ["--decline-rate", "-0.1"],
        ] {
            let mut args = vec!["payment-gateway-sim"];
            args.extend(bad);
            assert!(Config::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }
}
