//! The payments database: migrations (plain SQL in `payment-processor/migrations/`, applied by
//! refinery under a `pg_advisory_lock` through `service_kit::postgres::run_migrations_locked`),
//! the per-event [`PgPaymentStore`] and the [`GroupCommitStore`] the service runs with (many
//! events per statement and transaction). The pool and the error classification are
//! `service_kit::postgres`'s. Every statement lives in `sql/` and is prepared once per pooled
//! connection.

mod group_commit;
mod store;

pub use group_commit::{GroupCommitSettings, GroupCommitStore};
pub use store::PgPaymentStore;

use service_kit::postgres::{MigrationError, run_migrations_locked};

refinery::embed_migrations!("migrations");

/// Advisory lock key held while migrating ("payment-processor migrations").
pub const MIGRATION_LOCK_KEY: i64 = 0x7061_796d_5f6d_6967;

/// Apply every pending migration; returns the versions applied by this call.
pub async fn run_migrations(pool: &deadpool_postgres::Pool) -> Result<Vec<u32>, MigrationError> {
    run_migrations_locked(pool, MIGRATION_LOCK_KEY, migrations::runner()).await
}
