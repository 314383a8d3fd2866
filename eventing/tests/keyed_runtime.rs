//! The keyed runtime against the REAL local broker and Postgres (`make up`). Every test creates
//! its own topics and consumer group (and parking namespace), so tests run in parallel and
//! repeatedly. Waits poll with deadlines; "nothing happens" is always checked against a
//! positive control that did happen after it.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use eventing::kafka::keyed::{
    Delivery, KeyParking, KeyedConsumer, KeyedConsumerArgs, KeyedConsumerConfig, KeyedHandler,
    PARKED_KEYS_TABLES_DDL, PgKeyParking, RecordPosition, RetryPolicy, RetryTier, RuntimeStatus,
    dead_letter_headers as dlh, retry_headers as rh,
};
use eventing::kafka::{ConsumedRecord, HandlerError, KafkaArgs, create_topic};
use futures::future::BoxFuture;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const START_STACK: &str = "start the local stack with `make up`";

fn kafka() -> KafkaArgs {
    KafkaArgs::local(
        &std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
    )
}

fn unique(prefix: &str) -> String {
    format!("keyed-test-{prefix}-{}", Uuid::new_v4().simple())
}

async fn topic(name: &str, partitions: i32) {
    create_topic(&kafka(), name, partitions)
        .await
        .unwrap_or_else(|e| panic!("Kafka unreachable ({e}): {START_STACK}"));
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn poll_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
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
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Producer(FutureProducer);

impl Producer {
    fn new() -> Self {
        Self(kafka().safe_producer_config().create().unwrap())
    }
    async fn send(&self, topic: &str, partition: i32, key: &str, value: &str) {
        let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
            key: "traceparent",
            value: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        });
        self.0
            .send(
                FutureRecord::to(topic)
                    .partition(partition)
                    .key(key)
                    .payload(value)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("produce failed ({e}): {START_STACK}"));
    }
}

/// What the handler saw.
#[derive(Debug, Clone)]
struct Seen {
    topic: String,
    key: String,
    value: String,
    delivery: Delivery,
    at_ms: i64,
}

type Behaviour = Box<
    dyn Fn(ConsumedRecord, Delivery) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync,
>;

/// Records every call (start), and the concurrency it saw.
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    done: Mutex<Vec<Seen>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    behaviour: Behaviour,
}

impl Recorder {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            seen: Mutex::new(Vec::new()),
            done: Mutex::new(Vec::new()),
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
            behaviour,
        })
    }
    fn ok() -> Arc<Self> {
        Self::new(Box::new(|_, _| Box::pin(async { Ok(()) })))
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    /// Values handled successfully, in completion order.
    fn done_values(&self) -> Vec<String> {
        self.done
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.value.clone())
            .collect()
    }
}

#[async_trait]
impl KeyedHandler for Recorder {
    async fn handle(
        &self,
        record: &ConsumedRecord,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let seen = Seen {
            topic: record.topic.clone(),
            key: String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()).into(),
            value: String::from_utf8_lossy(record.payload.as_deref().unwrap_or_default()).into(),
            delivery: delivery.clone(),
            at_ms: now_ms(),
        };
        self.seen.lock().unwrap().push(seen.clone());
        let result = (self.behaviour)(record.clone(), delivery.clone()).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        if result.is_ok() {
            self.done.lock().unwrap().push(seen);
        }
        result
    }
}

struct Running {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    status: RuntimeStatus,
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("runtime stops within 30 s")
            .expect("runtime task");
    }
}

fn config(
    group: &str,
    topics: &[&str],
    retry: RetryPolicy,
    dlq: &str,
    max_in_flight: usize,
) -> KeyedConsumerConfig {
    KeyedConsumerConfig {
        group_id: group.into(),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        retry,
        dead_letter_topic: dlq.into(),
        args: KeyedConsumerArgs {
            max_in_flight,
            revoke_timeout: Duration::from_secs(5),
            commit_interval: Duration::from_millis(200),
            ..KeyedConsumerArgs::default()
        },
        metrics_prefix: "keyed_test".into(),
    }
}

fn start<H: KeyedHandler>(
    config: KeyedConsumerConfig,
    handler: Arc<H>,
    parking: Option<Arc<dyn KeyParking>>,
) -> Running {
    let consumer = KeyedConsumer::new(&kafka(), config, handler, parking).expect("runtime");
    let status = consumer.status();
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let cancel = cancel.clone();
        async move { consumer.run(cancel).await.expect("runtime runs cleanly") }
    });
    Running {
        cancel,
        task,
        status,
    }
}

/// The group's committed offset of `topic[partition]` (None if nothing committed).
fn committed(group: &str, topic: &str, partition: i32) -> Option<i64> {
    let consumer: BaseConsumer = kafka()
        .client_config(&[("group.id", group)])
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let result = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    match result.find_partition(topic, partition)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// Every record of `topic` (all partitions), read from the start until `count` arrived.
async fn read_topic(name: &str, count: usize) -> Vec<(Option<i32>, ConsumedRecordOwned)> {
    let consumer: BaseConsumer = kafka()
        .client_config(&[
            ("group.id", &unique("reader")),
            ("auto.offset.reset", "earliest"),
        ])
        .create()
        .unwrap();
    consumer.subscribe(&[name]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records on {name}",
            out.len()
        );
        let polled = tokio::task::block_in_place(|| {
            consumer.poll(Duration::from_millis(200)).map(|m| {
                let m = m.unwrap();
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    Some(m.partition()),
                    ConsumedRecordOwned {
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                        headers,
                        timestamp_ms: m.timestamp().to_millis(),
                    },
                )
            })
        });
        if let Some(r) = polled {
            out.push(r);
        }
    }
    out
}

#[derive(Debug, Clone)]
struct ConsumedRecordOwned {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp_ms: Option<i64>,
}

impl ConsumedRecordOwned {
    fn header(&self, name: &str) -> Vec<u8> {
        let found: Vec<_> = self.headers.iter().filter(|(k, _)| k == name).collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one {name} header in {:?}",
            self.headers
        );
        found[0].1.clone()
    }
}

async fn parking_pool() -> Pool {
    let url = std::env::var("PAYMENTS_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/payments".into());
    let config = tokio_postgres::Config::from_str(&url).expect("valid URL");
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager).max_size(4).build().unwrap();
    let mut client = pool
        .get()
        .await
        .unwrap_or_else(|e| panic!("Postgres unreachable ({e}): {START_STACK}"));
    // The shipped DDL, serialized across parallel tests (CREATE IF NOT EXISTS can race).
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock(7041920); {PARKED_KEYS_TABLES_DDL}"
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    pool
}

fn quick_retry(tiers: &[(&str, u64)], max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        tiers: tiers
            .iter()
            .map(|(t, ms)| RetryTier {
                topic: t.to_string(),
                delay: Duration::from_millis(*ms),
            })
            .collect(),
        max_attempts,
        jitter: 0.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_of_a_key_run_in_offset_order_and_keys_overlap() {
    let (src, dlq, group) = (
        unique("order-src"),
        unique("order-dlq"),
        unique("order-group"),
    );
    topic(&src, 3).await;
    topic(&dlq, 3).await;
    let producer = Producer::new();
    let keys = 12;
    let per_key = 8;
    for i in 0..per_key {
        for k in 0..keys {
            producer
                .send(&src, k % 3, &format!("k{k}"), &format!("k{k}-{i}"))
                .await;
        }
    }
    let handler = Recorder::new(Box::new(|_, _| {
        Box::pin(async {
            let ms = rand::random::<u64>() % 30;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(())
        })
    }));
    let run = start(
        config(&group, &[&src], RetryPolicy::in_place(), &dlq, 64),
        handler.clone(),
        None,
    );
    poll_until("every record handled", Duration::from_secs(60), || async {
        (handler.done_values().len() >= (keys * per_key) as usize).then_some(())
    })
    .await;
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    for s in handler.seen() {
        by_key.entry(s.key).or_default().push(s.value);
    }
    for (key, values) in by_key {
        let expected: Vec<String> = (0..per_key).map(|i| format!("{key}-{i}")).collect();
        assert_eq!(values, expected, "key {key} in offset order, once each");
    }
    assert!(
        handler.max_running.load(Ordering::SeqCst) > 1,
        "different keys ran concurrently"
    );
    for p in 0..3 {
        poll_until(
            "offsets committed to the end",
            Duration::from_secs(30),
            || async {
                (committed(&group, &src, p) == Some((keys / 3 * per_key) as i64)).then_some(())
            },
        )
        .await;
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn committed_offset_never_passes_an_unfinished_record() {
    let (src, dlq, group) = (
        unique("commit-src"),
        unique("commit-dlq"),
        unique("commit-group"),
    );
    topic(&src, 2).await;
    topic(&dlq, 1).await;
    let producer = Producer::new();
    producer.send(&src, 0, "slow", "slow").await;
    for i in 0..10 {
        producer
            .send(&src, 0, &format!("fast{i}"), &format!("fast{i}"))
            .await;
    }
    let gate = Arc::new(tokio::sync::Notify::new());
    let handler = Recorder::new(Box::new({
        let gate = gate.clone();
        move |record, _| {
            let gate = gate.clone();
            Box::pin(async move {
                if record.payload.as_deref() == Some(b"slow") {
                    gate.notified().await;
                }
                Ok(())
            })
        }
    }));
    let run = start(
        config(&group, &[&src], RetryPolicy::in_place(), &dlq, 64),
        handler.clone(),
        None,
    );
    poll_until(
        "the later records finished",
        Duration::from_secs(60),
        || async { (handler.done_values().len() == 10).then_some(()) },
    )
    .await;
    // Positive control: a commit happened (offset 0 committed), and it stays at the slow record.
    poll_until(
        "a commit at the slow record",
        Duration::from_secs(30),
        || async { (committed(&group, &src, 0) == Some(0)).then_some(()) },
    )
    .await;
    // Positive control that later commits happen: a record on the other partition gets
    // committed — while partition 0 stays at the slow record.
    producer.send(&src, 1, "control", "control").await;
    poll_until(
        "a later commit on the other partition",
        Duration::from_secs(30),
        || async { (committed(&group, &src, 1) == Some(1)).then_some(()) },
    )
    .await;
    assert_eq!(
        committed(&group, &src, 0),
        Some(0),
        "never past the unfinished record"
    );
    gate.notify_one();
    poll_until(
        "the commit reaches the end",
        Duration::from_secs(30),
        || async { (committed(&group, &src, 0) == Some(11)).then_some(()) },
    )
    .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_in_flight_bounds_concurrency_while_polling_goes_on() {
    let (src, dlq, group) = (
        unique("bound-src"),
        unique("bound-dlq"),
        unique("bound-group"),
    );
    topic(&src, 2).await;
    topic(&dlq, 2).await;
    let producer = Producer::new();
    for i in 0..60 {
        producer
            .send(&src, i % 2, &format!("k{i}"), &format!("v{i}"))
            .await;
    }
    let handler = Recorder::new(Box::new(|_, _| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        })
    }));
    let max_in_flight = 4;
    let run = start(
        config(
            &group,
            &[&src],
            RetryPolicy::in_place(),
            &dlq,
            max_in_flight,
        ),
        handler.clone(),
        None,
    );
    let mut max_in_flight_seen = 0;
    poll_until("every record handled", Duration::from_secs(60), || {
        max_in_flight_seen = max_in_flight_seen.max(run.status.in_flight_records());
        let done = handler.done_values().len();
        async move { (done == 60).then_some(()) }
    })
    .await;
    let max_running = handler.max_running.load(Ordering::SeqCst);
    assert!(
        max_running <= max_in_flight,
        "{max_running} handlers at once, limit {max_in_flight}"
    );
    assert!(max_running > 1, "the limit still allows concurrency");
    assert!(
        max_in_flight_seen <= max_in_flight,
        "in flight {max_in_flight_seen} > {max_in_flight}"
    );
    assert_eq!(
        run.status.assigned_partitions(),
        2,
        "still a member: polling went on"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_failure_goes_to_the_retry_tier_and_waits_until_due() {
    let (src, retry, dlq, group) = (
        unique("retry-src"),
        unique("retry-r1"),
        unique("retry-dlq"),
        unique("retry-group"),
    );
    for t in [&src, &retry, &dlq] {
        topic(t, 2).await;
    }
    let producer = Producer::new();
    producer.send(&src, 1, "k", "flaky").await;
    let handler = Recorder::new(Box::new(|_, delivery: Delivery| {
        Box::pin(async move {
            if delivery.attempt == 0 {
                Err(HandlerError::transient("db_down", "database unreachable"))
            } else {
                Ok(())
            }
        })
    }));
    let delay_ms = 2000;
    let run = start(
        config(
            &group,
            &[&src],
            quick_retry(&[(&retry, delay_ms)], 3),
            &dlq,
            16,
        ),
        handler.clone(),
        None,
    );
    poll_until("the retry succeeded", Duration::from_secs(60), || async {
        (handler.done_values().len() == 1).then_some(())
    })
    .await;
    let seen = handler.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].topic.as_str(), seen[0].delivery.attempt),
        (src.as_str(), 0)
    );
    assert_eq!(
        (seen[1].topic.as_str(), seen[1].delivery.attempt),
        (retry.as_str(), 1)
    );
    assert_eq!(seen[1].delivery.original.topic, src);
    assert_eq!(seen[1].delivery.original.partition, 1);
    let retried = &read_topic(&retry, 1).await[0];
    assert_eq!(
        retried.0,
        Some(1),
        "the retry record keeps the source partition"
    );
    let record = &retried.1;
    assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(record.value.as_deref(), Some(&b"flaky"[..]));
    assert_eq!(
        record.header("traceparent"),
        b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(record.header(rh::ATTEMPTS), vec![0, 0, 0, 2]);
    assert_eq!(record.header(rh::ORIGINAL_TOPIC), src.as_bytes());
    assert_eq!(record.header(rh::ORIGINAL_PARTITION), b"1");
    assert_eq!(record.header(rh::ORIGINAL_OFFSET), b"0");
    assert_eq!(record.header(rh::ERROR_CLASS), b"transient");
    assert_eq!(record.header(rh::ERROR_CODE), b"db_down");
    let due = rh::decode_be_int(&record.header(rh::BACKOFF_TIMESTAMP)).unwrap();
    assert!(
        due >= seen[0].at_ms + delay_ms as i64,
        "due time is the tier delay after the failure"
    );
    assert!(
        seen[1].at_ms >= due,
        "handled at {} before due {}",
        seen[1].at_ms,
        due
    );
    for (t, p) in [(&src, 1), (&retry, 1)] {
        poll_until("offsets committed", Duration::from_secs(30), || async {
            (committed(&group, t, p) == Some(1)).then_some(())
        })
        .await;
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exhausted_retries_dead_letter_with_every_header() {
    let (src, r1, r2, dlq, group) = (
        unique("exh-src"),
        unique("exh-r1"),
        unique("exh-r2"),
        unique("exh-dlq"),
        unique("exh-group"),
    );
    for t in [&src, &r1, &r2, &dlq] {
        topic(t, 1).await;
    }
    Producer::new().send(&src, 0, "k", "always-fails").await;
    let handler = Recorder::new(Box::new(|_, _| {
        Box::pin(async {
            Err(HandlerError::transient(
                "gateway_timeout",
                "gateway did not answer",
            ))
        })
    }));
    let run = start(
        config(
            &group,
            &[&src],
            quick_retry(&[(&r1, 100), (&r2, 200)], 3),
            &dlq,
            16,
        ),
        handler.clone(),
        None,
    );
    let dead = &read_topic(&dlq, 1).await[0].1;
    let attempts: Vec<(String, u32)> = handler
        .seen()
        .iter()
        .map(|s| (s.topic.clone(), s.delivery.attempt))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (src.clone(), 0),
            (r1.clone(), 1),
            (r2.clone(), 2),
            (r2.clone(), 3)
        ]
    );
    assert_eq!(dead.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(dead.value.as_deref(), Some(&b"always-fails"[..]));
    assert_eq!(
        dead.header("traceparent"),
        b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(dead.header(dlh::ORIGINAL_TOPIC), src.as_bytes());
    assert_eq!(dead.header(dlh::ORIGINAL_PARTITION), 0i32.to_be_bytes());
    assert_eq!(dead.header(dlh::ORIGINAL_OFFSET), 0i64.to_be_bytes());
    assert_eq!(dead.header(dlh::ORIGINAL_TIMESTAMP).len(), 8);
    assert_eq!(dead.header(dlh::ORIGINAL_CONSUMER_GROUP), group.as_bytes());
    assert_eq!(
        dead.header(dlh::EXCEPTION_FQCN),
        b"eventing::HandlerError/gateway_timeout"
    );
    assert_eq!(
        dead.header(dlh::EXCEPTION_MESSAGE),
        b"gateway did not answer"
    );
    assert_eq!(dead.header(rh::ATTEMPTS), 4i32.to_be_bytes());
    assert_eq!(dead.header(dlh::ERROR_CLASS), b"transient");
    assert_eq!(dead.header(dlh::REASON), b"retries_exhausted");
    assert_eq!(dead.header(dlh::ERROR_CODE), b"gateway_timeout");
    assert!(
        dead.headers.iter().all(|(k, _)| !k.starts_with("retry.")),
        "hop headers dropped"
    );
    assert!(dead.timestamp_ms.is_some());
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permanent_failure_dead_letters_at_once_and_the_next_record_runs() {
    let (src, r1, dlq, group) = (
        unique("perm-src"),
        unique("perm-r1"),
        unique("perm-dlq"),
        unique("perm-group"),
    );
    for t in [&src, &r1, &dlq] {
        topic(t, 1).await;
    }
    let producer = Producer::new();
    producer.send(&src, 0, "k", "poison").await;
    producer.send(&src, 0, "k", "stale").await;
    producer.send(&src, 0, "k", "good").await;
    let handler = Recorder::new(Box::new(|record, _| {
        Box::pin(async move {
            match record.payload.as_deref() {
                Some(b"poison") => Err(HandlerError::permanent(
                    "invalid_amount",
                    "amount is negative",
                )),
                Some(b"stale") => Err(HandlerError::expired("payment_deadline_passed", "too old")),
                _ => Ok(()),
            }
        })
    }));
    let run = start(
        config(&group, &[&src], quick_retry(&[(&r1, 100)], 3), &dlq, 16),
        handler.clone(),
        None,
    );
    poll_until(
        "the next record handled",
        Duration::from_secs(60),
        || async { (handler.done_values() == vec!["good".to_string()]).then_some(()) },
    )
    .await;
    let dead = read_topic(&dlq, 2).await;
    assert_eq!(dead[0].1.header(dlh::REASON), b"invalid_event");
    assert_eq!(dead[0].1.header(dlh::ERROR_CLASS), b"permanent");
    assert_eq!(
        dead[0].1.header(dlh::EXCEPTION_FQCN),
        b"eventing::HandlerError/invalid_amount"
    );
    assert_eq!(dead[0].1.header(rh::ATTEMPTS), 1i32.to_be_bytes());
    assert_eq!(dead[1].1.header(dlh::REASON), b"expired");
    assert_eq!(handler.seen().len(), 3, "no retries of permanent failures");
    poll_until("offsets at the end", Duration::from_secs(30), || async {
        (committed(&group, &src, 0) == Some(3)).then_some(())
    })
    .await;
    run.stop().await;
}

/// K's first record fails once (goes to retry); K's second and third records are parked until it
/// settles, then handled in order. Another key is not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parked_key_keeps_order_through_a_retry() {
    let (src, r1, dlq, group) = (
        unique("park-src"),
        unique("park-r1"),
        unique("park-dlq"),
        unique("park-group"),
    );
    for t in [&src, &r1, &dlq] {
        topic(t, 2).await;
    }
    let pool = parking_pool().await;
    let parking: Arc<dyn KeyParking> = Arc::new(PgKeyParking::new(pool.clone()));
    let producer = Producer::new();
    producer.send(&src, 0, "K", "K-1").await;
    producer.send(&src, 0, "K", "K-2").await;
    producer.send(&src, 0, "other", "other-1").await;
    producer.send(&src, 0, "K", "K-3").await;
    let handler = Recorder::new(Box::new(|record, delivery: Delivery| {
        Box::pin(async move {
            if record.payload.as_deref() == Some(b"K-1") && delivery.attempt == 0 {
                Err(HandlerError::transient("db_down", "try later"))
            } else {
                Ok(())
            }
        })
    }));
    let run = start(
        config(&group, &[&src], quick_retry(&[(&r1, 1500)], 3), &dlq, 16),
        handler.clone(),
        Some(parking),
    );
    poll_until("every record handled", Duration::from_secs(60), || async {
        (handler.done_values().len() == 4).then_some(())
    })
    .await;
    let done = handler.done_values();
    let k_order: Vec<_> = done
        .iter()
        .filter(|v| v.starts_with("K-"))
        .cloned()
        .collect();
    assert_eq!(
        k_order,
        vec!["K-1", "K-2", "K-3"],
        "K in order through the retry"
    );
    assert_eq!(done[0], "other-1", "the other key was not held up");
    let replays: Vec<_> = handler
        .seen()
        .into_iter()
        .filter(|s| s.delivery.replay)
        .map(|s| s.value)
        .collect();
    assert_eq!(replays, vec!["K-2", "K-3"]);
    let client = pool.get().await.unwrap();
    let left: i64 = client
        .query_one("SELECT (SELECT count(*) FROM parked_keys WHERE consumer_group = $1) + (SELECT count(*) FROM parked_records WHERE consumer_group = $1)", &[&group])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "key released, no parked records left");
    poll_until("offsets at the end", Duration::from_secs(30), || async {
        (committed(&group, &src, 0) == Some(4) && committed(&group, &r1, 0) == Some(1))
            .then_some(())
    })
    .await;
    run.stop().await;
}

/// The runtime stops while K is parked; a new runtime on the same group reloads the parking from
/// Postgres: a later record of K is parked too, and K's records are handled in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parking_survives_a_restart() {
    let (src, r1, dlq, group) = (
        unique("restart-src"),
        unique("restart-r1"),
        unique("restart-dlq"),
        unique("restart-group"),
    );
    for t in [&src, &r1, &dlq] {
        topic(t, 1).await;
    }
    let pool = parking_pool().await;
    let producer = Producer::new();
    producer.send(&src, 0, "K", "K-1").await;
    producer.send(&src, 0, "K", "K-2").await;
    producer.send(&src, 0, "marker", "marker-1").await;
    // First runtime: K-1 always fails transiently → retry tier with a long delay; K-2 parked.
    let failing = Recorder::new(Box::new(|record, _| {
        Box::pin(async move {
            if record.payload.as_deref() == Some(b"K-1") {
                Err(HandlerError::transient("db_down", "try later"))
            } else {
                Ok(())
            }
        })
    }));
    let first = start(
        config(&group, &[&src], quick_retry(&[(&r1, 4000)], 3), &dlq, 16),
        failing.clone(),
        Some(Arc::new(PgKeyParking::new(pool.clone()))),
    );
    let client = pool.get().await.unwrap();
    poll_until(
        "K-2 parked and the marker handled",
        Duration::from_secs(60),
        || async {
            let parked: i64 = client
                .query_one(
                    "SELECT count(*) FROM parked_records WHERE consumer_group = $1",
                    &[&group],
                )
                .await
                .unwrap()
                .get(0);
            (parked == 1 && failing.done_values() == vec!["marker-1".to_string()]).then_some(())
        },
    )
    .await;
    poll_until(
        "the source offsets committed",
        Duration::from_secs(30),
        || async { (committed(&group, &src, 0) == Some(3)).then_some(()) },
    )
    .await;
    first.stop().await;
    assert!(
        failing.seen().iter().all(|s| s.value != "K-2"),
        "K-2 was parked, not handled"
    );
    // While nobody runs, another record of K arrives.
    producer.send(&src, 0, "K", "K-3").await;
    let healthy = Recorder::ok();
    let second = start(
        config(&group, &[&src], quick_retry(&[(&r1, 4000)], 3), &dlq, 16),
        healthy.clone(),
        Some(Arc::new(PgKeyParking::new(pool.clone()))),
    );
    poll_until(
        "K's records handled after the restart",
        Duration::from_secs(60),
        || async { (healthy.done_values().len() == 3).then_some(()) },
    )
    .await;
    assert_eq!(
        healthy.done_values(),
        vec!["K-1", "K-2", "K-3"],
        "order held across the restart"
    );
    let seen = healthy.seen();
    assert_eq!(seen[0].topic, r1, "K-1 came back from the retry tier");
    assert!(
        seen[1].delivery.replay && seen[2].delivery.replay,
        "K-2 and K-3 were parked"
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_instance_joining_and_leaving_loses_nothing() {
    let (src, dlq, group) = (unique("join-src"), unique("join-dlq"), unique("join-group"));
    topic(&src, 4).await;
    topic(&dlq, 4).await;
    let producer = Producer::new();
    let total = 200;
    let slow = |_, _| -> BoxFuture<'static, Result<(), HandlerError>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(())
        })
    };
    let a = Recorder::new(Box::new(slow));
    let b = Recorder::new(Box::new(slow));
    for i in 0..total / 2 {
        producer
            .send(&src, i % 4, &format!("k{}", i % 20), &format!("v{i}"))
            .await;
    }
    let first = start(
        config(&group, &[&src], RetryPolicy::in_place(), &dlq, 8),
        a.clone(),
        None,
    );
    poll_until(
        "the first instance is working",
        Duration::from_secs(60),
        || async { (!a.done_values().is_empty()).then_some(()) },
    )
    .await;
    let second = start(
        config(&group, &[&src], RetryPolicy::in_place(), &dlq, 8),
        b.clone(),
        None,
    );
    // The second half is produced once the second instance holds partitions, so records of
    // its partitions can only be handled by it (the first may have drained the first half
    // before the rebalance completed).
    poll_until(
        "the second instance got partitions",
        Duration::from_secs(60),
        || async { (second.status.assigned_partitions() > 0).then_some(()) },
    )
    .await;
    for i in total / 2..total {
        producer
            .send(&src, i % 4, &format!("k{}", i % 20), &format!("v{i}"))
            .await;
    }
    poll_until(
        "the second instance worked",
        Duration::from_secs(60),
        || async { (!b.done_values().is_empty()).then_some(()) },
    )
    .await;
    second.stop().await;
    poll_until(
        "every record handled at least once",
        Duration::from_secs(90),
        || async {
            let mut all: Vec<String> = a.done_values();
            all.extend(b.done_values());
            all.sort();
            all.dedup();
            (all.len() == total as usize).then_some(())
        },
    )
    .await;
    for p in 0..4 {
        poll_until("offsets at the end", Duration::from_secs(30), || async {
            (committed(&group, &src, p) == Some((total / 4) as i64)).then_some(())
        })
        .await;
    }
    first.stop().await;
}

/// A database that is down: a 127.0.0.1 listener that closes every connection at once, so
/// the real parking store fails every call (transient) the way it does when Postgres is down;
/// it counts the connection attempts (one per parked-keys load).
struct DatabaseDown {
    url: String,
    attempts: Arc<AtomicUsize>,
}

impl DatabaseDown {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = attempts.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        Self {
            url: format!("postgres://pipeline:pipeline@127.0.0.1:{port}/payments"),
            attempts,
        }
    }

    fn parking(&self) -> PgKeyParking {
        let config = tokio_postgres::Config::from_str(&self.url).unwrap();
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        PgKeyParking::new(Pool::builder(manager).max_size(1).build().unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_while_parked_keys_cannot_load_completes() {
    let (src, dlq, group) = (
        unique("pgdown-src"),
        unique("pgdown-dlq"),
        unique("pgdown-group"),
    );
    for t in [&src, &dlq] {
        topic(t, 1).await;
    }
    Producer::new().send(&src, 0, "K", "K-1").await;
    let handler = Recorder::ok();
    let database = DatabaseDown::start().await;
    let running = start(
        config(&group, &[&src], RetryPolicy::in_place(), &dlq, 16),
        handler.clone(),
        Some(Arc::new(database.parking())),
    );
    // Assigned: the poll thread is now inside the assignment, retrying the parked-keys load.
    poll_until(
        "the partition assigned",
        Duration::from_secs(60),
        || async { (running.status.assigned_partitions() == 1).then_some(()) },
    )
    .await;
    // Positive signal instead of a fixed wait: the load was refused and retried, so the poll
    // thread is inside the retry loop while the record is already fetchable.
    poll_until(
        "the parked-keys load retried",
        Duration::from_secs(30),
        || async { (database.attempts.load(Ordering::SeqCst) >= 2).then_some(()) },
    )
    .await;
    running.stop().await;
    assert!(
        handler.seen().is_empty(),
        "no record runs before its partition's parked keys are known"
    );
}

/// Until some backend of this database waits on a row lock held by an open test transaction
/// (a positive signal, where a fixed sleep would only hope the statement got that far).
async fn wait_for_a_lock_wait(pool: &Pool) {
    let client = pool.get().await.unwrap();
    poll_until(
        "a statement waiting on the held lock",
        Duration::from_secs(30),
        || {
            let client = &client;
            async move {
                let waiting: i64 = client
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity \
                      WHERE datname = current_database() AND wait_event_type = 'Lock'",
                        &[],
                    )
                    .await
                    .ok()?
                    .get(0);
                (waiting > 0).then_some(())
            }
        },
    )
    .await;
}

fn parked_record(group_key: &str, offset: i64) -> ConsumedRecord {
    ConsumedRecord {
        topic: "src".into(),
        partition: 0,
        offset,
        key: Some(group_key.as_bytes().to_vec()),
        payload: Some(format!("{group_key}-{offset}").into_bytes()),
        headers: Vec::new(),
        timestamp_ms: Some(now_ms()),
    }
}

fn position(offset: i64) -> RecordPosition {
    RecordPosition {
        topic: "src".into(),
        partition: 0,
        offset,
    }
}

/// What a drain or a task abandoned at a revocation may still attempt, against the real store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_parking_store_refuses_stale_writes() {
    let group = unique("stale-group");
    let parking = PgKeyParking::new(parking_pool().await);
    let key = b"K";
    parking
        .park_key(&group, key, 0, &position(1))
        .await
        .unwrap();
    assert!(
        parking
            .park_record(&group, &parked_record("K", 2))
            .await
            .unwrap()
    );
    assert!(
        parking
            .park_record(&group, &parked_record("K", 2))
            .await
            .unwrap(),
        "a redelivery of a parked record is stored already"
    );
    // A drain that thinks offset 7 owns K cannot move it.
    assert!(
        !parking
            .transfer_key(&group, key, &position(7), &position(2))
            .await
            .unwrap()
    );
    let owner = parking.parked_key(&group, key).await.unwrap().unwrap();
    assert_eq!(owner.owner, position(1), "owner unchanged");
    assert!(
        parking.next_parked(&group, key).await.unwrap().is_some(),
        "the refused transfer deleted no row"
    );
    // The real owner can; the row of the new owner goes with it.
    assert!(
        parking
            .transfer_key(&group, key, &position(1), &position(2))
            .await
            .unwrap()
    );
    assert!(parking.next_parked(&group, key).await.unwrap().is_none());
    assert!(
        !parking
            .release_key(&group, key, &position(1))
            .await
            .unwrap()
    );
    assert!(
        parking
            .release_key(&group, key, &position(2))
            .await
            .unwrap()
    );
    assert_eq!(parking.parked_key(&group, key).await.unwrap(), None);
    // A stale "K is parked" view: nothing stored behind a key that is gone.
    assert!(
        !parking
            .park_record(&group, &parked_record("K", 3))
            .await
            .unwrap()
    );
    assert!(parking.next_parked(&group, key).await.unwrap().is_none());
}

/// A release and a park_record of one key racing (an abandoned task and the new owner): the
/// key is never released with a record behind it, and no record is stored behind a released key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_and_a_park_record_racing_never_strand_a_record() {
    let pool = parking_pool().await;
    let parking = Arc::new(PgKeyParking::new(pool.clone()));
    let group = unique("race-group");
    let key: &[u8] = b"K";
    parking
        .park_key(&group, key, 0, &position(1))
        .await
        .unwrap();
    let mut other = pool.get().await.unwrap();

    // 1. A park_record in flight (holding the key row FOR SHARE, its row inserted, not yet
    //    committed): the release waits for it, then sees the record and refuses.
    let tx = other.transaction().await.unwrap();
    tx.execute(
        "SELECT 1 FROM parked_keys WHERE consumer_group = $1 AND record_key = $2 FOR SHARE",
        &[&group, &key],
    )
    .await
    .unwrap();
    tx.execute(
        "INSERT INTO parked_records (consumer_group, record_key, topic, partition, \"offset\", value, headers) \
         VALUES ($1, $2, 'src', 0, 2, NULL, '')",
        &[&group, &key],
    )
    .await
    .unwrap();
    let release = tokio::spawn({
        let (parking, group) = (Arc::clone(&parking), group.clone());
        async move { parking.release_key(&group, b"K", &position(1)).await }
    });
    wait_for_a_lock_wait(&pool).await;
    assert!(!release.is_finished(), "the release waits for the park");
    tx.commit().await.unwrap();
    assert!(!release.await.unwrap().unwrap(), "the release refused");
    assert!(parking.parked_key(&group, key).await.unwrap().is_some());
    parking.unpark_record(&group, &position(2)).await.unwrap();

    // 2. A release in flight (key row locked and deleted, not yet committed): the park waits
    //    for it, then finds no key and stores nothing.
    let tx = other.transaction().await.unwrap();
    tx.execute(
        "DELETE FROM parked_keys WHERE consumer_group = $1 AND record_key = $2",
        &[&group, &key],
    )
    .await
    .unwrap();
    let park = tokio::spawn({
        let (parking, group) = (Arc::clone(&parking), group.clone());
        async move { parking.park_record(&group, &parked_record("K", 3)).await }
    });
    wait_for_a_lock_wait(&pool).await;
    assert!(!park.is_finished(), "the park waits for the release");
    tx.commit().await.unwrap();
    assert!(
        !park.await.unwrap().unwrap(),
        "nothing parked behind a released key"
    );
    assert!(parking.next_parked(&group, key).await.unwrap().is_none());
}
