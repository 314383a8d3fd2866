//! Wiring only: config → telemetry → pool + migrations → ledger → service → HTTP → run until
//! SIGTERM/SIGINT.

use anyhow::Context;
use clap::Parser;
use payment_gateway_sim::application::{BehaviourSwitch, GatewayService};
use payment_gateway_sim::config::Config;
use payment_gateway_sim::infrastructure::http::AppState;
use payment_gateway_sim::infrastructure::metrics::describe_metrics;
use payment_gateway_sim::infrastructure::postgres::{
    PgLedger, PgSettings, connect_pool, run_migrations,
};
use payment_gateway_sim::ops::{app, install_metrics, serve, shutdown_token};
use service_kit::postgres::retry_while_unreachable;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.log.init();
    let metrics = install_metrics("payment_gateway_sim");
    describe_metrics();
    let cancel = shutdown_token();
    let behaviour = config.behaviour();
    tracing::info!(
        listen_addr = %config.listen_addr,
        database = %config.database_url,
        synchronous_commit = ?config.synchronous_commit,
        pool_size = config.pool_size,
        ?behaviour,
        "starting payment-gateway-sim"
    );

    let pool = connect_pool(&PgSettings {
        url: config.database_url.clone(),
        application_name: "payment-gateway-sim".into(),
        pool_size: config.pool_size,
        timeout: config.database_timeout,
        schema: None,
        options: vec![config.synchronous_commit.server_setting()],
    })
    .map_err(anyhow::Error::msg)?;
    migrate_when_reachable(&pool, &cancel).await?;

    let service = Arc::new(GatewayService::new(
        PgLedger::new(pool),
        BehaviourSwitch::new(behaviour),
    ));
    serve(
        config.listen_addr,
        app(AppState { service }, metrics),
        config.http.clone(),
        cancel.clone(),
    )
    .await
    .with_context(|| format!("HTTP server on {}", config.listen_addr))?;
    tracing::info!("payment-gateway-sim stopped");
    Ok(())
}

/// Run the migrations, waiting (with backoff) while the database is unreachable.
async fn migrate_when_reachable(
    pool: &deadpool_postgres::Pool,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    use payment_gateway_sim::application::LedgerError;
    let unreachable = |e: &LedgerError| matches!(e, LedgerError::Unavailable(_));
    match retry_while_unreachable(cancel, || run_migrations(pool), unreachable).await {
        Ok(Some(applied)) => {
            tracing::info!(?applied, "ledger schema is up to date");
            Ok(())
        }
        Ok(None) => anyhow::bail!("shut down before the database was reachable"),
        Err(e) => Err(e).context("migrations failed"),
    }
}
