//! The deadpool-postgres pool. Connections broken while the database was down are dropped on
//! recycle and new ones are made on demand, so the service recovers by itself.

use deadpool_postgres::{
    Manager, ManagerConfig, Pool, PoolConfig, RecyclingMethod, Runtime, Timeouts,
};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::NoTls;

/// How to reach the orders database.
#[derive(Clone)]
pub struct PgSettings {
    /// `postgres://user:password@host:port/db` (never logged as is: see `redact_url`).
    pub url: String,
    pub pool_size: usize,
    /// Bound on connecting and on waiting for a free connection.
    pub timeout: Duration,
    /// Use this schema (`search_path`) instead of the default: tests isolate themselves this way.
    pub schema: Option<String>,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &service_kit::redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("schema", &self.schema)
            .finish()
    }
}

/// Build the pool (no connection is made yet).
pub fn connect_pool(settings: &PgSettings) -> Result<Pool, String> {
    let mut config = tokio_postgres::Config::from_str(&settings.url)
        .map_err(|e| format!("invalid database URL: {e}"))?;
    config
        .application_name("order-producer")
        .connect_timeout(settings.timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30));
    if let Some(schema) = &settings.schema {
        config.options(format!("-c search_path={schema}"));
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool_config = PoolConfig {
        max_size: settings.pool_size.max(1),
        timeouts: Timeouts {
            wait: Some(settings.timeout),
            create: Some(settings.timeout),
            recycle: Some(settings.timeout),
        },
        ..PoolConfig::default()
    };
    Pool::builder(manager)
        .config(pool_config)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| format!("cannot build the connection pool: {e}"))
}
