//! Classification of database errors into [`LedgerError`]: transient ones become 503s.
//! Which SQLSTATEs are transient is decided once for the workspace, by
//! `service_kit::postgres::is_transient_sqlstate`.

use crate::application::LedgerError;
use deadpool_postgres::PoolError;
use service_kit::postgres::{is_connection_failure, is_transient_sqlstate};

/// SQLSTATE decides; without one, a connection failure (closed, I/O) is transient and anything
/// else (converting a value) is not — decided from the typed error by
/// `service_kit::postgres::is_connection_failure`, never from its message.
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
    if is_connection_failure(&err) {
        LedgerError::Unavailable(text)
    } else {
        LedgerError::Failed(text)
    }
}

/// Every pool failure (timeout, cannot connect, closed) is transient.
pub fn pool_error(err: PoolError) -> LedgerError {
    match err {
        // Connecting failed without a server answer (refused, TLS, timeout): transient.
        PoolError::Backend(e) if e.as_db_error().is_some() => pg_error(e),
        other => LedgerError::Unavailable(other.to_string()),
    }
}
