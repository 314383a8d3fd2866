//! Idempotency-key retention against the real Postgres: expired keys are ignored by a claim and
//! deleted by the cleanup (in batches); fresh keys survive and still replay. Keys are made
//! "expired" by backdating `created_at`, never by waiting.

mod support;

use axum::http::StatusCode;
use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio_util::sync::CancellationToken;

use order_producer::application::ports::{OrderRepository, SystemClock, UuidV7Ids};
use order_producer::application::{OrderService, StoreError};
use order_producer::infrastructure::idempotency_cleanup::{
    IdempotencyCleanupSettings, run_idempotency_key_cleanup,
};
use order_producer::infrastructure::postgres::{PgOrderRepository, PgOutboxWriter, PgSession};
use std::sync::atomic::{AtomicUsize, Ordering};

const BATCH: NonZeroU32 = NonZeroU32::new(1000).expect("1000 is not zero");

fn new_key() -> String {
    format!("key-{}", uuid::Uuid::new_v4())
}

async fn post_with_key(app: &axum::Router, key: &str, body: &serde_json::Value) -> Reply {
    send(
        app,
        post_json("/orders", body.to_string(), &[("idempotency-key", key)]),
    )
    .await
}

/// Move a key's `created_at` 25 hours back: past the default 24-hour retention.
async fn backdate(db: &TestDb, key: &str) {
    let updated = db
        .client
        .execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1",
            &[&key],
        )
        .await
        .expect("backdate key");
    assert_eq!(updated, 1, "key {key} not stored");
}

async fn key_exists(db: &TestDb, key: &str) -> bool {
    db.client
        .query_one(
            "SELECT count(*) FROM idempotency_keys WHERE key = $1",
            &[&key],
        )
        .await
        .expect("count key")
        .get::<_, i64>(0)
        == 1
}

/// `count` expired keys (25 hours old) and nothing else, straight into the table.
async fn insert_expired_keys(db: &TestDb, count: i64) {
    db.client
        .execute(
            "INSERT INTO idempotency_keys (key, request_hash, created_at)
             SELECT 'expired-' || n, 'hash', now() - interval '25 hours'
             FROM generate_series(1, $1::bigint) AS n",
            &[&count],
        )
        .await
        .expect("insert expired keys");
}

fn order_id(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["order_id"]
        .as_str()
        .expect("order id")
        .to_string()
}

#[tokio::test]
async fn expired_key_is_deleted_by_one_cleanup_run_and_a_retry_creates_a_new_order() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let app = app_for(Arc::clone(&service));
    let key = new_key();
    let body = order_json("c-expired");
    let first = order_id(&post_with_key(&app, &key, &body).await);
    backdate(&db, &key).await;

    let deleted = service
        .delete_expired_idempotency_keys(BATCH)
        .await
        .expect("cleanup runs");
    assert_eq!(deleted, 1);
    assert!(!key_exists(&db, &key).await, "expired key survived cleanup");

    let retry = post_with_key(&app, &key, &body).await;
    let second = order_id(&retry);
    assert_ne!(
        second, first,
        "a retry after the retention must be a new order"
    );
    assert!(retry.headers.get("idempotent-replayed").is_none());
    assert_eq!(db.count("orders").await, 2);
    assert!(
        key_exists(&db, &key).await,
        "the retry stores the key again"
    );

    // And the new use of the key is protected again.
    let replay = post_with_key(&app, &key, &body).await;
    assert_eq!(order_id(&replay), second);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(db.count("orders").await, 2);
    db.drop_schema().await;
}

#[tokio::test]
async fn expired_key_is_ignored_before_cleanup_runs() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    let key = new_key();
    let first = order_id(&post_with_key(&app, &key, &order_json("c-stale")).await);
    backdate(&db, &key).await;

    // Another request with the expired key: not a 422 (the old use is forgotten), a new order.
    let other_body = order_json("c-stale-other");
    let retry = post_with_key(&app, &key, &other_body).await;
    let second = order_id(&retry);
    assert_ne!(second, first);
    assert!(retry.headers.get("idempotent-replayed").is_none());
    assert_eq!(db.count("orders").await, 2);
    assert_eq!(
        db.count("idempotency_keys").await,
        1,
        "the row was taken over"
    );
    let fresh: bool = db
        .client
        .query_one(
            "SELECT created_at > now() - interval '1 hour' FROM idempotency_keys WHERE key = $1",
            &[&key],
        )
        .await
        .expect("read key")
        .get(0);
    assert!(fresh, "a taken-over key starts a new retention period");

    let replay = post_with_key(&app, &key, &other_body).await;
    assert_eq!(order_id(&replay), second);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    db.drop_schema().await;
}

#[tokio::test]
async fn concurrent_retries_with_an_expired_key_create_one_new_order() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    let key = new_key();
    let body = order_json("c-expired-race");
    let first = order_id(&post_with_key(&app, &key, &body).await);
    backdate(&db, &key).await;

    let replies = futures::future::join_all((0..6).map(|_| post_with_key(&app, &key, &body))).await;
    let ids: BTreeSet<String> = replies.iter().map(order_id).collect();
    assert_eq!(
        ids.len(),
        1,
        "concurrent retries must share one new order: {ids:?}"
    );
    assert!(!ids.contains(&first));
    assert_eq!(db.count("orders").await, 2);
    db.drop_schema().await;
}

#[tokio::test]
async fn fresh_key_survives_cleanup_and_still_replays() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let app = app_for(Arc::clone(&service));
    let body = order_json("c-fresh");
    let fresh_key = new_key();
    let fresh = post_with_key(&app, &fresh_key, &body).await;
    let fresh_id = order_id(&fresh);
    let old_key = new_key();
    order_id(&post_with_key(&app, &old_key, &order_json("c-old")).await);
    backdate(&db, &old_key).await;

    let deleted = service
        .delete_expired_idempotency_keys(BATCH)
        .await
        .expect("cleanup runs");
    assert_eq!(deleted, 1, "only the expired key is deleted");
    assert!(key_exists(&db, &fresh_key).await);
    assert!(!key_exists(&db, &old_key).await);

    let replay = post_with_key(&app, &fresh_key, &body).await;
    assert_eq!(replay.status, fresh.status);
    assert_eq!(replay.body, fresh.body);
    assert_eq!(order_id(&replay), fresh_id);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(db.count("orders").await, 2, "the replay created no order");
    db.drop_schema().await;
}

#[tokio::test]
async fn cleanup_deletes_in_batches_until_none_are_left() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let app = app_for(Arc::clone(&service));
    let live_key = new_key();
    order_id(&post_with_key(&app, &live_key, &order_json("c-batch")).await);
    // 25 with batches of 10: 10 + 10 + 5 (stops on the short batch).
    insert_expired_keys(&db, 25).await;
    let batch = NonZeroU32::new(10).expect("10 is not zero");
    let deleted = service
        .delete_expired_idempotency_keys(batch)
        .await
        .expect("cleanup runs");
    assert_eq!(
        deleted, 25,
        "every batch until the table has no expired key"
    );
    assert_eq!(db.count("idempotency_keys").await, 1);
    assert!(key_exists(&db, &live_key).await);

    // A multiple of the batch size: 10 + 10 + an empty batch.
    insert_expired_keys(&db, 20).await;
    assert_eq!(
        service
            .delete_expired_idempotency_keys(batch)
            .await
            .expect("cleanup runs"),
        20
    );
    assert_eq!(db.count("idempotency_keys").await, 1);

    // Nothing expired: nothing deleted.
    assert_eq!(
        service
            .delete_expired_idempotency_keys(batch)
            .await
            .expect("cleanup runs"),
        0
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn background_cleanup_deletes_expired_keys_and_stops_on_shutdown() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    insert_expired_keys(&db, 7).await;
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_idempotency_key_cleanup(
        Arc::clone(&service),
        IdempotencyCleanupSettings {
            interval: Duration::from_millis(50),
            batch_size: NonZeroU32::new(3).expect("3 is not zero"),
        },
        cancel.clone(),
    ));
    poll_until(
        "expired keys to be deleted",
        Duration::from_secs(10),
        || async { (db.count("idempotency_keys").await == 0).then_some(()) },
    )
    .await;
    // More keys expire later: a later run deletes them too.
    insert_expired_keys(&db, 4).await;
    poll_until(
        "later expired keys to be deleted",
        Duration::from_secs(10),
        || async { (db.count("idempotency_keys").await == 0).then_some(()) },
    )
    .await;

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the cleanup stops when cancelled")
        .expect("the cleanup task did not panic");
    db.drop_schema().await;
}

fn pg_host_port(url: &str) -> String {
    let after_at = url.rsplit_once('@').map_or(url, |(_, rest)| rest);
    after_at.split('/').next().expect("host:port").to_string()
}

/// The Postgres repository, counting the sessions asked for: one per cleanup run, so a test can
/// see runs happen (and fail) without sleeping.
struct CountingRepository {
    inner: PgOrderRepository<PgOutboxWriter>,
    sessions: Arc<AtomicUsize>,
}

impl OrderRepository for CountingRepository {
    type Session = PgSession<PgOutboxWriter>;

    async fn session(&self) -> Result<Self::Session, StoreError> {
        self.sessions.fetch_add(1, Ordering::SeqCst);
        self.inner.session().await
    }

    async fn prepare_outbox(&self) -> Result<(), StoreError> {
        self.inner.prepare_outbox().await
    }
}

#[tokio::test]
async fn background_cleanup_survives_an_unreachable_database() {
    let db = TestDb::new().await;
    let host_port = pg_host_port(&database_url());
    let mut proxy = CuttableProxy::start(&host_port).await;
    let url = database_url().replacen(&host_port, &format!("127.0.0.1:{}", proxy.port), 1);
    let pool = TestDb::pool_for(&url, &db.schema, Duration::from_millis(300));
    let sessions = Arc::new(AtomicUsize::new(0));
    let service = Arc::new(OrderService::new(
        CountingRepository {
            inner: PgOrderRepository::new(pool, PgOutboxWriter::new(codec().await)),
            sessions: Arc::clone(&sessions),
        },
        SystemClock,
        UuidV7Ids,
    ));
    insert_expired_keys(&db, 5).await;
    proxy.cut();

    let err = service
        .delete_expired_idempotency_keys(BATCH)
        .await
        .expect_err("the database is cut off");
    assert_eq!(err.kind(), eventing::ErrorKind::Transient, "{err}");

    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_idempotency_key_cleanup(
        Arc::clone(&service),
        IdempotencyCleanupSettings {
            interval: Duration::from_millis(50),
            batch_size: BATCH,
        },
        cancel.clone(),
    ));
    let before = sessions.load(Ordering::SeqCst);
    poll_until(
        "three failed cleanup runs",
        Duration::from_secs(15),
        || async { (sessions.load(Ordering::SeqCst) >= before + 3).then_some(()) },
    )
    .await;
    assert!(
        !task.is_finished(),
        "a database error must not stop the cleanup"
    );
    assert_eq!(
        db.count("idempotency_keys").await,
        5,
        "nothing deleted while cut off"
    );

    proxy.restore().await;
    poll_until(
        "expired keys to be deleted after recovery",
        Duration::from_secs(15),
        || async { (db.count("idempotency_keys").await == 0).then_some(()) },
    )
    .await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the cleanup stops when cancelled")
        .expect("the cleanup task did not panic");
    db.drop_schema().await;
}
