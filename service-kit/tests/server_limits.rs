//! The server's bounds on slow, idle and absent clients, over real TCP connections on 127.0.0.1:
//! each test starts `service_kit::server::serve_listener` with short timeouts and plays the
//! client byte by byte.

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::routing::{get, post};
use service_kit::HttpServerArgs;
use service_kit::http::{ApiError, JsonBodyRules, JsonMediaTypes};
use service_kit::server::serve_listener;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest any single wait in these tests may take before it fails.
const DEADLINE: Duration = Duration::from_secs(10);

fn json_error(err: &service_kit::http::JsonBodyError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed_json",
        format!("{err:?}"),
        None,
    )
}

const RULES: JsonBodyRules = JsonBodyRules {
    media_types: JsonMediaTypes::ApplicationJson,
    json_error,
};

fn app() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/echo",
            post(|request: Request| async move {
                RULES
                    .read::<serde_json::Value, ()>(request, &())
                    .await
                    .map(axum::Json)
            }),
        )
}

struct Server {
    addr: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(limits: HttpServerArgs) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let cancel = CancellationToken::new();
        let task = tokio::spawn({
            let cancel = cancel.clone();
            async move { serve_listener(listener, app(), limits, cancel).await }
        });
        Self { addr, cancel, task }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.expect("connect")
    }
}

fn limits(header: u64, body: u64, idle: u64, max_connections: u32) -> HttpServerArgs {
    HttpServerArgs {
        header_read_timeout: Duration::from_millis(header),
        body_read_timeout: Duration::from_millis(body),
        idle_timeout: Duration::from_millis(idle),
        max_connections,
    }
}

/// Read until the server closes the connection; what was read and when it closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Instant) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server did not close the connection within {DEADLINE:?}; got {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        Instant::now(),
    )
}

/// Read one response (head + `Content-Length` body) from a connection that stays open.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().expect("a length"))
                })
                .unwrap_or(0);
            if received.len() >= head_end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
            .await
            .expect("a response within the deadline")
            .expect("read");
        assert!(n > 0, "closed before a full response: {text:?}");
        received.extend_from_slice(&buf[..n]);
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let server = Server::start(limits(300, 5_000, 60_000, 16)).await;
    let opened = Instant::now();
    let mut silent = server.connect().await;
    let (received, closed) = read_until_closed(&mut silent).await;
    assert_eq!(received, "", "nothing is answered to nothing");
    let held = closed - opened;
    assert!(held >= Duration::from_millis(290), "closed early: {held:?}");
}

#[tokio::test]
async fn an_incomplete_request_head_is_closed_after_the_header_read_timeout() {
    let server = Server::start(limits(300, 5_000, 60_000, 16)).await;
    let opened = Instant::now();
    let mut slow = server.connect().await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
        .await
        .expect("write");
    let (received, closed) = read_until_closed(&mut slow).await;
    assert_eq!(received, "");
    assert!(closed - opened >= Duration::from_millis(290));
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout_not_the_header_timeout() {
    let server = Server::start(limits(200, 5_000, 1_500, 16)).await;
    let mut client = server.connect().await;
    client.write_all(HEALTHZ).await.expect("write");
    let response = read_response(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let answered = Instant::now();
    let (received, closed) = read_until_closed(&mut client).await;
    assert_eq!(received, "");
    let idle = closed - answered;
    assert!(
        idle >= Duration::from_millis(1_400),
        "a kept-alive connection must get the idle timeout (1.5 s), not the header timeout (200 ms): closed after {idle:?}"
    );
}

#[tokio::test]
async fn a_started_second_head_gets_the_header_timeout_from_its_first_byte() {
    let server = Server::start(limits(300, 5_000, 60_000, 16)).await;
    let mut client = server.connect().await;
    client.write_all(HEALTHZ).await.expect("write");
    assert!(read_response(&mut client).await.starts_with("HTTP/1.1 200"));
    client.write_all(b"GET /heal").await.expect("write");
    let started = Instant::now();
    let (received, closed) = read_until_closed(&mut client).await;
    assert_eq!(received, "");
    let held = closed - started;
    assert!(
        held >= Duration::from_millis(250) && held < Duration::from_secs(5),
        "{held:?}"
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408_and_the_connection_closed() {
    let server = Server::start(limits(5_000, 300, 60_000, 16)).await;
    let mut client = server.connect().await;
    client
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
        )
        .await
        .expect("write");
    let sent = Instant::now();
    let (received, closed) = read_until_closed(&mut client).await;
    assert!(received.starts_with("HTTP/1.1 408"), "{received}");
    assert!(
        received
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{received}"
    );
    assert!(
        received.contains("\"code\":\"body_read_timeout\""),
        "{received}"
    );
    assert!(closed - sent >= Duration::from_millis(290));
}

#[tokio::test]
async fn a_body_dripped_byte_by_byte_is_cut_at_the_total_deadline() {
    let server = Server::start(limits(5_000, 600, 60_000, 16)).await;
    let mut client = server.connect().await;
    client
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n",
        )
        .await
        .expect("write");
    let started = Instant::now();
    // One byte every 100 ms: each gap is far below the timeout, the total is not.
    let mut sent = 0;
    let mut answer = [0u8; 16];
    let first = loop {
        if sent < 39 {
            client.write_all(b" ").await.expect("write");
            sent += 1;
        }
        // Paces the drip: waits 100 ms for an answer before the next byte.
        let peeked = tokio::time::timeout(Duration::from_millis(100), client.peek(&mut answer));
        if let Ok(Ok(n)) = peeked.await
            && n > 0
        {
            break String::from_utf8_lossy(&answer[..n]).into_owned();
        }
        assert!(started.elapsed() < DEADLINE, "no answer to a dripped body");
    };
    assert!(first.starts_with("HTTP/1.1 408"), "{first}");
    let cut_after = started.elapsed();
    assert!(
        cut_after >= Duration::from_millis(550) && cut_after < Duration::from_millis(3_000),
        "{cut_after:?}"
    );
    assert!(
        sent < 39,
        "cut before the body was complete ({sent} bytes sent)"
    );
}

#[tokio::test]
async fn a_complete_body_is_read_normally() {
    let server = Server::start(limits(5_000, 2_000, 60_000, 16)).await;
    let mut client = server.connect().await;
    client
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        )
        .await
        .expect("write");
    let response = read_response(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("{\"a\":1}"), "{response}");
}

#[tokio::test]
async fn at_the_connection_cap_a_new_client_waits_for_a_stalled_one_to_be_cut() {
    let cap = 4;
    let server = Server::start(limits(600, 5_000, 60_000, cap)).await;
    // Positive control: below the cap /healthz answers at once.
    let mut first = server.connect().await;
    first.write_all(HEALTHZ).await.expect("write");
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));
    drop(first);

    let opened = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..cap + 2 {
        stalled.push(server.connect().await);
    }
    let mut probe = server.connect().await;
    probe.write_all(HEALTHZ).await.expect("write");
    let response = read_response(&mut probe).await;
    let waited = opened.elapsed();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        waited >= Duration::from_millis(550),
        "the probe was served before any stalled connection was cut ({waited:?}): the cap did not hold"
    );
    for mut connection in stalled {
        let (received, _) = read_until_closed(&mut connection).await;
        assert_eq!(received, "");
    }
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_returns() {
    let server = Server::start(limits(60_000, 60_000, 60_000, 16)).await;
    let mut kept = server.connect().await;
    kept.write_all(HEALTHZ).await.expect("write");
    assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"));
    server.cancel.cancel();
    tokio::time::timeout(DEADLINE, server.task)
        .await
        .expect("shutdown does not wait for idle connections")
        .expect("server task");
    let (received, _) = read_until_closed(&mut kept).await;
    assert_eq!(received, "");
}
