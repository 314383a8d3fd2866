//! The real order-producer binary (own database on the local stack, no Kafka consumer) under
//! connections that never finish: silent, half-header and announced-but-unsent-body
//! connections, more than `--http-max-connections` and more than the process may open files
//! (`ulimit -n`, the 1,024 descriptors and 1,100 idle connections scaled down).
//! `/healthz` must still answer, and the server must close every stalled connection after its
//! timeout (seen by the client as an end of stream, and in `/metrics`).

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{START_STACK, connect, database_url, poll_until, registry_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use uuid::Uuid;

const MAX_CONNECTIONS: usize = 20;
/// The process' file-descriptor limit: fewer than the stalled connections.
const OPEN_FILES: usize = 100;
/// Of each kind; three kinds, so more than the descriptor limit.
const STALLED_PER_KIND: usize = 40;
const TIMEOUT: Duration = Duration::from_secs(1);
const _: () = assert!(3 * STALLED_PER_KIND > OPEN_FILES && OPEN_FILES > MAX_CONNECTIONS);
const DEADLINE: Duration = Duration::from_secs(30);

fn admin_url() -> String {
    std::env::var("POSTGRES_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:54329/postgres".into())
}

/// The orders URL with another database name (query parameters kept).
fn url_for_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    if query.is_empty() {
        format!("{server}/{database}")
    } else {
        format!("{server}/{database}?{query}")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The service process and its database; both go away on drop.
struct Service {
    child: Child,
    port: u16,
    log: PathBuf,
    database: String,
}

impl Service {
    async fn start() -> Self {
        let database = format!("op_slow_{}", Uuid::new_v4().simple());
        connect(&admin_url())
            .await
            .batch_execute(&format!("CREATE DATABASE {database} OWNER pipeline"))
            .await
            .unwrap_or_else(|e| panic!("create database ({e}): {START_STACK}"));
        let port = free_port();
        let log = std::env::temp_dir().join(format!("{database}.log"));
        let timeout = format!("{}ms", TIMEOUT.as_millis());
        let child = Command::new("sh")
            .args([
                "-c",
                &format!("ulimit -n {OPEN_FILES} && exec \"$0\" \"$@\""),
                env!("CARGO_BIN_EXE_order-producer"),
                "--listen-addr",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                &url_for_database(&database_url(), &database),
                "--schema-registry-url",
                &registry_url(),
                "--disable-consumer",
                "--http-max-connections",
                &MAX_CONNECTIONS.to_string(),
                "--http-header-read-timeout",
                &timeout,
                "--http-body-read-timeout",
                &timeout,
                "--http-idle-timeout",
                &timeout,
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("the order-producer binary starts");
        let service = Self {
            child,
            port,
            log,
            database,
        };
        poll_until("order-producer to be ready", DEADLINE, || async {
            get(service.port, "/readyz", Duration::from_secs(2))
                .await
                .filter(|r| r.starts_with("HTTP/1.1 200"))
        })
        .await;
        service
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = connect(&admin_url())
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .await;
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One request on a new connection (`Connection: close`); the whole answer, or `None` when it
/// does not come within `within`.
async fn get(port: u16, path: &str, within: Duration) -> Option<String> {
    tokio::time::timeout(within, async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        Some(String::from_utf8_lossy(&answer).into_owned())
    })
    .await
    .ok()
    .flatten()
}

/// Read until the server closes the connection: what it sent, and when.
async fn until_closed(mut stream: TcpStream) -> (String, Instant) {
    let mut received = Vec::new();
    let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut received)).await;
    assert!(
        read.is_ok(),
        "the server held a stalled connection for more than {DEADLINE:?}"
    );
    (
        String::from_utf8_lossy(&received).into_owned(),
        Instant::now(),
    )
}

#[tokio::test]
async fn healthz_answers_while_more_stalled_connections_than_the_cap_are_open() {
    let service = Service::start().await;
    let port = service.port;
    // Positive control: with nothing stalled, /healthz answers at once.
    let before = get(port, "/healthz", Duration::from_secs(2)).await;
    assert!(
        before
            .as_deref()
            .is_some_and(|r| r.starts_with("HTTP/1.1 200")),
        "{before:?}\n{}",
        service.log_tail()
    );

    let opened = Instant::now();
    let mut silent = Vec::new();
    let mut half_header = Vec::new();
    let mut no_body = Vec::new();
    for _ in 0..STALLED_PER_KIND {
        silent.push(
            TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect"),
        );
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        // Written to the socket even while the server has not accepted it yet (backlog).
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
            .await
            .expect("write");
        half_header.push(stream);
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream
            .write_all(
                b"POST /orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"customer_id\":",
            )
            .await
            .expect("write");
        no_body.push(stream);
    }

    // /healthz answers while they are open: at most a timeout's wait for a free slot.
    let answered = poll_until("/healthz to answer 200", DEADLINE, || async {
        get(port, "/healthz", Duration::from_secs(3))
            .await
            .filter(|r| r.starts_with("HTTP/1.1 200"))
    })
    .await;
    assert!(answered.contains("\"status\":\"ok\""), "{answered}");

    // Every stalled connection is closed by the server, none before its timeout.
    let closes = futures::future::join_all(
        silent
            .into_iter()
            .chain(half_header)
            .chain(no_body)
            .map(until_closed),
    )
    .await;
    let mut timed_out_bodies = 0;
    for (received, closed) in &closes {
        assert!(
            *closed - opened >= TIMEOUT - Duration::from_millis(50),
            "closed before its timeout"
        );
        if received.is_empty() {
            continue;
        }
        assert!(received.starts_with("HTTP/1.1 408"), "{received}");
        assert!(
            received.contains("\"code\":\"body_read_timeout\""),
            "{received}"
        );
        timed_out_bodies += 1;
    }
    assert_eq!(
        timed_out_bodies, STALLED_PER_KIND,
        "each unsent body gets a 408 problem"
    );

    let metrics = get(port, "/metrics", Duration::from_secs(5))
        .await
        .expect("/metrics answers once the stalled connections are gone");
    let stalled = |phase: &str| -> f64 {
        let prefix =
            format!("order_producer_http_stalled_connections_closed_total{{phase=\"{phase}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        stalled("idle") >= STALLED_PER_KIND as f64,
        "silent connections counted: {metrics}"
    );
    assert!(
        stalled("header") >= STALLED_PER_KIND as f64,
        "half-header connections counted: {metrics}"
    );
    for name in [
        "order_producer_http_open_connections",
        "order_producer_http_stalled_connections_closed_total",
    ] {
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{metrics}"
        );
    }
    service.stop().await;
}
