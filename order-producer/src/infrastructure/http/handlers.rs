//! Request handlers: extract, call the use case, render. No business rule lives here.

use super::AppState;
use super::dto::{CreateOrderRequest, CreateOrderResponse, OrderResponse};
use super::error::{ApiError, ErrorBody, invalid_field};
use super::extract::{JsonBody, OrderIdPath, idempotency_key};
use super::trace_context::traceparent_or_new;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use eventing::trace_context::trace_id;
use std::sync::Arc;
use tracing::Instrument;

/// Place an order.
///
/// Stores the order and its `OrderCreated` outbox event in one transaction. With an
/// `Idempotency-Key`, a retry of the same request returns the first response (same status and
/// body, header `Idempotent-Replayed: true`); the same key with a different request is a 422.
/// Keys are kept for `--idempotency-key-retention-hours` (default 24): after that a retry with
/// the same key creates a new order.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    request_body(content = CreateOrderRequest, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters; makes retries safe for the key retention (default 24 hours), after which the same key creates a new order"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context; generated when absent or invalid")
    ),
    responses(
        (status = 201, description = "Order created (or replayed)", body = CreateOrderResponse,
            headers(("Location" = String, description = "/orders/{order_id}"),
                    ("traceparent" = String, description = "Trace context stored with the outbox event"))),
        (status = 400, description = "Malformed JSON or header", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "Content-Type is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field, or Idempotency-Key reused with another request", body = ErrorBody),
        (status = 503, description = "Database unavailable; nothing stored, retry", body = ErrorBody)
    )
)]
pub(super) async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<CreateOrderRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let traceparent = traceparent_or_new(
        headers
            .get("traceparent")
            .and_then(|value| value.to_str().ok()),
    );
    let command = request.into_command().map_err(invalid_field)?;
    let span = tracing::info_span!(
        "create_order",
        trace_id = trace_id(traceparent.as_bytes()).unwrap_or_default()
    );
    let outcome = state
        .service
        .place_order(command, key.as_deref(), &traceparent)
        .instrument(span.clone())
        .await?;
    span.in_scope(|| {
        tracing::debug!(
            order_id = %outcome.order.order_id,
            replayed = outcome.replayed,
            "order placed"
        );
    });
    let body = CreateOrderResponse::from(&outcome.order);
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    let response_headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/orders/{}", outcome.order.order_id)) {
        response_headers.insert(header::LOCATION, location);
    }
    if let Ok(value) = HeaderValue::from_str(&traceparent) {
        response_headers.insert("traceparent", value);
    }
    if outcome.replayed {
        response_headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// An order with its lines, amounts, timestamps and status history.
#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = OrderResponse),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody)
    )
)]
pub(super) async fn get_order(
    State(state): State<AppState>,
    OrderIdPath(order_id): OrderIdPath,
) -> Result<Json<OrderResponse>, ApiError> {
    let view = state.service.get_order(order_id).await?;
    Ok(Json(OrderResponse::from(view)))
}

/// This document (OpenAPI 3).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json"))
)]
pub(super) async fn openapi_json(
    Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json((*doc).clone())
}

// The ops routes come from `service_kit::ops_router`; these functions only document them.

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", content_type = "application/json")))]
#[allow(dead_code)]
pub(super) fn healthz_doc() {}

/// Readiness: the database is reachable.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "`{\"status\":\"ready\"}`", content_type = "application/json"),
              (status = 503, description = "`{\"status\":\"not_ready\",\"reason\":...}`", content_type = "application/json")))]
#[allow(dead_code)]
pub(super) fn readyz_doc() {}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[allow(dead_code)]
pub(super) fn metrics_doc() {}
