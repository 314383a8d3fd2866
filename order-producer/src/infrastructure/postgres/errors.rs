//! Classification of database errors into the application's [`StoreError`]. Which SQLSTATEs are
//! transient is decided once for the workspace, by `service_kit::postgres::is_transient_sqlstate`.

use crate::application::StoreError;
use deadpool_postgres::PoolError;
use service_kit::postgres::{is_connection_failure, is_transient_sqlstate};

/// Map a driver error: SQLSTATE decides; without one, a connection failure (closed, I/O) is
/// transient and anything else (converting a value) is not — decided from the typed error by
/// `service_kit::postgres::is_connection_failure`, never from its message.
pub fn pg_error(err: tokio_postgres::Error) -> StoreError {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let text = format!("{code}: {}", db.message());
        return if is_transient_sqlstate(code) {
            StoreError::Unavailable(text)
        } else {
            StoreError::Rejected(text)
        };
    }
    let text = err.to_string();
    if is_connection_failure(&err) {
        StoreError::Unavailable(text)
    } else {
        StoreError::Corrupt(text)
    }
}

/// Every pool failure (timeout, cannot connect, closed) is transient.
pub fn pool_error(err: PoolError) -> StoreError {
    match err {
        // Connecting failed without a server answer (refused, TLS, timeout): transient.
        PoolError::Backend(e) if e.as_db_error().is_some() => pg_error(e),
        other => StoreError::Unavailable(other.to_string()),
    }
}
