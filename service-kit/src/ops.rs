//! The operational HTTP surface every service exposes: `/healthz` (process alive), `/readyz`
//! (dependencies reachable, from a service-specific check; when not, a 503 problem
//! `not_ready` whose `detail` says why) and `/metrics` (Prometheus text).

use crate::http::ApiError;
use axum::response::Response;
use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use futures::future::BoxFuture;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// A readiness probe: `Ok` when the service can do its work, `Err(reason)` otherwise.
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Bucket bounds (seconds) of every histogram: fine below 10 ms, where our latency goals are,
/// so p50/p99/p99.9 can be read off the buckets of one run.
pub const LATENCY_BUCKETS_SECONDS: [f64; 23] = [
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.006, 0.0075, 0.01, 0.0125, 0.015, 0.02,
    0.025, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The service name that prefixes the metrics this crate records for every service (the HTTP
/// server's), set by the first [`install_metrics`].
static SERVICE: OnceLock<&'static str> = OnceLock::new();

/// `<service>_<thing>`: the name of a metric this crate records on behalf of the service that
/// installed the recorder (`service` until one did, e.g. in this crate's own tests).
pub(crate) fn service_metric(thing: &str) -> String {
    format!("{}_{thing}", SERVICE.get().copied().unwrap_or("service"))
}

/// The process-wide Prometheus recorder (installed on first call) for `service` (snake case,
/// e.g. `order_producer`: the prefix of the metrics shared code records, as
/// `order_producer_http_open_connections`). Histograms are exported as Prometheus histograms
/// with [`LATENCY_BUCKETS_SECONDS`], so they aggregate across instances.
pub fn install_metrics(service: &'static str) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    let _ = SERVICE.set(service);
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS_SECONDS)
                .expect("the bucket list is a non-empty constant")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); the handle still renders ours.
            let _ = metrics::set_global_recorder(recorder);
            crate::server::describe_metrics();
            handle
        })
        .clone()
}

/// Ready when every check is (asked in order; the first failure is the reason).
pub fn all_ready(checks: Vec<ReadinessCheck>) -> ReadinessCheck {
    let checks: Arc<[ReadinessCheck]> = checks.into();
    Arc::new(move || {
        let checks = Arc::clone(&checks);
        Box::pin(async move {
            for check in checks.iter() {
                check().await?;
            }
            Ok(())
        })
    })
}

#[derive(Clone)]
struct OpsState {
    metrics: PrometheusHandle,
    readiness: ReadinessCheck,
}

/// Router with `/healthz`, `/readyz` and `/metrics`; merge it into a service's own router.
pub fn ops_router(metrics: PrometheusHandle, readiness: ReadinessCheck) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(OpsState { metrics, readiness })
}

async fn readyz(State(state): State<OpsState>) -> Response {
    match (state.readiness)().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))).into_response(),
        Err(reason) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("not ready: {reason}"),
            None,
        )
        .into_response(),
    }
}

async fn render_metrics(State(state): State<OpsState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(answer: Result<(), &'static str>) -> ReadinessCheck {
        Arc::new(move || Box::pin(async move { answer.map_err(str::to_string) }))
    }

    #[tokio::test]
    async fn all_ready_needs_every_check_and_names_the_first_failure() {
        assert_eq!(
            all_ready(vec![check(Ok(())), check(Ok(()))])().await,
            Ok(())
        );
        assert_eq!(
            all_ready(vec![
                check(Ok(())),
                check(Err("registry")),
                check(Err("db"))
            ])()
            .await,
            Err("registry".to_string())
        );
        assert_eq!(all_ready(Vec::new())().await, Ok(()));
    }
}
