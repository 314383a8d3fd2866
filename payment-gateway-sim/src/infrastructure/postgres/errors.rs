//! Classification of database errors into [`LedgerError`]: transient ones become 503s.

use crate::application::LedgerError;
use deadpool_postgres::PoolError;

/// SQLSTATE classes and codes after which the same statement can succeed later.
fn is_transient_sqlstate(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources
        || code.starts_with("57P") // admin / crash shutdown, cannot connect now
        || code.starts_with("58") // system error (I/O)
        || code == "40001" // serialization failure
        || code == "40P01" // deadlock detected
        || code == "55P03" // lock not available
        || code == "57014" // query canceled (statement timeout)
}

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
