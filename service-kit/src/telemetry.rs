//! Tracing set-up (text or JSON lines) and secret-free rendering of connection strings.

use tracing_subscriber::{EnvFilter, fmt};

/// Log line format, chosen by `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Install the global subscriber. `RUST_LOG` overrides `default_filter`. Safe to call twice.
/// JSON lines carry the fields of every enclosing span (`spans`: e.g. the consumer runtime's
/// `record` span with `trace_id`, topic, partition and offset).
pub fn init_tracing(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
}

/// A connection string with every secret replaced by `***`, for logs and error messages:
/// - a URL's password (`scheme://user:secret@host/...`, the last `@` before the query
///   separates it, so an unencoded `@` or `/` in the password is still hidden);
/// - URL query parameters whose name says secret (`?password=`, `sslpassword=`, `token=`, …);
/// - `key=value` connection strings (libpq style, values optionally single-quoted):
///   `host=db password='s e c' user=u` → `host=db password=*** user=u`.
pub fn redact_url(raw: &str) -> String {
    redact(raw)
}

/// A URL that may carry credentials (a schema registry's or a gateway's `https://user:pass@…`,
/// a token query parameter): `Debug` and `Display` show it through [`redact_url`]; the driver
/// gets it from [`RedactedUrl::expose`]. A configuration struct holding one can derive `Debug`
/// safely.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    pub fn new(url: impl Into<String>) -> Self {
        RedactedUrl(url.into())
    }

    /// The URL as given, credentials included: only for handing to a client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RedactedUrl {
    type Err = std::convert::Infallible;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(RedactedUrl(raw.to_owned()))
    }
}

impl std::fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact(&self.0))
    }
}

impl std::fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

fn redact(raw: &str) -> String {
    match raw.split_once("://") {
        // Only a real scheme makes a URL: `host=h password=a://b` is key=value.
        Some((scheme, rest)) if is_scheme(scheme) => {
            // A `?` before the last `@` is ambiguous: a password holding `?` or a query value
            // holding `@`. Either reading may put a secret anywhere: show nothing of it.
            if let (Some(q), Some(at)) = (rest.find('?'), rest.rfind('@'))
                && q < at
            {
                return format!("{scheme}://***");
            }
            let (before_query, query) = match rest.split_once('?') {
                Some((b, q)) => (b, Some(q)),
                None => (rest, None),
            };
            let authority_and_path = match before_query.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => before_query.to_string(),
                },
                None => before_query.to_string(),
            };
            let query = query.map(|q| {
                q.split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((name, _)) if is_secret_name(name) => format!("{name}=***"),
                        _ => pair.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            });
            match query {
                Some(q) => format!("{scheme}://{authority_and_path}?{q}"),
                None => format!("{scheme}://{authority_and_path}"),
            }
        }
        _ if raw.contains('=') => redact_key_values(raw),
        _ => raw.to_string(),
    }
}

/// `[A-Za-z][A-Za-z0-9+.-]*` (RFC 3986).
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
}

/// Whether a parameter name names a secret (case-insensitive).
fn is_secret_name(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "user.info",
        "userinfo",
    ]
    .iter()
    .any(|word| name.contains(word))
        || name == "pwd"
}

/// `key=value` pairs separated by whitespace; a value may be single-quoted (with `\'` and
/// `\\` escapes) and contain spaces. Secret values become `***`; the rest is kept as written.
fn redact_key_values(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            out.push(c);
            chars.next();
            continue;
        }
        // A key, then optional spaces, `=`, optional spaces, a value.
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        out.push_str(&key);
        let mut gap = String::new();
        while let Some(&c) = chars.peek() {
            if !c.is_whitespace() {
                break;
            }
            gap.push(c);
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            out.push_str(&gap);
            continue;
        }
        chars.next();
        out.push_str(&gap);
        out.push('=');
        while let Some(&c) = chars.peek() {
            if !c.is_whitespace() {
                break;
            }
            out.push(c);
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            value.push('\'');
            chars.next();
            while let Some(c) = chars.next() {
                value.push(c);
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '\'' => break,
                    _ => {}
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        if is_secret_name(&key) {
            out.push_str("***");
        } else {
            out.push_str(&value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{RedactedUrl, redact_url};

    #[test]
    fn key_values_holding_a_scheme_like_value_and_question_marks_in_passwords_stay_hidden() {
        let shown = redact_url("host=h password=a://b user=u");
        assert!(!shown.contains("a://b"), "{shown}");
        let shown = redact_url("postgres://u:pa?ss@h/d?sslmode=require");
        assert_eq!(shown, "postgres://***");
    }

    #[test]
    fn redacted_url_hides_credentials_in_debug_and_display_but_hands_them_to_the_client() {
        let url: RedactedUrl = "https://reg:s3cret@registry.example/apis?token=t0ken"
            .parse()
            .unwrap();
        for shown in [format!("{url:?}"), format!("{url}")] {
            assert!(
                !shown.contains("s3cret") && !shown.contains("t0ken"),
                "{shown}"
            );
            assert!(shown.contains("registry.example"), "{shown}");
        }
        assert_eq!(
            url.expose(),
            "https://reg:s3cret@registry.example/apis?token=t0ken"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("127.0.0.1:9092"), "127.0.0.1:9092");
    }

    #[test]
    fn passwords_in_queries_and_key_value_strings_are_redacted() {
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=s3cret&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss/w@rd@h:5432/db?sslpassword=k"),
            "postgres://u:***@h:5432/db?sslpassword=***"
        );
        assert_eq!(
            redact_url("host=db user=u password=s3cret dbname=orders"),
            "host=db user=u password=*** dbname=orders"
        );
        assert_eq!(
            redact_url("host=db password = 'a b\\' c' port=5432"),
            "host=db password = *** port=5432"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8081/apis/ccompat/v7"),
            "http://127.0.0.1:8081/apis/ccompat/v7"
        );
    }

    proptest::proptest! {
        /// Whatever the password (URL-safe or not), it is not in the redacted text.
        #[test]
        fn a_password_never_survives(password in "[A-Za-z0-9!#$%^*()_+/@:~.-]{6,24}") {
            let forms = [
                format!("postgres://user:{password}@db.example:5432/orders"),
                format!("postgres://db.example/orders?password={password}"),
                format!("host=db.example user=user password={password} dbname=orders"),
                format!("host=db.example password='{password}' dbname=orders"),
            ];
            for form in forms {
                let redacted = redact_url(&form);
                proptest::prop_assert!(!redacted.contains(&password), "{form} -> {redacted}");
            }
        }
    }
}
