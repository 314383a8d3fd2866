//! The admin endpoint, the ledger queries and the operational routes over HTTP against the
//! real gateway database (`make up`).

mod support;

use serde_json::json;
use support::{charge_body, start_gateway, start_gateway_without_database, unique_key};
use uuid::Uuid;

#[tokio::test]
async fn behaviour_is_read_and_patched_partially() {
    let gateway = start_gateway().await;
    let initial = gateway
        .send(gateway.http.get(gateway.url("/admin/behaviour")))
        .await;
    assert_eq!(initial.status, 200);
    assert_eq!(
        initial.body,
        json!({"latency": "0s", "jitter": "0s", "transient_failure_rate": 0.0,
               "timeout_rate": 0.0, "timeout_delay": "30s", "decline_rate": 0.0, "outage": false})
    );

    let patched = gateway
        .patch_behaviour(json!({"latency": "20ms", "jitter": "5ms", "decline_rate": 0.05}))
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["latency"], "20ms");
    assert_eq!(patched.body["jitter"], "5ms");
    assert_eq!(patched.body["decline_rate"], 0.05);
    assert_eq!(patched.body["timeout_delay"], "30s");

    let read_back = gateway
        .send(gateway.http.get(gateway.url("/admin/behaviour")))
        .await;
    assert_eq!(read_back.body, patched.body);
}

#[tokio::test]
async fn bad_patches_are_400_naming_the_field_and_change_nothing() {
    let gateway = start_gateway().await;
    for (patch, field) in [
        (json!({"timeout_rate": 1.5}), "timeout_rate"),
        (json!({"decline_rate": -0.1}), "decline_rate"),
        (json!({"latency": "soon"}), "latency"),
        (json!({"outage": true, "latncy": "1ms"}), "latncy"),
    ] {
        let answer = gateway.patch_behaviour(patch.clone()).await;
        assert_eq!(answer.status, 400, "{patch}: {:?}", answer.body);
        assert_eq!(answer.body["field"], field, "{patch}");
    }
    let current = gateway
        .send(gateway.http.get(gateway.url("/admin/behaviour")))
        .await;
    assert_eq!(current.body["outage"], false);
    assert_eq!(current.body["timeout_rate"], 0.0);
}

#[tokio::test]
async fn the_summary_counts_the_ledger() {
    let gateway = start_gateway().await;
    let key = unique_key();
    let body = charge_body(Uuid::new_v4(), "cust-summary", "3.00");
    assert_eq!(gateway.charge(&key, &body).await.status, 201);
    assert_eq!(gateway.charge(&key, &body).await.status, 201);

    let summary = gateway
        .send(gateway.http.get(gateway.url("/v1/ledger/summary")))
        .await;
    assert_eq!(summary.status, 200, "{:?}", summary.body);
    let count = |name: &str| {
        summary.body[name]
            .as_i64()
            .unwrap_or_else(|| panic!("{name} is a number: {:?}", summary.body))
    };
    // The database is shared with other tests: check relations, not exact numbers.
    assert!(count("charges") >= 1);
    assert_eq!(count("charges"), count("succeeded") + count("declined"));
    assert!(count("orders_charged") >= 1);
    assert!(count("orders_charged") <= count("succeeded"));
    assert!(count("replays") >= 1);
    assert!(count("orders_charged_more_than_once") >= 0);
}

#[tokio::test]
async fn ledger_queries_validate_their_parameters() {
    let gateway = start_gateway().await;
    for query in [
        "",
        "?order_id=nope",
        "?order_id=a&idempotency_key=b",
        "?colour=red",
    ] {
        let answer = gateway
            .send(gateway.http.get(gateway.url(&format!("/v1/ledger{query}"))))
            .await;
        assert_eq!(answer.status, 400, "{query}: {:?}", answer.body);
        assert!(answer.body["code"].is_string());
    }
    let unknown = gateway
        .send(gateway.http.get(gateway.url("/v2/nothing")))
        .await;
    assert_eq!(unknown.status, 404);
    let wrong_method = gateway
        .send(gateway.http.delete(gateway.url("/v1/charges")))
        .await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let gateway = start_gateway().await;
    let ready = gateway.send(gateway.http.get(gateway.url("/readyz"))).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(
        gateway
            .send(gateway.http.get(gateway.url("/healthz")))
            .await
            .status,
        200
    );

    let body = charge_body(Uuid::new_v4(), "cust-metrics", "1.00");
    assert_eq!(gateway.charge(&unique_key(), &body).await.status, 201);
    let metrics = gateway
        .http
        .get(gateway.url("/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("payment_gateway_sim_charges_total{outcome=\"succeeded\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("payment_gateway_sim_request_duration_seconds"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unreachable_database_answers_503_json_with_retry_after() {
    let gateway = start_gateway_without_database().await;
    let body = charge_body(Uuid::new_v4(), "cust-db-down", "1.00");
    let answer = gateway.charge(&unique_key(), &body).await;
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert_eq!(answer.body["code"], "ledger_unavailable");
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    let ready = gateway.send(gateway.http.get(gateway.url("/readyz"))).await;
    assert_eq!(ready.status, 503);
    let summary = gateway
        .send(gateway.http.get(gateway.url("/v1/ledger/summary")))
        .await;
    assert_eq!(summary.status, 503);
}
