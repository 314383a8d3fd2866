//! The one place that uses the workspace's shared service runtime (logs, shutdown token,
//! `/healthz` `/readyz` `/metrics`), so moving that runtime to another crate is a change here.

pub use service_kit::{
    HttpServerArgs, LogArgs, ReadinessCheck, install_metrics, ops_router, redact_url, serve,
    shutdown_token,
};

use crate::application::{GatewayService, Ledger};
use crate::infrastructure::http::{AppState, router};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

/// Ready when the ledger database answers.
pub fn ledger_readiness<L: Ledger>(service: Arc<GatewayService<L>>) -> ReadinessCheck {
    Arc::new(move || {
        let service = Arc::clone(&service);
        Box::pin(async move {
            service
                .ping()
                .await
                .map_err(|e| format!("gateway database: {e}"))
        })
    })
}

/// The whole HTTP surface: the API plus `/healthz`, `/readyz` and `/metrics`.
pub fn app(state: AppState, metrics: PrometheusHandle) -> Router {
    let readiness = ledger_readiness(Arc::clone(&state.service));
    router(state).merge(ops_router(metrics, readiness))
}
