//! cdc-relay survives a broker crash mid-stream: rows committed before, during and after the
//! outage all reach Kafka (at least once), on a private broker this test kills and restarts.
//! While the broker is away the relay holds at most `--max-in-flight` records and stops
//! reading the WAL: memory stays bounded.

mod common;

use common::{await_all_ids, insert_rows, start_relay, stop_relay};
use e2e_tests::private_kafka::PrivateKafka;
use e2e_tests::{START_STACK, StackEnv, connect_postgres};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

const ROWS_PER_PHASE: usize = 300;
const MAX_IN_FLIGHT: usize = 100;

fn database_url(base: &str, database: &str) -> String {
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database part");
    format!("{prefix}/{database}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_committed_around_a_broker_crash_all_arrive() {
    let env = StackEnv::from_env();
    let admin = connect_postgres(&env.admin_database_url).await;
    let database = format!("relay_bk_{}", Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {database} OWNER pipeline"))
        .await
        .expect("create db");
    let db_url = database_url(&env.orders_database_url, &database);
    let db = connect_postgres(&db_url).await;
    db.batch_execute(eventing::outbox::OUTBOX_TABLE_DDL)
        .await
        .expect("outbox table");

    let mut broker = PrivateKafka::start().await;
    let kafka = eventing::kafka::KafkaArgs::local(&broker.bootstrap());
    let aggregate_type = format!("t{}", Uuid::new_v4().simple());
    let topic = format!("e2e.{aggregate_type}");
    eventing::kafka::create_topic(&kafka, &topic, 3)
        .await
        .expect("topic on the private broker");

    let slot = format!("s_{}", Uuid::new_v4().simple());
    let max_in_flight = MAX_IN_FLIGHT.to_string();
    let relay = start_relay(
        &db_url,
        &broker.bootstrap(),
        &slot,
        &["--max-in-flight", &max_in_flight],
    )
    .await;

    let mut expected: HashSet<Uuid> = insert_rows(&db, &aggregate_type, ROWS_PER_PHASE)
        .await
        .into_iter()
        .collect();
    broker.kill();
    expected.extend(insert_rows(&db, &aggregate_type, ROWS_PER_PHASE).await);
    // More rows wait in the WAL than may be in flight: the relay fills up to the bound and stops.
    let bound = MAX_IN_FLIGHT as f64;
    let mut peak = 0.0_f64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let in_flight = relay
            .metric("cdc_relay_in_flight_records")
            .await
            .unwrap_or(0.0);
        peak = peak.max(in_flight);
        assert!(
            peak <= bound,
            "{peak} records in flight, bound {MAX_IN_FLIGHT}"
        );
        if in_flight >= bound {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "in-flight never reached the bound (peak {peak})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    broker.resume().await;
    expected.extend(insert_rows(&db, &aggregate_type, ROWS_PER_PHASE).await);
    await_all_ids(
        &broker.bootstrap(),
        &topic,
        &expected,
        Duration::from_secs(180),
    )
    .await;

    stop_relay(relay).await;
    drop(db);
    admin
        .batch_execute(&format!("SELECT pg_drop_replication_slot('{slot}')"))
        .await
        .unwrap_or_else(|e| panic!("drop slot: {e}; {START_STACK}"));
    admin
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .await
        .expect("drop db");
}
