//! The charge API over HTTP against the real gateway database (`make up`): idempotent replay,
//! key reuse, concurrency, declines, outage switching, timeouts, and input validation.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{charge_body, poll_until, start_gateway, unique_key};
use uuid::Uuid;

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_charge_and_charges_once() {
    let gateway = start_gateway().await;
    let (key, order) = (unique_key(), Uuid::new_v4());
    let body = charge_body(order, "cust-1", "12.50");

    let first = gateway.charge(&key, &body).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["status"], "succeeded");
    assert_eq!(first.body["amount"], "12.50");
    assert_eq!(first.body["currency"], "EUR");
    assert_eq!(first.body["order_id"], order.to_string());
    assert_eq!(first.body["idempotency_key"], key);
    assert_eq!(first.body["replayed"], false);
    assert_eq!(first.replayed_header, None);

    let retry = gateway.charge(&key, &body).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.replayed_header.as_deref(), Some("true"));
    let mut expected = first.body.clone();
    expected["replayed"] = json!(true);
    assert_eq!(retry.body, expected, "the replay must be the first answer");

    let rows = gateway.ledger_of_order(order).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["replays"], 1);
    assert_eq!(rows[0]["customer_id"], "cust-1");
    assert_eq!(rows[0]["decline_code"], Value::Null);

    let by_key = gateway
        .send(
            gateway
                .http
                // Keys made by unique_key() need no URL encoding.
                .get(gateway.url(&format!("/v1/ledger?idempotency_key={key}"))),
        )
        .await;
    assert_eq!(
        by_key.body["charges"][0]["charge_id"],
        first.body["charge_id"]
    );
}

#[tokio::test]
async fn the_same_key_with_another_amount_is_refused_and_charges_nothing_more() {
    let gateway = start_gateway().await;
    let (key, order) = (unique_key(), Uuid::new_v4());
    let first = gateway
        .charge(&key, &charge_body(order, "cust-1", "10.00"))
        .await;
    assert_eq!(first.status, 201);

    let reused = gateway
        .charge(&key, &charge_body(order, "cust-1", "10.01"))
        .await;
    assert_eq!(reused.status, 409, "{:?}", reused.body);
    assert_eq!(
        reused.content_type.as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(reused.body["status"], 409);
    assert_eq!(reused.body["code"], "idempotency_key_reused");
    assert_eq!(reused.body["field"], "Idempotency-Key");

    // The same value written differently is the same charge.
    let same_value = gateway
        .charge(&key, &charge_body(order, "cust-1", "10"))
        .await;
    assert_eq!(same_value.status, 201);
    assert_eq!(same_value.body["amount"], "10.00");

    let rows = gateway.ledger_of_order(order).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_make_exactly_one_ledger_row() {
    let gateway = start_gateway().await;
    let (key, order) = (unique_key(), Uuid::new_v4());
    let body = charge_body(order, "cust-concurrent", "99.99");
    let answers = futures::future::join_all((0..20).map(|_| {
        let (gateway, key, body) = (gateway.clone(), key.clone(), body.clone());
        tokio::spawn(async move { gateway.charge(&key, &body).await })
    }))
    .await;
    let answers: Vec<_> = answers
        .into_iter()
        .map(|a| a.expect("request task finished"))
        .collect();
    let charge_id = &answers[0].body["charge_id"];
    for answer in &answers {
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        assert_eq!(&answer.body["charge_id"], charge_id);
    }
    let fresh = answers
        .iter()
        .filter(|a| a.body["replayed"] == false)
        .count();
    assert_eq!(fresh, 1, "exactly one answer is the original");

    let rows = gateway.ledger_of_order(order).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["replays"], 19);
}

#[tokio::test]
async fn a_test_decline_customer_is_declined_and_the_decline_is_replayed() {
    let gateway = start_gateway().await;
    let (key, order) = (unique_key(), Uuid::new_v4());
    let body = charge_body(order, "test-decline-42", "5.00");
    let first = gateway.charge(&key, &body).await;
    assert_eq!(first.status, 402, "{:?}", first.body);
    assert_eq!(first.body["status"], "declined");
    assert_eq!(first.body["decline_code"], "card_declined");

    let retry = gateway.charge(&key, &body).await;
    assert_eq!(retry.status, 402);
    assert_eq!(retry.body["replayed"], true);
    assert_eq!(retry.body["charge_id"], first.body["charge_id"]);
    assert_eq!(retry.replayed_header.as_deref(), Some("true"));

    let rows = gateway.ledger_of_order(order).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "declined");
    assert_eq!(rows[0]["decline_code"], "card_declined");
}

#[tokio::test]
async fn an_outage_switched_on_at_run_time_records_nothing_until_switched_off() {
    let gateway = start_gateway().await;
    let settings = gateway.patch_behaviour(json!({"outage": true})).await;
    assert_eq!(settings.status, 200, "{:?}", settings.body);
    assert_eq!(settings.body["outage"], true);

    let (key, order) = (unique_key(), Uuid::new_v4());
    let body = charge_body(order, "cust-outage", "1.00");
    let refused = gateway.charge(&key, &body).await;
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "gateway_outage");
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    assert!(gateway.ledger_of_order(order).await.is_empty());

    gateway.patch_behaviour(json!({"outage": false})).await;
    let charged = gateway.charge(&key, &body).await;
    assert_eq!(charged.status, 201, "{:?}", charged.body);
    assert_eq!(charged.body["replayed"], false);
    assert_eq!(gateway.ledger_of_order(order).await.len(), 1);
}

#[tokio::test]
async fn a_test_unavailable_customer_gets_503_and_nothing_is_recorded() {
    let gateway = start_gateway().await;
    let order = Uuid::new_v4();
    let answer = gateway
        .charge(
            &unique_key(),
            &charge_body(order, "test-unavailable", "1.00"),
        )
        .await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.body["code"], "gateway_unavailable");
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    assert!(gateway.ledger_of_order(order).await.is_empty());
}

#[tokio::test]
async fn a_timed_out_charge_is_recorded_and_its_retry_replays_it() {
    let gateway = start_gateway().await;
    let settings = gateway
        .patch_behaviour(json!({"timeout_delay": "2s"}))
        .await;
    assert_eq!(settings.body["timeout_delay"], "2s");

    let (key, order) = (unique_key(), Uuid::new_v4());
    let body = charge_body(order, "test-timeout-1", "7.25");
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("a client");
    let outcome = impatient
        .post(gateway.url("/v1/charges"))
        .header("Idempotency-Key", &key)
        .json(&body)
        .send()
        .await;
    let err = outcome.expect_err("the answer is held longer than the client waits");
    assert!(err.is_timeout(), "{err}");

    let rows = poll_until(
        "the timed-out charge is in the ledger",
        Duration::from_secs(5),
        || {
            let gateway = gateway.clone();
            async move {
                let rows = gateway.ledger_of_order(order).await;
                (!rows.is_empty()).then_some(rows)
            }
        },
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "succeeded");

    let retry = gateway.charge(&key, &body).await;
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert_eq!(retry.body["replayed"], true);
    assert_eq!(retry.body["charge_id"], rows[0]["charge_id"]);
    assert_eq!(gateway.ledger_of_order(order).await.len(), 1);
}

#[tokio::test]
async fn invalid_charges_are_4xx_json_naming_the_field() {
    let gateway = start_gateway().await;
    let order = Uuid::new_v4();
    let valid = charge_body(order, "cust-1", "1.00");
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let cases = [
        (
            with("order_id", json!("not-a-uuid")),
            "order_id",
            "invalid_order_id",
        ),
        (with("amount", json!("0")), "amount", "invalid_amount"),
        (with("amount", json!("-1")), "amount", "invalid_amount"),
        (with("amount", json!("1.00001")), "amount", "invalid_amount"),
        (with("amount", json!("abc")), "amount", "invalid_amount"),
        (with("amount", json!(12.5)), "amount", "invalid_value"),
        (
            with("currency", json!("eur")),
            "currency",
            "invalid_currency",
        ),
        (
            with("customer_id", json!("")),
            "customer_id",
            "invalid_customer_id",
        ),
        (with("colour", json!("red")), "colour", "unknown_field"),
    ];
    for (body, field, code) in cases {
        let answer = gateway.charge(&unique_key(), &body).await;
        assert_eq!(answer.status, 400, "{body}: {:?}", answer.body);
        assert_eq!(answer.body["field"], field, "{body}");
        assert_eq!(answer.body["code"], code, "{body}");
    }

    let missing_key = gateway
        .send(gateway.http.post(gateway.url("/v1/charges")).json(&valid))
        .await;
    assert_eq!(missing_key.status, 400);
    assert_eq!(missing_key.body["field"], "Idempotency-Key");

    let too_long_key = gateway.charge(&"k".repeat(256), &valid).await;
    assert_eq!(too_long_key.status, 400);
    assert_eq!(too_long_key.body["field"], "Idempotency-Key");

    let malformed = gateway
        .send(
            gateway
                .http
                .post(gateway.url("/v1/charges"))
                .header("Idempotency-Key", unique_key())
                .header("Content-Type", "application/json")
                .body(r#"{"order_id": "#),
        )
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["code"], "malformed_json");

    let missing_field = gateway
        .charge(
            &unique_key(),
            &json!({"order_id": order, "customer_id": "c", "currency": "EUR"}),
        )
        .await;
    assert_eq!(missing_field.status, 400);
    assert_eq!(missing_field.body["field"], "amount");

    let not_json = gateway
        .send(
            gateway
                .http
                .post(gateway.url("/v1/charges"))
                .header("Idempotency-Key", unique_key())
                .body("amount=1"),
        )
        .await;
    assert_eq!(not_json.status, 415);

    assert!(
        gateway.ledger_of_order(order).await.is_empty(),
        "nothing invalid was recorded"
    );
}
