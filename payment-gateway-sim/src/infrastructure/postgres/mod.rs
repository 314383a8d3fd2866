//! The Postgres ledger: pool, migrations, error classification and the [`PgLedger`] adapter.
//! Every statement lives in `sql/` and runs with `prepare_cached`.

mod errors;
mod ledger;
mod migrations;
mod pool;

pub use errors::{pg_error, pool_error};
pub use ledger::PgLedger;
pub use migrations::{MIGRATION_LOCK_KEY, run_migrations};
pub use pool::{PgSettings, SynchronousCommit, connect_pool};
