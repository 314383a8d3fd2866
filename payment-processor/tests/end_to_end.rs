//! `payment-processor` end to end against the REAL local stack (`make up`): the real processor
//! and gateway binaries, Kafka, Postgres and the schema registry. Nothing is mocked.
//!
//! Each test owns its topics, consumer group, database schema, gateway and outbox slot (see
//! `support`), so tests run in parallel and repeatedly. Charges are proven by the gateway's
//! ledger, result events by the WAL (a `test_decoding` slot: the outbox rows are deleted in the
//! transaction that inserts them), dead letters by reading the dead-letter topic. A wait for
//! "nothing happened" always comes after a positive control that proves the processor got there.
#![allow(clippy::unwrap_used)]

mod support;

use eventing::kafka::keyed::{dead_letter_headers as dlh, retry_headers as rh};
use serde_json::json;
use std::time::Duration;
use support::*;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

fn key_is(order_id: Uuid) -> impl Fn(&Received) -> bool {
    move |r: &Received| r.key.as_deref() == Some(order_id.to_string().as_bytes())
}

/// One succeeded ledger row and one `PaymentCompleted` outbox insert for the order.
async fn assert_paid_once(world: &mut TestWorld, gateway: &Gateway, order_id: Uuid) {
    assert_eq!(
        world.payment_status(order_id).await.as_deref(),
        Some("SUCCEEDED")
    );
    let ledger = gateway.ledger(order_id).await;
    assert_eq!(ledger.len(), 1, "one ledger charge: {ledger:#?}");
    assert_eq!(ledger[0]["status"], "succeeded", "{ledger:#?}");
    let events = world.result_events(order_id).await;
    assert_eq!(events.len(), 1, "one result event: {events:#?}");
    assert!(
        events[0].contains("type[character varying]:'PaymentCompleted'"),
        "{}",
        events[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_delivery_charges_once() {
    let mut world = TestWorld::create("dup-delivery").await;
    let gateway = Gateway::start().await;
    let _processor = start_processor(&world, &gateway, &ProcessorOptions::default()).await;
    let producer = OrderProducer::new();
    let order = new_order("c-dup-delivery", "12.50");

    let first = producer.send(&world.source, &order, None).await;
    let second = producer
        .send(&world.source, &order, Some(first.partition))
        .await;
    assert_eq!(first.value, second.value, "the same record, twice");

    wait_committed_past(&world, second.partition, second.offset).await;
    assert_paid_once(&mut world, &gateway, order.order_id).await;
    assert!(world.processed_at(order.event_id).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_order_created_with_new_event_id_charges_once() {
    let mut world = TestWorld::create("dup-event").await;
    let gateway = Gateway::start().await;
    let _processor = start_processor(&world, &gateway, &ProcessorOptions::default()).await;
    let producer = OrderProducer::new();
    let order = new_order("c-dup-event", "30.00");
    let mut again = order.clone();
    again.event_id = Uuid::now_v7();

    let first = producer.send(&world.source, &order, None).await;
    let second = producer
        .send(&world.source, &again, Some(first.partition))
        .await;

    wait_committed_past(&world, second.partition, second.offset).await;
    assert_paid_once(&mut world, &gateway, order.order_id).await;
    assert!(world.processed_at(order.event_id).await.is_some());
    assert!(world.processed_at(again.event_id).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_gateway_answer_and_commit_charges_once() {
    let mut world = TestWorld::create("crash").await;
    let gateway = Gateway::start().await;
    let mut crashing = start_processor(
        &world,
        &gateway,
        &ProcessorOptions {
            crash_after_gateway: true,
            ..ProcessorOptions::default()
        },
    )
    .await;
    let producer = OrderProducer::new();
    let order = new_order("c-crash", "44.10");
    producer.send(&world.source, &order, None).await;

    let status = crashing.wait_exit(WAIT).await;
    assert!(!status.success(), "the crash hook aborts: {status}");
    assert_eq!(gateway.succeeded_charges(order.order_id).await, 1);
    assert_eq!(
        world.payment_status(order.order_id).await.as_deref(),
        Some("PENDING"),
        "the crash came before step (c)"
    );
    assert!(world.result_events(order.order_id).await.is_empty());

    let _restarted = start_processor(&world, &gateway, &ProcessorOptions::default()).await;
    world.wait_status(order.order_id, "SUCCEEDED", WAIT).await;
    assert_paid_once(&mut world, &gateway, order.order_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_recover_within_the_attempts() {
    let mut world = TestWorld::create("transient").await;
    let gateway = Gateway::start().await;
    gateway.patch_behaviour(json!({"outage": true})).await;
    let _processor = start_processor(&world, &gateway, &ProcessorOptions::default()).await;
    let producer = OrderProducer::new();
    let order = new_order("c-transient", "9.99");
    producer.send(&world.source, &order, None).await;

    let mut retries = TopicReader::new(&[&world.retry1]);
    let retry = retries
        .wait_for(
            "the order on the first retry tier",
            WAIT,
            key_is(order.order_id),
        )
        .await;
    // Spring's convention: the record of retry k carries delivery number k + 1.
    assert_eq!(be_int(&retry.header(rh::ATTEMPTS)), 2, "{retry:?}");
    assert_eq!(retry.header_text(rh::ORIGINAL_TOPIC), world.source);
    assert_eq!(retry.header_text("traceparent"), TRACEPARENT);
    gateway.patch_behaviour(json!({"outage": false})).await;

    world.wait_status(order.order_id, "SUCCEEDED", WAIT).await;
    assert_paid_once(&mut world, &gateway, order.order_id).await;
    assert_eq!(record_count(&world.dlq).await, 0, "nothing dead-lettered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhaustion_dead_letters_with_every_header() {
    let mut world = TestWorld::create("exhausted").await;
    let gateway = Gateway::start().await;
    gateway.patch_behaviour(json!({"outage": true})).await;
    let _processor = start_processor(&world, &gateway, &ProcessorOptions::default()).await;
    let producer = OrderProducer::new();
    let order = new_order("c-exhausted", "15.00");
    let sent = producer.send(&world.source, &order, None).await;

    let mut dlq = TopicReader::new(&[&world.dlq]);
    let dead = dlq
        .wait_for("the dead letter", WAIT, key_is(order.order_id))
        .await;
    assert_eq!(
        dead.value.as_deref(),
        Some(sent.value.as_slice()),
        "value unchanged"
    );
    assert_eq!(dead.header_text("traceparent"), TRACEPARENT);
    assert_eq!(dead.header_text("id"), order.event_id.to_string());
    assert_eq!(dead.header_text("type"), "OrderCreated");
    assert_eq!(dead.header_text(dlh::ORIGINAL_TOPIC), world.source);
    assert_eq!(
        be_int(&dead.header(dlh::ORIGINAL_PARTITION)),
        i64::from(sent.partition)
    );
    assert_eq!(dead.header(dlh::ORIGINAL_PARTITION).len(), 4);
    assert_eq!(be_int(&dead.header(dlh::ORIGINAL_OFFSET)), sent.offset);
    assert_eq!(dead.header(dlh::ORIGINAL_OFFSET).len(), 8);
    assert_eq!(
        be_int(&dead.header(dlh::ORIGINAL_TIMESTAMP)),
        sent.timestamp_ms
    );
    assert_eq!(dead.header_text(dlh::ORIGINAL_CONSUMER_GROUP), world.group);
    let fqcn = dead.header_text(dlh::EXCEPTION_FQCN);
    assert!(fqcn.starts_with("eventing::HandlerError/"), "{fqcn}");
    assert!(!dead.header_text(dlh::EXCEPTION_MESSAGE).is_empty());
    assert_eq!(dead.header_text(dlh::REASON), "retries_exhausted");
    assert_eq!(dead.header_text(dlh::ERROR_CLASS), "transient");
    let code = dead.header_text(dlh::ERROR_CODE);
    assert!(!code.is_empty());
    assert_eq!(
        fqcn,
        format!("eventing::HandlerError/{code}"),
        "the class names the code"
    );
    assert_eq!(
        be_int(&dead.header(rh::ATTEMPTS)),
        4,
        "the first delivery and three retries"
    );
    assert!(
        !dead.has_header(rh::BACKOFF_TIMESTAMP),
        "hop headers are dropped: {:?}",
        dead.header_names()
    );

    assert!(
        gateway.ledger(order.order_id).await.is_empty(),
        "nothing charged"
    );
    assert_eq!(
        world.payment_status(order.order_id).await.as_deref(),
        Some("PENDING")
    );
    assert!(world.result_events(order.order_id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_is_dead_lettered_at_once_and_the_next_record_is_processed() {
    let mut world = TestWorld::create("poison").await;
    let gateway = Gateway::start().await;
    let _processor = start_processor(&world, &gateway, &ProcessorOptions::default()).await;
    let producer = OrderProducer::new();
    let order = new_order("c-poison", "5.00");
    let key = order.order_id.to_string();
    let headers = |id: &str| {
        vec![
            ("id", id.as_bytes().to_vec()),
            ("type", b"OrderCreated".to_vec()),
            ("traceparent", TRACEPARENT.as_bytes().to_vec()),
        ]
    };
    let garbage = b"definitely not Avro".to_vec();
    // Confluent framing (magic 0) with a schema id no registry holds.
    let unknown_schema = vec![0, 0x7f, 0xff, 0xff, 0xf0, 2, 4, 6];
    let partition = Some(1);
    let poison1 = producer
        .send_raw(&world.source, &key, &garbage, &headers("g-1"), partition)
        .await;
    let poison2 = producer
        .send_raw(
            &world.source,
            &key,
            &unknown_schema,
            &headers("g-2"),
            partition,
        )
        .await;
    let valid = producer.send(&world.source, &order, partition).await;
    assert!(poison1.offset < poison2.offset && poison2.offset < valid.offset);

    world.wait_status(order.order_id, "SUCCEEDED", WAIT).await;
    assert_paid_once(&mut world, &gateway, order.order_id).await;

    let mut dlq = TopicReader::new(&[&world.dlq]);
    dlq.read_until("both poison records dead-lettered", WAIT, |rs| {
        rs.len() >= 2
    })
    .await;
    for (poison, bytes) in [(&poison1, &garbage), (&poison2, &unknown_schema)] {
        let dead = dlq
            .received
            .iter()
            .find(|r| be_int(&r.header(dlh::ORIGINAL_OFFSET)) == poison.offset)
            .unwrap_or_else(|| panic!("offset {} dead-lettered", poison.offset));
        assert_eq!(dead.key_text(), key);
        assert_eq!(dead.value.as_deref(), Some(bytes.as_slice()), "raw bytes");
        assert_eq!(dead.header_text(dlh::REASON), "invalid_event");
        assert_eq!(dead.header_text(dlh::ERROR_CLASS), "permanent");
        assert_eq!(
            be_int(&dead.header(rh::ATTEMPTS)),
            1,
            "dead-lettered at once"
        );
    }
    assert_eq!(dlq.received.len(), 2, "only the poison: {:?}", dlq.received);
    // The valid record after them was paid, so both were finished: neither went to a retry tier.
    assert_eq!(record_count(&world.retry1).await, 0);
    assert_eq!(record_count(&world.retry2).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_order_is_dead_lettered_not_charged() {
    let mut world = TestWorld::create("expired").await;
    let gateway = Gateway::start().await;
    let _processor = start_processor(
        &world,
        &gateway,
        &ProcessorOptions {
            payment_deadline: "1m",
            ..ProcessorOptions::default()
        },
    )
    .await;
    let producer = OrderProducer::new();
    let mut expired = new_order("c-expired", "20.00");
    expired.occurred_at = chrono::Utc::now() - chrono::Duration::minutes(2);
    let fresh = new_order("c-fresh", "21.00");
    let sent = producer.send(&world.source, &expired, None).await;
    producer.send(&world.source, &fresh, None).await;

    let mut dlq = TopicReader::new(&[&world.dlq]);
    let dead = dlq
        .wait_for(
            "the expired order dead-lettered",
            WAIT,
            key_is(expired.order_id),
        )
        .await;
    assert_eq!(dead.header_text(dlh::REASON), "expired");
    assert_eq!(dead.value.as_deref(), Some(sent.value.as_slice()));
    world.wait_status(expired.order_id, "EXPIRED", WAIT).await;
    assert!(
        gateway.ledger(expired.order_id).await.is_empty(),
        "never charged"
    );
    assert!(world.result_events(expired.order_id).await.is_empty());

    world.wait_status(fresh.order_id, "SUCCEEDED", WAIT).await;
    assert_paid_once(&mut world, &gateway, fresh.order_id).await;
}

/// Outage on; the order's first `OrderCreated` goes to a retry tier; its second (new event id)
/// is parked behind it. Returns both events once the second is observed parked and the first
/// has made one more retry hop meanwhile (so "the second waits" is observed over time).
async fn park_second_record_behind_a_retry(
    world: &TestWorld,
    producer: &OrderProducer,
) -> (contracts::OrderCreated, contracts::OrderCreated) {
    let first = new_order("c-parking", "7.70");
    let mut second = first.clone();
    second.event_id = Uuid::now_v7();
    let sent = producer.send(&world.source, &first, None).await;
    let mut retries = TopicReader::new(&[&world.retry1, &world.retry2]);
    retries
        .wait_for(
            "the first record on a retry tier",
            WAIT,
            key_is(first.order_id),
        )
        .await;
    producer
        .send(&world.source, &second, Some(sent.partition))
        .await;
    let key = first.order_id.to_string();
    poll_until("the second record parked", WAIT, || async {
        (world.parked_counts(&key).await.0 == 1).then_some(())
    })
    .await;
    // Positive control: the first record makes its next retry hop while the second waits.
    retries
        .read_until("a second retry hop of the first record", WAIT, |rs| {
            rs.iter().filter(|r| key_is(first.order_id)(r)).count() >= 2
        })
        .await;
    assert!(
        world.processed_at(second.event_id).await.is_none(),
        "the second record waits behind the first"
    );
    assert_eq!(world.parked_counts(&key).await, (1, 1));
    (first, second)
}

async fn assert_both_processed_in_order(
    world: &mut TestWorld,
    gateway: &Gateway,
    first: &contracts::OrderCreated,
    second: &contracts::OrderCreated,
) {
    world.wait_status(first.order_id, "SUCCEEDED", WAIT).await;
    let second_at = poll_until("the second record processed", WAIT, || async {
        world.processed_at(second.event_id).await
    })
    .await;
    let first_at = world
        .processed_at(first.event_id)
        .await
        .expect("the first record was processed");
    assert!(first_at < second_at, "{first_at} < {second_at}");
    let key = first.order_id.to_string();
    poll_until("the parked key released", WAIT, || async {
        (world.parked_counts(&key).await == (0, 0)).then_some(())
    })
    .await;
    assert_paid_once(world, gateway, first.order_id).await;
    assert_eq!(record_count(&world.dlq).await, 0);
}

fn parking_options() -> ProcessorOptions {
    // Enough attempts that the first record cannot be exhausted while the test looks at it.
    ProcessorOptions {
        retry_delays: "1s,2s",
        retry_attempts: 8,
        ..ProcessorOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_records_of_an_order_wait_behind_its_retry() {
    let mut world = TestWorld::create("parking").await;
    let gateway = Gateway::start().await;
    gateway.patch_behaviour(json!({"outage": true})).await;
    let _processor = start_processor(&world, &gateway, &parking_options()).await;
    let producer = OrderProducer::new();

    let (first, second) = park_second_record_behind_a_retry(&world, &producer).await;
    gateway.patch_behaviour(json!({"outage": false})).await;
    assert_both_processed_in_order(&mut world, &gateway, &first, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_records_of_an_order_wait_behind_its_retry_across_a_restart() {
    let mut world = TestWorld::create("parking-restart").await;
    let gateway = Gateway::start().await;
    gateway.patch_behaviour(json!({"outage": true})).await;
    let mut processor = start_processor(&world, &gateway, &parking_options()).await;
    let producer = OrderProducer::new();

    let (first, second) = park_second_record_behind_a_retry(&world, &producer).await;
    processor.sigkill().await;
    let _restarted = start_processor(&world, &gateway, &parking_options()).await;
    assert!(world.processed_at(second.event_id).await.is_none());
    gateway.patch_behaviour(json!({"outage": false})).await;
    assert_both_processed_in_order(&mut world, &gateway, &first, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_during_retries_loses_nothing_and_charges_nothing_twice() {
    const ORDERS: usize = 200;
    let mut world = TestWorld::create("rebalance").await;
    let gateway = Gateway::start().await;
    gateway
        .patch_behaviour(json!({"transient_failure_rate": 0.3}))
        .await;
    let options = ProcessorOptions {
        retry_delays: "500ms,1s",
        ..ProcessorOptions::default()
    };
    let first = start_processor(&world, &gateway, &options).await;
    let producer = OrderProducer::new();
    let orders: Vec<_> = (0..ORDERS)
        .map(|n| new_order(&format!("c-rebalance-{n}"), "3.30"))
        .collect();

    for order in &orders[..ORDERS / 2] {
        producer.send(&world.source, order, None).await;
    }
    let mut second = start_processor(&world, &gateway, &options).await;
    for order in &orders[ORDERS / 2..] {
        producer.send(&world.source, order, None).await;
    }
    // Stop the second member while records are still in retry: at least one retry record
    // exists and not every order is settled yet.
    let mut retries = TopicReader::new(&[&world.retry1]);
    retries
        .read_until("some records in retry", WAIT, |rs| !rs.is_empty())
        .await;
    second.sigterm();
    let status = second.wait_exit(WAIT).await;
    assert!(status.success(), "SIGTERM stops cleanly: {status}");

    // Every order ends SUCCEEDED or dead-lettered.
    let mut dlq = TopicReader::new(&[&world.dlq]);
    let mut settled = 0;
    let mut done = std::collections::HashSet::new();
    for _ in 0..300 {
        dlq.read_available(Duration::from_millis(100), 1000).await;
        done = dlq.received.iter().map(Received::key_text).collect();
        let succeeded = world
            .db
            .query(
                &format!(
                    "SELECT order_id::text FROM {}.payments WHERE status = 'SUCCEEDED'",
                    world.schema
                ),
                &[],
            )
            .await
            .unwrap_or_default();
        done.extend(succeeded.iter().map(|row| row.get::<_, String>(0)));
        settled = done.len();
        if settled >= ORDERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if settled < ORDERS {
        let mut missing = Vec::new();
        for order in orders
            .iter()
            .filter(|o| !done.contains(&o.order_id.to_string()))
        {
            missing.push((
                order.order_id,
                world.payment_status(order.order_id).await,
                gateway.ledger(order.order_id).await.len(),
            ));
        }
        panic!(
            "{} orders neither paid nor dead-lettered: {missing:?}\nfirst: {}\nsecond: {}",
            missing.len(),
            first.log_tail(),
            second.log_tail()
        );
    }

    // Then wait for quiescence: a record redelivered by the rebalance may still be in flight.
    wait_drained(&world, WAIT).await;
    dlq.read_available(Duration::from_millis(500), 1000).await;
    let dead: std::collections::HashSet<String> =
        dlq.received.iter().map(Received::key_text).collect();
    for record in &dlq.received {
        assert_eq!(record.header_text(dlh::REASON), "retries_exhausted");
    }
    let mut paid = 0;
    for order in &orders {
        let succeeded = gateway.succeeded_charges(order.order_id).await;
        let events = world.result_events(order.order_id).await;
        match world.payment_status(order.order_id).await.as_deref() {
            Some("SUCCEEDED") => {
                paid += 1;
                assert_eq!(succeeded, 1, "order {}: one charge", order.order_id);
                assert_eq!(
                    events.len(),
                    1,
                    "order {}: one result event",
                    order.order_id
                );
            }
            other => {
                assert!(
                    dead.contains(&order.order_id.to_string()),
                    "order {} is {other:?} and not dead-lettered",
                    order.order_id
                );
                assert_eq!(succeeded, 0, "a dead-lettered order is not charged");
                assert!(events.is_empty());
            }
        }
    }
    assert!(paid >= ORDERS * 9 / 10, "most orders are paid: {paid}");
}

/// The migrations hold the same DDL as the library constants they copy (comments aside).
#[test]
fn migrations_hold_the_library_ddl() {
    fn statements(sql: &str) -> Vec<String> {
        sql.lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n")
            .split(';')
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty())
            .collect()
    }
    let parked = include_str!("../migrations/V3__parked_keys.sql");
    let outbox = include_str!("../migrations/V2__outbox.sql");
    assert!(!statements(parked).is_empty());
    assert_eq!(
        statements(parked),
        statements(eventing::kafka::keyed::PARKED_KEYS_TABLES_DDL)
    );
    assert_eq!(
        statements(outbox),
        statements(eventing::outbox::OUTBOX_TABLE_DDL)
    );
}
