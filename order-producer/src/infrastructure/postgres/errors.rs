//! Classification of database errors into the application's [`StoreError`]. Which SQLSTATEs are
//! transient is decided once for the workspace, by `service_kit::postgres::is_transient_sqlstate`.

use crate::application::StoreError;
use deadpool_postgres::PoolError;
use service_kit::postgres::is_transient_sqlstate;

/// Map a driver error: SQLSTATE decides; without one it is a connection-level failure
/// (closed, I/O, timeout) unless it is about converting a value.
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
    if text.starts_with("error serializing") || text.starts_with("error deserializing") {
        StoreError::Corrupt(text)
    } else {
        StoreError::Unavailable(text)
    }
}

/// Every pool failure (timeout, cannot connect, closed) is transient.
pub fn pool_error(err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(e) => pg_error(e),
        other => StoreError::Unavailable(other.to_string()),
    }
}
