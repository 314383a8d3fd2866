//! The whole pipeline on the stack's 3-broker Kafka cluster (`make up KAFKA_NODES=3`; `make
//! test` starts it): topics with replication factor 3 and `min.insync.replicas=2`, every producer
//! `acks=all` and idempotent — the production topology of deploy/k8s/overlays/prod.
//!
//! - A broker that dies (kill -9, the leader of the busiest partition) mid-stream and comes back
//!   costs nothing: every order settles PAID, none is lost, none is charged twice, and each
//!   partition of the orders topic still holds its orders in the order they were placed.
//! - Below `min.insync.replicas` (two of three brokers stopped) the brokers refuse to acknowledge
//!   writes (NOT_ENOUGH_REPLICAS, seen by a probe producer), the relay holds what it read and
//!   appends nothing; when the brokers return, everything placed meanwhile is paid, once.
//!
//! The two tests share the cluster, so they take turns (a lock); a guard starts every broker it
//! stopped again even when a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use e2e_tests::connect_postgres;
use e2e_tests::eventually;
use e2e_tests::pipeline::{KafkaCluster, Pipeline, PipelineConfig, WAIT, World};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

/// One test at a time on the shared cluster.
static CLUSTER: Mutex<()> = Mutex::const_new(());

fn stack_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/stack.sh")
}

/// `deploy/local/stack.sh <args>`; panics with its output when it fails.
async fn stack(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let shown = args.join(" ");
    let output = tokio::process::Command::new("bash")
        .arg(stack_script())
        .args(&args)
        .output()
        .await
        .expect("bash runs");
    assert!(
        output.status.success(),
        "stack.sh {shown} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts again, when dropped, every broker a test stopped (also when the test panics).
struct BrokersBack(Vec<i32>);

impl Drop for BrokersBack {
    fn drop(&mut self) {
        for node in &self.0 {
            let _ = std::process::Command::new("bash")
                .arg(stack_script())
                .args(["cluster-start", &node.to_string()])
                .status();
        }
    }
}

/// Whether every partition of every topic on the cluster has a leader and all its replicas in
/// sync (what a test waits for before it starts and before it hands the cluster on).
fn fully_replicated(cluster: &KafkaCluster) -> bool {
    let Ok(consumer) = cluster.kafka().client_config(&[]).create::<BaseConsumer>() else {
        return false;
    };
    let Ok(metadata) = consumer.fetch_metadata(None, Duration::from_secs(10)) else {
        return false;
    };
    metadata.topics().iter().all(|t| {
        t.error().is_none()
            && t.partitions()
                .iter()
                .all(|p| p.leader() >= 0 && p.isr().len() == p.replicas().len())
    })
}

async fn wait_fully_replicated(cluster: &KafkaCluster) {
    eventually("every partition with all 3 replicas in sync", WAIT, || {
        let cluster = cluster.clone();
        async move {
            tokio::task::spawn_blocking(move || fully_replicated(&cluster).then_some(()))
                .await
                .unwrap()
        }
    })
    .await;
}

async fn start_pipeline() -> (Pipeline, KafkaCluster) {
    let cluster = KafkaCluster::from_stack_env();
    wait_fully_replicated(&cluster).await;
    let mut config = PipelineConfig::for_tests("10m");
    config.prefix = "brokers".into();
    config.kafka_cluster = Some(cluster.clone());
    (Pipeline::start(&config).await, cluster)
}

/// POST one order (retried with its Idempotency-Key until answered 201); its id.
async fn place_order(http: &reqwest::Client, api: &str) -> String {
    let key = Uuid::new_v4().to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        let sent = http
            .post(format!("{api}/orders"))
            .header("Idempotency-Key", &key)
            .json(&json!({"customer_id": "c-brokers", "currency": "EUR",
                "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "4.00"}]}))
            .send()
            .await;
        if let Ok(response) = sent
            && response.status() == 201
        {
            let body: Value = response.json().await.unwrap();
            return body["order_id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "POST /orders kept failing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The leader of `topic`/`partition` (None while it has none).
fn leader(cluster: &KafkaCluster, topic: &str, partition: i32) -> Option<i32> {
    let consumer: BaseConsumer = cluster.kafka().client_config(&[]).create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .ok()?;
    let found = metadata
        .topics()
        .first()?
        .partitions()
        .iter()
        .find(|p| p.id() == partition)?;
    (found.leader() >= 0).then(|| found.leader())
}

/// The in-sync replicas of `topic`/`partition`.
fn isr(cluster: &KafkaCluster, topic: &str, partition: i32) -> Vec<i32> {
    let consumer: BaseConsumer = cluster.kafka().client_config(&[]).create().unwrap();
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .ok()
        .and_then(|m| {
            m.topics()
                .first()?
                .partitions()
                .iter()
                .find(|p| p.id() == partition)
                .map(|p| p.isr().to_vec())
        })
        .unwrap_or_default()
}

/// Of `topics`, the partition holding the most records, and its leader.
fn busiest_partition(cluster: &KafkaCluster, topics: &[String]) -> (String, i32, i64, i32) {
    let consumer: BaseConsumer = cluster.kafka().client_config(&[]).create().unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let mut busiest: Option<(String, i32, i64, i32)> = None;
    for topic in metadata
        .topics()
        .iter()
        .filter(|t| topics.iter().any(|n| n == t.name()))
    {
        for partition in topic.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic.name(), partition.id(), Duration::from_secs(10))
                .unwrap();
            if busiest.as_ref().is_none_or(|b| high - low > b.2) {
                busiest = Some((
                    topic.name().to_string(),
                    partition.id(),
                    high - low,
                    partition.leader(),
                ));
            }
        }
    }
    busiest.expect("the pipeline's topics exist")
}

/// The sum of `topic`'s high watermarks.
fn high_watermarks(cluster: &KafkaCluster, topic: &str) -> i64 {
    let consumer: BaseConsumer = cluster.kafka().client_config(&[]).create().unwrap();
    (0..3)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .sum()
}

/// Every record of `topic` (3 partitions) as (partition, key), in offset order per partition.
fn read_topic(cluster: &KafkaCluster, topic: &str) -> Vec<(i32, String)> {
    let consumer: BaseConsumer = cluster
        .kafka()
        .client_config(&[
            ("group.id", "brokers-reader"),
            ("enable.auto.commit", "false"),
        ])
        .create()
        .unwrap();
    let mut ends = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in 0..3 {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap();
        if high > low {
            ends.insert(p, high);
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let mut done: HashSet<i32> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.len() < ends.len() {
        assert!(Instant::now() < deadline, "reading {topic} took over 120 s");
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.unwrap();
        let key = String::from_utf8(message.key().unwrap_or_default().to_vec()).unwrap();
        records.push((message.partition(), key));
        if message.offset() + 1 >= ends[&message.partition()] {
            done.insert(message.partition());
        }
    }
    records
}

/// Every order settles PAID with exactly one terminal transition, the status history of each is
/// created → paid in that order, and the gateway's ledger holds exactly one charge per order.
async fn assert_every_order_paid_once(pipeline: &Pipeline, ids: &[String]) {
    let orders = connect_postgres(&pipeline.world.orders_url()).await;
    let total = ids.len() as i64;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let row = orders
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE status = 'PAID') FROM orders",
                &[],
            )
            .await
            .unwrap();
        let (all, paid): (i64, i64) = (row.get(0), row.get(1));
        if all == total && paid == total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{paid} of {all} orders PAID after 300 s (placed {total})\n{}",
            pipeline.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let histories: Vec<String> = orders
        .query(
            "SELECT string_agg(coalesce(from_status, '') || '>' || to_status, ',' ORDER BY id) \
             FROM order_status_history GROUP BY order_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(histories.len(), ids.len(), "a status history per order");
    let odd: Vec<&String> = histories
        .iter()
        .filter(|h| h.as_str() != ">PENDING_PAYMENT,PENDING_PAYMENT>PAID")
        .collect();
    assert!(odd.is_empty(), "histories out of order or doubled: {odd:?}");

    let ledger = connect_postgres(&World::gateway_database_url()).await;
    let uuids: Vec<Uuid> = ids.iter().map(|id| Uuid::parse_str(id).unwrap()).collect();
    let row = ledger
        .query_one(
            "SELECT count(*), count(DISTINCT order_id) FROM charges \
             WHERE order_id = ANY($1) AND status = 'succeeded'",
            &[&uuids],
        )
        .await
        .unwrap();
    let (charges, charged): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(charged, total, "every order charged");
    assert_eq!(charges, total, "no order charged twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_of_the_busiest_partition_mid_stream_loses_and_doubles_nothing() {
    const ORDERS: usize = 900;
    const KILL_AT: usize = 300;
    const RESTART_AT: usize = 600;
    let _turn = CLUSTER.lock().await;
    let (pipeline, cluster) = start_pipeline().await;

    // Orders at a steady 40/s (about 22 s), placed one after the other: their commit order is
    // the order of `ids`.
    let ids = Arc::new(std::sync::Mutex::new(Vec::<String>::with_capacity(ORDERS)));
    let placed = Arc::new(AtomicUsize::new(0));
    let poster = {
        let (ids, placed, api) = (ids.clone(), placed.clone(), pipeline.api.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_millis(25));
            for _ in 0..ORDERS {
                tick.tick().await;
                let id = place_order(&http, &api).await;
                ids.lock().unwrap().push(id);
                placed.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let reached = |n: usize| {
        let placed = placed.clone();
        move || {
            let placed = placed.clone();
            async move { (placed.load(Ordering::SeqCst) >= n).then_some(()) }
        }
    };

    eventually(
        "the first third of the orders placed",
        WAIT,
        reached(KILL_AT),
    )
    .await;
    let topics: Vec<String> = ["order", "payment", "retry1", "retry2", "dlq"]
        .iter()
        .map(|t| pipeline.world.topic(t))
        .collect();
    let (topic, partition, records, victim) = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || busiest_partition(&cluster, &topics))
            .await
            .unwrap()
    };
    assert!(records > 0, "records flow before the kill");
    eprintln!("kill -9 broker {victim}, leader of {topic}[{partition}] ({records} records)");
    let mut back = BrokersBack(vec![victim]);
    stack(&["cluster-kill", &victim.to_string()]).await;

    // The controller fences the dead broker and another replica leads its partitions.
    let new_leader = eventually("a new leader for the busiest partition", WAIT, || {
        let (cluster, topic) = (cluster.clone(), topic.clone());
        async move {
            tokio::task::spawn_blocking(move || leader(&cluster, &topic, partition))
                .await
                .unwrap()
                .filter(|l| *l != victim)
        }
    })
    .await;
    eprintln!("broker {new_leader} now leads {topic}[{partition}]");

    eventually("two thirds of the orders placed", WAIT, reached(RESTART_AT)).await;
    stack(&["cluster-start", &victim.to_string()]).await;
    back.0.clear();
    eventually("the restarted broker back in sync", WAIT, || {
        let (cluster, topic) = (cluster.clone(), topic.clone());
        async move {
            tokio::task::spawn_blocking(move || isr(&cluster, &topic, partition))
                .await
                .unwrap()
                .contains(&victim)
                .then_some(())
        }
    })
    .await;
    poster.await.unwrap();
    let ids: Vec<String> = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), ORDERS);

    assert_every_order_paid_once(&pipeline, &ids).await;

    // Per-order order: each order's records sit in one partition of the orders topic, and in
    // each partition the orders appear in the order they were placed (the relay's per-key
    // order survives the failover; idempotent producers keep retries in sequence).
    let position: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let records = {
        let (cluster, topic) = (cluster.clone(), pipeline.world.topic("order"));
        tokio::task::spawn_blocking(move || read_topic(&cluster, &topic))
            .await
            .unwrap()
    };
    let mut partition_of: HashMap<String, i32> = HashMap::new();
    let mut last_seen: HashMap<i32, usize> = HashMap::new();
    let mut copies = 0;
    for (partition, key) in &records {
        let index = *position
            .get(key.as_str())
            .unwrap_or_else(|| panic!("a record for an order never placed: {key}"));
        if let Some(first) = partition_of.insert(key.clone(), *partition) {
            assert_eq!(first, *partition, "order {key} in two partitions");
            copies += 1;
            continue;
        }
        if let Some(previous) = last_seen.insert(*partition, index) {
            assert!(
                index > previous,
                "partition {partition}: order #{index} after order #{previous}"
            );
        }
    }
    assert_eq!(
        partition_of.len(),
        ORDERS,
        "every order reached the orders topic"
    );
    eprintln!(
        "{} records on the orders topic for {ORDERS} orders ({copies} repeated copies)",
        records.len()
    );
    wait_fully_replicated(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_min_insync_replicas_writes_stop_and_resume_without_loss() {
    const BEFORE: usize = 20;
    const DURING: usize = 50;
    let _turn = CLUSTER.lock().await;
    let (pipeline, cluster) = start_pipeline().await;
    let http = reqwest::Client::new();

    // Positive control: with three brokers, orders are paid.
    let mut ids = Vec::new();
    for _ in 0..BEFORE {
        ids.push(place_order(&http, &pipeline.api).await);
    }
    for id in &ids {
        pipeline.wait_status(id, "PAID").await;
    }

    // Two of three brokers go (controlled shutdown); one replica of each partition is left,
    // under min.insync.replicas=2.
    let mut back = BrokersBack(Vec::new());
    for node in [2, 3] {
        back.0.push(node);
        stack(&["cluster-stop", &node.to_string()]).await;
    }

    // The broker refuses acks=all writes: a producer that does not retry sees NOT_ENOUGH_REPLICAS.
    let order_topic = pipeline.world.topic("order");
    let probe: FutureProducer = cluster
        .kafka()
        .client_config(&[
            ("acks", "all"),
            ("enable.idempotence", "false"),
            ("retries", "0"),
            ("message.timeout.ms", "10000"),
        ])
        .create()
        .unwrap();
    let refused = eventually("a write refused with NOT_ENOUGH_REPLICAS", WAIT, || {
        let (probe, topic) = (probe.clone(), order_topic.clone());
        async move {
            let sent = probe
                .send(
                    FutureRecord::to(&topic)
                        .partition(0)
                        .key("probe")
                        .payload("probe"),
                    Duration::from_secs(10),
                )
                .await;
            match sent {
                Err((KafkaError::MessageProduction(code), _))
                    if matches!(
                        code,
                        RDKafkaErrorCode::NotEnoughReplicas
                            | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
                    ) =>
                {
                    Some(code)
                }
                Ok(delivered) => panic!("a write was acknowledged below min ISR: {delivered:?}"),
                Err(_) => None, // leadership still moving: try again
            }
        }
    })
    .await;
    eprintln!("probe write refused: {refused:?}");

    // Orders placed now are committed (the API needs no Kafka) and read by the relay, which
    // holds them unacknowledged: the orders topic does not grow, and none is paid.
    let watermark = {
        let (cluster, topic) = (cluster.clone(), order_topic.clone());
        tokio::task::spawn_blocking(move || high_watermarks(&cluster, &topic))
            .await
            .unwrap()
    };
    let mut during = Vec::new();
    for _ in 0..DURING {
        during.push(place_order(&http, &pipeline.api).await);
    }
    let relay = &pipeline.relays[0];
    let held = eventually(
        "the orders relay holding the new orders in flight",
        WAIT,
        || async {
            relay
                .metric("cdc_relay_in_flight_records")
                .await
                .filter(|n| *n >= DURING as f64)
        },
    )
    .await;
    let still = {
        let (cluster, topic) = (cluster.clone(), order_topic.clone());
        tokio::task::spawn_blocking(move || high_watermarks(&cluster, &topic))
            .await
            .unwrap()
    };
    assert_eq!(
        still, watermark,
        "records were appended below min.insync.replicas"
    );
    for id in &during {
        let order = pipeline.order(id).await;
        assert_eq!(order["status"], "PENDING_PAYMENT", "{order:#}");
    }
    eprintln!("relay holds {held} records; orders topic still at {watermark}");

    // The brokers return: everything held is delivered, and every order is paid exactly once.
    for node in [2, 3] {
        stack(&["cluster-start", &node.to_string()]).await;
    }
    back.0.clear();
    ids.extend(during);
    assert_every_order_paid_once(&pipeline, &ids).await;
    wait_fully_replicated(&cluster).await;
}
