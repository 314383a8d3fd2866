//! The Postgres ledger: migrations, error classification and the [`PgLedger`] adapter. Every
//! statement lives in `sql/` and runs with `prepare_cached`. The connection pool, the SQLSTATE
//! classification and the locked migration run are `service_kit::postgres`'s; the pool's names
//! are re-exported here so the service's users keep one import path.

mod errors;
mod ledger;
mod migrations;
mod synchronous_commit;

pub use errors::{pg_error, pool_error};
pub use ledger::PgLedger;
pub use migrations::{MIGRATION_LOCK_KEY, run_migrations};
pub use service_kit::postgres::{PgSettings, connect_pool};
pub use synchronous_commit::SynchronousCommit;
