//! `apply_payment_result` against the real Postgres, no Kafka: duplicates, reordering,
//! contradictions and unknown orders never corrupt the state machine.

mod support;

use contracts::{FailureReason, PaymentCompleted, PaymentFailed};
use order_producer::application::{ApplyOutcome, PaymentResult, PlaceOrderCommand};
use order_producer::domain::{
    Currency, CustomerId, OrderLine, OrderStatus, Quantity, Sku, UnitPrice,
};
use rust_decimal::Decimal;
use service_kit::install_metrics;
use support::*;
use uuid::Uuid;

const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn command() -> PlaceOrderCommand {
    PlaceOrderCommand {
        customer_id: CustomerId::parse("customer_id", "c-pay").expect("valid"),
        currency: Currency::parse("currency", "EUR").expect("valid"),
        lines: vec![OrderLine {
            sku: Sku::parse("sku", "SKU-1").expect("valid"),
            quantity: Quantity::new("quantity", 2).expect("valid"),
            unit_price: UnitPrice::parse(
                "unit_price",
                "12.50",
                Currency::parse("currency", "EUR").expect("active"),
            )
            .expect("valid"),
        }],
    }
}

pub fn completed(order_id: Uuid, amount: Decimal) -> PaymentResult {
    PaymentResult::Completed(PaymentCompleted {
        event_id: Uuid::now_v7(),
        occurred_at: chrono::Utc::now(),
        payment_id: Uuid::now_v7(),
        order_id,
        customer_id: "c-pay".into(),
        amount,
        currency: "EUR".into(),
        gateway_reference: "gw-1".into(),
    })
}

fn failed(order_id: Uuid, amount: Decimal) -> PaymentResult {
    PaymentResult::Failed(PaymentFailed {
        event_id: Uuid::now_v7(),
        occurred_at: chrono::Utc::now(),
        payment_id: None,
        order_id,
        customer_id: "c-pay".into(),
        amount,
        currency: "EUR".into(),
        reason: FailureReason::Declined,
        detail: "card declined".into(),
    })
}

async fn ignored_reasons(db: &TestDb, order_id: Uuid) -> Vec<String> {
    db.client
        .query(
            "SELECT reason FROM ignored_payment_results WHERE order_id = $1 ORDER BY received_at",
            &[&order_id],
        )
        .await
        .expect("query")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn duplicate_payment_result_is_applied_once() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let order = service
        .place_order(command(), None, TRACE)
        .await
        .expect("placed")
        .order;
    let result = completed(order.order_id, order.total_amount);
    assert_eq!(
        service
            .apply_payment_result("group-a", &result)
            .await
            .expect("applies"),
        ApplyOutcome::Applied {
            status: OrderStatus::Paid
        }
    );
    for _ in 0..3 {
        assert_eq!(
            service
                .apply_payment_result("group-a", &result)
                .await
                .expect("no-op"),
            ApplyOutcome::Duplicate
        );
    }
    let view = service.get_order(order.order_id).await.expect("exists");
    assert_eq!(view.status, "PAID");
    assert_eq!(view.status_history.len(), 2, "one transition, not four");
    assert_eq!(view.status_history[1].event_id, Some(result.event_id()));
    assert_eq!(db.count("processed_events").await, 1);
    assert!(ignored_reasons(&db, order.order_id).await.is_empty());
    // Another consumer group processes the same event independently.
    assert_eq!(
        service
            .apply_payment_result("group-b", &result)
            .await
            .expect("applies"),
        ApplyOutcome::Ignored {
            reason: "order_already_paid"
        }
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn late_failure_after_paid_is_recorded_ignored_and_counted() {
    let metrics = install_metrics("order_producer");
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let order = service
        .place_order(command(), None, TRACE)
        .await
        .expect("placed")
        .order;
    service
        .apply_payment_result("g", &completed(order.order_id, order.total_amount))
        .await
        .expect("paid");
    let late = failed(order.order_id, order.total_amount);
    assert_eq!(
        service
            .apply_payment_result("g", &late)
            .await
            .expect("handled"),
        ApplyOutcome::Ignored {
            reason: "order_already_paid"
        }
    );
    let view = service.get_order(order.order_id).await.expect("exists");
    assert_eq!(view.status, "PAID", "a late failure never un-pays an order");
    assert_eq!(view.status_history.len(), 2);
    assert_eq!(
        ignored_reasons(&db, order.order_id).await,
        ["order_already_paid"]
    );
    assert_eq!(
        service.apply_payment_result("g", &late).await.expect("dup"),
        ApplyOutcome::Duplicate,
        "an ignored result is still processed once"
    );
    let rendered = metrics.render();
    assert!(
        rendered.contains(
            "order_producer_payment_results_ignored_total{reason=\"order_already_paid\"}"
        ),
        "{rendered}"
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn failure_first_then_completion_keeps_payment_failed() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let order = service
        .place_order(command(), None, TRACE)
        .await
        .expect("placed")
        .order;
    assert_eq!(
        service
            .apply_payment_result("g", &failed(order.order_id, order.total_amount))
            .await
            .expect("ok"),
        ApplyOutcome::Applied {
            status: OrderStatus::PaymentFailed
        }
    );
    assert_eq!(
        service
            .apply_payment_result("g", &completed(order.order_id, order.total_amount))
            .await
            .expect("ok"),
        ApplyOutcome::Ignored {
            reason: "order_already_failed"
        }
    );
    let view = service.get_order(order.order_id).await.expect("exists");
    assert_eq!(view.status, "PAYMENT_FAILED");
    assert_eq!(
        view.status_history[1].reason.as_deref(),
        Some("DECLINED: card declined")
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn unknown_order_and_wrong_amount_are_ignored_with_reason() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let stranger = Uuid::now_v7();
    // A result older than the grace (default 2 min) for an order never seen: ignored.
    let mut stale = completed(stranger, Decimal::ONE);
    if let PaymentResult::Completed(e) = &mut stale {
        e.occurred_at = chrono::Utc::now() - chrono::Duration::minutes(3);
    }
    assert_eq!(
        service.apply_payment_result("g", &stale).await.expect("ok"),
        ApplyOutcome::Ignored {
            reason: "unknown_order"
        }
    );
    assert_eq!(ignored_reasons(&db, stranger).await, ["unknown_order"]);
    let order = service
        .place_order(command(), None, TRACE)
        .await
        .expect("placed")
        .order;
    assert_eq!(
        service
            .apply_payment_result("g", &completed(order.order_id, Decimal::ONE))
            .await
            .expect("ok"),
        ApplyOutcome::Ignored {
            reason: "amount_mismatch"
        }
    );
    assert_eq!(
        service
            .get_order(order.order_id)
            .await
            .expect("exists")
            .status,
        "PENDING_PAYMENT"
    );
    assert_eq!(
        db.count("orders").await,
        1,
        "no order is invented for an unknown id"
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn concurrent_contradictory_results_settle_exactly_once() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let order = service
        .place_order(command(), None, TRACE)
        .await
        .expect("placed")
        .order;
    let results: Vec<PaymentResult> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                completed(order.order_id, order.total_amount)
            } else {
                failed(order.order_id, order.total_amount)
            }
        })
        .collect();
    let outcomes =
        futures::future::join_all(results.iter().map(|r| service.apply_payment_result("g", r)))
            .await;
    let applied = outcomes
        .into_iter()
        .map(|o| o.expect("no error"))
        .filter(|o| matches!(o, ApplyOutcome::Applied { .. }))
        .count();
    assert_eq!(
        applied, 1,
        "the row lock serialises settlements: exactly one wins"
    );
    let view = service.get_order(order.order_id).await.expect("exists");
    assert_eq!(view.status_history.len(), 2);
    assert_eq!(ignored_reasons(&db, order.order_id).await.len(), 7);
    db.drop_schema().await;
}

/// A result whose order is not visible (yet) within the grace is a transient error that commits
/// nothing — not its processed-event marker, not an ignored row — so the runtime's retry applies
/// it once the order's commit is visible (logical decoding can hand the relay a commit before
/// other sessions see it).
#[tokio::test]
async fn a_fresh_result_for_an_order_not_visible_yet_is_retried_not_ignored() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let unseen = Uuid::now_v7();
    let result = completed(unseen, Decimal::ONE);
    let err = service
        .apply_payment_result("g", &result)
        .await
        .expect_err("not visible yet");
    assert!(
        matches!(err, order_producer::application::ServiceError::OrderNotVisibleYet(id) if id == unseen),
        "{err}"
    );
    assert_eq!(err.kind(), eventing::ErrorKind::Transient);
    assert!(
        ignored_reasons(&db, unseen).await.is_empty(),
        "nothing ignored"
    );
    assert_eq!(db.count("processed_events").await, 0, "no marker committed");
    assert_eq!(db.count("ignored_payment_results").await, 0);

    // Positive control: with no grace the same result is ignored (and marked processed).
    let strict = service_with_unknown_order_grace(db.pool.clone(), std::time::Duration::ZERO).await;
    assert_eq!(
        strict.apply_payment_result("g", &result).await.expect("ok"),
        ApplyOutcome::Ignored {
            reason: "unknown_order"
        }
    );
    assert_eq!(db.count("processed_events").await, 1);
    db.drop_schema().await;
}
