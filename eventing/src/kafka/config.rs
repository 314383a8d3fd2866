//! Kafka client settings from flags and env, with a passthrough for any librdkafka option.

use rdkafka::ClientConfig;

/// Kafka connection flags shared by every binary. `Debug` hides secret options' values.
#[derive(Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,...).
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub kafka_bootstrap_servers: String,
    /// Raw librdkafka option `key=value`, repeatable; applied last, so it overrides our defaults
    /// (e.g. `--kafka-option security.protocol=SASL_SSL`). Env: comma-separated list.
    #[arg(long = "kafka-option", env = "KAFKA_OPTIONS", value_delimiter = ',', value_parser = parse_option, hide_env_values = true)]
    pub kafka_options: Vec<(String, String)>,
}

impl std::fmt::Debug for KafkaArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options: Vec<String> = self
            .kafka_options
            .iter()
            .map(|(key, value)| {
                if is_secret_option(key) {
                    format!("{key}=***")
                } else {
                    format!("{key}={value}")
                }
            })
            .collect();
        f.debug_struct("KafkaArgs")
            .field("kafka_bootstrap_servers", &self.kafka_bootstrap_servers)
            .field("kafka_options", &options)
            .finish()
    }
}

/// librdkafka options whose values are secrets (passwords, private keys, OAuth settings).
fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || key == "ssl.key.pem"
        || key == "ssl_key"
        || key.starts_with("sasl.oauthbearer.config")
}

fn parse_option(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected key=value, got `{raw}`"))
}

impl KafkaArgs {
    /// Settings for the local stack, for tests and tools.
    pub fn local(bootstrap: &str) -> Self {
        Self {
            kafka_bootstrap_servers: bootstrap.to_string(),
            kafka_options: Vec::new(),
        }
    }

    /// A client config with the bootstrap servers, `defaults`, then the passthrough options.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.kafka_bootstrap_servers);
        for (k, v) in defaults {
            config.set(*k, *v);
        }
        for (k, v) in &self.kafka_options {
            config.set(k, v);
        }
        config
    }

    /// Producer defaults for "nothing lost, nothing doubled by retries": idempotence, acks=all;
    /// keyed records partitioned like the Java client ([`JAVA_COMPATIBLE_PARTITIONER`]).
    /// `linger.ms=0`: no fixed timer on the hot path — an idle producer sends at once, a busy one
    /// batches whatever queued up while its previous requests were in flight.
    pub fn safe_producer_config(&self) -> ClientConfig {
        self.client_config(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("message.timeout.ms", "30000"),
            ("linger.ms", "0"),
            JAVA_COMPATIBLE_PARTITIONER,
        ])
    }
}

/// `partitioner=murmur2_random`: a keyed record goes where the Java client (Kafka Connect,
/// Debezium, Kafka Streams) would put it — murmur2 of the key — instead of librdkafka's default
/// CRC32, so records keyed by one order share a partition whichever producer wrote them. Keyless
/// records are spread at random. Overridable with `--kafka-option partitioner=...`.
pub const JAVA_COMPATIBLE_PARTITIONER: (&str, &str) = ("partitioner", "murmur2_random");

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaArgs,
    }

    #[test]
    fn passthrough_overrides_defaults() {
        let cli = Cli::parse_from([
            "x",
            "--kafka-option",
            "acks=1",
            "--kafka-option",
            "client.id=me",
        ]);
        let config = cli.kafka.safe_producer_config();
        assert_eq!(config.get("acks"), Some("1"));
        assert_eq!(config.get("client.id"), Some("me"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
    }

    #[test]
    fn debug_hides_secret_options() {
        let cli = Cli::parse_from([
            "x",
            "--kafka-option",
            "sasl.password=hunter2-secret",
            "--kafka-option",
            "ssl.key.password=k3y-pass",
            "--kafka-option",
            "sasl.username=alice",
        ]);
        let debug = format!("{:?}", cli.kafka);
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(!debug.contains("k3y-pass"), "{debug}");
        assert!(debug.contains("sasl.password=***"), "{debug}");
        assert!(debug.contains("sasl.username=alice"), "{debug}");
    }

    #[test]
    fn malformed_option_is_rejected() {
        assert!(Cli::try_parse_from(["x", "--kafka-option", "novalue"]).is_err());
    }
}
