//! The ledger's `synchronous_commit` setting, chosen by `--synchronous-commit`. The pool itself
//! is `service_kit::postgres`'s; this setting reaches every session through
//! [`PgSettings::options`](service_kit::postgres::PgSettings::options).

/// Postgres `synchronous_commit` for the ledger's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SynchronousCommit {
    /// A commit returns before its WAL is flushed: cheap. If the Postgres SERVER crashes, the
    /// last few hundred milliseconds of ledger rows can be lost (never half a row, never a
    /// corrupt table). A crash of the simulator itself loses nothing that was answered.
    Off,
    /// A commit returns once its WAL is on disk: full durability, one fsync per charge.
    On,
}

impl SynchronousCommit {
    fn as_setting(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::On => "on",
        }
    }

    /// This choice as a server setting for [`PgSettings::options`](service_kit::postgres::PgSettings::options).
    pub fn server_setting(self) -> (String, String) {
        (
            "synchronous_commit".to_owned(),
            self.as_setting().to_owned(),
        )
    }
}
