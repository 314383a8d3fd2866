//! Classification of database errors into [`LedgerError`]: transient ones become 503s.
//! Which SQLSTATEs are transient is decided once for the workspace, by
//! `service_kit::postgres::is_transient_sqlstate`.

use crate::application::LedgerError;
use deadpool_postgres::PoolError;
use service_kit::postgres::is_transient_sqlstate;

/// SQLSTATE decides; without one it is a connection-level failure (closed, I/O, timeout)
/// unless it is about converting a value.
pub fn pg_error(err: tokio_postgres::Error) -> LedgerError {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let text = format!("{code}: {}", db.message());
        return if is_transient_sqlstate(code) {
            LedgerError::Unavailable(text)
        } else {
            LedgerError::Failed(text)
        };
    }
    let text = err.to_string();
    if text.starts_with("error serializing") || text.starts_with("error deserializing") {
        LedgerError::Failed(text)
    } else {
        LedgerError::Unavailable(text)
    }
}

/// Every pool failure (timeout, cannot connect, closed) is transient.
pub fn pool_error(err: PoolError) -> LedgerError {
    match err {
        PoolError::Backend(e) => pg_error(e),
        other => LedgerError::Unavailable(other.to_string()),
    }
}
