//! Helpers shared by the relay end-to-end tests: spawn the real binary, insert outbox rows,
//! collect what reached a topic.

#![allow(dead_code)]

use e2e_tests::{eventually, unique};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub(crate) fn relay_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug/cdc-relay");
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port()
}

/// A started relay process and its ops port.
pub(crate) struct Relay {
    pub(crate) child: tokio::process::Child,
    pub(crate) ops_port: u16,
}

impl Relay {
    /// The value of an unlabelled gauge or counter from /metrics.
    pub(crate) async fn metric(&self, name: &str) -> Option<f64> {
        let url = format!("http://127.0.0.1:{}/metrics", self.ops_port);
        let text = reqwest::get(url).await.ok()?.text().await.ok()?;
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .and_then(|value| value.trim().parse().ok())
    }
}

/// Start cdc-relay against `db_url` and `bootstrap` (plus `extra` flags); returns once /readyz
/// answers 200.
pub(crate) async fn start_relay(
    db_url: &str,
    bootstrap: &str,
    slot: &str,
    extra: &[&str],
) -> Relay {
    let ops_port = free_port();
    let log_path = std::env::temp_dir().join(unique("relay-e2e.log"));
    let log = std::fs::File::create(&log_path).expect("log");
    let child = tokio::process::Command::new(relay_binary())
        .args([
            "--database-url",
            db_url,
            "--slot-name",
            slot,
            "--publication",
            &format!("p_{slot}"),
        ])
        .args([
            "--topic-template",
            "e2e.{aggregatetype}",
            "--kafka-bootstrap-servers",
            bootstrap,
        ])
        .args([
            "--ops-addr",
            &format!("127.0.0.1:{ops_port}"),
            "--log-format",
            "json",
        ])
        .args(extra)
        .stdout(Stdio::from(log.try_clone().expect("dup")))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn cdc-relay");
    let ready = format!("http://127.0.0.1:{ops_port}/readyz");
    eventually(
        &format!("relay /readyz (log {})", log_path.display()),
        Duration::from_secs(60),
        || {
            let ready = ready.clone();
            async move {
                reqwest::get(ready)
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        },
    )
    .await;
    Relay { child, ops_port }
}

/// SIGTERM the relay and require a clean exit.
pub(crate) async fn stop_relay(relay: Relay) {
    let mut relay = relay.child;
    let pid = relay.id().expect("relay running").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let status = tokio::time::timeout(Duration::from_secs(60), relay.wait())
        .await
        .expect("relay stops")
        .expect("wait");
    assert!(status.success(), "relay exits 0 on SIGTERM, got {status}");
}

/// Insert `count` outbox rows in transactions of 50; returns their ids.
pub(crate) async fn insert_rows(
    client: &tokio_postgres::Client,
    aggregate_type: &str,
    count: usize,
) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(50) {
        let mut sql = String::from("BEGIN;");
        for i in 0..50.min(count - chunk * 50) {
            let id = Uuid::new_v4();
            ids.push(id);
            sql.push_str(&format!(
                "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) \
                 VALUES ('{id}', '{aggregate_type}', 'agg-{}', 'Tested', '\\x00010203');",
                i % 7
            ));
        }
        sql.push_str("COMMIT;");
        client
            .batch_execute(&sql)
            .await
            .expect("insert outbox rows");
    }
    ids
}

/// Consume `topic` from the start until every id in `expected` was seen (by the `id` header).
pub(crate) async fn await_all_ids(
    bootstrap: &str,
    topic: &str,
    expected: &HashSet<Uuid>,
    within: Duration,
) {
    let consumer: StreamConsumer = eventing::kafka::KafkaArgs::local(bootstrap)
        .client_config(&[
            ("group.id", &unique("e2e")),
            ("auto.offset.reset", "earliest"),
        ])
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut seen = HashSet::new();
    let deadline = Instant::now() + within;
    while !expected.is_subset(&seen) {
        assert!(
            Instant::now() < deadline,
            "only {} of {} rows reached {topic} within {within:?}",
            expected.intersection(&seen).count(),
            expected.len()
        );
        if let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await
        {
            let id = message
                .headers()
                .and_then(|h| {
                    rdkafka::message::Headers::iter(h)
                        .find(|h| h.key == "id")
                        .and_then(|h| h.value)
                })
                .and_then(|v| Uuid::parse_str(&String::from_utf8_lossy(v)).ok());
            seen.extend(id);
        }
    }
}
