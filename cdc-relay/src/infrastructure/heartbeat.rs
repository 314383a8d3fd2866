//! The [`Heartbeat`] adapter: what the relay writes to Postgres after `--heartbeat-interval`
//! without outbox traffic, so WAL moves in this database and the slot can follow it.
//!
//! # Dataflow
//!
//! ```text
//! relay timer ─► PgHeartbeat::emit ─► metadata connection ─► WAL ─► walsender ─► relay stream
//!   table:            upsert of this slot's row in an UNLOGGED table
//!                     → only a commit record enters the WAL; no client decodes anything;
//!                       the walsender reads past it and its keepalive carries the new wal_end
//!   logical-message:  pg_logical_emit_message(false, 'cdc-relay-heartbeat', '')
//!                     → a Message in the stream of EVERY logical decoding client of the database
//! ```
//!
//! In both cases the position reaches the relay as a keepalive (or, for a logical message, as the
//! message's LSN, "as good as a keepalive"), and [`crate::domain::ack_tracker`] confirms it only
//! once every record before it is acknowledged — the heartbeat never confirms anything by itself.
//!
//! # Why the table is UNLOGGED
//!
//! A logged table left out of the relay's publication is still decoded by every other client:
//! `test_decoding`, `wal2json`, and any pgoutput publication `FOR ALL TABLES` (Debezium's default
//! `publication.autocreate.mode=all_tables`), which would stall a Debezium connector with topic
//! auto-creation off exactly as `<prefix>.message` did. Changes of an unlogged table write no WAL
//! record at all, and `FOR ALL TABLES` skips unlogged tables by definition, so no decoding
//! client ever sees a beat. What remains in the WAL is the transaction's commit record (written
//! asynchronously; the WAL writer flushes it within `wal_writer_delay`). Decoding it finds a
//! transaction with no changes and sends nothing — not even an empty BEGIN/COMMIT, on any
//! Postgres version — but the walsender's read position moves past it, and a caught-up walsender
//! sends a keepalive with that position whenever the client has not confirmed it yet.
//!
//! A heartbeat table that already exists is used as it is; a logged one gets a start-up warning
//! (other clients would see its updates). After a Postgres crash an unlogged table is empty; the
//! upsert writes the row again.

use crate::application::ports::Heartbeat;
use crate::error::RelayError;
use crate::infrastructure::postgres::{MetadataDb, quote_ident};

const LOGICAL_MESSAGE: &str = include_str!("../../sql/heartbeat_logical_message.sql");
const TABLE_PERSISTENCE: &str = include_str!("../../sql/heartbeat_table_persistence.sql");
const TABLE_CREATE: &str = include_str!("../../sql/heartbeat_table_create.sql");
const TABLE_BEAT: &str = include_str!("../../sql/heartbeat_table_beat.sql");
/// Replaced by the quoted heartbeat table name in the table statements.
const TABLE_PLACEHOLDER: &str = "{heartbeat_table}";
/// Postgres' `duplicate_table`, and `unique_violation` (on `pg_type`): another relay created the
/// table between our check and our CREATE.
const CREATED_CONCURRENTLY: [&str; 2] = ["42P07", "23505"];

/// How a heartbeat writes WAL (`--heartbeat-mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatWrite {
    /// Upsert the slot's row of this UNLOGGED table (`schema`, `table`).
    Table { schema: String, table: String },
    /// `pg_logical_emit_message`, visible to every logical decoding client.
    LogicalMessage,
    /// Nothing (the relay is also told not to call it: its heartbeat interval is `None`).
    Off,
}

/// The heartbeat statement, ready to run on the metadata connection.
#[derive(Debug, Clone)]
pub struct PgHeartbeat {
    db: MetadataDb,
    statement: Statement,
}

#[derive(Debug, Clone)]
enum Statement {
    /// Run with the slot name as `$1`.
    BindsSlot(String),
    NoParameters(String),
    Nothing,
}

impl PgHeartbeat {
    /// Prepare the heartbeat. In table mode: create the table if missing (warn if an existing
    /// one is logged) and beat once, so a missing privilege fails at start-up, not every
    /// `--heartbeat-interval` in the log.
    pub async fn prepare(db: MetadataDb, write: &HeartbeatWrite) -> Result<Self, RelayError> {
        match write {
            HeartbeatWrite::Off => Ok(PgHeartbeat {
                db,
                statement: Statement::Nothing,
            }),
            HeartbeatWrite::LogicalMessage => Ok(PgHeartbeat {
                db,
                statement: Statement::NoParameters(LOGICAL_MESSAGE.to_owned()),
            }),
            HeartbeatWrite::Table { schema, table } => {
                ensure_table(&db, schema, table).await?;
                let heartbeat = PgHeartbeat {
                    db,
                    statement: Statement::BindsSlot(with_table(TABLE_BEAT, schema, table)),
                };
                heartbeat.emit().await?;
                Ok(heartbeat)
            }
        }
    }
}

impl Heartbeat for PgHeartbeat {
    async fn emit(&self) -> Result<(), RelayError> {
        let slot = self.db.slot();
        // `execute` prepares the statement (extended protocol) and binds the parameters.
        let result = match &self.statement {
            Statement::Nothing => return Ok(()),
            Statement::BindsSlot(sql) => self.db.client().await?.execute(sql, &[&slot]).await,
            Statement::NoParameters(sql) => self.db.client().await?.execute(sql, &[]).await,
        };
        result.map_err(self.db.pg("writing a heartbeat"))?;
        Ok(())
    }
}

/// Create `schema.table` unless it exists; warn when an existing one is logged. Checked before
/// CREATE so that a table created ahead by an administrator needs no CREATE right on the schema.
async fn ensure_table(db: &MetadataDb, schema: &str, table: &str) -> Result<(), RelayError> {
    let name = format!("{schema}.{table}");
    let persistence: Option<String> = db
        .client()
        .await?
        .query_opt(TABLE_PERSISTENCE, &[&schema, &table])
        .await
        .map_err(db.pg("looking up the heartbeat table"))?
        .map(|row| row.get(0));
    match persistence.as_deref() {
        Some("u") => return Ok(()),
        Some(_) => {
            tracing::warn!(
                table = name,
                "the heartbeat table is a logged table: other logical decoding clients \
                 (test_decoding, FOR ALL TABLES publications such as Debezium's default) see \
                 every heartbeat; make it unlogged with ALTER TABLE ... SET UNLOGGED"
            );
            return Ok(());
        }
        None => {}
    }
    let create = with_table(TABLE_CREATE, schema, table);
    match db.client().await?.batch_execute(&create).await {
        Ok(()) => {
            tracing::info!(table = name, "heartbeat table created (unlogged)");
            Ok(())
        }
        Err(e)
            if e.code()
                .is_some_and(|c| CREATED_CONCURRENTLY.contains(&c.code())) =>
        {
            Ok(())
        }
        Err(e) => Err(RelayError::from_postgres(
            &format!(
                "creating the heartbeat table {name} (grant the role CREATE on schema {schema}, \
                 create the table ahead as in cdc-relay/sql/heartbeat_table_create.sql, or use \
                 another --heartbeat-table)"
            ),
            &e,
            db.slot(),
        )),
    }
}

/// `sql` with the placeholder replaced by the quoted `schema.table`.
fn with_table(sql: &str, schema: &str, table: &str) -> String {
    sql.replace(
        TABLE_PLACEHOLDER,
        &format!("{}.{}", quote_ident(schema), quote_ident(table)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_statements_name_the_quoted_table_and_bind_the_slot() {
        let beat = with_table(TABLE_BEAT, "ops", "beats");
        assert!(
            beat.contains("INSERT INTO \"ops\".\"beats\" AS beat"),
            "{beat}"
        );
        assert!(beat.contains("VALUES ($1, now())"), "{beat}");
        assert!(!beat.contains(TABLE_PLACEHOLDER));
        let create = with_table(TABLE_CREATE, "public", "cdc_relay_heartbeat");
        assert!(
            create
                .contains("CREATE UNLOGGED TABLE IF NOT EXISTS \"public\".\"cdc_relay_heartbeat\""),
            "{create}"
        );
    }
}
