//! TLS and SCRAM for real, and secrets that never leak (issue 9, items 1 and 7).
//!
//! The stack (`make up`) serves Postgres with `ssl=on` (a CA and server certificate it made with
//! openssl; `pipeline_tls` may only log in over TLS, `pipeline_cert` with a client certificate)
//! and Kafka with a SASL_SSL listener (SCRAM-SHA-512 user `pipeline`) and an SSL listener that
//! requires client certificates. Passwords are random per stack and come from `.stack/env`.
//!
//! - The whole pipeline runs over `verify-full` + SCRAM at debug log level; every order settles,
//!   every Postgres session of the services (the relays' replication connections included) is
//!   encrypted, and neither password appears in any log line or `/metrics` page.
//! - A wrong CA, a wrong password, plaintext where TLS is required, a host name the certificate
//!   does not name and a missing client certificate each fail with an error naming the cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e_tests::pipeline::{Pipeline, PipelineConfig, Security};
use e2e_tests::{START_STACK, StackEnv, connect_postgres, eventually};
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde_json::{Value, json};
use service_kit::postgres::{ConnectError, PgUrl, connect};

fn var(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| {
        panic!("{key} is not set: {START_STACK} and `source .stack/env` (make test does)")
    })
}

fn port() -> String {
    var("ORDERS_DATABASE_URL")
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(port, _)| port.to_owned())
        .unwrap()
}

/// `key=value` connection string to the orders database on the stack's Postgres.
fn pg(params: &str) -> PgUrl {
    PgUrl::parse(&format!(
        "host=127.0.0.1 port={} dbname=orders connect_timeout=10 {params}",
        port()
    ))
    .unwrap()
}

async fn connect_err(url: &PgUrl) -> String {
    match connect(url).await {
        Ok(_) => panic!("connected with {url}, expected a failure"),
        Err(e) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

/// The session's login role and whether its connection is encrypted (read by the superuser:
/// the stack's TLS roles act as `pipeline`, which may not see its own login's pg_stat_ssl row).
async fn ssl_in_use(url: &PgUrl) -> (String, bool) {
    let client = connect(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let row = client
        .query_one("SELECT session_user::text, pg_backend_pid()", &[])
        .await
        .unwrap();
    let (user, pid): (String, i32) = (row.get(0), row.get(1));
    let admin = connect_postgres(&StackEnv::from_env().admin_database_url).await;
    let ssl: bool = admin
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = $1", &[&pid])
        .await
        .unwrap()
        .get(0);
    (user, ssl)
}

#[tokio::test]
async fn postgres_tls_connects_as_configured_and_each_misconfiguration_names_its_cause() {
    let ca = var("TLS_CA_FILE");
    let untrusted = var("TLS_UNTRUSTED_CA_FILE");
    let password = var("POSTGRES_TLS_PASSWORD");
    let (cert, key) = (var("TLS_CLIENT_CERT_FILE"), var("TLS_CLIENT_KEY_FILE"));
    let tls_user = format!("user=pipeline_tls password={password}");

    // verify-full against the stack's CA: encrypted.
    let good = pg(&format!("{tls_user} sslmode=verify-full sslrootcert={ca}"));
    assert_eq!(ssl_in_use(&good).await, ("pipeline_tls".into(), true));
    // mTLS: the client certificate is the credential (`cert` authentication, CN = role).
    let mtls = pg(&format!(
        "user=pipeline_cert sslmode=verify-full sslrootcert={ca} sslcert={cert} sslkey={key}"
    ));
    assert_eq!(ssl_in_use(&mtls).await, ("pipeline_cert".into(), true));
    // require: encrypted without checking the certificate (libpq's meaning), even with a CA
    // that did not sign it.
    let require = pg(&format!("{tls_user} sslmode=require"));
    assert_eq!(ssl_in_use(&require).await, ("pipeline_tls".into(), true));
    // verify-ca checks the chain only: a host name the certificate does not name is fine...
    let other_name = |mode: &str| {
        PgUrl::parse(&format!(
            "host=db.invalid hostaddr=127.0.0.1 port={} dbname=orders {tls_user} sslmode={mode} \
             sslrootcert={ca}",
            port()
        ))
        .unwrap()
    };
    assert_eq!(
        ssl_in_use(&other_name("verify-ca")).await,
        ("pipeline_tls".into(), true)
    );
    // ...verify-full refuses it.
    let err = connect_err(&other_name("verify-full")).await;
    assert!(err.contains("certificate verify failed"), "{err}");
    assert!(err.to_lowercase().contains("hostname mismatch"), "{err}");

    // A CA that did not sign the server's certificate.
    let err = connect_err(&pg(&format!(
        "{tls_user} sslmode=verify-full sslrootcert={untrusted}"
    )))
    .await;
    assert!(err.contains("certificate verify failed"), "{err}");
    // A wrong password, over TLS.
    let err = connect_err(&pg(&format!(
        "user=pipeline_tls password=wrong-{password} sslmode=verify-full sslrootcert={ca}"
    )))
    .await;
    assert!(
        err.contains("password authentication failed for user \"pipeline_tls\""),
        "{err}"
    );
    assert!(
        !err.contains(&password),
        "the error repeats the password: {err}"
    );
    // Plaintext where the server requires TLS.
    let err = connect_err(&pg(&format!("{tls_user} sslmode=disable"))).await;
    assert!(err.contains("no encryption"), "{err}");
    // A certificate-authenticated role without its certificate.
    let err = connect_err(&pg(&format!(
        "user=pipeline_cert sslmode=verify-full sslrootcert={ca}"
    )))
    .await;
    assert!(err.contains("certificate"), "{err}");
    // A CA file that is not there: refused before any connection, naming the file.
    let missing = pg(&format!(
        "{tls_user} sslmode=verify-full sslrootcert=/nonexistent/ca.crt"
    ));
    match connect(&missing).await {
        Err(ConnectError::Tls(e)) => {
            assert!(
                e.to_string()
                    .contains("cannot use sslrootcert /nonexistent/ca.crt"),
                "{e}"
            )
        }
        other => panic!("expected a TLS setup error, got {other:?}"),
    }
}

/// Collects what librdkafka reports (errors and log lines) for the assertions.
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<String>>>);

impl ClientContext for Reports {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.0.lock().unwrap().push(format!("{fac}: {message}"));
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.lock().unwrap().push(format!("{error}: {reason}"));
    }
}

impl Reports {
    fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

/// A producer with eventing's settings plus `options`, reporting into a fresh [`Reports`].
fn producer(bootstrap: &str, options: &[String]) -> (FutureProducer<Reports>, Reports) {
    let parsed: Vec<(String, String)> = options
        .iter()
        .map(|o| {
            let (k, v) = o.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let mut args = eventing::kafka::KafkaArgs::local(bootstrap);
    args.kafka_options = parsed;
    let reports = Reports::default();
    let producer = args
        .client_config(&[("message.timeout.ms", "20000")])
        // rdkafka derives the level from the `log` crate's, which is off in a test binary.
        .set_log_level(RDKafkaLogLevel::Info)
        .create_with_context(reports.clone())
        .expect("producer config is valid (is librdkafka built with SSL?)");
    (producer, reports)
}

async fn reported(reports: &Reports, what: &str, needles: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = reports.text();
        if needles.iter().any(|n| text.contains(n)) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} ({needles:?}) within 30 s; librdkafka reported:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn kafka_sasl_ssl_with_scram_works_and_each_misconfiguration_names_its_cause() {
    let security = Security::from_stack_env();
    let env = StackEnv::from_env();
    let topic = e2e_tests::unique("security");
    eventing::kafka::create_topic(&env.kafka(), &topic, 1)
        .await
        .unwrap_or_else(|e| panic!("topic ({e}): {START_STACK}"));

    // The good configuration: a record goes through SASL_SSL + SCRAM-SHA-512, verified CA.
    let (good, _) = producer(&security.kafka_bootstrap_servers, &security.kafka_options);
    good.send(
        FutureRecord::to(&topic).key("k").payload("over tls"),
        Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|(e, _)| panic!("produce over SASL_SSL: {e}"));

    let with = |replace: &str, value: String| -> Vec<String> {
        security
            .kafka_options
            .iter()
            .map(|o| {
                if o.starts_with(&format!("{replace}=")) {
                    format!("{replace}={value}")
                } else {
                    o.clone()
                }
            })
            .collect()
    };
    let fails = |producer: &FutureProducer<Reports>| {
        producer
            .client()
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .is_err()
    };

    // A wrong CA.
    let (p, reports) = producer(
        &security.kafka_bootstrap_servers,
        &with("ssl.ca.location", var("TLS_UNTRUSTED_CA_FILE")),
    );
    assert!(fails(&p));
    let text = reported(
        &reports,
        "a certificate error",
        &["certificate verify failed"],
    )
    .await;
    assert!(text.contains("SSL handshake failed"), "{text}");

    // A wrong password.
    let (p, reports) = producer(
        &security.kafka_bootstrap_servers,
        &with(
            "sasl.password",
            format!("wrong-{}", security.kafka_password),
        ),
    );
    assert!(fails(&p));
    let text = reported(
        &reports,
        "an authentication error",
        &["Authentication failed"],
    )
    .await;
    assert!(text.contains("SCRAM-SHA-512"), "{text}");
    assert!(!text.contains(&security.kafka_password), "{text}");

    // Plaintext to the TLS listener: the broker hangs up on the first (plaintext) request.
    // librdkafka 2.12 says so without its older "connecting to a SSL listener?" hint.
    let (p, reports) = producer(&security.kafka_bootstrap_servers, &[]);
    assert!(fails(&p));
    let text = reported(
        &reports,
        "a hang-up on the first request",
        &["in state APIVERSION_QUERY"],
    )
    .await;
    assert!(text.contains("connection closed by peer"), "{text}");

    // mTLS listener: with the client certificate it works, without it the handshake fails.
    let ssl_bootstrap = var("KAFKA_SSL_BOOTSTRAP_SERVERS");
    let mtls = vec![
        "security.protocol=SSL".to_string(),
        format!("ssl.ca.location={}", var("TLS_CA_FILE")),
        format!("ssl.certificate.location={}", var("TLS_CLIENT_CERT_FILE")),
        format!("ssl.key.location={}", var("TLS_CLIENT_KEY_FILE")),
    ];
    let (p, _) = producer(&ssl_bootstrap, &mtls);
    p.send(
        FutureRecord::to(&topic).key("k").payload("over mtls"),
        Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|(e, _)| panic!("produce over mTLS: {e}"));
    let (p, reports) = producer(&ssl_bootstrap, &mtls[..2]);
    assert!(fails(&p));
    // The broker rejects the handshake: TLS alert 42, bad certificate (none was sent).
    reported(&reports, "a handshake failure", &["alert bad certificate"]).await;

    // Both records arrived (a consumer over SASL_SSL reads them).
    let consumer: BaseConsumer = {
        let mut args = eventing::kafka::KafkaArgs::local(&security.kafka_bootstrap_servers);
        args.kafka_options = security
            .kafka_options
            .iter()
            .map(|o| {
                let (k, v) = o.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        args.client_config(&[
            ("group.id", &e2e_tests::unique("security")),
            ("auto.offset.reset", "earliest"),
        ])
        .create()
        .unwrap()
    };
    consumer.subscribe(&[&topic]).unwrap();
    let mut seen = Vec::new();
    eventually(
        "both records over SASL_SSL",
        Duration::from_secs(60),
        || {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                seen.push(
                    String::from_utf8_lossy(rdkafka::Message::payload(&m).unwrap()).into_owned(),
                );
            }
            let done = seen.len() == 2;
            async move { done.then_some(()) }
        },
    )
    .await;
    seen.sort();
    assert_eq!(seen, ["over mtls", "over tls"]);
    let _ = good.flush(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_runs_over_verify_full_and_scram_and_no_secret_reaches_a_log_or_metrics() {
    let security = Security::from_stack_env();
    let mut config = PipelineConfig::for_tests("2m");
    config.prefix = "sec".into();
    config.security = Some(security.clone());
    config.service_env = vec![("LOG_LEVEL".into(), "debug".into())];
    let lp = Pipeline::start(&config).await;

    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for n in 0..5 {
        let r = http
            .post(format!("{}/orders", lp.api))
            .json(&json!({
                "customer_id": format!("sec-{n}"),
                "currency": "EUR",
                "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "12.50"}]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        ids.push(body["order_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        lp.wait_status(id, "PAID").await;
    }

    // Every Postgres session the role holds is encrypted, the relays' walsenders included.
    let admin = connect_postgres(&StackEnv::from_env().admin_database_url).await;
    let sessions: Vec<(String, String, bool)> = admin
        .query(
            "SELECT a.backend_type, coalesce(a.application_name, ''), s.ssl \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.usename = $1",
            &[&security.db_user],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(
        sessions.iter().any(|(kind, _, _)| kind == "walsender"),
        "no replication session of {}: {sessions:?}",
        security.db_user
    );
    assert!(
        sessions.iter().all(|(_, _, ssl)| *ssl),
        "a plaintext session: {sessions:?}"
    );

    // No secret in any log line or metrics page. Positive control: the logs are at debug level
    // (the relays log each published event) and the metrics pages answer.
    let logs = [
        &lp.relays[0],
        &lp.relays[1],
        &lp.gateway,
        &lp.order_producer,
        &lp.processor,
        &lp.dlq_handler,
    ]
    .map(|s| {
        (
            s.name,
            std::fs::read_to_string(&s.log).unwrap(),
            s.ready.replace("/readyz", "/metrics"),
        )
    });
    assert!(
        logs.iter()
            .any(|(_, log, _)| log.contains("event published")),
        "debug lines missing: the check below would prove nothing"
    );
    for (name, log, metrics_url) in &logs {
        let metrics = http
            .get(metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("# TYPE"),
            "{name}: {metrics_url} gave {metrics}"
        );
        for (what, secret) in [
            ("database password", &security.db_password),
            ("SCRAM password", &security.kafka_password),
        ] {
            assert!(
                !log.contains(secret.as_str()),
                "{name}'s log shows the {what}"
            );
            assert!(
                !metrics.contains(secret.as_str()),
                "{name}'s /metrics shows the {what}"
            );
        }
    }
}
