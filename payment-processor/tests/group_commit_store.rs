//! The group-commit store against the real payments database: many concurrent payments (with
//! duplicate deliveries racing each other) share statements and transactions, and still each
//! payment is settled once with exactly one outbox row.

use chrono::Utc;
use eventing::AvroCodec;
use payment_processor::application::ports::PaymentStore;
use payment_processor::domain::{
    ChargeRequest, GatewayAnswer, GatewayIdempotencyKey, PaymentStatus, Settlement,
};
use payment_processor::infrastructure::postgres::{
    GroupCommitSettings, GroupCommitStore, PgPaymentStore, run_migrations,
};
use rust_decimal::Decimal;
use service_kit::postgres::{PgSettings, connect_pool};
use std::time::Duration;
use uuid::Uuid;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the local stack with `make up` and `source .stack/env`")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_settle_once_with_one_outbox_row_each() {
    let schema = format!("t_gc_{}", Uuid::new_v4().simple());
    let admin = connect_pool(&PgSettings {
        url: env("PAYMENTS_DATABASE_URL")
            .parse()
            .expect("valid database URL"),
        application_name: "group-commit-test".into(),
        pool_size: 1,
        timeout: Duration::from_secs(5),
        schema: None,
        options: Vec::new(),
    })
    .expect("pool");
    admin
        .get()
        .await
        .expect("payments database reachable (run `make up`)")
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("create schema");
    let pool = connect_pool(&PgSettings {
        url: env("PAYMENTS_DATABASE_URL")
            .parse()
            .expect("valid database URL"),
        application_name: "group-commit-test".into(),
        pool_size: 8,
        timeout: Duration::from_secs(5),
        schema: Some(schema.clone()),
        options: Vec::new(),
    })
    .expect("pool");
    run_migrations(&pool).await.expect("migrations");
    let codec = AvroCodec::new(&env("SCHEMA_REGISTRY_URL")).expect("codec");
    let store = GroupCommitStore::start(
        PgPaymentStore::new(pool.clone(), codec, "group-commit-test"),
        GroupCommitSettings {
            max_batch: 16,
            workers: 2,
        },
    );

    // 60 orders, each delivered 3 times concurrently (as after a rebalance), every delivery
    // running steps (a) and (c) with a gateway answer.
    let orders: Vec<Uuid> = (0..60).map(|_| Uuid::new_v4()).collect();
    let mut tasks = Vec::new();
    for (i, order_id) in orders.iter().copied().enumerate() {
        for _ in 0..3 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let request = ChargeRequest {
                    order_id,
                    customer_id: format!("c-{i}"),
                    amount: Decimal::new(1000 + i as i64, 2),
                    currency: "EUR".into(),
                };
                let key = GatewayIdempotencyKey::for_order(order_id);
                let begun = store
                    .begin_payment(&request, &key, Uuid::now_v7(), Uuid::new_v4(), true)
                    .await
                    .expect("begin");
                let answer = if i % 5 == 0 {
                    GatewayAnswer::Declined {
                        code: "card_declined".into(),
                    }
                } else {
                    GatewayAnswer::Charged {
                        reference: format!("ch-{order_id}"),
                    }
                };
                let settlement =
                    Settlement::from_answer(&begun.payment, &answer, Uuid::now_v7(), Utc::now());
                store
                    .settle(begun.payment.payment_id, &settlement, Uuid::new_v4(), None)
                    .await
                    .expect("settle")
            }));
        }
    }
    let mut moved_per_order = std::collections::HashMap::<usize, usize>::new();
    for (n, task) in tasks.into_iter().enumerate() {
        if task.await.expect("task") {
            *moved_per_order.entry(n / 3).or_default() += 1;
        }
    }
    assert_eq!(moved_per_order.len(), orders.len(), "every order settled");
    assert!(
        moved_per_order.values().all(|&m| m == 1),
        "settled once each: {moved_per_order:?}"
    );

    let client = pool.get().await.expect("client");
    let statuses = client
        .query("SELECT status, attempts FROM payments", &[])
        .await
        .expect("payments");
    assert_eq!(statuses.len(), orders.len(), "one payment per order");
    for row in &statuses {
        let status = PaymentStatus::parse(row.get::<_, &str>(0)).expect("known status");
        assert!(matches!(
            status,
            PaymentStatus::Succeeded | PaymentStatus::Declined
        ));
    }
    // The outbox rows are deleted in their transaction; the WAL is the proof of "one per order",
    // which the end-to-end tests read through a slot. Here: no row is left behind.
    let left: i64 = client
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .expect("outbox")
        .get(0);
    assert_eq!(left, 0);
    let processed: i64 = client
        .query_one("SELECT count(*) FROM processed_events", &[])
        .await
        .expect("processed")
        .get(0);
    assert_eq!(processed, 180, "every delivery's event id is recorded");
    drop(client);
    admin
        .get()
        .await
        .expect("admin")
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop schema");
}
