//! The payments database, shared with payment-processor (which owns `payments`,
//! `processed_events` and `outbox`); this service migrates only its own `kept_dead_letters`
//! (history table `dlq_handler_schema_history`, under its own advisory lock). Every statement
//! lives in `sql/` and is prepared once per pooled connection.

mod store;

pub use store::PgPaymentsStore;

use service_kit::postgres::{MigrationError, run_migrations_locked};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Advisory lock key held while migrating ("dlq-handler migrations").
pub const MIGRATION_LOCK_KEY: i64 = 0x646c_715f_6d69_6721;

/// Apply every pending migration; returns the versions applied by this call.
pub async fn run_migrations(pool: &deadpool_postgres::Pool) -> Result<Vec<u32>, MigrationError> {
    let mut runner = embedded::migrations::runner();
    runner.set_migration_table_name("dlq_handler_schema_history");
    run_migrations_locked(pool, MIGRATION_LOCK_KEY, runner).await
}
