//! The relay's heartbeat modes against the local stack (`make up`). With `--heartbeat-mode table`
//! (the default) the slot follows the WAL while the outbox is idle, and no other logical decoding
//! client of the database — `test_decoding`, or pgoutput over a `FOR ALL TABLES` publication with
//! messages on, as Debezium reads by default — sees anything of the heartbeat. The
//! `logical-message` mode is the positive control: both clients see its messages, which is what
//! stalled a Debezium connector with topic auto-creation off. Each test uses its own database,
//! slot, publication and topics, and cleans up after itself.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use support::{RelayProcess, STACK_HINT, TestDb, TopicReader, admin_url_for, connect};
use tokio_postgres::Client;

/// The prefix of the relay's logical-message heartbeat.
const HEARTBEAT_PREFIX: &str = "cdc-relay-heartbeat";
/// The default heartbeat table (in the outbox's schema, `public` here).
const HEARTBEAT_TABLE: &str = "cdc_relay_heartbeat";

/// Two more logical decoding clients of the test database, created before the relay starts so
/// they see everything it does: a `test_decoding` slot (prints every change of every table and
/// every logical message) and a pgoutput slot read through a `FOR ALL TABLES` publication with
/// `messages` on (Debezium's defaults: `publication.autocreate.mode=all_tables`, logical
/// messages decoded). Both are read with the SQL peek functions, which consume nothing.
struct OtherClients {
    admin: Client,
    test_decoding_slot: String,
    pgoutput_slot: String,
    publication: String,
}

impl OtherClients {
    async fn create(db: &TestDb) -> OtherClients {
        // FOR ALL TABLES takes a superuser.
        let admin = connect(&admin_url_for(&db.name)).await;
        let clients = OtherClients {
            admin,
            test_decoding_slot: format!("{}_td", db.slot),
            pgoutput_slot: format!("{}_dbz", db.slot),
            publication: format!("{}_all", db.publication),
        };
        clients
            .admin
            .batch_execute(&format!(
                "CREATE PUBLICATION {} FOR ALL TABLES",
                clients.publication
            ))
            .await
            .expect("create the FOR ALL TABLES publication");
        for (slot, plugin) in [
            (&clients.test_decoding_slot, "test_decoding"),
            (&clients.pgoutput_slot, "pgoutput"),
        ] {
            clients
                .admin
                .query_one(
                    "SELECT pg_create_logical_replication_slot($1, $2)",
                    &[slot, &plugin],
                )
                .await
                .unwrap_or_else(|e| panic!("create the {plugin} slot ({e}): {STACK_HINT}"));
        }
        clients
    }

    /// `test_decoding`'s lines since its slot was created.
    async fn test_decoding_lines(&self) -> Vec<String> {
        self.admin
            .query(
                "SELECT data FROM pg_logical_slot_peek_changes($1, NULL, NULL)",
                &[&self.test_decoding_slot],
            )
            .await
            .expect("peek test_decoding")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// pgoutput's messages (first byte: B, R, I, C, M, ...) since its slot was created.
    async fn pgoutput_messages(&self) -> Vec<Vec<u8>> {
        self.admin
            .query(
                "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, \
                 'proto_version', '1', 'publication_names', $2, 'messages', 'true')",
                &[&self.pgoutput_slot, &self.publication],
            )
            .await
            .expect("peek pgoutput")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// The publication goes with the database; the slots are dropped by `TestDb::cleanup`.
    async fn drop(self) {
        drop(self.admin);
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// `beats` of the slot's heartbeat row (None: no row, or no table).
async fn heartbeat_beats(db: &TestDb) -> Option<i64> {
    let exists: bool = db
        .client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("public.{HEARTBEAT_TABLE}")],
        )
        .await
        .expect("look up the heartbeat table")
        .get(0);
    if !exists {
        return None;
    }
    db.client
        .query_opt(
            &format!("SELECT beats FROM public.{HEARTBEAT_TABLE} WHERE slot_name = $1"),
            &[&db.slot],
        )
        .await
        .expect("read the heartbeat row")
        .map(|row| row.get(0))
}

async fn wait_for_beats(db: &TestDb, relay: &RelayProcess, at_least: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let beats = heartbeat_beats(db).await;
        if beats.is_some_and(|b| b >= at_least) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "heartbeat row at {beats:?}, expected {at_least} beats:\n{}",
            relay.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Insert one outbox row and wait until it is in Kafka: the relay and the WAL went past
/// everything written before (its synchronous commit also flushed earlier heartbeat commits).
async fn relay_one_row(db: &TestDb, relay: &RelayProcess) {
    db.insert_rows("order", 0, 1, 1).await;
    let mut reader = TopicReader::new(&[db.topic("order")]);
    assert!(
        reader.read_until_unique(Duration::from_secs(60), 1).await,
        "the outbox row never reached Kafka:\n{}",
        relay.log_text()
    );
}

/// Write WAL through a table outside every relay publication (the outbox stays idle) until the
/// relay's slot reaches the WAL position after a first burst; panics after 30 s.
async fn slot_follows_other_tables_writes(db: &TestDb, relay: &RelayProcess) {
    db.client
        .batch_execute("CREATE TABLE busy (id bigserial PRIMARY KEY, note text)")
        .await
        .expect("create busy table");
    let start = db.confirmed_flush().await.expect("slot exists");
    for _ in 0..20 {
        db.client
            .execute(
                "INSERT INTO busy (note) SELECT repeat('x', 200) FROM generate_series(1, 500)",
                &[],
            )
            .await
            .expect("busy insert");
    }
    let target = db.current_wal_lsn().await;
    assert!(target > start);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut flushed = start;
    while Instant::now() < deadline {
        flushed = db.confirmed_flush().await.expect("slot exists");
        if flushed >= target {
            return;
        }
        db.client
            .execute("INSERT INTO busy (note) VALUES ('tick')", &[])
            .await
            .expect("busy insert");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "confirmed_flush_lsn stuck at {flushed}, WAL at {target}:\n{}",
        relay.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_heartbeat_advances_the_slot_while_only_other_tables_take_writes() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 1).await;
    let mut relay = RelayProcess::spawn(
        &db,
        &["--heartbeat-mode", "table", "--heartbeat-interval", "1s"],
    );
    relay.wait_ready(Duration::from_secs(30)).await;
    slot_follows_other_tables_writes(&db, &relay).await;
    // The table mode did run: the slot's row exists and counts beats.
    wait_for_beats(&db, &relay, 2).await;
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    db.cleanup().await;
}

/// The Materialize lesson: keepalive `wal_end`s advance the slot with no transaction at all, so
/// even with no heartbeat the slot follows other tables' writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_alone_advance_the_slot_with_the_heartbeat_off() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 1).await;
    let mut relay = RelayProcess::spawn(
        &db,
        &["--heartbeat-mode", "off", "--heartbeat-interval", "1s"],
    );
    relay.wait_ready(Duration::from_secs(30)).await;
    slot_follows_other_tables_writes(&db, &relay).await;
    assert_eq!(heartbeat_beats(&db).await, None, "off: no heartbeat table");
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_heartbeat_is_invisible_to_other_logical_decoding_clients() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 1).await;
    let others = OtherClients::create(&db).await;
    // The default mode, written out.
    let mut relay = RelayProcess::spawn(
        &db,
        &["--heartbeat-mode", "table", "--heartbeat-interval", "200ms"],
    );
    relay.wait_ready(Duration::from_secs(30)).await;
    wait_for_beats(&db, &relay, 3).await;
    relay_one_row(&db, &relay).await;

    // Both clients work (they see the outbox insert) and see nothing of the heartbeats.
    let lines = others.test_decoding_lines().await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("table public.outbox: INSERT")),
        "test_decoding missed the outbox insert: {lines:#?}"
    );
    let leaked: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(HEARTBEAT_PREFIX) || l.contains(HEARTBEAT_TABLE))
        .collect();
    assert!(
        leaked.is_empty(),
        "test_decoding saw heartbeats: {leaked:#?}"
    );

    let messages = others.pgoutput_messages().await;
    assert!(
        messages.iter().any(|m| m.first() == Some(&b'I')),
        "pgoutput (FOR ALL TABLES) missed the outbox insert"
    );
    assert!(
        !messages
            .iter()
            .any(|m| m.first() == Some(&b'M') || contains(m, HEARTBEAT_TABLE)),
        "pgoutput (FOR ALL TABLES, messages on) saw a heartbeat"
    );

    let persistence: String = db
        .client
        .query_one(
            "SELECT relpersistence::text FROM pg_class WHERE oid = to_regclass($1)",
            &[&format!("public.{HEARTBEAT_TABLE}")],
        )
        .await
        .expect("heartbeat table exists")
        .get(0);
    assert_eq!(
        persistence, "u",
        "the relay creates its heartbeat table UNLOGGED"
    );

    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    others.drop().await;
    db.cleanup().await;
}

/// The positive control of the test above: the logical-message heartbeat reaches every logical
/// decoding client (Debezium publishes it to `<topic.prefix>.message`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_message_heartbeat_is_seen_by_other_logical_decoding_clients() {
    let db = TestDb::create().await;
    db.create_topics(&["order"], &[], 1).await;
    let others = OtherClients::create(&db).await;
    let mut relay = RelayProcess::spawn(
        &db,
        &[
            "--heartbeat-mode",
            "logical-message",
            "--heartbeat-interval",
            "200ms",
        ],
    );
    relay.wait_ready(Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = others.test_decoding_lines().await;
        let messages = others.pgoutput_messages().await;
        let in_test_decoding = lines
            .iter()
            .any(|l| l.contains(&format!("prefix: {HEARTBEAT_PREFIX}")));
        let in_pgoutput = messages
            .iter()
            .any(|m| m.first() == Some(&b'M') && contains(m, HEARTBEAT_PREFIX));
        if in_test_decoding && in_pgoutput {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "heartbeat message not seen (test_decoding {in_test_decoding}, pgoutput \
             {in_pgoutput}):\n{}",
            relay.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        heartbeat_beats(&db).await,
        None,
        "logical-message mode creates no table"
    );
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    others.drop().await;
    db.cleanup().await;
}

/// Switching the mode is a restart: nothing is lost or duplicated across it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_heartbeat_mode_across_a_restart_loses_and_duplicates_nothing() {
    let db = TestDb::create().await;
    // One partition: the relay publishes in WAL order, so once the last row is read, every
    // record published before it (a replayed duplicate included) has been read too.
    db.create_topics(&["order"], &[], 1).await;
    let mut reader = TopicReader::new(&[db.topic("order")]);
    let mut relay = RelayProcess::spawn(
        &db,
        &[
            "--heartbeat-mode",
            "logical-message",
            "--heartbeat-interval",
            "200ms",
        ],
    );
    relay.wait_ready(Duration::from_secs(30)).await;
    db.insert_rows("order", 0, 300, 10).await;
    assert!(
        reader.read_until_unique(Duration::from_secs(60), 300).await,
        "{} of 300 before the switch:\n{}",
        reader.unique_ids.len(),
        relay.log_text()
    );
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);

    // Written while no relay runs, then relayed by the table-mode relay.
    db.insert_rows("order", 300, 300, 10).await;
    let mut relay = RelayProcess::spawn(
        &db,
        &["--heartbeat-mode", "table", "--heartbeat-interval", "200ms"],
    );
    relay.wait_ready(Duration::from_secs(30)).await;
    wait_for_beats(&db, &relay, 2).await;
    db.insert_rows("order", 600, 300, 10).await;
    let expected: HashSet<String> = db.outbox_ids().await.into_iter().collect();
    assert_eq!(expected.len(), 900);
    assert!(
        reader.read_until_unique(Duration::from_secs(60), 900).await,
        "{} of 900 after the switch:\n{}",
        reader.unique_ids.len(),
        relay.log_text()
    );
    assert_eq!(reader.unique_ids, expected, "exactly the outbox's events");
    assert_eq!(
        reader.received.len(),
        900,
        "a clean restart duplicates nothing"
    );
    relay.sigterm();
    assert_eq!(relay.wait_exit(Duration::from_secs(30)).await, 0);
    db.cleanup().await;
}
