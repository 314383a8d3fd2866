//! Route handlers: parse → use case → JSON. No business decisions here.

use super::AppState;
use super::dto::{
    ChargeBody, ChargeResponse, LedgerEntries, LedgerEntry, LedgerQuery, SummaryResponse,
};
use super::error::{ApiError, invalid_field};
use super::extract::JsonBody;
use crate::application::ChargeError;
use crate::domain::{Behaviour, BehaviourPatch, ChargeRequest, IdempotencyKey};
use crate::infrastructure::metrics::{count_charge, observe_request};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use uuid::Uuid;

/// Header set on a replayed answer.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// `POST /v1/charges`.
pub async fn create_charge(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<JsonBody<ChargeBody>, ApiError>,
) -> Response {
    let started = Instant::now();
    let response = match charge(&state, &headers, body).await {
        Ok(response) => response,
        Err((outcome, error)) => {
            count_charge(outcome);
            error.into_response()
        }
    };
    observe_request("charges", started.elapsed());
    response
}

async fn charge(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<JsonBody<ChargeBody>, ApiError>,
) -> Result<Response, (&'static str, ApiError)> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            let err = IdempotencyKey::parse("\u{7f}").expect_err("DEL is not visible ASCII");
            ("invalid", invalid_field(err))
        })?),
    };
    let JsonBody(body) = body.map_err(|e| ("invalid", e))?;
    let request = ChargeRequest::parse(
        key,
        &body.order_id,
        &body.customer_id,
        &body.amount,
        &body.currency,
    )
    .map_err(|e| ("invalid", invalid_field(e)))?;
    let answer = state.service.charge(request).await.map_err(|e| {
        let outcome = match &e {
            ChargeError::Outage => "outage",
            ChargeError::Unavailable => "unavailable",
            ChargeError::KeyReused { .. } => "key_reused",
            ChargeError::Ledger(crate::application::LedgerError::Unavailable(_)) => {
                "ledger_unavailable"
            }
            ChargeError::Ledger(_) => "ledger_failed",
        };
        (outcome, ApiError::from(e))
    })?;
    let status = match answer.record.outcome.decline_code() {
        None => StatusCode::CREATED,
        Some(_) => StatusCode::PAYMENT_REQUIRED,
    };
    count_charge(match (answer.replayed, status) {
        (true, _) => "replayed",
        (false, StatusCode::CREATED) => "succeeded",
        (false, _) => "declined",
    });
    let mut response = (
        status,
        Json(ChargeResponse::new(&answer.record, answer.replayed)),
    )
        .into_response();
    if answer.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// `GET /admin/behaviour`.
pub async fn get_behaviour(State(state): State<AppState>) -> Json<Behaviour> {
    Json(state.service.behaviour().current())
}

/// `PATCH /admin/behaviour`: a partial update, all or nothing.
pub async fn patch_behaviour(
    State(state): State<AppState>,
    body: Result<JsonBody<BehaviourPatch>, ApiError>,
) -> Result<Json<Behaviour>, ApiError> {
    let JsonBody(patch) = body?;
    let next = state
        .service
        .behaviour()
        .update(&patch)
        .map_err(invalid_field)?;
    tracing::info!(behaviour = ?next, "gateway behaviour changed");
    Ok(Json(next))
}

/// `GET /v1/ledger?order_id=…` or `?idempotency_key=…`.
pub async fn ledger(
    State(state): State<AppState>,
    query: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<Json<LedgerEntries>, ApiError> {
    let started = Instant::now();
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!(
                "the query must be `order_id=<uuid>` or `idempotency_key=<key>`: {}",
                rejection.body_text()
            ),
            None,
        )
    })?;
    let records = match (query.order_id, query.idempotency_key) {
        (Some(order_id), None) => {
            let order_id = Uuid::try_parse(&order_id).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_order_id",
                    format!("order_id must be a UUID: {e}"),
                    Some("order_id".into()),
                )
            })?;
            state.service.charges_of_order(order_id).await?
        }
        (None, Some(key)) => {
            let key = IdempotencyKey::parse(&key).map_err(invalid_field)?;
            state
                .service
                .charge_by_key(key.as_str())
                .await?
                .into_iter()
                .collect()
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "give exactly one of `order_id` and `idempotency_key`",
                None,
            ));
        }
    };
    observe_request("ledger", started.elapsed());
    Ok(Json(LedgerEntries {
        charges: records.iter().map(LedgerEntry::from).collect(),
    }))
}

/// `GET /v1/ledger/summary`.
pub async fn ledger_summary(
    State(state): State<AppState>,
) -> Result<Json<SummaryResponse>, ApiError> {
    Ok(Json(state.service.summary().await?.into()))
}

/// Unknown route: 404 JSON.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see the README for the API",
        None,
    )
}

/// Known route, wrong method: 405 JSON.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
        None,
    )
}
