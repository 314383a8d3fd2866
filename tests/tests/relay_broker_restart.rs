//! cdc-relay survives a broker crash mid-stream: rows committed before, during and after the
//! outage all reach Kafka (at least once), on a private broker this test kills and restarts.

use e2e_tests::private_kafka::PrivateKafka;
use e2e_tests::{START_STACK, StackEnv, connect_postgres, eventually, unique};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use uuid::Uuid;

const ROWS_PER_PHASE: usize = 300;

fn relay_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug/cdc-relay");
    assert!(path.exists(), "{} is not built: run `cargo build --workspace --bins` (make test does)", path.display());
    path
}

fn database_url(base: &str, database: &str) -> String {
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database part");
    format!("{prefix}/{database}")
}

async fn insert_rows(client: &tokio_postgres::Client, aggregate_type: &str, count: usize) -> Vec<Uuid> {
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
        client.batch_execute(&sql).await.expect("insert outbox rows");
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_committed_around_a_broker_crash_all_arrive() {
    let env = StackEnv::from_env();
    let admin = connect_postgres(&env.admin_database_url).await;
    let database = format!("relay_bk_{}", Uuid::new_v4().simple());
    admin.batch_execute(&format!("CREATE DATABASE {database} OWNER pipeline")).await.expect("create db");
    let db_url = database_url(&env.orders_database_url, &database);
    let db = connect_postgres(&db_url).await;
    db.batch_execute(eventing::outbox::OUTBOX_TABLE_DDL).await.expect("outbox table");

    let mut broker = PrivateKafka::start().await;
    let kafka = eventing::kafka::KafkaArgs::local(&broker.bootstrap());
    let aggregate_type = format!("t{}", Uuid::new_v4().simple());
    let topic = format!("brk.{aggregate_type}");
    eventing::kafka::create_topic(&kafka, &topic, 3).await.expect("topic on the private broker");

    let slot = format!("s_{}", Uuid::new_v4().simple());
    let ops_port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let log = std::fs::File::create(std::env::temp_dir().join(unique("relay-broker-restart.log"))).expect("log");
    let mut relay = tokio::process::Command::new(relay_binary())
        .args(["--database-url", &db_url, "--slot-name", &slot, "--publication", &format!("p_{slot}")])
        .args(["--topic-template", "brk.{aggregatetype}", "--kafka-bootstrap-servers", &broker.bootstrap()])
        .args(["--ops-addr", &format!("127.0.0.1:{ops_port}"), "--log-format", "json"])
        .stdout(Stdio::from(log.try_clone().expect("dup")))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn cdc-relay");
    let ready = format!("http://127.0.0.1:{ops_port}/readyz");
    eventually("relay /readyz", Duration::from_secs(60), || {
        let ready = ready.clone();
        async move { reqwest::get(ready).await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
    })
    .await;

    let mut expected: HashSet<Uuid> = insert_rows(&db, &aggregate_type, ROWS_PER_PHASE).await.into_iter().collect();
    broker.kill();
    expected.extend(insert_rows(&db, &aggregate_type, ROWS_PER_PHASE).await);
    broker.resume().await;
    expected.extend(insert_rows(&db, &aggregate_type, ROWS_PER_PHASE).await);

    let consumer: StreamConsumer = kafka
        .client_config(&[("group.id", &unique("brk")), ("auto.offset.reset", "earliest")])
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut seen = HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while !expected.is_subset(&seen) {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {} rows reached {topic} within 180 s",
            expected.intersection(&seen).count(),
            expected.len()
        );
        if let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await {
            let id = message
                .headers()
                .and_then(|h| rdkafka::message::Headers::iter(h).find(|h| h.key == "id").and_then(|h| h.value))
                .and_then(|v| Uuid::parse_str(&String::from_utf8_lossy(v)).ok());
            seen.extend(id);
        }
    }

    let pid = relay.id().expect("relay running").to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    let status = tokio::time::timeout(Duration::from_secs(60), relay.wait()).await.expect("relay stops").expect("wait");
    assert!(status.success(), "relay exits 0 on SIGTERM, got {status}");
    drop(db);
    admin
        .batch_execute(&format!("SELECT pg_drop_replication_slot('{slot}')"))
        .await
        .unwrap_or_else(|e| panic!("drop slot: {e}; {START_STACK}"));
    admin.batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)")).await.expect("drop db");
}
