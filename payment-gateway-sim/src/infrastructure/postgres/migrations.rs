//! Schema migrations: the plain SQL files in `payment-gateway-sim/migrations/`, embedded at
//! build time and applied at start-up by refinery.
//!
//! Safe to run twice (refinery records applied versions; the SQL is `IF NOT EXISTS`) and from
//! several instances (or parallel tests) at once: the whole run holds a session-level
//! `pg_advisory_lock`, so a second runner waits and then finds nothing left to do.

use super::errors::{pg_error, pool_error};
use crate::application::LedgerError;
use deadpool_postgres::Pool;

refinery::embed_migrations!("migrations");

/// Advisory lock key held while migrating ("gateway_mg").
pub const MIGRATION_LOCK_KEY: i64 = 0x6761_7465_7761_796d;

/// Apply every pending migration; returns the versions applied by this call.
pub async fn run_migrations(pool: &Pool) -> Result<Vec<u32>, LedgerError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .map_err(pg_error)?;
    let outcome = migrations::runner()
        .set_abort_divergent(true)
        .run_async(&mut **client)
        .await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let report = outcome.map_err(|e| LedgerError::Failed(format!("migration failed: {e}")))?;
    if let Err(e) = unlock {
        // The lock is session-scoped: dropping this connection releases it.
        let _ = deadpool_postgres::Object::take(client);
        return Err(pg_error(e));
    }
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.version())
        .collect())
}
