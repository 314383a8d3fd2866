//! Request handlers: extract, call the use case, render. No business rule lives here.

use super::AppState;
use super::dto::{CreateOrderRequest, CreateOrderResponse, OrderResponse};
use super::error::{ApiError, Problem, invalid_field};
use super::extract::{JsonBody, OrderIdPath, idempotency_key};
use super::trace_context::traceparent_or_new;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use eventing::trace_context::trace_id;
use std::sync::Arc;
use tracing::Instrument;
use utoipa::IntoParams;

/// The optional headers of `POST /orders`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(super) struct CreateOrderHeaders {
    /// Makes retries safe: 1–255 visible ASCII characters (`!` to `~`). A retry with the same
    /// key and request within the key retention (default 24 hours) returns the first response;
    /// the same key with another request is `409 idempotency_key_reused`; after the retention
    /// the same key creates a new order.
    #[param(
        rename = "Idempotency-Key",
        required = false,
        min_length = 1,
        max_length = 255,
        pattern = r"^[!-~]+$"
    )]
    idempotency_key: String,
    /// W3C trace context (`00-<32 hex>-<16 hex>-<2 hex>`); any other value, or none, starts a
    /// new trace. Never rejected.
    #[param(rename = "traceparent", required = false)]
    traceparent: String,
}

/// Place an order.
///
/// Stores the order and its `OrderCreated` outbox event in one transaction. With an
/// `Idempotency-Key`, a retry of the same request returns the first response (same status and
/// body, header `Idempotent-Replayed: true`); the same key with a different request is a 409.
/// Keys are kept for `--idempotency-key-retention-hours` (default 24): after that a retry with
/// the same key creates a new order. Every error is `application/problem+json` (RFC 9457) with
/// the extension members `code` and `field`.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    request_body(content = CreateOrderRequest, content_type = "application/json",
        description = "UTF-8 JSON (`Content-Type: application/json` or `application/*+json`; a `charset` other than `utf-8` is a 415), at most `--max-body-bytes` (default 64 KiB)"),
    params(CreateOrderHeaders),
    responses(
        (status = 201, description = "Order created (or replayed)", body = CreateOrderResponse,
            headers(("Location" = String, description = "/orders/{order_id}"),
                    ("traceparent" = String, description = "Trace context stored with the outbox event"),
                    ("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same Idempotency-Key"))),
        (status = 400, description = "`malformed_json`, `unreadable_body`, or an invalid `Idempotency-Key` (`invalid_header`)", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "`body_read_timeout`: the body did not arrive within `--http-body-read-timeout`; the connection is closed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_key_reused`: the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: body over `--max-body-bytes`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type` (not JSON) or `unsupported_charset` (not UTF-8)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid field, named in `field`: `missing_field`, `unknown_field`, `invalid_type`, `empty`, `too_long`, `invalid_characters`, `unknown_currency`, `too_many_items`, `out_of_range`, `invalid_decimal`, `too_many_decimal_places`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal_error` (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: database or schema registry unavailable; nothing stored, retry", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait: 1")))
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
    params(("id" = uuid::Uuid, Path, description = "Order id: a UUID in its hyphenated form")),
    responses(
        (status = 200, description = "The order", body = OrderResponse),
        (status = 400, description = "`invalid_order_id`: the id is not a hyphenated UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal_error` (logged)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: database unavailable, retry", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait: 1")))
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
              (status = 503, description = "`not_ready`: `detail` says which dependency is down", body = Problem, content_type = "application/problem+json",
                  headers(("Retry-After" = String, description = "Seconds to wait: 1")))))]
#[allow(dead_code)]
pub(super) fn readyz_doc() {}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[allow(dead_code)]
pub(super) fn metrics_doc() {}
