//! The HTTP API against the real Postgres and schema registry (router driven in-process).

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use support::*;

#[tokio::test]
async fn post_creates_order_and_get_shows_it_with_history() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let created = send(
        &app,
        post_json(
            "/orders",
            order_json("c-get").to_string(),
            &[("traceparent", traceparent)],
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["total_amount"], "40.48");
    assert_eq!(created.body["status"], "PENDING_PAYMENT");
    let id = created.body["order_id"]
        .as_str()
        .expect("order id")
        .to_string();
    assert_eq!(
        created.headers["location"],
        format!("/orders/{id}").as_str()
    );
    assert_eq!(created.headers["traceparent"], traceparent);

    let fetched = send(&app, get(&format!("/orders/{id}"))).await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    assert_eq!(fetched.body["status"], "PENDING_PAYMENT");
    assert_eq!(fetched.body["total_amount"], "40.48");
    assert_eq!(fetched.body["items"][0]["line_total"], "39.98");
    assert_eq!(fetched.body["items"][1]["unit_price"], "0.50");
    let history = fetched.body["status_history"].as_array().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["from_status"], Value::Null);
    assert_eq!(history[0]["to_status"], "PENDING_PAYMENT");
    assert!(fetched.body["created_at"].is_string() && fetched.body["updated_at"].is_string());

    let missing = send(&app, get(&format!("/orders/{}", uuid::Uuid::new_v4()))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["code"], "order_not_found");
    db.drop_schema().await;
}

#[tokio::test]
async fn idempotency_key_replays_first_response_and_rejects_other_body() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let body = order_json("c-idem");
    let first = send(
        &app,
        post_json("/orders", body.to_string(), &[("idempotency-key", &key)]),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);

    // Same request, written differently ("19.990" is the same price): the first response again.
    let mut same = body.clone();
    same["items"][0]["unit_price"] = json!("19.990");
    let retry = send(
        &app,
        post_json("/orders", same.to_string(), &[("idempotency-key", &key)]),
    )
    .await;
    assert_eq!(retry.status, first.status);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(
        db.count("orders").await,
        1,
        "a retry must not create a second order"
    );

    let mut other = body.clone();
    other["items"][0]["quantity"] = json!(3);
    let reused = send(
        &app,
        post_json("/orders", other.to_string(), &[("idempotency-key", &key)]),
    )
    .await;
    assert_eq!(reused.status, StatusCode::CONFLICT);
    assert_eq!(reused.body["code"], "idempotency_key_reused");
    assert_eq!(reused.body["field"], "Idempotency-Key");
    assert_eq!(db.count("orders").await, 1);
    assert_eq!(db.count("idempotency_keys").await, 1);
    db.drop_schema().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_create_one_order() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let body = order_json("c-race").to_string();
    let replies = futures::future::join_all((0..6).map(|_| {
        send(
            &app,
            post_json("/orders", body.clone(), &[("idempotency-key", &key)]),
        )
    }))
    .await;
    let ids: BTreeSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            r.body["order_id"].as_str().expect("id").to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(db.count("orders").await, 1);
    db.drop_schema().await;
}

#[tokio::test]
async fn amounts_are_stored_exactly_in_the_currency_minor_unit() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    // (currency, unit price sent, quantity, unit price shown, total shown, stored numeric(19,4))
    let cases = [
        ("EUR", "1.00000", 3, "1.00", "3.00", "1.0000"),
        ("EUR", "19.990", 2, "19.99", "39.98", "19.9900"),
        ("JPY", "1500", 2, "1500", "3000", "1500.0000"),
        ("JPY", "7.000", 1, "7", "7", "7.0000"),
        ("KWD", "0.125", 4, "0.125", "0.500", "0.1250"),
        ("CLF", "0.0001", 1, "0.0001", "0.0001", "0.0001"),
    ];
    for (currency, sent, quantity, shown, total, stored) in cases {
        let body = json!({"customer_id": "c-exact", "currency": currency,
            "items": [{"sku": "S", "quantity": quantity, "unit_price": sent}]});
        let created = send(&app, post_json("/orders", body.to_string(), &[])).await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{sent}: {}",
            created.text
        );
        assert_eq!(created.body["total_amount"], total, "{currency} {sent}");
        let id = created.body["order_id"].as_str().expect("id").to_string();
        let fetched = send(&app, get(&format!("/orders/{id}"))).await;
        assert_eq!(
            fetched.body["items"][0]["unit_price"], shown,
            "{currency} {sent}"
        );
        assert_eq!(fetched.body["total_amount"], total, "{currency} {sent}");
        let row = db
            .client
            .query_one(
                "SELECT unit_price::text FROM order_items WHERE order_id = $1",
                &[&uuid::Uuid::parse_str(&id).expect("uuid")],
            )
            .await
            .expect("the line is stored");
        assert_eq!(row.get::<_, String>(0), stored, "{currency} {sent}");
    }
    // JSON Schema's integer includes 2.0 and 20e-1: so does the server.
    let body = r#"{"customer_id":"c","currency":"EUR","items":[{"sku":"S","quantity":20e-1,"unit_price":"1.50"}]}"#;
    let created = send(&app, post_json("/orders", body, &[])).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["total_amount"], "3.00");
    db.drop_schema().await;
}

/// An RFC 9457 problem: its media type and members.
fn assert_problem(reply: &Reply, status: u16) {
    assert_eq!(
        reply.headers["content-type"], "application/problem+json",
        "{}",
        reply.text
    );
    assert_eq!(reply.body["type"], "about:blank", "{}", reply.text);
    assert_eq!(reply.body["status"], status, "{}", reply.text);
    assert!(reply.body["title"].is_string(), "{}", reply.text);
    assert!(
        reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        reply.text
    );
    assert!(reply.body["code"].is_string(), "{}", reply.text);
    assert!(
        reply.body.get("field").is_some(),
        "field is present (null when not about one field): {}",
        reply.text
    );
}

/// (case, body, content type, expected status, expected code, expected field)
type BadInputCase<'a> = (&'a str, String, &'a str, u16, &'a str, Option<&'a str>);

fn with(mutate: impl FnOnce(&mut Value)) -> String {
    let mut body = order_json("c-bad");
    mutate(&mut body);
    body.to_string()
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx_naming_the_field_and_writes_nothing() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    let long = "x".repeat(65);
    let many_items: Vec<Value> = (0..101)
        .map(|i| json!({"sku": format!("s{i}"), "quantity": 1, "unit_price": "1"}))
        .collect();
    let huge = format!(
        r#"{{"customer_id":"{}","currency":"EUR","items":[]}}"#,
        "x".repeat(70 * 1024)
    );
    // (case, body, content type, expected status, expected code, expected field)
    let cases: Vec<BadInputCase<'_>> = vec![
        (
            "malformed json",
            "{\"customer_id\": ".into(),
            "application/json",
            400,
            "malformed_json",
            None,
        ),
        (
            "not json at all",
            "hello".into(),
            "application/json",
            400,
            "malformed_json",
            None,
        ),
        (
            "trailing garbage",
            format!("{} x", order_json("c")),
            "application/json",
            400,
            "malformed_json",
            None,
        ),
        (
            "empty body",
            String::new(),
            "application/json",
            400,
            "malformed_json",
            None,
        ),
        (
            "array instead of object",
            "[]".into(),
            "application/json",
            422,
            "invalid_type",
            None,
        ),
        (
            "quantity as string",
            with(|b| b["items"][0]["quantity"] = json!("2")),
            "application/json",
            422,
            "invalid_type",
            Some("items[0].quantity"),
        ),
        (
            "quantity fractional",
            with(|b| b["items"][0]["quantity"] = json!(1.5)),
            "application/json",
            422,
            "invalid_type",
            Some("items[0].quantity"),
        ),
        (
            "quantity beyond i64",
            with(|b| b["items"][1]["quantity"] = json!(1e30)),
            "application/json",
            422,
            "out_of_range",
            Some("items[1].quantity"),
        ),
        (
            "price as number",
            with(|b| b["items"][0]["unit_price"] = json!(19.99)),
            "application/json",
            422,
            "invalid_type",
            Some("items[0].unit_price"),
        ),
        (
            "customer as number",
            with(|b| b["customer_id"] = json!(5)),
            "application/json",
            422,
            "invalid_type",
            Some("customer_id"),
        ),
        (
            "items null",
            with(|b| b["items"] = Value::Null),
            "application/json",
            422,
            "invalid_type",
            Some("items"),
        ),
        (
            "unknown top-level field",
            with(|b| b["coupon"] = json!("FREE")),
            "application/json",
            422,
            "unknown_field",
            Some("coupon"),
        ),
        (
            "unknown item field",
            with(|b| b["items"][0]["colour"] = json!("red")),
            "application/json",
            422,
            "unknown_field",
            Some("items[0].colour"),
        ),
        (
            "missing currency",
            with(|b| {
                b.as_object_mut().map(|o| o.remove("currency"));
            }),
            "application/json",
            422,
            "missing_field",
            Some("currency"),
        ),
        (
            "missing sku",
            with(|b| {
                b["items"][1].as_object_mut().map(|o| o.remove("sku"));
            }),
            "application/json",
            422,
            "missing_field",
            Some("items[1].sku"),
        ),
        (
            "unknown currency",
            with(|b| b["currency"] = json!("ABC")),
            "application/json",
            422,
            "unknown_currency",
            Some("currency"),
        ),
        (
            "lower-case currency",
            with(|b| b["currency"] = json!("eur")),
            "application/json",
            422,
            "unknown_currency",
            Some("currency"),
        ),
        (
            "zero quantity",
            with(|b| b["items"][0]["quantity"] = json!(0)),
            "application/json",
            422,
            "out_of_range",
            Some("items[0].quantity"),
        ),
        (
            "negative quantity",
            with(|b| b["items"][1]["quantity"] = json!(-3)),
            "application/json",
            422,
            "out_of_range",
            Some("items[1].quantity"),
        ),
        (
            "absurd quantity",
            with(|b| b["items"][0]["quantity"] = json!(10_001)),
            "application/json",
            422,
            "out_of_range",
            Some("items[0].quantity"),
        ),
        (
            "zero price",
            with(|b| b["items"][0]["unit_price"] = json!("0")),
            "application/json",
            422,
            "out_of_range",
            Some("items[0].unit_price"),
        ),
        (
            "negative price",
            with(|b| b["items"][0]["unit_price"] = json!("-1.00")),
            "application/json",
            422,
            "out_of_range",
            Some("items[0].unit_price"),
        ),
        (
            "absurd price",
            with(|b| b["items"][0]["unit_price"] = json!("1000000.01")),
            "application/json",
            422,
            "out_of_range",
            Some("items[0].unit_price"),
        ),
        (
            "five decimals",
            with(|b| b["items"][0]["unit_price"] = json!("1.00001")),
            "application/json",
            422,
            "too_many_decimal_places",
            Some("items[0].unit_price"),
        ),
        (
            "more digits than a decimal holds (was rounded to 0.0001)",
            with(|b| b["items"][0]["unit_price"] = json!("0.00009999999999999999999999999999")),
            "application/json",
            422,
            "too_many_decimal_places",
            Some("items[0].unit_price"),
        ),
        (
            "three decimals in EUR",
            with(|b| b["items"][1]["unit_price"] = json!("0.505")),
            "application/json",
            422,
            "too_many_decimal_places",
            Some("items[1].unit_price"),
        ),
        (
            "decimals in JPY",
            with(|b| {
                b["currency"] = json!("JPY");
                b["items"][0]["unit_price"] = json!("1500.5");
            }),
            "application/json",
            422,
            "too_many_decimal_places",
            Some("items[0].unit_price"),
        ),
        (
            "leading zero",
            with(|b| b["items"][0]["unit_price"] = json!("019.99")),
            "application/json",
            422,
            "invalid_decimal",
            Some("items[0].unit_price"),
        ),
        (
            "price not a number",
            with(|b| b["items"][0]["unit_price"] = json!("ten")),
            "application/json",
            422,
            "invalid_decimal",
            Some("items[0].unit_price"),
        ),
        (
            "price with exponent",
            with(|b| b["items"][0]["unit_price"] = json!("1e3")),
            "application/json",
            422,
            "invalid_decimal",
            Some("items[0].unit_price"),
        ),
        (
            "empty items",
            with(|b| b["items"] = json!([])),
            "application/json",
            422,
            "empty",
            Some("items"),
        ),
        (
            "too many items",
            with(|b| b["items"] = json!(many_items)),
            "application/json",
            422,
            "too_many_items",
            Some("items"),
        ),
        (
            "empty customer",
            with(|b| b["customer_id"] = json!("")),
            "application/json",
            422,
            "empty",
            Some("customer_id"),
        ),
        (
            "blank customer",
            with(|b| b["customer_id"] = json!("   ")),
            "application/json",
            422,
            "empty",
            Some("customer_id"),
        ),
        (
            "long customer",
            with(|b| b["customer_id"] = json!(long)),
            "application/json",
            422,
            "too_long",
            Some("customer_id"),
        ),
        (
            "empty sku",
            with(|b| b["items"][0]["sku"] = json!("")),
            "application/json",
            422,
            "empty",
            Some("items[0].sku"),
        ),
        (
            "long sku",
            with(|b| b["items"][1]["sku"] = json!(long)),
            "application/json",
            422,
            "too_long",
            Some("items[1].sku"),
        ),
        (
            "control character",
            with(|b| b["items"][0]["sku"] = json!("a\u{7}b")),
            "application/json",
            422,
            "invalid_characters",
            Some("items[0].sku"),
        ),
        (
            "body over 64 KiB",
            huge,
            "application/json",
            413,
            "payload_too_large",
            None,
        ),
        (
            "text/plain",
            order_json("c").to_string(),
            "text/plain",
            415,
            "unsupported_media_type",
            Some("Content-Type"),
        ),
        (
            "form",
            "a=b".into(),
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
            Some("Content-Type"),
        ),
        (
            "UTF-16 declared (would be misread as UTF-8)",
            order_json("c").to_string(),
            "application/json; charset=utf-16",
            415,
            "unsupported_charset",
            Some("Content-Type"),
        ),
    ];
    for (case, body, content_type, status, code, field) in cases {
        let request = Request::post("/orders")
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("valid request");
        let reply = send(&app, request).await;
        assert_eq!(reply.status.as_u16(), status, "{case}: {}", reply.text);
        assert_problem(&reply, status);
        assert_eq!(reply.body["code"], code, "{case}: {}", reply.text);
        assert_eq!(
            reply.body["field"].as_str(),
            field,
            "{case}: {}",
            reply.text
        );
        assert!(
            reply.body["detail"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}"
        );
    }
    let no_content_type = Request::post("/orders")
        .body(Body::from(order_json("c").to_string()))
        .expect("valid");
    assert_eq!(
        send(&app, no_content_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let bad_key = send(
        &app,
        post_json(
            "/orders",
            order_json("c").to_string(),
            &[("idempotency-key", "")],
        ),
    )
    .await;
    assert_eq!(
        (bad_key.status, bad_key.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Idempotency-Key"))
    );

    for path in [
        "/orders/not-a-uuid",
        "/orders/123",
        "/orders/%00%ff",
        "/orders/01a2109a-1396-7347-ab34-5256536c169",
        "/orders/01a2109a13967347ab345256536c1690",
        "/orders/%7B01a2109a-1396-7347-ab34-5256536c1690%7D",
        "/orders/urn:uuid:01a2109a-1396-7347-ab34-5256536c1690",
    ] {
        let reply = send(&app, get(path)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.text
        );
        assert_eq!(reply.body["code"], "invalid_order_id", "{path}");
        assert_eq!(reply.body["field"], "id", "{path}");
    }
    let unknown_route = send(&app, get("/nope")).await;
    assert_problem(&unknown_route, 404);
    assert_eq!(
        (unknown_route.status, unknown_route.body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("route_not_found"))
    );
    let wrong_method = send(
        &app,
        Request::delete("/orders")
            .body(Body::empty())
            .expect("valid"),
    )
    .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_problem(&wrong_method, 405);
    assert_eq!(wrong_method.body["code"], "method_not_allowed");
    assert_eq!(
        wrong_method
            .headers
            .get("allow")
            .map(|v| v.to_str().unwrap_or("")),
        Some("POST"),
        "a 405 says which methods the route has"
    );

    for table in [
        "orders",
        "order_items",
        "order_status_history",
        "idempotency_keys",
    ] {
        assert_eq!(
            db.count(table).await,
            0,
            "nothing may be written to {table}"
        );
    }
    db.drop_schema().await;
}

#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    let doc = send(&app, get("/openapi.json")).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let documented: BTreeSet<(String, String)> = doc.body["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/orders"),
        ("GET", "/orders/{id}"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(
        documented, served,
        "the document lists exactly the served routes"
    );
    // Every documented route is really routed (not the JSON fallback, not 405).
    for (method, path) in &documented {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(&concrete)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .expect("valid request");
        let reply = send(&app, request).await;
        assert_ne!(reply.body["code"], "route_not_found", "{method} {path}");
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
    }
    db.drop_schema().await;
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let db = TestDb::new().await;
    let app = app_for(service_on(db.pool.clone()).await);
    assert_eq!(send(&app, get("/healthz")).await.status, StatusCode::OK);
    let ready = send(&app, get("/readyz")).await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    let created = send(
        &app,
        post_json("/orders", order_json("c-metrics").to_string(), &[]),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let metrics = send(&app, get("/metrics")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains("order_producer_orders_created_total"),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("order_producer_http_requests_total"),
        "{}",
        metrics.text
    );
    db.drop_schema().await;
}

fn pg_host_port(url: &str) -> String {
    let after_at = url.rsplit_once('@').map_or(url, |(_, rest)| rest);
    after_at.split('/').next().expect("host:port").to_string()
}

#[tokio::test]
async fn database_outage_gives_503_json_and_the_service_recovers_by_itself() {
    let db = TestDb::new().await;
    let mut proxy = CuttableProxy::start(&pg_host_port(&database_url())).await;
    let url = database_url().replacen(
        &pg_host_port(&database_url()),
        &format!("127.0.0.1:{}", proxy.port),
        1,
    );
    let pool = TestDb::pool_for(&url, &db.schema, Duration::from_millis(1500));
    let app = app_for(service_on(pool).await);
    let before = send(
        &app,
        post_json("/orders", order_json("c-outage").to_string(), &[]),
    )
    .await;
    assert_eq!(before.status, StatusCode::CREATED, "{}", before.text);

    proxy.cut();
    let down = send(
        &app,
        post_json("/orders", order_json("c-outage").to_string(), &[]),
    )
    .await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.text
    );
    assert_problem(&down, 503);
    assert_eq!(down.body["code"], "service_unavailable");
    assert!(down.headers.contains_key("retry-after"));
    let unready = send(&app, get("/readyz")).await;
    assert_eq!(unready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_problem(&unready, 503);
    assert_eq!(unready.body["code"], "not_ready");
    let get_down = send(
        &app,
        get(&format!(
            "/orders/{}",
            before.body["order_id"].as_str().expect("id")
        )),
    )
    .await;
    assert_eq!(get_down.status, StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore().await;
    poll_until(
        "POST /orders to succeed again",
        Duration::from_secs(30),
        || async {
            let reply = send(
                &app,
                post_json("/orders", order_json("c-outage").to_string(), &[]),
            )
            .await;
            (reply.status == StatusCode::CREATED).then_some(())
        },
    )
    .await;
    assert_eq!(send(&app, get("/readyz")).await.status, StatusCode::OK);
    assert_eq!(
        db.count("orders").await,
        2,
        "the request during the outage stored nothing"
    );
    proxy.cut();
    db.drop_schema().await;
}
