//! Flags every binary shares.

use super::{LogFormat, init_tracing};

/// Logging flags shared by every binary.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides it.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl LogArgs {
    pub fn init(&self) {
        init_tracing(self.log_format, &self.log_level);
    }
}
