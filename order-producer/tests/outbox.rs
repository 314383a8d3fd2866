//! The transactional outbox against the real Postgres: atomicity with the order, retention
//! (insert + delete in one transaction, yet the INSERT reaches logical decoding), migrations.

mod support;

use axum::http::StatusCode;
use contracts::OrderCreated;
use order_producer::application::ports::{OutboxPort, SystemClock, UuidV7Ids};
use order_producer::application::{OrderService, PlaceOrderCommand, ServiceError, StoreError};
use order_producer::domain::{Currency, CustomerId, OrderLine, Quantity, Sku, UnitPrice};
use order_producer::infrastructure::postgres::{PgOrderRepository, run_migrations};
use support::*;
use uuid::Uuid;

/// An outbox adapter that fails after the order rows were inserted: the injected failure
/// between the two inserts.
#[derive(Debug)]
struct FailingOutbox;

impl<Tx: Sync + ?Sized> OutboxPort<Tx> for FailingOutbox {
    async fn prepare(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn append(&self, _: &Tx, _: &[OrderCreated], _: &str) -> Result<(), StoreError> {
        Err(StoreError::Rejected("injected outbox failure".into()))
    }
}

/// An outbox adapter that inserts a row violating the primary key (a real constraint violation
/// raised by Postgres inside the transaction).
#[derive(Debug)]
struct DuplicateIdOutbox;

impl<'t> OutboxPort<deadpool_postgres::Transaction<'t>> for DuplicateIdOutbox {
    async fn prepare(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn append(
        &self,
        tx: &deadpool_postgres::Transaction<'t>,
        events: &[OrderCreated],
        _: &str,
    ) -> Result<(), StoreError> {
        let insert = "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) VALUES ($1, 'order', 'x', 'OrderCreated', '\\x00')";
        for event in events {
            for _ in 0..2 {
                tx.execute(insert, &[&event.event_id])
                    .await
                    .map_err(order_producer::infrastructure::postgres::pg_error)?;
            }
        }
        Ok(())
    }
}

fn command() -> PlaceOrderCommand {
    PlaceOrderCommand {
        customer_id: CustomerId::parse("customer_id", "c-atomic").expect("valid"),
        currency: Currency::parse("currency", "EUR").expect("valid"),
        lines: vec![OrderLine {
            sku: Sku::parse("sku", "SKU-1").expect("valid"),
            quantity: Quantity::new("quantity", 1).expect("valid"),
            unit_price: UnitPrice::parse(
                "unit_price",
                "9.99",
                Currency::parse("currency", "EUR").expect("active"),
            )
            .expect("valid"),
        }],
    }
}

#[tokio::test]
async fn failing_outbox_write_leaves_neither_order_nor_outbox_row() {
    let db = TestDb::new().await;
    let key = format!("k-{}", Uuid::new_v4());
    let failing = OrderService::new(
        PgOrderRepository::new(db.pool.clone(), FailingOutbox),
        SystemClock,
        UuidV7Ids,
    );
    let err = failing
        .place_order(
            command(),
            Some(&key),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .await
        .expect_err("the outbox fails");
    assert!(
        matches!(err, ServiceError::Store(StoreError::Rejected(_))),
        "{err:?}"
    );

    let violating = OrderService::new(
        PgOrderRepository::new(db.pool.clone(), DuplicateIdOutbox),
        SystemClock,
        UuidV7Ids,
    );
    let err = violating
        .place_order(
            command(),
            None,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .await
        .expect_err("the primary key is violated");
    assert!(err.to_string().contains("23505"), "{err}");

    for table in [
        "orders",
        "order_items",
        "order_status_history",
        "idempotency_keys",
        "outbox",
    ] {
        assert_eq!(
            db.count(table).await,
            0,
            "{table} must be empty after the rollback"
        );
    }
    // The key was not consumed by the failed attempt: a retry with it succeeds.
    let working = service_on(db.pool.clone()).await;
    let placed = working
        .place_order(
            command(),
            Some(&key),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .await
        .expect("works with the real outbox");
    assert!(!placed.replayed);
    assert_eq!(db.count("orders").await, 1);
    db.drop_schema().await;
}

#[tokio::test]
async fn outbox_table_stays_empty_but_logical_decoding_sees_the_insert() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    let slot = format!("op_slot_{}", Uuid::new_v4().simple());
    let admin = connect(&database_url()).await;
    admin
        .execute(
            "SELECT pg_create_logical_replication_slot($1, 'test_decoding')",
            &[&slot],
        )
        .await
        .unwrap_or_else(|e| {
            panic!("creating a logical slot needs wal_level=logical ({e}): {START_STACK}")
        });

    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let reply = send(
        &app,
        post_json(
            "/orders",
            order_json("c-wal").to_string(),
            &[("traceparent", traceparent)],
        ),
    )
    .await;
    let changes: Vec<String> = admin
        .query(
            "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL)",
            &[&slot],
        )
        .await
        .expect("read the slot")
        .iter()
        .map(|row| row.get(0))
        .collect();
    admin
        .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .await
        .expect("drop the slot");

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let order_id = reply.body["order_id"].as_str().expect("id");
    assert_eq!(
        db.count("outbox").await,
        0,
        "retention: the outbox row is deleted in the same transaction"
    );
    let table = format!("table {}.outbox:", db.schema);
    let insert = changes
        .iter()
        .find(|c| c.starts_with(&format!("{table} INSERT:")))
        .unwrap_or_else(|| panic!("no outbox INSERT in the WAL: {changes:#?}"));
    assert!(
        insert.contains(&format!("aggregateid[character varying]:'{order_id}'")),
        "{insert}"
    );
    assert!(
        insert.contains("aggregatetype[character varying]:'order'"),
        "{insert}"
    );
    assert!(
        insert.contains("type[character varying]:'OrderCreated'"),
        "{insert}"
    );
    assert!(insert.contains(traceparent), "{insert}");
    assert!(
        changes
            .iter()
            .any(|c| c.starts_with(&format!("{table} DELETE:"))),
        "the DELETE follows in the same transaction: {changes:#?}"
    );
    let order_insert = changes
        .iter()
        .position(|c| c.starts_with(&format!("table {}.orders: INSERT:", db.schema)))
        .expect("order insert decoded");
    let outbox_insert = changes.iter().position(|c| c == insert).expect("present");
    let commits_between = changes[order_insert..outbox_insert]
        .iter()
        .filter(|c| c.starts_with("COMMIT"))
        .count();
    assert_eq!(
        commits_between, 0,
        "order and outbox row are in one transaction"
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn outbox_payload_is_confluent_framed_order_created() {
    let codec = codec().await;
    let event = OrderCreated {
        event_id: Uuid::now_v7(),
        occurred_at: chrono::Utc::now(),
        order_id: Uuid::now_v7(),
        customer_id: "c".into(),
        total_amount: rust_decimal::Decimal::new(1999, 2),
        currency: "EUR".into(),
        items: vec![],
    };
    let message = eventing::outbox::OutboxMessage::encode(&codec, &event, None)
        .await
        .expect("encodes");
    assert_eq!(message.payload[0], 0, "magic byte");
    assert_eq!(
        codec.record_name(&message.payload).await.expect("name"),
        "orderpipeline.events.OrderCreated"
    );
    let decoded: OrderCreated = codec.decode(&message.payload).await.expect("decodes");
    assert_eq!(decoded.order_id, event.order_id);
    assert_eq!(
        (message.aggregate_type.as_str(), message.event_type.as_str()),
        ("order", "OrderCreated")
    );
}

#[tokio::test]
async fn migrations_are_safe_to_run_twice_and_concurrently() {
    let db = TestDb::new().await; // applied once already
    let schema = format!("op_test_{}", Uuid::new_v4().simple());
    connect(&database_url())
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("schema");
    let pools: Vec<_> = (0..3)
        .map(|_| TestDb::pool_for(&database_url(), &schema, std::time::Duration::from_secs(10)))
        .collect();
    let outcomes = futures::future::join_all(pools.iter().map(run_migrations)).await;
    let applied: Vec<Vec<u32>> = outcomes
        .into_iter()
        .map(|o| o.expect("migration run succeeds"))
        .collect();
    assert_eq!(
        applied.iter().filter(|a| !a.is_empty()).count(),
        1,
        "exactly one instance migrated: {applied:?}"
    );
    assert!(
        run_migrations(&db.pool).await.expect("re-run").is_empty(),
        "a re-run applies nothing"
    );
    let _ = connect(&database_url())
        .await
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
    db.drop_schema().await;
}

#[tokio::test]
async fn outbox_migration_matches_the_shared_ddl() {
    let db = TestDb::new().await;
    let reference = format!("op_test_{}", Uuid::new_v4().simple());
    let admin = connect(&database_url()).await;
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {reference}; SET search_path TO {reference}; {}",
            eventing::outbox::OUTBOX_TABLE_DDL
        ))
        .await
        .expect("shared DDL applies");
    let columns = |schema: String| {
        let admin = &admin;
        async move {
            admin
                .query(
                    "SELECT column_name, data_type, coalesce(character_maximum_length, 0), is_nullable, coalesce(column_default, '') \
                     FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'outbox' ORDER BY column_name",
                    &[&schema],
                )
                .await
                .expect("columns")
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, i32>(2), r.get::<_, String>(3), r.get::<_, String>(4)))
                .collect::<Vec<_>>()
        }
    };
    let ours = columns(db.schema.clone()).await;
    assert!(!ours.is_empty());
    assert_eq!(ours, columns(reference.clone()).await);
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA {reference} CASCADE"))
        .await;
    db.drop_schema().await;
}
