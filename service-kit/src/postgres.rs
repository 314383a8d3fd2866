//! Postgres plumbing every service with a database shares (cargo feature `postgres`): the
//! connection pool, TLS, the classification of database errors (SQLSTATE decides, never message
//! text) and refinery migrations run under an advisory lock.
//!
//! Every connection (pool or single client) is made with the TLS connector [`tls_connector`]
//! builds from the URL's libpq parameters ([`PgUrl`], [`crate::pg_url`]): `sslmode` up to
//! `verify-full`, `sslrootcert`, and a client certificate (`sslcert`/`sslkey`). Bad TLS settings
//! (an unreadable CA file, a key that does not match its certificate) fail at start-up, naming
//! the file; a server that fails verification fails the connection with OpenSSL's reason
//! ("certificate verify failed", "hostname mismatch").
//!
//! The pool makes connections on demand and drops broken ones on recycle, so a service recovers
//! by itself after the database was down. Passwords never reach a log: [`PgSettings`]'s `Debug`
//! prints the URL redacted.
//!
//! Services map [`is_transient_sqlstate`] (or [`pg_error_kind`] / [`pool_error_kind`], which give
//! the workspace's [`ErrorKind`]) and [`MigrationError`] onto their own store errors; the event
//! machinery (outbox, consumer runtime) lives in `eventing`.

use contracts::error::ErrorKind;
use deadpool_postgres::{
    Manager, ManagerConfig, Pool, PoolConfig, PoolError, RecyclingMethod, Runtime, Timeouts,
};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::pg_url::{PgTls, PgUrl, PgUrlError, RootCerts, SslMode, Verification};

/// A TLS file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use {what} {path}: {source}")]
pub struct TlsSetupError {
    what: &'static str,
    path: PathBuf,
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Only the certificates in `path` (PEM), as libpq: not the system store as well, which
/// `SslConnector::builder` loads by default and `set_ca_file` would only add to.
fn store_from_file(path: &Path) -> Result<openssl::x509::store::X509Store, TlsSetupError> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| TlsSetupError {
        what: "sslrootcert",
        path: path.to_owned(),
        source,
    };
    let pem = std::fs::read(path).map_err(|e| failed(e.into()))?;
    let certs = openssl::x509::X509::stack_from_pem(&pem).map_err(|e| failed(e.into()))?;
    if certs.is_empty() {
        return Err(failed("no PEM certificate in the file".into()));
    }
    let mut store = openssl::x509::store::X509StoreBuilder::new().map_err(|e| failed(e.into()))?;
    for cert in certs {
        store.add_cert(cert).map_err(|e| failed(e.into()))?;
    }
    Ok(store.build())
}

/// The connector every connection of a service uses, built from the URL's TLS parameters.
pub fn tls_connector(tls: &PgTls) -> Result<MakeTlsConnector, TlsSetupError> {
    let failed = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source: openssl::error::ErrorStack| TlsSetupError {
            what,
            path,
            source: source.into(),
        }
    };
    let mut builder = SslConnector::builder(SslMethod::tls_client())
        .map_err(failed("the TLS library", Path::new("(OpenSSL)")))?;
    match &tls.root_certs {
        Some(RootCerts::File(path)) => builder.set_cert_store(store_from_file(path)?),
        // SslConnector::builder already trusts the system's default store.
        Some(RootCerts::System) | None => {}
    }
    if let Some((cert, key)) = &tls.client_cert {
        builder
            .set_certificate_chain_file(cert)
            .map_err(failed("sslcert", cert))?;
        builder
            .set_private_key_file(key, SslFiletype::PEM)
            .map_err(failed("sslkey", key))?;
        builder.check_private_key().map_err(failed("sslkey", key))?;
    }
    let verification = tls.verification();
    if verification == Verification::None {
        builder.set_verify(SslVerifyMode::NONE);
    }
    let mut connector = MakeTlsConnector::new(builder.build());
    if verification != Verification::ChainAndHost {
        connector.set_callback(|config, _host| {
            config.set_verify_hostname(false);
            Ok(())
        });
    }
    Ok(connector)
}

/// One connection (tools, tests, a service's dedicated session); the connection task is spawned
/// and logs when it ends with an error.
pub async fn connect(url: &PgUrl) -> Result<tokio_postgres::Client, ConnectError> {
    let connector = tls_connector(url.tls())?;
    let (client, connection) = url.config().connect(connector).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "database connection closed");
        }
    });
    Ok(client)
}

/// Why [`connect`] failed: the TLS settings, or the server / network.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// How to reach a service's database.
#[derive(Clone)]
pub struct PgSettings {
    /// `postgres://user:password@host:port/db?sslmode=…` (never logged as is).
    pub url: PgUrl,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
    pub pool_size: usize,
    /// Bound on connecting and on waiting for a free connection.
    pub timeout: Duration,
    /// Use this schema (`search_path`) instead of the default: tests isolate themselves this way.
    pub schema: Option<String>,
    /// Further server settings for every session, each sent as `-c key=value` (e.g.
    /// `("synchronous_commit", "off")`).
    pub options: Vec<(String, String)>,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &self.url)
            .field("application_name", &self.application_name)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("schema", &self.schema)
            .field("options", &self.options)
            .finish()
    }
}

/// Build the pool (no connection is made yet).
pub fn connect_pool(settings: &PgSettings) -> Result<Pool, String> {
    let mut config = settings.url.config().clone();
    config
        .application_name(&settings.application_name)
        .connect_timeout(settings.timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30));
    if let Some(options) = server_options(settings) {
        config.options(options);
    }
    let connector = tls_connector(settings.url.tls()).map_err(|e| e.to_string())?;
    let manager = Manager::from_config(
        config,
        connector,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool_config = PoolConfig {
        max_size: settings.pool_size.max(1),
        timeouts: Timeouts {
            wait: Some(settings.timeout),
            create: Some(settings.timeout),
            recycle: Some(settings.timeout),
        },
        ..PoolConfig::default()
    };
    Pool::builder(manager)
        .config(pool_config)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| format!("cannot build the connection pool: {e}"))
}

/// The startup `options` string: `search_path` (from `schema`) and then every extra setting, each
/// as `-c key=value`, with spaces and backslashes escaped as the server expects. `None` when there
/// is nothing to set. Pure.
fn server_options(settings: &PgSettings) -> Option<String> {
    let escape = |text: &str| text.replace('\\', "\\\\").replace(' ', "\\ ");
    let schema = settings.schema.iter().map(|s| ("search_path", s.as_str()));
    let extra = settings
        .options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let parts: Vec<String> = schema
        .chain(extra)
        .map(|(key, value)| format!("-c {}={}", escape(key), escape(value)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// SQLSTATE classes and codes after which the same statement can succeed later.
pub fn is_transient_sqlstate(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources
        || code.starts_with("57P") // admin / crash shutdown, cannot connect now
        || code.starts_with("58") // system error (I/O)
        || code == "40001" // serialization failure
        || code == "40P01" // deadlock detected
        || code == "55P03" // lock not available
        || code == "57014" // query canceled (statement timeout)
}

/// Whether a driver error is about the connection (closed, or an I/O error underneath: reset,
/// broken pipe, TLS stream) — a retry on a fresh connection can succeed — rather than about a
/// value or a statement's shape (a type mismatch, a NULL read into a non-`Option`, a wrong
/// column or parameter count), which fails the same way again. Decided from the typed error
/// (`is_closed`, the `std::io::Error` source), never from its message. Server errors (with a
/// SQLSTATE) are neither: see [`is_transient_sqlstate`].
pub fn is_connection_failure(err: &tokio_postgres::Error) -> bool {
    err.is_closed() || std::error::Error::source(err).is_some_and(|s| s.is::<std::io::Error>())
}

/// Classify a driver error: the SQLSTATE decides; without one, a connection failure
/// ([`is_connection_failure`]) is transient and anything else (converting a value) permanent.
pub fn pg_error_kind(err: &tokio_postgres::Error) -> ErrorKind {
    match err.as_db_error() {
        Some(db) if is_transient_sqlstate(db.code().code()) => ErrorKind::Transient,
        Some(_) => ErrorKind::Permanent,
        None if is_connection_failure(err) => ErrorKind::Transient,
        None => ErrorKind::Permanent,
    }
}

/// Every pool failure (timeout, cannot connect — refused, TLS, connect timeout — closed) is
/// transient unless the database itself answered with a SQLSTATE that is not.
pub fn pool_error_kind(err: &PoolError) -> ErrorKind {
    match err {
        PoolError::Backend(e) if e.as_db_error().is_some() => pg_error_kind(e),
        _ => ErrorKind::Transient,
    }
}

/// Why migrations could not run.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("database unavailable while migrating: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Failed(String),
}

/// Apply a service's pending refinery migrations while holding the session-level advisory lock
/// `lock_key`, so instances starting at once migrate one after another (the second finds nothing
/// left to do). Returns the versions this call applied.
pub async fn run_migrations_locked(
    pool: &Pool,
    lock_key: i64,
    runner: refinery::Runner,
) -> Result<Vec<u32>, MigrationError> {
    let unavailable = |e: &dyn std::fmt::Display| MigrationError::Unavailable(e.to_string());
    let mut client = pool.get().await.map_err(|e| unavailable(&e))?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&lock_key])
        .await
        .map_err(|e| unavailable(&e))?;
    let outcome = runner
        .set_abort_divergent(true)
        .run_async(&mut **client)
        .await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&lock_key])
        .await;
    let report = outcome.map_err(|e| MigrationError::Failed(e.to_string()))?;
    if let Err(e) = unlock {
        // The lock is session-scoped: dropping this connection releases it.
        let _ = deadpool_postgres::Object::take(client);
        return Err(unavailable(&e));
    }
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.version())
        .collect())
}

/// Run `attempt` (e.g. a service's migrations at start-up) until it succeeds or fails for good,
/// waiting with backoff (250 ms, doubling, at most 5 s) while `is_unreachable` says the database
/// cannot be reached yet. `Ok(None)`: `cancel` fired before it succeeded.
pub async fn retry_while_unreachable<T, E, F, Fut>(
    cancel: &tokio_util::sync::CancellationToken,
    mut attempt: F,
    is_unreachable: impl Fn(&E) -> bool,
) -> Result<Option<T>, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(250);
    loop {
        match attempt().await {
            Ok(value) => return Ok(Some(value)),
            Err(e) if is_unreachable(&e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "database not reachable yet");
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(schema: Option<&str>, options: &[(&str, &str)]) -> PgSettings {
        PgSettings {
            url: PgUrl::parse("postgres://u:secret@h/db").unwrap(),
            application_name: "x".into(),
            pool_size: 1,
            timeout: Duration::from_secs(1),
            schema: schema.map(str::to_owned),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert!(!format!("{:?}", settings(None, &[])).contains("secret"));
    }

    #[test]
    fn server_options_set_schema_then_extra_settings() {
        assert_eq!(server_options(&settings(None, &[])), None);
        assert_eq!(
            server_options(&settings(Some("t1"), &[])).as_deref(),
            Some("-c search_path=t1")
        );
        assert_eq!(
            server_options(&settings(Some("t1"), &[("synchronous_commit", "off")])).as_deref(),
            Some("-c search_path=t1 -c synchronous_commit=off")
        );
    }

    #[test]
    fn server_options_escape_spaces_and_backslashes() {
        assert_eq!(
            server_options(&settings(None, &[("search_path", "a, b"), ("x", "c\\d")])).as_deref(),
            Some("-c search_path=a,\\ b -c x=c\\\\d")
        );
    }

    #[test]
    fn sqlstates_classify() {
        assert!(is_transient_sqlstate("08006"));
        assert!(is_transient_sqlstate("40001"));
        assert!(!is_transient_sqlstate("23505"));
        assert!(!is_transient_sqlstate("42P01"));
    }
}
