//! A Postgres connection string with libpq's TLS parameters, parsed once at start-up (pure).
//!
//! tokio-postgres understands `sslmode=disable|prefer|require` but not libpq's `verify-ca`,
//! `verify-full`, `sslrootcert`, `sslcert` or `sslkey` (it rejects them as unknown options).
//! [`PgUrl::parse`] takes those out of the URL (`postgres://…?sslmode=verify-full&sslrootcert=…`)
//! or the `key=value` form, keeps them in [`PgTls`], and hands the rest to tokio-postgres. The
//! TLS connector is built from [`PgTls`] in [`crate::postgres`] (pools and plain clients) and by
//! cdc-relay for its replication connection, so every connection of a service follows the same
//! settings.
//!
//! Modes mean what they mean in libpq:
//!
//! | `sslmode`     | encrypted           | server certificate checked            |
//! |---------------|---------------------|---------------------------------------|
//! | `disable`     | never               | –                                     |
//! | `prefer` (default) | if the server offers it | no                           |
//! | `require`     | always              | no; against `sslrootcert` when given (libpq does the same) |
//! | `verify-ca`   | always              | chain against `sslrootcert`           |
//! | `verify-full` | always              | chain and host name (or IP) against `sslrootcert` |
//!
//! `sslrootcert=system` trusts the system's CA store (libpq 16). `verify-ca`/`verify-full` without
//! `sslrootcert` is refused at start-up, as libpq refuses it when `~/.postgresql/root.crt` is
//! missing: a silent fall back to "trust anything" is what these modes exist to prevent.
//! `sslcert` and `sslkey` (PEM) are the client certificate for `cert` authentication (mTLS);
//! both or neither. Parameters this build cannot honour (`sslpassword`, `sslcrl`, `sslcrldir`,
//! `sslnegotiation`, `sslsni`, `requiressl`, `gssencmode`) are refused by name instead of being
//! silently ignored.
//!
//! The password never leaves this type by accident: `Debug` and `Display` print the string with
//! [`crate::redact_url`] applied.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, PgUrlError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(PgUrlError::InvalidSslMode(other.to_owned())),
        })
    }

    /// TLS must be used (no plaintext fall back).
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// Where the CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// A PEM file (`sslrootcert=/path/ca.crt`).
    File(PathBuf),
    /// The system's trust store (`sslrootcert=system`).
    System,
}

/// The TLS half of a connection string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgTls {
    pub mode: SslMode,
    pub root_certs: Option<RootCerts>,
    /// Client certificate chain (PEM) and its private key (PEM, unencrypted).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// What the server certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Anything is accepted (`prefer`, `require` without `sslrootcert`).
    None,
    /// Chain only.
    Chain,
    /// Chain and host name.
    ChainAndHost,
}

impl PgTls {
    /// What the server's certificate is checked for, libpq's way.
    pub fn verification(&self) -> Verification {
        match self.mode {
            SslMode::Disable | SslMode::Prefer => Verification::None,
            SslMode::Require if self.root_certs.is_some() => Verification::Chain,
            SslMode::Require => Verification::None,
            SslMode::VerifyCa => Verification::Chain,
            SslMode::VerifyFull => Verification::ChainAndHost,
        }
    }
}

/// Why a connection string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgUrlError {
    #[error(
        "invalid sslmode `{0}` (expected disable, allow, prefer, require, verify-ca or verify-full)"
    )]
    InvalidSslMode(String),
    #[error("sslmode={0} needs sslrootcert (a CA file, or `system` for the system trust store)")]
    MissingRootCert(&'static str),
    #[error("sslrootcert=system needs sslmode=verify-full (the default with it)")]
    SystemRootsNeedVerifyFull,
    #[error("sslcert and sslkey go together (client certificate and its key)")]
    HalfClientCert,
    #[error("`{0}` is not supported by this build; remove it from the connection string")]
    Unsupported(String),
    #[error("malformed connection string: {0}")]
    Malformed(String),
    #[error("invalid connection string: {0}")]
    Invalid(String),
}

/// A parsed connection string: tokio-postgres' settings plus [`PgTls`].
#[derive(Clone)]
pub struct PgUrl {
    raw: String,
    config: tokio_postgres::Config,
    tls: PgTls,
}

impl PgUrl {
    pub fn parse(raw: &str) -> Result<Self, PgUrlError> {
        let (rest, params) = split_tls_params(raw)?;
        let tls = tls_from_params(&params)?;
        let mut config = tokio_postgres::Config::from_str(&rest)
            // tokio-postgres' messages name the option, never the password's value.
            .map_err(|e| PgUrlError::Invalid(e.to_string()))?;
        config.ssl_mode(match tls.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        Ok(PgUrl {
            raw: raw.to_owned(),
            config,
            tls,
        })
    }

    /// tokio-postgres' settings (sslmode set from [`PgTls`]).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    pub fn tls(&self) -> &PgTls {
        &self.tls
    }

    /// The string as given, password included: only for handing to a driver.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The same connection with another database name (tests and tools that create databases).
    pub fn with_dbname(&self, dbname: &str) -> PgUrl {
        let mut copy = self.clone();
        copy.config.dbname(dbname);
        copy
    }
}

impl FromStr for PgUrl {
    type Err = PgUrlError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        PgUrl::parse(raw)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", crate::redact_url(&self.raw))
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::redact_url(&self.raw))
    }
}

/// clap parses a `PgUrl` flag with [`PgUrlParser`]: its errors name the flag and the cause but,
/// unlike clap's default message, never repeat the value (which holds the password).
impl clap::builder::ValueParserFactory for PgUrl {
    type Parser = PgUrlParser;
    fn value_parser() -> Self::Parser {
        PgUrlParser
    }
}

/// See [`PgUrl`]'s `ValueParserFactory`.
#[derive(Debug, Clone, Copy)]
pub struct PgUrlParser;

impl clap::builder::TypedValueParser for PgUrlParser {
    type Value = PgUrl;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<PgUrl, clap::Error> {
        let name = arg.map_or_else(|| "database URL".to_owned(), |a| a.to_string());
        let fail = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{name}: {why}\n"),
            )
        };
        let text = value
            .to_str()
            .ok_or_else(|| fail("not valid UTF-8".to_owned()))?;
        PgUrl::parse(text).map_err(|e| fail(e.to_string()))
    }
}

const TLS_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];
const UNSUPPORTED_KEYS: [&str; 7] = [
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslnegotiation",
    "sslsni",
    "requiressl",
    "gssencmode",
];

fn tls_from_params(params: &[(String, String)]) -> Result<PgTls, PgUrlError> {
    let get = |key: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mode = get("sslmode").map(SslMode::parse).transpose()?;
    let root_certs = get("sslrootcert").map(|v| match v {
        "system" => RootCerts::System,
        path => RootCerts::File(PathBuf::from(path)),
    });
    let client_cert = match (get("sslcert"), get("sslkey")) {
        (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
        (None, None) => None,
        _ => return Err(PgUrlError::HalfClientCert),
    };
    // libpq 16: with the system's CAs (anyone's certificate for any name), only verify-full
    // means something; it is the default then, and weaker modes are refused.
    if root_certs == Some(RootCerts::System) {
        return match mode {
            None | Some(SslMode::VerifyFull) => Ok(PgTls {
                mode: SslMode::VerifyFull,
                root_certs,
                client_cert,
            }),
            Some(_) => Err(PgUrlError::SystemRootsNeedVerifyFull),
        };
    }
    let mode = mode.unwrap_or_default();
    match mode {
        SslMode::VerifyCa if root_certs.is_none() => Err(PgUrlError::MissingRootCert("verify-ca")),
        SslMode::VerifyFull if root_certs.is_none() => {
            Err(PgUrlError::MissingRootCert("verify-full"))
        }
        _ => Ok(PgTls {
            mode,
            root_certs,
            client_cert,
        }),
    }
}

/// Take the TLS parameters out of a URL's query or a `key=value` string: `(the rest, params)`.
fn split_tls_params(raw: &str) -> Result<(String, Vec<(String, String)>), PgUrlError> {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        // The query starts after the user info (a password may hold an unencoded `?`).
        let after_userinfo = raw.find('@').unwrap_or(0);
        let Some(at) = raw[after_userinfo..].find('?').map(|i| i + after_userinfo) else {
            return Ok((raw.to_owned(), Vec::new()));
        };
        let (base, query) = (&raw[..at], &raw[at + 1..]);
        let mut kept = Vec::new();
        let mut taken = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key)?;
            check_supported(&key)?;
            if TLS_KEYS.contains(&key.as_str()) {
                taken.push((key, decode(value)?));
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((rest, taken))
    } else {
        let pairs = key_values(raw)?;
        let mut kept = Vec::new();
        let mut taken = Vec::new();
        for (key, value) in pairs {
            check_supported(&key)?;
            if TLS_KEYS.contains(&key.as_str()) {
                taken.push((key, value));
            } else {
                let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
                kept.push(format!("{key}='{quoted}'"));
            }
        }
        Ok((kept.join(" "), taken))
    }
}

fn check_supported(key: &str) -> Result<(), PgUrlError> {
    if UNSUPPORTED_KEYS.contains(&key) {
        Err(PgUrlError::Unsupported(key.to_owned()))
    } else {
        Ok(())
    }
}

fn decode(text: &str) -> Result<String, PgUrlError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| PgUrlError::Malformed("a query parameter is not UTF-8".into()))
}

/// libpq's `key = value` list; values may be single-quoted with `\` escapes.
fn key_values(raw: &str) -> Result<Vec<(String, String)>, PgUrlError> {
    let mut pairs = Vec::new();
    let mut chars = raw.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            // The "key" may be a mistyped URL with its password: never repeat it.
            return Err(PgUrlError::Malformed(
                "neither a postgres:// or postgresql:// URL nor key=value pairs".into(),
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(PgUrlError::Malformed(format!(
                            "the value of `{key}` has no closing quote"
                        )));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tls(raw: &str) -> PgTls {
        PgUrl::parse(raw).unwrap().tls().clone()
    }

    #[test]
    fn default_is_prefer_without_verification() {
        let url = PgUrl::parse("postgres://u:p@h:5433/db").unwrap();
        assert_eq!(url.tls(), &PgTls::default());
        assert_eq!(url.tls().verification(), Verification::None);
        assert_eq!(url.config().get_ports(), &[5433]);
        assert_eq!(url.config().get_dbname(), Some("db"));
    }

    #[test]
    fn url_tls_parameters_are_taken_out_and_the_rest_kept() {
        let url = PgUrl::parse(
            "postgres://u:p@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.crt&sslcert=/c.crt&sslkey=/c.key&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(url.tls().mode, SslMode::VerifyFull);
        assert_eq!(
            url.tls().root_certs,
            Some(RootCerts::File("/etc/ca.crt".into()))
        );
        assert_eq!(
            url.tls().client_cert,
            Some(("/c.crt".into(), "/c.key".into()))
        );
        assert_eq!(url.tls().verification(), Verification::ChainAndHost);
        assert_eq!(url.config().get_application_name(), Some("x"));
        assert_eq!(
            url.config().get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        assert_eq!(
            url.config().get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
    }

    #[test]
    fn key_value_form_works_too() {
        let url = PgUrl::parse(
            "host=h user=u password='s e\\'c' dbname=db sslmode=verify-ca sslrootcert='/a b/ca.crt'",
        )
        .unwrap();
        assert_eq!(url.tls().mode, SslMode::VerifyCa);
        assert_eq!(
            url.tls().root_certs,
            Some(RootCerts::File("/a b/ca.crt".into()))
        );
        assert_eq!(url.config().get_password(), Some(&b"s e'c"[..]));
        assert_eq!(url.tls().verification(), Verification::Chain);
    }

    #[test]
    fn modes_map_to_libpq_verification() {
        assert_eq!(
            tls("postgres://u@h/d?sslmode=disable").verification(),
            Verification::None
        );
        assert_eq!(
            tls("postgres://u@h/d?sslmode=require").verification(),
            Verification::None
        );
        assert_eq!(
            tls("postgres://u@h/d?sslmode=require&sslrootcert=/ca").verification(),
            Verification::Chain
        );
        assert_eq!(
            tls("postgres://u@h/d?sslmode=verify-full&sslrootcert=system").root_certs,
            Some(RootCerts::System)
        );
        assert_eq!(
            tls("postgres://u@h/d?sslrootcert=system").mode,
            SslMode::VerifyFull
        );
        assert_eq!(
            PgUrl::parse("postgres://u@h/d?sslmode=require&sslrootcert=system").unwrap_err(),
            PgUrlError::SystemRootsNeedVerifyFull
        );
    }

    #[test]
    fn unsafe_or_unknown_settings_are_refused_by_name() {
        let err = |raw: &str| PgUrl::parse(raw).unwrap_err();
        assert_eq!(
            err("postgres://u@h/d?sslmode=verify-full"),
            PgUrlError::MissingRootCert("verify-full")
        );
        assert_eq!(
            err("postgres://u@h/d?sslmode=verify-ca"),
            PgUrlError::MissingRootCert("verify-ca")
        );
        assert_eq!(
            err("postgres://u@h/d?sslmode=strict"),
            PgUrlError::InvalidSslMode("strict".into())
        );
        assert_eq!(
            err("postgres://u@h/d?sslcert=/c"),
            PgUrlError::HalfClientCert
        );
        assert_eq!(
            err("postgres://u@h/d?sslpassword=x"),
            PgUrlError::Unsupported("sslpassword".into())
        );
        assert_eq!(
            err("host=h sslcrl=/x"),
            PgUrlError::Unsupported("sslcrl".into())
        );
        assert!(matches!(
            err("host=h password='open"),
            PgUrlError::Malformed(_)
        ));
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_hide_the_tls_settings() {
        let url = PgUrl::parse("postgres://u:pa?ss@h/d?sslmode=require").unwrap();
        assert_eq!(url.tls().mode, SslMode::Require);
        assert_eq!(url.config().get_password(), Some(&b"pa?ss"[..]));
    }

    #[test]
    fn a_mistyped_url_is_refused_without_repeating_it() {
        let err = PgUrl::parse("postgress://u:hunter2@h/d").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn the_password_never_shows() {
        let url = PgUrl::parse("postgres://u:hunter2@h/d?sslmode=require").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(!format!("{url}").contains("hunter2"));
        let url = PgUrl::parse("host=h user=u password=hunter2").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "host=h user=u password=hunter2");
    }

    #[derive(Debug, clap::Parser)]
    struct Args {
        #[arg(long)]
        database_url: PgUrl,
    }

    #[test]
    fn a_flag_error_names_the_cause_but_not_the_password() {
        use clap::Parser;
        let err = Args::try_parse_from([
            "x",
            "--database-url",
            "postgres://u:hunter2@h/d?sslmode=verify-full",
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("sslmode=verify-full needs sslrootcert"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let ok = Args::try_parse_from(["x", "--database-url", "postgres://u:hunter2@h/d"]).unwrap();
        assert!(!format!("{ok:?}").contains("hunter2"));
    }

    proptest! {
        /// Whatever the password, the key=value form round-trips it to the driver and never
        /// shows it.
        #[test]
        fn key_value_passwords_round_trip(password in "[ -~]{1,24}") {
            let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
            let raw = format!("host=h user=u password='{quoted}' sslmode=require");
            let url = PgUrl::parse(&raw).unwrap();
            prop_assert_eq!(url.config().get_password(), Some(password.as_bytes()));
            prop_assert_eq!(url.tls().mode, SslMode::Require);
            prop_assert_eq!(
                format!("{url:?}"),
                "PgUrl(host=h user=u password=*** sslmode=require)"
            );
        }
    }
}
