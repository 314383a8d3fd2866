//! cdc-relay survives a Postgres crash mid-stream: it reconnects on its own, resumes from the
//! slot's confirmed position, and every committed row reaches Kafka (at least once). Runs on a
//! private cluster this test crashes (`pg_ctl stop -m immediate`) and restarts.

mod common;

use common::{await_all_ids, insert_rows, start_relay, stop_relay};
use e2e_tests::private_postgres::PrivatePostgres;
use e2e_tests::{START_STACK, StackEnv, connect_postgres};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

const ROWS_PER_PHASE: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_committed_around_a_postgres_crash_all_arrive() {
    let env = StackEnv::from_env();
    let kafka = env.kafka();
    let pg = PrivatePostgres::start();
    let db_url = pg.url("postgres");
    let aggregate_type = format!("t{}", Uuid::new_v4().simple());
    let topic = format!("e2e.{aggregate_type}");
    eventing::kafka::create_topic(&kafka, &topic, 3)
        .await
        .unwrap_or_else(|e| panic!("Kafka unreachable ({e}); {START_STACK}"));

    let db = connect_postgres(&db_url).await;
    db.batch_execute(eventing::outbox::OUTBOX_TABLE_DDL)
        .await
        .expect("outbox table");
    let relay = start_relay(&db_url, &env.kafka_bootstrap_servers, "pg_crash_relay", &[]).await;

    let mut expected: HashSet<Uuid> = insert_rows(&db, &aggregate_type, ROWS_PER_PHASE)
        .await
        .into_iter()
        .collect();
    drop(db);
    pg.crash();
    pg.resume();
    let db = connect_postgres(&db_url).await;
    expected.extend(insert_rows(&db, &aggregate_type, ROWS_PER_PHASE).await);
    await_all_ids(
        &env.kafka_bootstrap_servers,
        &topic,
        &expected,
        Duration::from_secs(120),
    )
    .await;

    stop_relay(relay).await;
}

#[tokio::test]
async fn relay_refuses_a_server_without_logical_wal_and_says_how_to_fix_it() {
    let env = StackEnv::from_env();
    let pg = PrivatePostgres::start_with_wal_level("replica");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(common::relay_binary())
            .args([
                "--database-url",
                &pg.url("postgres"),
                "--kafka-bootstrap-servers",
                &env.kafka_bootstrap_servers,
            ])
            .args(["--ops-addr", &format!("127.0.0.1:{}", common::free_port())])
            .output(),
    )
    .await
    .expect("the relay gives up quickly")
    .expect("runs");
    assert!(!output.status.success(), "must exit non-zero");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(stderr.contains("wal_level"), "names the setting: {stderr}");
    assert!(stderr.contains("logical"), "says what it must be: {stderr}");
}
