//! Shared helpers of the end-to-end tests of `payment-processor` against the REAL local stack
//! (`make up`): Postgres, Kafka, the schema registry, and the real `payment-gateway-sim` and
//! `payment-processor` binaries as child processes.
//!
//! Every test owns its world: its topics (source, two retry tiers, dead letters; all with the
//! same partition count), its consumer group, its database schema `t_<uuid>` (the processor
//! creates and migrates it), its gateway process (so admin changes never leak) and a
//! `test_decoding` logical slot that proves what the outbox wrote although the rows are deleted
//! in the same transaction. [`TestWorld`] removes slot, schema and topics when dropped, also when
//! the test panicked. Nothing sleeps a fixed time: every wait polls with a deadline.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use contracts::{LineItem, OrderCreated};
use eventing::AvroCodec;
use eventing::kafka::{KafkaArgs, create_topic};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use rust_decimal::Decimal;
use serde_json::Value;
use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

pub const START_STACK: &str = "start the local stack with `make up`";
pub const BUILD_BINARIES: &str = "build them with `cargo build --workspace --bins`";
pub const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
/// Partitions of every topic of a test (source, retry tiers and dead letters must match).
pub const PARTITIONS: i32 = 3;

pub fn payments_url() -> String {
    std::env::var("PAYMENTS_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/payments".into())
}

pub fn gateway_database_url() -> String {
    std::env::var("GATEWAY_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/gateway".into())
}

pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn registry_url() -> String {
    std::env::var("SCHEMA_REGISTRY_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8081/apis/ccompat/v7".into())
}

pub fn kafka() -> KafkaArgs {
    KafkaArgs::local(&bootstrap())
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to Postgres ({e}): {START_STACK}"));
    tokio::spawn(connection);
    client
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Poll `check` every 50 ms until it returns `Some`, or fail after `timeout` naming `what`.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A workspace binary: `<target>/debug/<name>` (CARGO_TARGET_DIR or the workspace's `target`).
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "binary {} not found: {BUILD_BINARIES}",
        path.display()
    );
    path
}

// ---------------------------------------------------------------------------------------------
// The test's world: topics, group, schema, outbox slot.

/// Per-test names and the outbox slot; cleaned up on drop.
pub struct TestWorld {
    pub id: String,
    pub source: String,
    pub retry1: String,
    pub retry2: String,
    pub dlq: String,
    pub group: String,
    pub schema: String,
    pub slot: String,
    pub db: Client,
    /// Outbox INSERTs of this schema seen through the slot so far (test_decoding lines).
    outbox_inserts: Vec<String>,
}

impl TestWorld {
    pub async fn create(name: &str) -> TestWorld {
        let id = Uuid::new_v4().simple().to_string()[..12].to_string();
        let source = format!("pp-test.{name}.{id}");
        let world = TestWorld {
            retry1: format!("{source}.r1"),
            retry2: format!("{source}.r2"),
            dlq: format!("{source}.dlq"),
            source,
            group: format!("pp-test-{name}-{id}"),
            schema: format!("t_{id}"),
            slot: format!("pp_test_{id}"),
            db: connect(&payments_url()).await,
            outbox_inserts: Vec::new(),
            id,
        };
        for topic in world.topics() {
            create_topic(&kafka(), &topic, PARTITIONS)
                .await
                .unwrap_or_else(|e| panic!("create topic {topic} ({e}): {START_STACK}"));
        }
        world
            .db
            .execute(
                "SELECT pg_create_logical_replication_slot($1, 'test_decoding')",
                &[&world.slot],
            )
            .await
            .unwrap_or_else(|e| {
                panic!("creating a logical slot needs wal_level=logical ({e}): {START_STACK}")
            });
        world
    }

    pub fn topics(&self) -> Vec<String> {
        vec![
            self.source.clone(),
            self.retry1.clone(),
            self.retry2.clone(),
            self.dlq.clone(),
        ]
    }

    /// Status of the order's payment row, None while there is none (or the schema is not yet
    /// migrated).
    pub async fn payment_status(&self, order_id: Uuid) -> Option<String> {
        self.db
            .query_opt(
                &format!(
                    "SELECT status FROM {}.payments WHERE order_id = $1",
                    self.schema
                ),
                &[&order_id],
            )
            .await
            .ok()
            .flatten()
            .map(|row| row.get(0))
    }

    /// Wait until the order's payment has `status`.
    pub async fn wait_status(&self, order_id: Uuid, status: &str, timeout: Duration) {
        poll_until(
            &format!("payment of {order_id} to be {status}"),
            timeout,
            || async {
                (self.payment_status(order_id).await.as_deref() == Some(status)).then_some(())
            },
        )
        .await;
    }

    /// `processed_at` of the event in this group's processed events.
    pub async fn processed_at(&self, event_id: Uuid) -> Option<DateTime<Utc>> {
        self.db
            .query_opt(
                &format!(
                    "SELECT processed_at FROM {}.processed_events \
                     WHERE consumer_group = $1 AND event_id = $2",
                    self.schema
                ),
                &[&self.group, &event_id],
            )
            .await
            .ok()
            .flatten()
            .map(|row| row.get(0))
    }

    /// Rows of `parked_records` / `parked_keys` of this group for `key`.
    pub async fn parked_counts(&self, key: &str) -> (i64, i64) {
        let count = |table: &'static str| async move {
            self.db
                .query_one(
                    &format!(
                        "SELECT count(*) FROM {}.{table} \
                         WHERE consumer_group = $1 AND record_key = $2",
                        self.schema
                    ),
                    &[&self.group, &key.as_bytes()],
                )
                .await
                .map(|row| row.get::<_, i64>(0))
                .unwrap_or(0)
        };
        (count("parked_records").await, count("parked_keys").await)
    }

    /// Read the slot's new changes and keep this schema's outbox INSERTs.
    async fn drain_slot(&mut self) {
        let prefix = format!("table {}.outbox: INSERT:", self.schema);
        let rows = self
            .db
            .query(
                "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL)",
                &[&self.slot],
            )
            .await
            .unwrap_or_else(|e| panic!("read the test slot ({e}): {START_STACK}"));
        self.outbox_inserts.extend(
            rows.iter()
                .map(|row| row.get::<_, String>(0))
                .filter(|data| data.starts_with(&prefix)),
        );
    }

    /// Outbox INSERTs (result events) written so far for the order.
    pub async fn result_events(&mut self, order_id: Uuid) -> Vec<String> {
        self.drain_slot().await;
        let needle = format!("'{order_id}'");
        self.outbox_inserts
            .iter()
            .filter(|data| data.contains(&needle))
            .cloned()
            .collect()
    }

    /// Every outbox INSERT written so far.
    pub async fn all_result_events(&mut self) -> Vec<String> {
        self.drain_slot().await;
        self.outbox_inserts.clone()
    }
}

impl Drop for TestWorld {
    /// Drop the slot, the schema and the topics, on a thread of its own (the test's runtime
    /// may be gone or panicking). Children (processor, gateway) are dropped before the world.
    fn drop(&mut self) {
        let slot = self.slot.clone();
        let schema = self.schema.clone();
        let topics = self.topics();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a cleanup runtime");
            runtime.block_on(async move {
                let Ok((client, connection)) =
                    tokio_postgres::connect(&payments_url(), NoTls).await
                else {
                    return;
                };
                tokio::spawn(connection);
                let _ = client
                    .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
                    .await;
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await;
                if let Ok(admin) = kafka()
                    .client_config(&[])
                    .create::<AdminClient<DefaultClientContext>>()
                {
                    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                    let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

// ---------------------------------------------------------------------------------------------
// Orders and the producer.

/// An `OrderCreated` for a new order, placed now.
pub fn new_order(customer_id: &str, amount: &str) -> OrderCreated {
    let amount = Decimal::from_str(amount).expect("a valid test amount");
    OrderCreated {
        event_id: Uuid::now_v7(),
        occurred_at: Utc::now(),
        order_id: Uuid::new_v4(),
        customer_id: customer_id.into(),
        total_amount: amount,
        currency: "EUR".into(),
        items: vec![LineItem {
            sku: "SKU-1".into(),
            quantity: 1,
            unit_price: amount,
        }],
    }
}

/// Where a produced record landed, and its value bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub value: Vec<u8>,
}

/// Produces OrderCreated records as the relay does: key = order id, Confluent-framed Avro
/// value, headers `id`, `type`, `traceparent`.
pub struct OrderProducer {
    producer: FutureProducer,
    codec: AvroCodec,
}

impl OrderProducer {
    pub fn new() -> OrderProducer {
        OrderProducer {
            producer: kafka()
                .safe_producer_config()
                .create()
                .unwrap_or_else(|e| panic!("Kafka producer ({e}): {START_STACK}")),
            codec: AvroCodec::new(&registry_url()).expect("a valid registry URL"),
        }
    }

    pub async fn encode(&self, order: &OrderCreated) -> Vec<u8> {
        self.codec
            .encode(order)
            .await
            .unwrap_or_else(|e| panic!("encode OrderCreated ({e}): {START_STACK}"))
    }

    /// Produce `order` to `topic` (on `partition`, or where its key hashes to).
    pub async fn send(
        &self,
        topic: &str,
        order: &OrderCreated,
        partition: Option<i32>,
    ) -> Produced {
        let value = self.encode(order).await;
        let headers = [
            ("id", order.event_id.to_string().into_bytes()),
            ("type", b"OrderCreated".to_vec()),
            ("traceparent", TRACEPARENT.as_bytes().to_vec()),
        ];
        self.send_raw(
            topic,
            &order.order_id.to_string(),
            &value,
            &headers,
            partition,
        )
        .await
    }

    /// Produce raw bytes with these headers; the record timestamp is set explicitly.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: &str,
        value: &[u8],
        headers: &[(&str, Vec<u8>)],
        partition: Option<i32>,
    ) -> Produced {
        let mut owned = OwnedHeaders::new();
        for (name, value) in headers {
            owned = owned.insert(Header {
                key: name,
                value: Some(value.as_slice()),
            });
        }
        let timestamp_ms = Utc::now().timestamp_millis();
        let mut record = FutureRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(owned)
            .timestamp(timestamp_ms);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        let delivery = self
            .producer
            .send(record, Duration::from_secs(15))
            .await
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("produce to {topic} ({e}): {START_STACK}"));
        Produced {
            partition: delivery.partition,
            offset: delivery.offset,
            timestamp_ms,
            value: value.to_vec(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading topics.

/// One consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Received {
    /// The value of the header `name`, asserting there is exactly one.
    pub fn header(&self, name: &str) -> Vec<u8> {
        let found: Vec<_> = self.headers.iter().filter(|(k, _)| k == name).collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one `{name}` header in {:?}",
            self.header_names()
        );
        found[0].1.clone()
    }

    pub fn header_text(&self, name: &str) -> String {
        String::from_utf8(self.header(name)).expect("a UTF-8 header")
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(k, _)| k == name)
    }

    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|(k, _)| k.as_str()).collect()
    }

    pub fn key_text(&self) -> String {
        String::from_utf8_lossy(self.key.as_deref().unwrap_or_default()).into_owned()
    }
}

/// Reads topics from the beginning (every partition assigned, no group coordination).
pub struct TopicReader {
    consumer: StreamConsumer,
    pub received: Vec<Received>,
}

impl TopicReader {
    pub fn new(topics: &[&str]) -> TopicReader {
        let consumer: StreamConsumer = kafka()
            .client_config(&[
                ("group.id", &format!("pp-test-reader-{}", Uuid::new_v4())),
                ("enable.auto.commit", "false"),
            ])
            .create()
            .unwrap_or_else(|e| panic!("create consumer ({e}): {START_STACK}"));
        let mut assignment = TopicPartitionList::new();
        for topic in topics {
            for partition in 0..PARTITIONS {
                assignment
                    .add_partition_offset(topic, partition, Offset::Beginning)
                    .expect("a valid offset");
            }
        }
        consumer.assign(&assignment).expect("assign partitions");
        TopicReader {
            consumer,
            received: Vec::new(),
        }
    }

    /// Read until `done(&received)` holds; fail after `timeout` naming `what`.
    pub async fn read_until(
        &mut self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done(&self.received) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out after {timeout:?} waiting for {what}; read so far: {:#?}",
                self.received
                    .iter()
                    .map(|r| (&r.topic, r.partition, r.offset, r.key_text()))
                    .collect::<Vec<_>>()
            );
            self.read_one(left).await;
        }
    }

    /// The first record satisfying `matches`, waiting for it up to `timeout`.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Received) -> bool,
    ) -> Received {
        self.read_until(what, timeout, |rs| rs.iter().any(&matches))
            .await;
        self.received
            .iter()
            .find(|r| matches(r))
            .cloned()
            .expect("present: read_until returned")
    }

    /// Read whatever arrives until nothing came for `quiet` (at most `max_records` records).
    pub async fn read_available(&mut self, quiet: Duration, max_records: usize) {
        for _ in 0..max_records {
            let before = self.received.len();
            self.read_one(quiet).await;
            if self.received.len() == before {
                return;
            }
        }
    }

    async fn read_one(&mut self, max_wait: Duration) {
        match tokio::time::timeout(
            max_wait.min(Duration::from_millis(500)),
            self.consumer.recv(),
        )
        .await
        {
            Ok(Ok(m)) => self.received.push(Received {
                topic: m.topic().to_owned(),
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers: m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Ok(Err(e)) => panic!("consume ({e}): {START_STACK}"),
            Err(_) => {}
        }
    }
}

/// How many records `topic` holds (sum of the high watermarks of its partitions).
pub async fn record_count(topic: &str) -> i64 {
    high_watermarks(topic).await.iter().sum()
}

/// The high watermark of each partition of `topic`.
pub async fn high_watermarks(topic: &str) -> Vec<i64> {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer = kafka()
            .client_config(&[("group.id", "pp-test-watermarks")])
            .create()
            .unwrap_or_else(|e| panic!("create consumer ({e}): {START_STACK}"));
        (0..PARTITIONS)
            .map(|p| {
                let (low, high) = consumer
                    .fetch_watermarks(&topic, p, Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("watermarks of {topic} ({e}): {START_STACK}"));
                assert_eq!(low, 0, "nothing is deleted from {topic} during a test");
                high
            })
            .collect()
    })
    .await
    .expect("watermark task")
}

/// The group's committed offset of `topic[partition]` (None while nothing is committed).
pub async fn committed_offset(group: &str, topic: &str, partition: i32) -> Option<i64> {
    let (group, topic) = (group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer = kafka()
            .client_config(&[("group.id", &group)])
            .create()
            .unwrap_or_else(|e| panic!("create consumer ({e}): {START_STACK}"));
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&topic, partition);
        let committed = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("committed offsets ({e}): {START_STACK}"));
        match committed.find_partition(&topic, partition)?.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }
    })
    .await
    .expect("committed-offset task")
}

/// Wait until the group committed past `offset` of the world's source topic partition: every
/// record up to it is finished (handled, handed off or parked).
pub async fn wait_committed_past(world: &TestWorld, partition: i32, offset: i64) {
    poll_until(
        &format!("offset {offset} of {}[{partition}] committed", world.source),
        Duration::from_secs(60),
        || async {
            committed_offset(&world.group, &world.source, partition)
                .await
                .filter(|committed| *committed > offset)
        },
    )
    .await;
}

/// Wait until the group committed every record of the source and retry topics: nothing is
/// in flight, held for a retry or unread any more.
pub async fn wait_drained(world: &TestWorld, timeout: Duration) {
    poll_until("the group to commit every record", timeout, || async {
        for topic in [&world.source, &world.retry1, &world.retry2] {
            for (partition, high) in high_watermarks(topic).await.into_iter().enumerate() {
                let partition = i32::try_from(partition).expect("few partitions");
                let committed = committed_offset(&world.group, topic, partition)
                    .await
                    .unwrap_or(0);
                if committed < high {
                    return None;
                }
            }
        }
        Some(())
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Child processes.

/// A child process with its log file.
pub struct Service {
    pub child: Child,
    pub log: PathBuf,
    pub port: u16,
    pub name: String,
}

impl Service {
    fn spawn(name: &str, binary: PathBuf, args: &[String], port: u16) -> Service {
        let log = std::env::temp_dir().join(format!("{name}-{}.log", Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).expect("create a log file");
        let child = Command::new(binary)
            .args(args)
            .env("LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone the log handle"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({e}): {BUILD_BINARIES}"));
        Service {
            child,
            log,
            port,
            name: name.into(),
        }
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let client = reqwest::Client::new();
        loop {
            let url = format!("http://127.0.0.1:{}/readyz", self.port);
            if let Ok(response) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && response.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited with {status} before ready ({START_STACK}?):\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within {timeout:?} ({START_STACK}?):\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait for the process to exit on its own.
    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("wait for the child"),
            Err(_) => panic!(
                "{} still running after {timeout:?}:\n{}",
                self.name,
                self.log_tail()
            ),
        }
    }

    pub async fn sigkill(&mut self) {
        self.child.kill().await.expect("SIGKILL the child");
    }

    pub fn sigterm(&self) {
        let pid = self.child.id().expect("the child is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
    }
}

/// The real `payment-gateway-sim` on a free port, over the stack's gateway database.
pub struct Gateway {
    pub service: Service,
    pub base: String,
    http: reqwest::Client,
}

impl Gateway {
    pub async fn start() -> Gateway {
        let port = free_port();
        let args = vec![
            "--listen-addr".to_string(),
            format!("127.0.0.1:{port}"),
            "--database-url".to_string(),
            gateway_database_url(),
        ];
        let mut service = Service::spawn(
            "payment-gateway-sim",
            binary("payment-gateway-sim"),
            &args,
            port,
        );
        service.wait_ready(Duration::from_secs(30)).await;
        Gateway {
            service,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn patch_behaviour(&self, patch: Value) {
        let response = self
            .http
            .patch(format!("{}/admin/behaviour", self.base))
            .json(&patch)
            .send()
            .await
            .expect("the gateway answers");
        assert!(
            response.status().is_success(),
            "PATCH /admin/behaviour {patch}: {}",
            response.status()
        );
    }

    /// The ledger rows of the order.
    pub async fn ledger(&self, order_id: Uuid) -> Vec<Value> {
        let body: Value = self
            .http
            .get(format!("{}/v1/ledger?order_id={order_id}", self.base))
            .send()
            .await
            .expect("the gateway answers")
            .json()
            .await
            .expect("a JSON ledger");
        body["charges"]
            .as_array()
            .expect("charges is an array")
            .clone()
    }

    /// Succeeded ledger rows of the order.
    pub async fn succeeded_charges(&self, order_id: Uuid) -> usize {
        self.ledger(order_id)
            .await
            .iter()
            .filter(|c| c["status"] == "succeeded")
            .count()
    }
}

/// Flags of one processor run that tests vary.
#[derive(Debug, Clone)]
pub struct ProcessorOptions {
    pub payment_deadline: &'static str,
    pub retry_delays: &'static str,
    pub retry_attempts: u32,
    pub crash_after_gateway: bool,
}

impl Default for ProcessorOptions {
    fn default() -> Self {
        ProcessorOptions {
            payment_deadline: "10m",
            retry_delays: "1s,2s",
            retry_attempts: 3,
            crash_after_gateway: false,
        }
    }
}

/// Start the real `payment-processor` on the world's topics, group and schema.
pub fn spawn_processor(
    world: &TestWorld,
    gateway: &Gateway,
    options: &ProcessorOptions,
) -> Service {
    let port = free_port();
    let mut args: Vec<String> = [
        "--database-url",
        &payments_url(),
        "--schema-registry-url",
        &registry_url(),
        "--kafka-bootstrap-servers",
        &bootstrap(),
        "--gateway-url",
        &gateway.base,
        "--source-topic",
        &world.source,
        "--retry-topics",
        &format!("{},{}", world.retry1, world.retry2),
        "--retry-delays",
        options.retry_delays,
        "--retry-attempts",
        &options.retry_attempts.to_string(),
        "--retry-jitter",
        "0",
        "--dlq-topic",
        &world.dlq,
        "--group-id",
        &world.group,
        "--database-schema",
        &world.schema,
        "--ops-addr",
        &format!("127.0.0.1:{port}"),
        "--payment-deadline",
        options.payment_deadline,
        "--gateway-timeout",
        "2s",
        "--commit-interval",
        "200ms",
        "--revoke-timeout",
        "5s",
        "--pool-size",
        "8",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if options.crash_after_gateway {
        args.push("--test-crash-after-gateway".into());
    }
    Service::spawn(
        "payment-processor",
        binary("payment-processor"),
        &args,
        port,
    )
}

/// Start a processor and wait for its /readyz (database reachable, partitions assigned).
pub async fn start_processor(
    world: &TestWorld,
    gateway: &Gateway,
    options: &ProcessorOptions,
) -> Service {
    let mut processor = spawn_processor(world, gateway, options);
    processor.wait_ready(Duration::from_secs(60)).await;
    processor
}

/// Big-endian integer of a Spring-encoded header (4 or 8 bytes).
pub fn be_int(bytes: &[u8]) -> i64 {
    match bytes.len() {
        4 => i64::from(i32::from_be_bytes(bytes.try_into().unwrap())),
        8 => i64::from_be_bytes(bytes.try_into().unwrap()),
        n => panic!("a big-endian int of {n} bytes: {bytes:?}"),
    }
}
