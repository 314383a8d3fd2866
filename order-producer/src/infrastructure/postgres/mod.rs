//! Postgres adapters: connection pool, migrations, the order repository (unit of work) and the
//! outbox writer. Every statement lives in `sql/` and runs prepared (`prepare_cached`).

mod errors;
mod migrations;
mod outbox;
mod pool;
mod repository;

pub use errors::{pg_error, pool_error};
pub use migrations::{MIGRATION_LOCK_KEY, run_migrations};
pub use outbox::PgOutboxWriter;
pub use pool::{PgSettings, connect_pool};
pub use repository::{PgOrderRepository, PgSession, PgUnitOfWork};
