//! End-to-end tests of the relay binary against the local stack (Postgres + Kafka, `make up`).
//! Each test uses its own database, slot, publication and topics, and cleans up after itself.

#[path = "../../tests/java/java_partitioner.rs"]
mod java_partitioner;
mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use support::{Received, RelayProcess, TestDb, TopicReader, http_status};

/// Rows for the crash test: the 50,000 (about 5 s here). Override with
/// `CDC_RELAY_CRASH_TEST_ROWS`.
const CRASH_TEST_ROWS: i64 = 50_000;

fn crash_test_rows() -> i64 {
    std::env::var("CDC_RELAY_CRASH_TEST_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CRASH_TEST_ROWS)
}
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// What Debezium's Outbox Event Router emits for a row with default settings (topic
/// `outbox.event.${routedByValue}` — here our unique prefix —, key `aggregateid`, value
/// `payload`, header `id`), plus what we add on purpose: the `type` header and the configured
/// `traceparent` header.
fn debezium_expected(
    db: &TestDb,
    id: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    event_type: &str,
    payload: &[u8],
) -> Received {
    Received {
        topic: db.topic(aggregate_type),
        partition: 0,
        key: Some(aggregate_id.to_owned()),
        payload: payload.to_vec(),
        headers: vec![
            ("id".into(), id.as_bytes().to_vec()),
            ("type".into(), event_type.as_bytes().to_vec()),
            ("traceparent".into(), TRACEPARENT.as_bytes().to_vec()),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_rows_are_routed_like_debeziums_router_and_keep_per_key_order() {
    let db = TestDb::create().await;
    db.create_topics(&["order", "payment"], &[], 3).await;
    let mut relay = RelayProcess::spawn(&db, &["--header-column", "traceparent"]);
    relay.wait_ready(Duration::from_secs(30)).await;

    // Two transactions, two aggregate types, 10 keys, 500 rows.
    db.insert_rows("order", 0, 300, 10).await;
    db.insert_rows("payment", 300, 200, 10).await;
    let rows = db
        .client
        .query(
            "SELECT id::text, aggregatetype, aggregateid, type, payload FROM outbox",
            &[],
        )
        .await
        .expect("read outbox");

    let mut reader = TopicReader::new(&[db.topic("order"), db.topic("payment")]);
    assert!(
        reader
            .read_until(Duration::from_secs(60), |r| r.len() >= 500)
            .await,
        "only {} of 500 records arrived:\n{}",
        reader.received.len(),
        relay.log_text()
    );

    // Routing, key, value and headers equal Debezium's for the same row.
    let by_id: HashMap<String, &Received> = reader
        .received
        .iter()
        .map(|r| (r.header("id").expect("id header"), r))
        .collect();
    assert_eq!(by_id.len(), 500, "no duplicates without a crash");
    for row in &rows {
        let id: String = row.get(0);
        let expected = debezium_expected(
            &db,
            &id,
            row.get(1),
            row.get(2),
            row.get(3),
            row.get::<_, &[u8]>(4),
        );
        let got = by_id[&id];
        assert_eq!(
            Received {
                partition: 0,
                ..got.clone()
            },
            expected
        );
    }

    // Per-key order: within each key, payload sequence numbers strictly increase.
    let mut last: HashMap<(String, String), i64> = HashMap::new();
    for r in &reader.received {
        let n: i64 = r
            .payload_text()
            .rsplit_once(':')
            .and_then(|(_, n)| n.parse().ok())
            .expect("payload is <key>:<n>");
        let key = (r.topic.clone(), r.key.clone().expect("keyed"));
        if let Some(previous) = last.insert(key.clone(), n) {
            assert!(previous < n, "key {key:?}: {n} after {previous}");
        }
    }

    // Updates and deletes of the outbox are ignored, not published.
    db.client
        .batch_execute("UPDATE outbox SET type = 'X' WHERE aggregateid = 'agg-1'; DELETE FROM outbox WHERE aggregateid = 'agg-2'")
        .await
        .expect("update/delete");
    db.insert_rows("order", 1000, 1, 10).await;
    assert!(
        reader
            .read_until(Duration::from_secs(30), |r| r.len() >= 501)
            .await
    );
    assert!(
        !reader
            .read_until(Duration::from_secs(2), |r| r.len() > 501)
            .await,
        "updates/deletes must not be published"
    );
    let metrics = metrics_text(relay.ops_port).await;
    assert!(
        metrics.contains("cdc_relay_ignored_changes_total{kind=\"update\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("cdc_relay_ignored_changes_total{kind=\"delete\"}"));
    // Commit -> ack and its two sides: one read -> ack sample per acknowledged event, one
    // commit -> read sample per transaction read; every metric has its HELP text.
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    let events = value("cdc_relay_events_total ");
    assert!(events >= 501.0, "{metrics}");
    assert_eq!(value("cdc_relay_commit_to_ack_seconds_count "), events);
    assert_eq!(value("cdc_relay_read_to_ack_seconds_count "), events);
    // In seconds: a commit -> ack age of an idle-then-drained run is well under a minute, and
    // not 0 (the last event took some time).
    let newest_age = value("cdc_relay_newest_event_age_seconds ");
    assert!(newest_age > 0.0 && newest_age < 60.0, "{metrics}");
    assert!(
        value("cdc_relay_commit_to_read_seconds_count ") >= 2.0,
        "{metrics}"
    );
    for name in [
        "cdc_relay_events_total",
        "cdc_relay_commit_to_ack_seconds",
        "cdc_relay_commit_to_read_seconds",
        "cdc_relay_read_to_ack_seconds",
        "cdc_relay_slot_lag_bytes",
        "cdc_relay_newest_event_age_seconds",
    ] {
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{metrics}"
        );
    }

    // SIGTERM: clean exit, slot released at the final flushed position.
    relay.sigterm();
    assert_eq!(
        relay.wait_exit(Duration::from_secs(30)).await,
        0,
        "{}",
        relay.log_text()
    );
    let end = db.current_wal_lsn().await;
    let flushed = db.confirmed_flush().await.expect("slot exists");
    assert!(flushed > cdc_relay::domain::lsn::Lsn::ZERO && flushed <= end);
    db.cleanup().await;
}

async fn metrics_text(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("ops server listens");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("read");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_duplicates_only_after_the_acked_lsn() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 3).await;
    let mut relay = RelayProcess::spawn(&db, &[]);
    relay.wait_ready(Duration::from_secs(30)).await;
    let mut reader = TopicReader::new(&[db.topic("order")]);

    // Batches of 200 rows; after each commit, the WAL insert position bounds its end_lsn.
    const BATCH: i64 = 200;
    let mut batch_upper_bounds: Vec<(i64, cdc_relay::domain::lsn::Lsn)> = Vec::new();
    let rows = crash_test_rows();
    let half = rows / 2;
    let mut n = 0;
    while n < half {
        db.insert_rows("order", n, BATCH, 100).await;
        n += BATCH;
        batch_upper_bounds.push((n, db.current_wal_lsn().await));
    }
    // Let the relay get part-way, then kill it without warning.
    assert!(
        reader
            .read_until(Duration::from_secs(60), |r| r.len() as i64 >= half / 2)
            .await
    );
    let acked_before_kill = db.confirmed_flush().await.expect("slot exists");
    relay.sigkill();
    while n < rows {
        db.insert_rows("order", n, BATCH, 100).await;
        n += BATCH;
        batch_upper_bounds.push((n, db.current_wal_lsn().await));
    }

    let mut relay = RelayProcess::spawn(&db, &[]);
    let expected: HashSet<String> = db.outbox_ids().await.into_iter().collect();
    let arrived = reader
        .read_until_unique(Duration::from_secs(180), expected.len())
        .await;
    let ids: Vec<String> = reader
        .received
        .iter()
        .map(|r| r.header("id").expect("id header"))
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert!(
        arrived && unique.len() == expected.len(),
        "{} of {} ids arrived:\n{}",
        unique.len(),
        expected.len(),
        relay.log_text()
    );

    // Every duplicate belongs to a batch that was not definitely acknowledged before the kill.
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    for r in &reader.received {
        let id = r.header("id").expect("id header");
        if !seen.insert(id) {
            duplicates += 1;
            let n: i64 = r
                .payload_text()
                .rsplit_once(':')
                .and_then(|(_, n)| n.parse().ok())
                .expect("payload is <key>:<n>");
            let (_, upper) = batch_upper_bounds
                .iter()
                .find(|(end, _)| n < *end)
                .expect("every row belongs to a batch");
            assert!(
                *upper > acked_before_kill,
                "row {n} duplicated although its batch ended at {upper}, before the acked {acked_before_kill}"
            );
        }
    }
    eprintln!(
        "{rows} rows, {} records, {duplicates} duplicates, acked before kill {acked_before_kill}",
        reader.received.len()
    );
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_advances_the_slot_while_only_other_tables_take_writes() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 1).await;
    db.client
        .batch_execute("CREATE TABLE busy (id bigserial PRIMARY KEY, note text)")
        .await
        .expect("create busy table");
    let mut relay = RelayProcess::spawn(&db, &["--heartbeat-interval", "1s"]);
    relay.wait_ready(Duration::from_secs(30)).await;
    let start = db.confirmed_flush().await.expect("slot exists");

    // Write WAL through another table only; the outbox stays idle.
    let target = {
        for _ in 0..20 {
            db.client
                .execute(
                    "INSERT INTO busy (note) SELECT repeat('x', 200) FROM generate_series(1, 500)",
                    &[],
                )
                .await
                .expect("busy insert");
        }
        db.current_wal_lsn().await
    };
    assert!(target > start);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut flushed = start;
    while std::time::Instant::now() < deadline {
        flushed = db.confirmed_flush().await.expect("slot exists");
        if flushed >= target {
            break;
        }
        db.client
            .execute("INSERT INTO busy (note) VALUES ('tick')", &[])
            .await
            .expect("busy insert");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        flushed >= target,
        "confirmed_flush_lsn stuck at {flushed}, WAL at {target}:\n{}",
        relay.log_text()
    );
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_when_the_active_relay_dies() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 1).await;
    let mut active = RelayProcess::spawn(&db, &[]);
    active.wait_ready(Duration::from_secs(30)).await;
    let mut standby = RelayProcess::spawn(&db, &[]);
    // The standby serves /readyz but is not ready while the slot is held.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while standby.readyz().await.is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(standby.readyz().await, Some(503), "{}", standby.log_text());

    let mut reader = TopicReader::new(&[db.topic("order")]);
    db.insert_rows("order", 0, 10, 5).await;
    assert!(
        reader
            .read_until(Duration::from_secs(30), |r| r.len() >= 10)
            .await
    );

    active.sigkill();
    let killed_at = std::time::Instant::now();
    db.insert_rows("order", 10, 10, 5).await;
    standby.wait_ready(Duration::from_secs(30)).await;
    let takeover = killed_at.elapsed();
    let all_ids: HashSet<String> = db.outbox_ids().await.into_iter().collect();
    assert!(
        reader
            .read_until_unique(Duration::from_secs(30), all_ids.len())
            .await,
        "standby did not deliver the new rows:\n{}",
        standby.log_text()
    );
    assert!(
        takeover < Duration::from_secs(15),
        "takeover took {takeover:?}"
    );
    eprintln!("standby took over in {takeover:?}");
    standby.sigterm();
    assert_eq!(standby.wait_exit(Duration::from_secs(30)).await, 0);
    db.cleanup().await;
}

/// Lets the outbox hold rows the writer would never produce.
const LOOSEN_OUTBOX: &str = "ALTER TABLE outbox ALTER COLUMN aggregatetype DROP NOT NULL, \
     ALTER COLUMN payload DROP NOT NULL";

async fn insert_raw(db: &TestDb, aggregate_type: Option<&str>, payload: Option<&[u8]>) -> String {
    let row = db
        .client
        .query_one(
            "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) \
             VALUES (gen_random_uuid(), $1, 'agg-x', 'T', $2) RETURNING id::text",
            &[&aggregate_type, &payload],
        )
        .await
        .expect("insert raw row");
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rows_go_to_the_error_topic_with_lsn_and_code() {
    let db = TestDb::create().await;
    let error_topic = format!("{}.errors", db.topic_prefix);
    db.create_topics(&["order"], &[&error_topic], 1).await;
    db.client
        .batch_execute(LOOSEN_OUTBOX)
        .await
        .expect("loosen outbox");
    let mut relay = RelayProcess::spawn(
        &db,
        &[
            "--on-bad-row",
            "error-topic",
            "--error-topic",
            &error_topic,
            "--header-column",
            "traceparent",
        ],
    );
    relay.wait_ready(Duration::from_secs(30)).await;

    insert_raw(&db, Some("order"), Some(b"ok-1")).await;
    let null_type = insert_raw(&db, None, Some(b"p")).await;
    let null_payload = insert_raw(&db, Some("order"), None).await;
    // ALTER TABLE mid-stream: the configured header column disappears → unknown column.
    db.client
        .batch_execute("ALTER TABLE outbox DROP COLUMN traceparent")
        .await
        .expect("alter outbox");
    let unknown_column = insert_raw(&db, Some("order"), Some(b"p")).await;

    let mut errors = TopicReader::new(std::slice::from_ref(&error_topic));
    assert!(
        errors
            .read_until(Duration::from_secs(30), |r| r.len() >= 3)
            .await,
        "{}",
        relay.log_text()
    );
    let mut codes = Vec::new();
    for record in &errors.received {
        let json: serde_json::Value =
            serde_json::from_slice(&record.payload).expect("error payload is JSON");
        let lsn = record.header("lsn").expect("lsn header");
        assert_eq!(json["lsn"], lsn.as_str());
        assert!(lsn.parse::<cdc_relay::domain::lsn::Lsn>().is_ok());
        assert_eq!(json["table"], "public.outbox");
        assert_eq!(
            json["error_code"].as_str(),
            record.header("error.code").as_deref()
        );
        codes.push((
            json["row"]["id"].as_str().expect("raw row id").to_owned(),
            record.header("error.code").expect("code header"),
        ));
    }
    assert_eq!(
        codes,
        vec![
            (null_type, "null_aggregate_type".to_owned()),
            (null_payload, "null_payload".to_owned()),
            (unknown_column, "unknown_column".to_owned()),
        ]
    );
    let mut good = TopicReader::new(&[db.topic("order")]);
    assert!(
        good.read_until(Duration::from_secs(30), |r| r.len() == 1)
            .await
    );
    let metrics = metrics_text(relay.ops_port).await;
    assert!(
        metrics.contains("cdc_relay_bad_rows_total{code=\"null_payload\"} 1"),
        "{metrics}"
    );
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_row_with_stop_policy_exits_non_zero_naming_the_lsn() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 1).await;
    db.client
        .batch_execute(LOOSEN_OUTBOX)
        .await
        .expect("loosen outbox");
    let mut relay = RelayProcess::spawn(&db, &["--on-bad-row", "stop"]);
    relay.wait_ready(Duration::from_secs(30)).await;
    insert_raw(&db, Some("order"), Some(b"ok")).await;
    insert_raw(&db, Some("order"), None).await;

    let code = relay.wait_exit(Duration::from_secs(30)).await;
    let log = relay.log_text();
    assert_ne!(code, 0, "{log}");
    assert!(log.contains("null_payload"), "{log}");
    let bad_lsn = bad_row_lsn(&log).unwrap_or_else(|| panic!("no LSN in the error:\n{log}"));

    // The bad row's transaction was not acknowledged: a restart meets the same row again.
    let mut again = RelayProcess::spawn(&db, &["--on-bad-row", "stop"]);
    let code = again.wait_exit(Duration::from_secs(30)).await;
    let log = again.log_text();
    assert_ne!(code, 0, "{log}");
    assert_eq!(bad_row_lsn(&log), Some(bad_lsn.clone()), "{log}");
    db.cleanup().await;
}

/// The LSN in "bad outbox row at LSN <lsn> in ...".
fn bad_row_lsn(log: &str) -> Option<String> {
    let rest = log.split("bad outbox row at LSN ").nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_without_replication_right_gets_a_clear_error() {
    let db = TestDb::create().await;
    let role = format!("norepl_{}", &db.slot[5..]);
    let admin = support::connect(&support::admin_url()).await;
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pw' NOREPLICATION"
        ))
        .await
        .expect("create role");
    let url = support::database_url(&role, "pw", &db.name);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cdc-relay"))
        .args([
            "--database-url",
            &url,
            "--slot-name",
            &db.slot,
            "--ops-addr",
            &format!("127.0.0.1:{}", support::free_port()),
        ])
        .output()
        .expect("run relay");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("lacks the REPLICATION attribute") && stderr.contains(&role),
        "{stderr}"
    );
    db.cleanup().await;
    admin
        .batch_execute(&format!("DROP ROLE {role}"))
        .await
        .expect("drop role");
}

/// With `--on-bad-row error-topic` and no such topic (auto-create is off), the relay refuses to
/// start and says what to do, instead of retrying the first bad row forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_error_topic_is_refused_at_start_up() {
    let db = TestDb::create().await;
    let missing = format!("{}.no-such-error-topic", db.topic_prefix);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_cdc-relay"))
        .args(["--database-url", &db.url, "--slot-name", &db.slot])
        .args([
            "--publication",
            &db.publication,
            "--kafka-bootstrap-servers",
            &support::bootstrap(),
        ])
        .args(["--on-bad-row", "error-topic", "--error-topic", &missing])
        .args(["--ops-addr", &format!("127.0.0.1:{}", support::free_port())])
        .output()
        .await
        .expect("run relay");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "must not start: {stderr}");
    assert!(
        stderr.contains(&missing) && stderr.contains("does not exist"),
        "{stderr}"
    );
    db.cleanup().await;
}

/// Kafka rejects a record (its topic does not exist yet; auto-create is off): the relay keeps
/// re-sending it, the slot never moves past it, and it is delivered once the topic appears.
/// Exercises the failure path without stopping the shared broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_record_is_resent_until_kafka_takes_it_and_holds_the_slot() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 1).await;
    let mut relay = RelayProcess::spawn(
        &db,
        &[
            "--kafka-option",
            "message.timeout.ms=1000",
            "--kafka-option",
            "topic.metadata.refresh.interval.ms=500",
        ],
    );
    relay.wait_ready(Duration::from_secs(30)).await;
    db.insert_rows("order", 0, 1, 1).await;
    db.insert_rows("payment", 1, 1, 1).await;
    // At or past the payment transaction's end: the slot must stay below it while the record
    // is undelivered (keepalives may move it up to, never past, the transaction's commit).
    let after_payment = db.current_wal_lsn().await;
    db.insert_rows("order", 2, 1, 1).await;

    // Wait until the producer reported failures for the payment record.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = metrics_text(relay.ops_port).await;
        let errors = metrics
            .lines()
            .find_map(|l| l.strip_prefix("cdc_relay_kafka_errors_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if errors >= 2.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Kafka errors reported:\n{metrics}\n{}",
            relay.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let held = db.confirmed_flush().await.expect("slot exists");
    assert!(
        held < after_payment,
        "slot at {held} moved past the undelivered record's transaction (ends by {after_payment})"
    );

    db.create_topics(&["payment"], &[], 1).await;
    let mut reader = TopicReader::new(&[db.topic("order"), db.topic("payment")]);
    assert!(
        reader.read_until_unique(Duration::from_secs(60), 3).await,
        "payment record never delivered:\n{}",
        relay.log_text()
    );
    let end = db.current_wal_lsn().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while db.confirmed_flush().await.expect("slot exists") < end {
        assert!(std::time::Instant::now() < deadline, "slot never advanced");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    db.cleanup().await;
}

/// Services start in any order (as on Kubernetes): a relay started before its service created
/// the outbox table waits for it — alive, not ready, saying so — and relays once it exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_started_before_its_outbox_table_waits_for_it_then_relays() {
    let db = TestDb::create_without_outbox().await;
    db.create_topics(&["order"], &[], 1).await;
    let mut relay = RelayProcess::spawn(&db, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !relay.log_text().contains("waiting for the outbox table") {
        assert!(
            std::time::Instant::now() < deadline,
            "no waiting line within 30 s:\n{}",
            relay.log_text()
        );
        if let Ok(Some(status)) = relay.child.try_wait() {
            panic!("relay exited with {status}:\n{}", relay.log_text());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(http_status(relay.ops_port, "/healthz").await, Some(200));
    assert_eq!(relay.readyz().await, Some(503), "not ready while waiting");
    assert!(
        relay.child.try_wait().expect("poll child").is_none(),
        "still running"
    );

    db.create_outbox().await;
    relay.wait_ready(Duration::from_secs(30)).await;
    db.insert_rows("order", 0, 10, 2).await;
    let mut reader = TopicReader::new(&[db.topic("order")]);
    assert!(
        reader
            .read_until(Duration::from_secs(60), |r| r.len() >= 10)
            .await,
        "only {} of 10 records arrived:\n{}",
        reader.received.len(),
        relay.log_text()
    );
    assert!(relay.log_text().contains("outbox table found"));
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    db.cleanup().await;
}

/// Debezium runs on Kafka Connect, whose Java producer partitions keys with murmur2; librdkafka
/// defaults to CRC32. The relay defaults to `murmur2_random`, so a team switching from Debezium
/// mid-stream keeps every order's events on one partition: checked against Kafka's own Java code
/// for 500 distinct keys on 6 partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_land_on_the_partition_the_java_client_and_debezium_choose() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 6).await;
    let mut relay = RelayProcess::spawn(&db, &[]);
    relay.wait_ready(Duration::from_secs(30)).await;
    db.insert_rows("order", 0, 500, 500).await;
    let mut reader = TopicReader::new(&[db.topic("order")]);
    assert!(
        reader
            .read_until(Duration::from_secs(60), |r| r.len() >= 500)
            .await,
        "only {} of 500 records arrived:\n{}",
        reader.received.len(),
        relay.log_text()
    );
    let keys: Vec<String> = reader
        .received
        .iter()
        .map(|r| r.key.clone().expect("keyed"))
        .collect();
    let java = java_partitioner::java_partitions(&keys, 6);
    let differing: Vec<String> = reader
        .received
        .iter()
        .filter_map(|r| {
            let key = r.key.clone().expect("keyed");
            (java.get(&key) != Some(&r.partition))
                .then(|| format!("{key}: relay {} java {:?}", r.partition, java.get(&key)))
        })
        .collect();
    assert!(
        differing.is_empty(),
        "{} of 500 on another partition than Java's: {:?}",
        differing.len(),
        &differing[..differing.len().min(5)]
    );
    // Not trivially equal: the keys spread over every partition.
    let used: HashSet<i32> = reader.received.iter().map(|r| r.partition).collect();
    assert_eq!(used.len(), 6, "{used:?}");
    relay.sigterm();
    relay.wait_exit(Duration::from_secs(30)).await;
    db.cleanup().await;
}
