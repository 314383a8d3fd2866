//! Shared helpers for the integration tests against the local stack (`make up`): a private
//! database per test, unique slot / publication / topics, the relay binary as a child process,
//! and a Kafka reader. Nothing sleeps a fixed time: everything polls with a deadline.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cdc_relay::domain::lsn::Lsn;
use eventing::kafka::{KafkaArgs, create_topic};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio_postgres::{Client, NoTls};

pub const STACK_HINT: &str = "start the local stack with `make up`";

pub fn admin_url() -> String {
    std::env::var("POSTGRES_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:54329/postgres".into())
}

/// A URL for `database` as `user:password`, on the server the admin URL points at.
pub fn database_url(user: &str, password: &str, database: &str) -> String {
    let admin = admin_url();
    let host_port = admin
        .rsplit_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(host_port, _)| host_port.to_string())
        .unwrap_or_else(|| "127.0.0.1:54329".into());
    format!("postgres://{user}:{password}@{host_port}/{database}")
}

/// The admin URL pointed at `database` instead (superuser: e.g. `FOR ALL TABLES` publications).
pub fn admin_url_for(database: &str) -> String {
    let admin = admin_url();
    let (server, _) = admin
        .rsplit_once('/')
        .expect("the admin URL names a database");
    format!("{server}/{database}")
}

pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to Postgres ({e}): {STACK_HINT}"));
    tokio::spawn(connection);
    client
}

/// A private database `relay_<uuid>` owned by `pipeline`, with the outbox table, plus unique
/// slot, publication and topic names.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub client: Client,
    pub slot: String,
    pub publication: String,
    /// Unique topic prefix; the template is `<prefix>.{aggregatetype}`.
    pub topic_prefix: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let db = Self::create_without_outbox().await;
        db.create_outbox().await;
        db
    }

    /// The outbox table, with the DDL the services ship.
    pub async fn create_outbox(&self) {
        self.client
            .batch_execute(eventing::outbox::OUTBOX_TABLE_DDL)
            .await
            .expect("create outbox table");
    }

    /// A fresh database whose outbox table does not exist yet (its service has not migrated).
    pub async fn create_without_outbox() -> TestDb {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("relay_{id}");
        let admin = connect(&admin_url()).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name} OWNER pipeline"))
            .await
            .expect("create test database");
        let url = database_url("pipeline", "pipeline", &name);
        let client = connect(&url).await;
        TestDb {
            name,
            url,
            client,
            slot: format!("slot_{}", &id[..12]),
            publication: format!("pub_{}", &id[..12]),
            topic_prefix: format!("relaytest.{}", &id[..12]),
        }
    }

    pub fn topic(&self, aggregate_type: &str) -> String {
        format!("{}.{aggregate_type}", self.topic_prefix)
    }

    pub fn template(&self) -> String {
        format!("{}.{{aggregatetype}}", self.topic_prefix)
    }

    /// Create the topics for these aggregate types (and any extra full names).
    pub async fn create_topics(&self, aggregate_types: &[&str], extra: &[&str], partitions: i32) {
        let kafka = KafkaArgs::local(&bootstrap());
        for topic in aggregate_types
            .iter()
            .map(|t| self.topic(t))
            .chain(extra.iter().map(|t| t.to_string()))
        {
            create_topic(&kafka, &topic, partitions)
                .await
                .unwrap_or_else(|e| panic!("create topic {topic} ({e}): {STACK_HINT}"));
        }
    }

    /// `confirmed_flush_lsn` of the test slot.
    pub async fn confirmed_flush(&self) -> Option<Lsn> {
        let admin = connect(&admin_url()).await;
        admin
            .query_opt(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.slot],
            )
            .await
            .expect("query slot")
            .and_then(|row| row.get::<_, Option<String>>(0))
            .map(|text| text.parse().expect("Postgres prints valid LSNs"))
    }

    pub async fn current_wal_lsn(&self) -> Lsn {
        let row = self
            .client
            .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
            .await
            .expect("current lsn");
        row.get::<_, String>(0).parse().expect("valid LSN")
    }

    /// Insert `count` outbox rows in one transaction: aggregate type `aggregate_type`,
    /// aggregate id `agg-<n % keys>`, payload `"<aggregateid>:<n>"`, for n in
    /// `first..first + count`.
    pub async fn insert_rows(&self, aggregate_type: &str, first: i64, count: i64, keys: i64) {
        self.client
            .execute(
                "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, traceparent) \
                 SELECT gen_random_uuid(), $1, 'agg-' || (n % $4), 'OrderCreated', \
                        convert_to('agg-' || (n % $4) || ':' || n, 'UTF8'), \
                        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' \
                 FROM generate_series($2::bigint, $2::bigint + $3::bigint - 1) AS n",
                &[&aggregate_type, &first, &count, &keys],
            )
            .await
            .expect("insert outbox rows");
    }

    pub async fn outbox_ids(&self) -> Vec<String> {
        self.client
            .query("SELECT id::text FROM outbox", &[])
            .await
            .expect("select ids")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Drop the slot (waiting for it to be released) and the database.
    pub async fn cleanup(self) {
        drop(self.client);
        let admin = connect(&admin_url()).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let dropped = admin
                .query(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                     WHERE database = $1 AND active_pid IS NULL",
                    &[&self.name],
                )
                .await;
            let remaining = admin
                .query_one(
                    "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
                    &[&self.name],
                )
                .await
                .expect("count slots")
                .get::<_, i64>(0);
            if remaining == 0 || Instant::now() > deadline {
                let _ = dropped;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .expect("drop test database");
    }
}

/// A free localhost port for a relay's ops server.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// The relay binary running as a child process.
pub struct RelayProcess {
    pub child: Child,
    pub ops_port: u16,
    pub log: PathBuf,
}

impl RelayProcess {
    pub fn spawn(db: &TestDb, extra: &[&str]) -> RelayProcess {
        let ops_port = free_port();
        let log = std::env::temp_dir().join(format!("cdc-relay-{}-{ops_port}.log", db.slot));
        let log_file = std::fs::File::create(&log).expect("create relay log");
        let child = Command::new(env!("CARGO_BIN_EXE_cdc-relay"))
            .args([
                "--database-url",
                &db.url,
                "--slot-name",
                &db.slot,
                "--publication",
                &db.publication,
                "--topic-template",
                &db.template(),
                "--ops-addr",
                &format!("127.0.0.1:{ops_port}"),
                "--kafka-bootstrap-servers",
                &bootstrap(),
                "--status-interval",
                "200ms",
            ])
            .args(extra)
            .env("RUST_LOG", "info,cdc_relay=debug")
            .stdout(Stdio::null())
            .stderr(log_file.try_clone().expect("clone log handle"))
            .stdout(log_file)
            .spawn()
            .expect("spawn the cdc-relay binary");
        RelayProcess {
            child,
            ops_port,
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// HTTP status of `GET /readyz` (None if nothing listens).
    pub async fn readyz(&self) -> Option<u16> {
        http_status(self.ops_port, "/readyz").await
    }

    pub async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.readyz().await == Some(200) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "relay exited with {status} before ready:\n{}",
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("relay not ready within {timeout:?}:\n{}", self.log_text());
    }

    /// Wait for the process to exit on its own; its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                return status.code().unwrap_or(-1);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "relay still running after {timeout:?}:\n{}",
            self.log_text()
        );
    }

    pub fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL the relay");
        let _ = self.child.wait();
    }

    pub fn sigterm(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Minimal HTTP/1.0 GET; the status code.
pub async fn http_status(port: u16, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// One consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
    pub fn payload_text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// Reads topics from the beginning (partitions assigned, no group coordination).
pub struct TopicReader {
    consumer: StreamConsumer,
    pub received: Vec<Received>,
    /// Distinct `id` headers seen so far.
    pub unique_ids: std::collections::HashSet<String>,
}

impl TopicReader {
    pub fn new(topics: &[String]) -> TopicReader {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .set("group.id", format!("relaytest-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap_or_else(|e| panic!("create consumer ({e}): {STACK_HINT}"));
        let mut assignment = TopicPartitionList::new();
        for topic in topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("metadata for {topic} ({e}): {STACK_HINT}"));
            for t in metadata.topics() {
                for p in t.partitions() {
                    assignment
                        .add_partition_offset(topic, p.id(), Offset::Beginning)
                        .expect("valid offset");
                }
            }
        }
        consumer.assign(&assignment).expect("assign partitions");
        TopicReader {
            consumer,
            received: Vec::new(),
            unique_ids: std::collections::HashSet::new(),
        }
    }

    fn push(&mut self, record: Received) {
        if let Some(id) = record.header("id") {
            self.unique_ids.insert(id);
        }
        self.received.push(record);
    }

    /// Read until `expected` distinct `id` headers arrived or the timeout; whether they did.
    pub async fn read_until_unique(&mut self, timeout: Duration, expected: usize) -> bool {
        let deadline = Instant::now() + timeout;
        while self.unique_ids.len() < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.read_one(left).await;
        }
        true
    }

    /// Read until `done(&received)` or the timeout; returns whether `done` became true.
    pub async fn read_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(&self.received) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.read_one(left).await;
        }
        true
    }

    /// Wait up to `max_wait` (at most 500 ms) for one record.
    async fn read_one(&mut self, max_wait: Duration) {
        match tokio::time::timeout(
            max_wait.min(Duration::from_millis(500)),
            self.consumer.recv(),
        )
        .await
        {
            Ok(Ok(message)) => self.push(Received {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                key: message
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned()),
                payload: message.payload().unwrap_or_default().to_vec(),
                headers: message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Ok(Err(e)) => panic!("consume ({e}): {STACK_HINT}"),
            Err(_) => {}
        }
    }
}
