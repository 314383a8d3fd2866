//! Postgres adapters: migrations, the order repository (unit of work) and the outbox writer.
//! Every statement lives in `sql/` and runs prepared (`prepare_cached`). The connection pool, the
//! SQLSTATE classification and the locked migration run are `service_kit::postgres`'s; they are
//! re-exported here so the service's users keep one import path.

mod errors;
mod migrations;
mod outbox;
mod repository;

pub use errors::{pg_error, pool_error};
pub use migrations::{MIGRATION_LOCK_KEY, run_migrations};
pub use outbox::PgOutboxWriter;
pub use repository::{PgOrderRepository, PgSession, PgUnitOfWork};
pub use service_kit::postgres::{PgSettings, connect_pool};
