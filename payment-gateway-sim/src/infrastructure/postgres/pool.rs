//! The deadpool-postgres pool. Connections broken while the database was down are dropped on
//! recycle and new ones are made on demand, so the service recovers by itself.

use deadpool_postgres::{
    Manager, ManagerConfig, Pool, PoolConfig, RecyclingMethod, Runtime, Timeouts,
};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::NoTls;

/// Postgres `synchronous_commit` for the ledger's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SynchronousCommit {
    /// A commit returns before its WAL is flushed: cheap. If the Postgres SERVER crashes, the
    /// last few hundred milliseconds of ledger rows can be lost (never half a row, never a
    /// corrupt table). A crash of the simulator itself loses nothing that was answered.
    Off,
    /// A commit returns once its WAL is on disk: full durability, one fsync per charge.
    On,
}

impl SynchronousCommit {
    fn as_setting(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::On => "on",
        }
    }
}

/// How to reach the gateway database.
#[derive(Clone)]
pub struct PgSettings {
    /// `postgres://user:password@host:port/db` (never logged: Debug hides the password).
    pub url: String,
    pub pool_size: usize,
    /// Bound on connecting and on waiting for a free connection.
    pub timeout: Duration,
    pub synchronous_commit: SynchronousCommit,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &crate::ops::redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("synchronous_commit", &self.synchronous_commit)
            .finish()
    }
}

/// Build the pool (no connection is made yet).
pub fn connect_pool(settings: &PgSettings) -> Result<Pool, String> {
    let mut config = tokio_postgres::Config::from_str(&settings.url)
        .map_err(|e| format!("invalid database URL: {e}"))?;
    config
        .application_name("payment-gateway-sim")
        .connect_timeout(settings.timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .options(format!(
            "-c synchronous_commit={}",
            settings.synchronous_commit.as_setting()
        ));
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
