//! Schema migrations: the plain SQL files in `payment-gateway-sim/migrations/`, embedded at
//! build time and applied at start-up by refinery.
//!
//! Safe to run twice (refinery records applied versions; the SQL is `IF NOT EXISTS`) and from
//! several instances (or parallel tests) at once: the whole run holds a session-level
//! `pg_advisory_lock`, so a second runner waits and then finds nothing left to do. The locked run
//! itself is `service_kit::postgres::run_migrations_locked`, shared with the other services.

use crate::application::LedgerError;
use deadpool_postgres::Pool;
use service_kit::postgres::{MigrationError, run_migrations_locked};

refinery::embed_migrations!("migrations");

/// Advisory lock key held while migrating ("gateway_mg").
pub const MIGRATION_LOCK_KEY: i64 = 0x6761_7465_7761_796d;

/// Apply every pending migration; returns the versions applied by this call.
pub async fn run_migrations(pool: &Pool) -> Result<Vec<u32>, LedgerError> {
    run_migrations_locked(pool, MIGRATION_LOCK_KEY, migrations::runner())
        .await
        .map_err(|e| match e {
            MigrationError::Unavailable(detail) => LedgerError::Unavailable(detail),
            MigrationError::Failed(_) => LedgerError::Failed(e.to_string()),
        })
}
