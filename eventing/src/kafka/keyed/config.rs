//! Flags of the keyed runtime, flatten-able into every consumer binary's clap config. Durations
//! use `humantime` (`500ms`, `10s`, `1m`), the one duration format across binaries.

use super::retry_policy::{RetryPolicy, RetryTier};
use std::time::Duration;

/// What the runtime serialises records by (see [`super::key_scheduler::RecordKey::scheduling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OrderingMode {
    /// One record at a time per record key; records of different keys run concurrently.
    #[default]
    Key,
    /// One record at a time per partition, as a plain partition-at-a-time consumer does. A
    /// baseline for benchmarks, not a production setting: a slow call caps a partition's
    /// throughput at one record per call duration.
    Partition,
}

/// Concurrency and commit settings.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyedConsumerArgs {
    /// Records received and not finished (queued, held until due, or being handled) at which the
    /// runtime stops taking records from its partition queues until some finish (librdkafka then
    /// stops fetching once a partition's local queue is full); events are still served, so the
    /// group never times the member out.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
    /// How long a revocation (rebalance, shutdown) waits for in-flight records of the revoked
    /// partitions before committing what finished and releasing them.
    #[arg(long, env = "REVOKE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub revoke_timeout: Duration,
    /// How often finished offsets are committed (also at every revocation and at shutdown).
    #[arg(long, env = "COMMIT_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub commit_interval: Duration,
    /// `key`: one record at a time per record key, different keys concurrently. `partition`: one
    /// record at a time per partition (the plain partition-at-a-time consumer, kept as the
    /// baseline the payment-processor benchmark compares against).
    #[arg(long, env = "CONSUMER_ORDERING", value_enum, default_value = "key")]
    pub ordering: OrderingMode,
}

impl Default for KeyedConsumerArgs {
    fn default() -> Self {
        Self {
            max_in_flight: 256,
            revoke_timeout: Duration::from_secs(10),
            commit_interval: Duration::from_secs(1),
            ordering: OrderingMode::Key,
        }
    }
}

/// Retry tiers: delays matched, in order, to the service's retry topics.
#[derive(Debug, Clone, clap::Args)]
pub struct RetryArgs {
    /// Delay of each retry tier, comma-separated, matched in order to the service's retry topics
    /// (e.g. `5s,30s` for `payments.retry.5s,payments.retry.30s`).
    #[arg(long, env = "RETRY_DELAYS", value_delimiter = ',', default_value = "5s,30s", value_parser = humantime::parse_duration)]
    pub retry_delays: Vec<Duration>,
    /// Retries before a record goes to the dead-letter topic; retries beyond the last tier reuse it.
    #[arg(long, env = "RETRY_ATTEMPTS", default_value_t = 3)]
    pub retry_attempts: u32,
    /// Relative jitter of retry delays, in [0, 1): a delay d becomes a value in [d(1-j), d(1+j)].
    #[arg(long, env = "RETRY_JITTER", default_value_t = 0.2)]
    pub retry_jitter: f64,
}

impl RetryArgs {
    /// The policy for `retry_topics`, one delay per topic.
    pub fn policy(&self, retry_topics: &[&str]) -> Result<RetryPolicy, String> {
        if retry_topics.len() != self.retry_delays.len() {
            return Err(format!(
                "{} retry delays for {} retry topics ({}): give one delay per topic",
                self.retry_delays.len(),
                retry_topics.len(),
                retry_topics.join(", ")
            ));
        }
        if !(0.0..1.0).contains(&self.retry_jitter) {
            return Err(format!(
                "--retry-jitter {} is outside [0, 1)",
                self.retry_jitter
            ));
        }
        Ok(RetryPolicy {
            tiers: retry_topics
                .iter()
                .zip(&self.retry_delays)
                .map(|(topic, delay)| RetryTier {
                    topic: (*topic).to_string(),
                    delay: *delay,
                })
                .collect(),
            max_attempts: self.retry_attempts,
            jitter: self.retry_jitter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        keyed: KeyedConsumerArgs,
        #[command(flatten)]
        retry: RetryArgs,
    }

    #[test]
    fn defaults_and_humantime_flags() {
        let cli = Cli::parse_from(["x", "--revoke-timeout", "2s", "--retry-delays", "1s,1m"]);
        assert_eq!(cli.keyed.max_in_flight, 256);
        assert_eq!(cli.keyed.revoke_timeout, Duration::from_secs(2));
        assert_eq!(cli.keyed.commit_interval, Duration::from_secs(1));
        assert_eq!(cli.keyed.ordering, OrderingMode::Key);
        let policy = cli.retry.policy(&["r.1s", "r.1m"]).expect("matched");
        assert_eq!(policy.tiers[1].delay, Duration::from_secs(60));
        assert_eq!(policy.max_attempts, 3);
        assert!(cli.retry.policy(&["only-one"]).is_err());
    }

    #[test]
    fn ordering_flag_selects_partition_mode() {
        let cli = Cli::parse_from(["x", "--ordering", "partition"]);
        assert_eq!(cli.keyed.ordering, OrderingMode::Partition);
        assert!(Cli::try_parse_from(["x", "--ordering", "topic"]).is_err());
    }
}
