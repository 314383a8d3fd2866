//! The HTTP adapter (axum 0.8):
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/charges` | charge once per `Idempotency-Key` (201 / 402 / 409 / 503) |
//! | `GET /v1/ledger?order_id=` or `?idempotency_key=` | ledger rows |
//! | `GET /v1/ledger/summary` | counts, incl. orders charged more than once |
//! | `GET`/`PATCH /admin/behaviour` | read / change latency, fault rates, outage |
//!
//! Every error is an RFC 9457 [`error::Problem`] (`application/problem+json`; the type and
//! JSON-body reading are `service_kit::http`'s, shared with the other services); a panic in a
//! handler becomes a problem 500. The operational routes (`/healthz`, `/readyz`, `/metrics`)
//! are merged in by `main.rs`.

pub mod dto;
pub mod error;
pub mod extract;
pub mod handlers;

use crate::application::GatewayService;
use crate::infrastructure::postgres::PgLedger;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::any::Any;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;

pub use handlers::IDEMPOTENT_REPLAYED;

/// Largest accepted request body: charges and patches are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: Arc<GatewayService<PgLedger>>,
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error::ApiError::internal().into_response()
}

/// The API router (without the operational routes).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/charges", post(handlers::create_charge))
        .route("/v1/ledger", get(handlers::ledger))
        .route("/v1/ledger/summary", get(handlers::ledger_summary))
        .route(
            "/admin/behaviour",
            get(handlers::get_behaviour).patch(handlers::patch_behaviour),
        )
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}
