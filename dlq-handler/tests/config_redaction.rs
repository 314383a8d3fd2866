//! No secret of the configuration shows in its `Debug` output (which a startup log or a panic
//! may print): database password, Kafka secrets, credentials in other URLs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::Parser;
use dlq_handler::config::Config;

#[test]
fn debug_output_of_the_configuration_shows_no_secret() {
    let config = Config::try_parse_from([
        "dlq-handler",
        "--database-url",
        "postgres://app:db-pw-9f3@db.example/x?sslmode=verify-full&sslrootcert=/ca.crt",
        "--kafka-option",
        "sasl.password=kafka-pw-9f3",
        "--kafka-option",
        "ssl.key.password=key-pw-9f3",
        "--schema-registry-url",
        "https://reg:registry-pw-9f3@registry.example/apis/ccompat/v7",
    ])
    .expect("valid flags");
    let shown = format!("{config:?}");
    // Positive control: the settings are there, only the secrets are masked.
    assert!(shown.contains("db.example"), "{shown}");
    for secret in ["db-pw-9f3", "kafka-pw-9f3", "key-pw-9f3", "registry-pw-9f3"] {
        assert!(!shown.contains(secret), "{secret} shows in {shown}");
    }
}
