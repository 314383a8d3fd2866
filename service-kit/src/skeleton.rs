//! Flags every binary shares, and the run loop of a service that so far only exposes its
//! operational surface (used by binaries whose business logic has not landed yet).

use super::{
    HttpServerArgs, LogFormat, ReadinessCheck, init_tracing, install_metrics, ops_router, serve,
    shutdown_token,
};
use std::net::SocketAddr;
use std::sync::Arc;

/// Logging flags shared by every binary.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides it.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl LogArgs {
    pub fn init(&self) {
        init_tracing(self.log_format, &self.log_level);
    }
}

/// Serve only /healthz, /readyz (always "not ready": no business logic yet) and /metrics until
/// SIGTERM/SIGINT.
pub async fn run_ops_only(
    service: &'static str,
    addr: SocketAddr,
    http: &HttpServerArgs,
) -> std::io::Result<()> {
    let cancel = shutdown_token();
    let readiness: ReadinessCheck = Arc::new(move || {
        Box::pin(async move { Err(format!("{service}: business logic not implemented yet")) })
    });
    tracing::warn!(
        service,
        "only the operational endpoints are implemented so far"
    );
    serve(
        addr,
        ops_router(install_metrics(), readiness),
        http.clone(),
        cancel,
    )
    .await?;
    tracing::info!(service, "stopped");
    Ok(())
}
