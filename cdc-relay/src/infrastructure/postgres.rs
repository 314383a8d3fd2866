//! The metadata connection (an ordinary `tokio_postgres` session, separate from the replication
//! stream): preflight checks, slot and publication management, slot lag; heartbeats
//! ([`super::heartbeat`]) run on it too.

use std::sync::Arc;
use std::time::Duration;

use postgres_openssl::MakeTlsConnector;
use service_kit::postgres::{PgUrl, RootCerts, SslMode, Verification};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::domain::lsn::Lsn;
use crate::error::RelayError;
use crate::telemetry;

const SHOW_WAL_LEVEL: &str = "SHOW wal_level";
const ROLE_MAY_REPLICATE: &str = "SELECT current_user::text, rolreplication OR rolsuper \
     FROM pg_roles WHERE rolname = current_user";
const PUBLICATION_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)";
const TABLE_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables \
     WHERE schemaname = $1 AND tablename = $2)";
const SLOT_INFO: &str = "SELECT plugin::text, active_pid, confirmed_flush_lsn::text, restart_lsn::text \
     FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()";
const CREATE_SLOT: &str =
    "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')";
const SLOT_LAG_BYTES: &str = "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint \
     FROM pg_replication_slots WHERE slot_name = $1";
const ADVANCE_SLOT: &str = "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn) \
     FROM pg_replication_slots \
     WHERE slot_name = $1 AND active_pid IS NULL AND confirmed_flush_lsn < $2::text::pg_lsn";
/// Postgres' `duplicate_object`: another instance created the slot first.
const DUPLICATE_OBJECT: &str = "42710";

/// Where and as whom to connect, parsed once from the database URL; the same TLS settings
/// (`sslmode`, `sslrootcert`, `sslcert`/`sslkey`) serve the metadata connection (OpenSSL, through
/// `service_kit::postgres`) and the replication connection (rustls, through pgwire-replication).
#[derive(Clone)]
pub struct ConnectParams {
    pub url: PgUrl,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    connector: MakeTlsConnector,
}

impl std::fmt::Debug for ConnectParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectParams")
            .field("url", &self.url)
            .finish()
    }
}

impl ConnectParams {
    /// Checks the TLS files too (a missing CA file fails here, at start-up).
    pub fn from_url(url: &PgUrl) -> Result<Self, RelayError> {
        let invalid = |why: &str| RelayError::Config(format!("database URL: {why}"));
        let config = url.config();
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let connector = service_kit::postgres::tls_connector(url.tls())
            .map_err(|e| RelayError::Config(format!("database TLS: {e}")))?;
        Ok(ConnectParams {
            url: url.clone(),
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            user: config
                .get_user()
                .ok_or_else(|| invalid("no user"))?
                .to_owned(),
            password: config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default(),
            database: config
                .get_dbname()
                .ok_or_else(|| invalid("no database name"))?
                .to_owned(),
            connector,
        })
    }

    /// pgwire-replication's TLS settings for the same URL (libpq's meaning of each mode; a
    /// `require` with `sslrootcert` verifies the chain, as libpq does).
    pub fn replication_tls(&self) -> pgwire_replication::TlsConfig {
        use pgwire_replication::SslMode as Wire;
        let tls = self.url.tls();
        let mode = match (tls.mode, tls.verification()) {
            (SslMode::Disable, _) => Wire::Disable,
            (SslMode::Prefer, _) => Wire::Prefer,
            (_, Verification::None) => Wire::Require,
            (_, Verification::Chain) => Wire::VerifyCa,
            (_, Verification::ChainAndHost) => Wire::VerifyFull,
        };
        let (client_cert_pem_path, client_key_pem_path) = match &tls.client_cert {
            Some((cert, key)) => (Some(cert.clone()), Some(key.clone())),
            None => (None, None),
        };
        pgwire_replication::TlsConfig {
            mode,
            ca_pem_path: match &tls.root_certs {
                Some(RootCerts::File(path)) => Some(path.clone()),
                Some(RootCerts::System) | None => None,
            },
            // pgwire-replication refuses verify-full towards an IP address unless the name to
            // verify is given explicitly; given, rustls checks the certificate's IP SAN (what
            // libpq and OpenSSL do too).
            sni_hostname: self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok()
                .then(|| self.host.clone()),
            client_cert_pem_path,
            client_key_pem_path,
        }
    }
}

/// State of the slot as `pg_replication_slots` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    pub plugin: String,
    pub active_pid: Option<i32>,
    pub confirmed_flush_lsn: Option<Lsn>,
    /// Where the walsender starts decoding: it re-decodes everything from here to
    /// `confirmed_flush_lsn` before the first new change arrives.
    pub restart_lsn: Option<Lsn>,
}

impl SlotInfo {
    /// WAL bytes the walsender re-decodes, without output, before streaming new changes.
    pub fn redecode_bytes(&self) -> Option<u64> {
        let (restart, confirmed) = (self.restart_lsn?, self.confirmed_flush_lsn?);
        confirmed.as_u64().checked_sub(restart.as_u64())
    }
}

/// The metadata connection. Cheap to clone (shared client); reconnects lazily when the
/// connection broke (Postgres restart, network), so heartbeats, lag polling and the standby
/// check recover on their own.
#[derive(Debug, Clone)]
pub struct MetadataDb {
    params: ConnectParams,
    client: Arc<tokio::sync::Mutex<Arc<Client>>>,
    slot: String,
}

impl MetadataDb {
    /// Connect (fails fast if Postgres is unreachable at startup).
    pub async fn connect(params: &ConnectParams, slot: &str) -> Result<Self, RelayError> {
        let client = open_client(params, slot).await?;
        Ok(MetadataDb {
            params: params.clone(),
            client: Arc::new(tokio::sync::Mutex::new(Arc::new(client))),
            slot: slot.to_owned(),
        })
    }

    /// The live client, reconnecting first if the connection closed.
    pub(crate) async fn client(&self) -> Result<Arc<Client>, RelayError> {
        let mut current = self.client.lock().await;
        if current.is_closed() {
            tracing::info!("metadata connection closed; reconnecting");
            *current = Arc::new(open_client(&self.params, &self.slot).await?);
        }
        Ok(Arc::clone(&current))
    }

    /// The slot this connection manages.
    pub(crate) fn slot(&self) -> &str {
        &self.slot
    }

    /// Maps a Postgres error met while doing `action`.
    pub(crate) fn pg(&self, action: &str) -> impl Fn(tokio_postgres::Error) -> RelayError + '_ {
        let action = action.to_owned();
        move |e| RelayError::from_postgres(&action, &e, &self.slot)
    }

    /// `Err(WalLevelNotLogical)` unless the server runs with `wal_level = logical`.
    async fn check_wal_level(&self) -> Result<(), RelayError> {
        let row = self
            .client()
            .await?
            .query_one(SHOW_WAL_LEVEL, &[])
            .await
            .map_err(self.pg("reading wal_level"))?;
        let wal_level: String = row.get(0);
        if wal_level != "logical" {
            return Err(RelayError::WalLevelNotLogical { actual: wal_level });
        }
        Ok(())
    }

    /// Fail fast with a message saying what to fix when logical replication cannot work.
    pub async fn preflight(&self) -> Result<(), RelayError> {
        self.check_wal_level().await?;
        let row = self
            .client()
            .await?
            .query_one(ROLE_MAY_REPLICATE, &[])
            .await
            .map_err(self.pg("reading the role's attributes"))?;
        let (role, may_replicate): (String, bool) = (row.get(0), row.get(1));
        if !may_replicate {
            return Err(RelayError::MissingReplicationRight { role });
        }
        Ok(())
    }

    /// Wait until `schema.table` exists: the outbox belongs to the service that writes it and is
    /// created by that service's migrations, which may run after the relay started (services
    /// start in any order, as on Kubernetes). Logs once when it starts waiting and every
    /// `remind` after; `false` if `cancel` fired first. Database errors still fail fast.
    pub async fn wait_for_table(
        &self,
        schema: &str,
        table: &str,
        poll: Duration,
        remind: Duration,
        cancel: &CancellationToken,
    ) -> Result<bool, RelayError> {
        let started = std::time::Instant::now();
        let mut reminded = started;
        let mut logged = false;
        loop {
            let exists: bool = self
                .client()
                .await?
                .query_one(TABLE_EXISTS, &[&schema, &table])
                .await
                .map_err(self.pg("looking up the outbox table"))?
                .get(0);
            if exists {
                if logged {
                    tracing::info!(schema, table, waited = ?started.elapsed(), "outbox table found");
                }
                return Ok(true);
            }
            if !logged || reminded.elapsed() >= remind {
                tracing::warn!(
                    schema,
                    table,
                    waited = ?started.elapsed(),
                    "waiting for the outbox table to exist (the owning service creates it in its migrations)"
                );
                logged = true;
                reminded = std::time::Instant::now();
            }
            tokio::select! {
                () = cancel.cancelled() => return Ok(false),
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Create the publication `FOR TABLE <outbox>` unless it exists. All operations are
    /// published: updates and deletes are counted and ignored by the relay, not hidden.
    /// `publication` and `table` are validated identifiers (see `config`), quoted here.
    pub async fn ensure_publication(
        &self,
        publication: &str,
        schema: &str,
        table: &str,
    ) -> Result<(), RelayError> {
        let row = self
            .client()
            .await?
            .query_one(PUBLICATION_EXISTS, &[&publication])
            .await
            .map_err(self.pg("looking up the publication"))?;
        if row.get::<_, bool>(0) {
            return Ok(());
        }
        // DDL takes no bind parameters; identifiers are validated and quoted.
        let create = format!(
            "CREATE PUBLICATION {} FOR TABLE {}.{}",
            quote_ident(publication),
            quote_ident(schema),
            quote_ident(table)
        );
        match self.client().await?.batch_execute(&create).await {
            Ok(()) => {
                tracing::info!(publication, "publication created");
                Ok(())
            }
            Err(e) if e.code().map(|c| c.code()) == Some(DUPLICATE_OBJECT) => Ok(()),
            Err(e) => Err(RelayError::from_postgres(
                "creating the publication",
                &e,
                &self.slot,
            )),
        }
    }

    /// The slot's state, `None` if it does not exist in this database.
    pub async fn slot_info(&self) -> Result<Option<SlotInfo>, RelayError> {
        let row = self
            .client()
            .await?
            .query_opt(SLOT_INFO, &[&self.slot])
            .await
            .map_err(self.pg("reading pg_replication_slots"))?;
        Ok(row.map(|row| SlotInfo {
            plugin: row.get(0),
            active_pid: row.get(1),
            confirmed_flush_lsn: row
                .get::<_, Option<String>>(2)
                .and_then(|text| text.parse().ok()),
            restart_lsn: row
                .get::<_, Option<String>>(3)
                .and_then(|text| text.parse().ok()),
        }))
    }

    /// Create the logical slot (pgoutput) unless it exists; check its plugin if it does.
    pub async fn ensure_slot(&self) -> Result<(), RelayError> {
        if let Some(info) = self.slot_info().await? {
            if info.plugin != "pgoutput" {
                return Err(RelayError::WrongSlotPlugin {
                    slot: self.slot.clone(),
                    plugin: info.plugin,
                });
            }
            return Ok(());
        }
        match self
            .client()
            .await?
            .query_one(CREATE_SLOT, &[&self.slot])
            .await
        {
            Ok(row) => {
                let lsn: String = row.get(0);
                tracing::info!(slot = self.slot, %lsn, "replication slot created");
                Ok(())
            }
            Err(e) if e.code().map(|c| c.code()) == Some(DUPLICATE_OBJECT) => Ok(()),
            Err(e) => {
                if e.code()
                    == Some(&tokio_postgres::error::SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE)
                {
                    // 55000 has several causes; the one to explain is a wal_level below
                    // logical, which the server tells us typed (not the message's wording).
                    self.check_wal_level().await?;
                }
                Err(RelayError::from_postgres(
                    "creating the replication slot",
                    &e,
                    &self.slot,
                ))
            }
        }
    }

    /// `pg_current_wal_lsn() - confirmed_flush_lsn` of the slot.
    pub async fn slot_lag_bytes(&self) -> Result<Option<i64>, RelayError> {
        let row = self
            .client()
            .await?
            .query_opt(SLOT_LAG_BYTES, &[&self.slot])
            .await
            .map_err(self.pg("reading the slot lag"))?;
        Ok(row.and_then(|row| row.get::<_, Option<i64>>(0)))
    }

    /// Make `lsn` the slot's confirmed position once no session holds the slot (waits up to
    /// `wait` for the walsender to exit). No-op if the slot is already there or beyond, or
    /// another instance took the slot over in the meantime.
    pub async fn advance_released_slot(&self, lsn: Lsn, wait: Duration) -> Result<(), RelayError> {
        let deadline = tokio::time::Instant::now() + wait;
        let lsn_text = lsn.to_string();
        loop {
            let info = self.slot_info().await?;
            let inactive = info.as_ref().is_some_and(|i| i.active_pid.is_none());
            if inactive || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.client()
            .await?
            .execute(ADVANCE_SLOT, &[&self.slot, &lsn_text])
            .await
            .map_err(self.pg("advancing the released slot"))?;
        Ok(())
    }

    /// Poll the slot lag every `every` into the gauge; warn past `warn_bytes`.
    pub fn spawn_lag_monitor(&self, every: Duration, warn_bytes: u64, cancel: CancellationToken) {
        let db = self.clone();
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(every);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = timer.tick() => {}
                }
                match db.slot_lag_bytes().await {
                    Ok(Some(lag)) => {
                        telemetry::slot_lag(lag);
                        if u64::try_from(lag).is_ok_and(|lag| lag > warn_bytes) {
                            tracing::warn!(
                                slot = db.slot,
                                lag_bytes = lag,
                                warn_bytes,
                                "replication slot lag above threshold: WAL is piling up"
                            );
                        }
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "polling slot lag"),
                }
            }
        });
    }
}

async fn open_client(params: &ConnectParams, slot: &str) -> Result<Client, RelayError> {
    let (client, connection) = params
        .url
        .config()
        .connect(params.connector.clone())
        .await
        .map_err(|e| RelayError::from_postgres("connecting (metadata)", &e, slot))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "metadata connection closed");
        }
    });
    Ok(client)
}

/// `"name"` with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(restart: Option<u64>, confirmed: Option<u64>) -> SlotInfo {
        SlotInfo {
            plugin: "pgoutput".into(),
            active_pid: None,
            confirmed_flush_lsn: confirmed.map(Lsn),
            restart_lsn: restart.map(Lsn),
        }
    }

    #[test]
    fn redecode_bytes_is_the_gap_from_restart_to_confirmed() {
        assert_eq!(slot(Some(100), Some(1_100)).redecode_bytes(), Some(1_000));
        assert_eq!(slot(Some(100), Some(100)).redecode_bytes(), Some(0));
        // Unknown positions or a restart_lsn past confirmed (never shown by Postgres): none.
        assert_eq!(slot(None, Some(100)).redecode_bytes(), None);
        assert_eq!(slot(Some(100), None).redecode_bytes(), None);
        assert_eq!(slot(Some(200), Some(100)).redecode_bytes(), None);
    }
}
