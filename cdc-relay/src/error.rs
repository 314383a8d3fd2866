//! The crate's error type, [`RelayError`], with the workspace's one transient/permanent
//! classification ([`ErrorKind`], defined in `contracts`) that callers branch on: transient
//! errors are retried (reconnect, back off), permanent ones stop the relay with a message saying
//! what to fix. The kind is decided from SQLSTATEs and typed driver errors, never from a
//! message's wording.

use thiserror::Error;

use crate::domain::ack_tracker::AckError;
use crate::domain::lsn::Lsn;
use crate::domain::pgoutput::DecodeError;

/// Whether retrying can help: the workspace's one classification.
pub use eventing::ErrorKind;

/// Everything that can stop or interrupt the relay.
#[derive(Debug, Error)]
pub enum RelayError {
    #[error(
        "Postgres runs with wal_level = {actual}, logical replication needs wal_level = logical: \
         run `ALTER SYSTEM SET wal_level = logical` as a superuser and restart Postgres"
    )]
    WalLevelNotLogical { actual: String },
    #[error(
        "role {role:?} may not use logical replication (it lacks the REPLICATION attribute): \
         run `ALTER ROLE {role} WITH REPLICATION` as a superuser"
    )]
    MissingReplicationRight { role: String },
    #[error(
        "permission denied while {action}: {message} (SQLSTATE 42501); the relay's role needs \
         the REPLICATION attribute (slots) and must own the outbox table (CREATE PUBLICATION)"
    )]
    PermissionDenied { action: String, message: String },
    #[error(
        "replication slot {slot:?} uses output plugin {plugin:?}, the relay needs pgoutput: drop \
         the slot or pick another --slot-name"
    )]
    WrongSlotPlugin { slot: String, plugin: String },
    #[error("replication slot {slot:?} is active in another process")]
    SlotActive { slot: String },
    #[error("Postgres error while {action}: {message}{}", sqlstate.as_ref().map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default())]
    Postgres {
        action: String,
        message: String,
        sqlstate: Option<String>,
        transient: bool,
    },
    #[error("replication stream error: {message}")]
    Replication { message: String, transient: bool },
    #[error("cannot decode the pgoutput message at LSN {lsn}: {source}")]
    Decode { lsn: Lsn, source: DecodeError },
    #[error(
        "bad outbox row at LSN {lsn} in {table}: [{code}] {message} (policy `stop`; rerun with \
         --on-bad-row error-topic to publish it to the error topic instead)"
    )]
    BadRow {
        lsn: Lsn,
        table: String,
        code: &'static str,
        message: String,
    },
    #[error("acknowledgement protocol violated: {0}")]
    AckProtocol(#[from] AckError),
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl RelayError {
    /// Whether retrying can help.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RelayError::SlotActive { .. } => ErrorKind::Transient,
            RelayError::Postgres { transient, .. } | RelayError::Replication { transient, .. } => {
                if *transient {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Permanent
                }
            }
            RelayError::Kafka(_) => ErrorKind::Transient,
            RelayError::WalLevelNotLogical { .. }
            | RelayError::MissingReplicationRight { .. }
            | RelayError::PermissionDenied { .. }
            | RelayError::WrongSlotPlugin { .. }
            | RelayError::Decode { .. }
            | RelayError::BadRow { .. }
            | RelayError::AckProtocol(_)
            | RelayError::Config(_) => ErrorKind::Permanent,
        }
    }

    /// Map a Postgres error (SQLSTATE and message) met while doing `action` to the error that
    /// says what to fix. Pure, so the mapping is testable without a misconfigured server.
    pub fn from_sqlstate(action: &str, sqlstate: Option<&str>, message: &str, slot: &str) -> Self {
        match sqlstate {
            // insufficient_privilege
            Some("42501") => RelayError::PermissionDenied {
                action: action.to_owned(),
                message: message.to_owned(),
            },
            // object_in_use: "replication slot ... is active for PID ..."
            Some("55006") => RelayError::SlotActive {
                slot: slot.to_owned(),
            },
            code => RelayError::Postgres {
                action: action.to_owned(),
                message: message.to_owned(),
                sqlstate: code.map(str::to_owned),
                // Class 08 (connection exception), 57P (operator intervention: shutdown,
                // admin terminate), 53 (insufficient resources), 40 (rollback) can pass.
                transient: code.is_none_or(|c| {
                    ["08", "57P", "53", "40"]
                        .iter()
                        .any(|class| c.starts_with(class))
                }),
            },
        }
    }

    /// Map a `tokio_postgres` error met while doing `action`.
    pub fn from_postgres(action: &str, error: &tokio_postgres::Error, slot: &str) -> Self {
        match error.as_db_error() {
            Some(db) => Self::from_sqlstate(action, Some(db.code().code()), db.message(), slot),
            // No server error: the connection broke or could not be made.
            None => RelayError::Postgres {
                action: action.to_owned(),
                message: error.to_string(),
                sqlstate: None,
                transient: true,
            },
        }
    }

    /// Map a replication-protocol error. `pgwire-replication` (0.5) hands a server error over
    /// as one string, the ErrorResponse's SQLSTATE field appended as `(SQLSTATE xxxxx)` by the
    /// library; that machine code — never the message's wording — is what decides here. Other
    /// variants are classified by the library's typed `is_transient`.
    pub fn from_replication(error: &pgwire_replication::PgWireError, slot: &str) -> Self {
        if let pgwire_replication::PgWireError::Server(text) = error {
            let sqlstate = text
                .rsplit_once("(SQLSTATE ")
                .and_then(|(_, rest)| rest.strip_suffix(')'));
            return Self::from_sqlstate(
                "streaming from the replication slot",
                sqlstate,
                text,
                slot,
            );
        }
        RelayError::Replication {
            message: error.to_string(),
            transient: error.is_transient(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_privilege_says_what_to_grant() {
        let error = RelayError::from_sqlstate(
            "creating replication slot",
            Some("42501"),
            "permission denied to create replication slot",
            "s",
        );
        assert!(matches!(error, RelayError::PermissionDenied { .. }));
        assert_eq!(error.kind(), ErrorKind::Permanent);
        assert!(error.to_string().contains("REPLICATION attribute"));
    }

    #[test]
    fn wal_level_below_logical_says_how_to_fix_it() {
        let error = RelayError::WalLevelNotLogical {
            actual: "replica".into(),
        };
        assert_eq!(error.kind(), ErrorKind::Permanent);
        assert!(error.to_string().contains("wal_level = logical"));
        assert!(error.to_string().contains("restart Postgres"));
    }

    #[test]
    fn prerequisite_state_is_permanent_whatever_the_message_says() {
        // 55000 has several causes; the wal_level one is found by asking the server
        // (`SHOW wal_level`), never by reading this message.
        for message in [
            "logical decoding requires wal_level >= logical",
            "anything else",
        ] {
            let error = RelayError::from_sqlstate("creating slot", Some("55000"), message, "s");
            assert!(
                matches!(&error, RelayError::Postgres { sqlstate: Some(code), .. } if code == "55000"),
                "{error:?}"
            );
            assert_eq!(error.kind(), ErrorKind::Permanent);
        }
    }

    #[test]
    fn active_slot_is_transient() {
        let wire = pgwire_replication::PgWireError::Server(
            "replication slot \"outbox_relay\" is active for PID 42 (SQLSTATE 55006)".into(),
        );
        let error = RelayError::from_replication(&wire, "outbox_relay");
        assert!(matches!(error, RelayError::SlotActive { .. }));
        assert_eq!(error.kind(), ErrorKind::Transient);
    }

    #[test]
    fn connection_errors_are_transient_syntax_errors_permanent() {
        let broken = RelayError::from_sqlstate("x", Some("08006"), "connection failure", "s");
        assert_eq!(broken.kind(), ErrorKind::Transient);
        let syntax = RelayError::from_sqlstate("x", Some("42601"), "syntax error", "s");
        assert_eq!(syntax.kind(), ErrorKind::Permanent);
    }
}
