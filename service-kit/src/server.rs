//! The HTTP server every service runs (its API and/or `/healthz`, `/readyz`, `/metrics`): HTTP/1.1
//! on hyper, with bounds on what a slow, idle or absent client can hold.
//!
//! Dataflow: the accept loop takes a permit of a semaphore of `--http-max-connections` before it
//! accepts, so at the cap it stops accepting and new connections wait in the kernel's listen
//! backlog (served as soon as a connection closes; none is refused by us). Each accepted
//! connection runs in its own task: hyper serves requests one after the other, every request
//! body is wrapped in a [`DeadlineBody`], and a watchdog closes the connection when the client
//! stalls outside a request.
//!
//! | a client that… | is stopped by | after |
//! |---|---|---|
//! | opens a connection and sends nothing, or not a complete request head | watchdog, closes the connection | `--http-header-read-timeout` from the accept |
//! | keeps a connection open after a response and sends nothing | watchdog, closes the connection | `--http-idle-timeout` from the end of that response |
//! | starts the next request head on a kept-alive connection but does not finish it | watchdog, closes the connection | `--http-header-read-timeout` from the head's first byte |
//! | announces a body and sends it too slowly, or not at all | [`DeadlineBody`]: the handler reading it gets [`BodyReadTimeout`], answered `408 body_read_timeout` + `Connection: close` | `--http-body-read-timeout` from the handler's first read |
//!
//! The idle and header timeouts are split as in Go's `net/http` and Envoy (hyper has one timer
//! for both, so a short header timeout would also cut kept-alive connections that client pools,
//! e.g. reqwest's 90 s, expect to reuse). The watchdog only looks at a connection while no
//! request is in flight: the time a handler takes is bounded by its own timeouts (database,
//! gateway). On shutdown the server stops accepting, lets in-flight requests finish, closes idle
//! connections at once, and returns when every connection has ended.
//!
//! One approximation: bytes of a pipelined next request that arrive while the previous one is
//! in flight are not seen as its start, so an incomplete pipelined head gets the idle timeout,
//! not the header timeout (still bounded).
//!
//! HTTP/2 is not served (no h2c): every client of these services speaks HTTP/1.1.

use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Metric `<service>_http_open_connections`: connections open now.
pub const METRIC_OPEN_CONNECTIONS: &str = "http_open_connections";
/// Metric `<service>_http_stalled_connections_closed_total`: connections the server closed
/// because the client stalled, by `phase` (`idle`: no byte of a request; `header`: an
/// incomplete request head).
pub const METRIC_STALLED_CONNECTIONS: &str = "http_stalled_connections_closed_total";

/// The server's metric names for this service (`<service>_` + the constants above), built once.
fn metric_names() -> &'static (String, String) {
    static NAMES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        (
            crate::ops::service_metric(METRIC_OPEN_CONNECTIONS),
            crate::ops::service_metric(METRIC_STALLED_CONNECTIONS),
        )
    })
}

/// HELP text of the server's metrics (called when the recorder is installed).
pub(crate) fn describe_metrics() {
    let (open, stalled) = metric_names();
    metrics::describe_gauge!(open.clone(), "HTTP connections open now");
    metrics::describe_counter!(
        stalled.clone(),
        "HTTP connections closed because the client stalled, by phase (idle: no byte of a \
         request; header: an incomplete request head)"
    );
}

/// Bounds on slow, idle and absent clients, shared by every binary (`--help` shows them).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct HttpServerArgs {
    /// Longest time a client has to send a complete request head: from the accept on a new
    /// connection, from the first byte of the head on a kept-alive one. Then the server closes
    /// the connection. Format: humantime (`10s`, `500ms`).
    #[arg(
        long = "http-header-read-timeout",
        env = "HTTP_HEADER_READ_TIMEOUT",
        default_value = "10s",
        value_parser = parse_positive_duration
    )]
    pub header_read_timeout: Duration,

    /// Longest time a handler waits for the rest of a request body, from its first read; then
    /// the request is answered `408 body_read_timeout` and the connection closed. Format:
    /// humantime.
    #[arg(
        long = "http-body-read-timeout",
        env = "HTTP_BODY_READ_TIMEOUT",
        default_value = "30s",
        value_parser = parse_positive_duration
    )]
    pub body_read_timeout: Duration,

    /// How long a kept-alive connection may wait for the first byte of its next request before
    /// the server closes it. Longer than common client pools' idle time (reqwest: 90s), so
    /// clients do not reuse a connection the server is closing. Format: humantime.
    #[arg(
        long = "http-idle-timeout",
        env = "HTTP_IDLE_TIMEOUT",
        default_value = "2m",
        value_parser = parse_positive_duration
    )]
    pub idle_timeout: Duration,

    /// Most connections open at once. At the cap the server stops accepting: new connections
    /// wait in the kernel's listen backlog until one closes (the timeouts above make sure one
    /// does). Keep it below the process' file-descriptor limit (`ulimit -n`) minus what the
    /// database pool and Kafka clients need.
    #[arg(
        long = "http-max-connections",
        env = "HTTP_MAX_CONNECTIONS",
        default_value_t = 512,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_connections: u32,
}

impl Default for HttpServerArgs {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections: 512,
        }
    }
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be greater than 0".into()),
        Ok(duration) => Ok(duration),
        Err(e) => Err(e.to_string()),
    }
}

/// A request body did not arrive within `--http-body-read-timeout`. Found in the error chain of a
/// body read (`service_kit::http::JsonBodyRules` answers it with 408).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyReadTimeout;

impl std::fmt::Display for BodyReadTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive within the body read timeout")
    }
}

impl std::error::Error for BodyReadTimeout {}

/// A request body that fails with [`BodyReadTimeout`] when it is not complete `timeout` after
/// its first poll (a total bound: a client dripping one byte at a time does not reset it).
#[derive(Debug)]
pub struct DeadlineBody<B> {
    inner: B,
    timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: None,
        }
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let timeout = this.timeout;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        // The body first: what has arrived is delivered even at the deadline.
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyReadTimeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a connection's watchdog knows of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ActivityState {
    /// Requests whose head was read and whose response body is not finished.
    pub(crate) in_flight: usize,
    /// When the connection last became free of requests (the accept, or the end of a response).
    pub(crate) waiting_since: Instant,
    /// No request has been read on this connection yet.
    pub(crate) first_request: bool,
    /// The first byte received since `waiting_since`, if any.
    pub(crate) first_byte_at: Option<Instant>,
}

/// Which wait a stalled connection was cut in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StallPhase {
    /// Not one byte of a request arrived.
    Idle,
    /// A request head was started but not finished.
    Header,
}

impl StallPhase {
    fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Header => "header",
        }
    }
}

/// The timeouts the watchdog applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WatchdogLimits {
    pub(crate) header_read: Duration,
    pub(crate) idle: Duration,
}

/// When the connection must be closed if nothing changes, and why; `None` while a request is in
/// flight. Pure.
pub(crate) fn stall_deadline(
    state: &ActivityState,
    limits: WatchdogLimits,
) -> Option<(Instant, StallPhase)> {
    if state.in_flight > 0 {
        return None;
    }
    let phase = if state.first_byte_at.is_some() {
        StallPhase::Header
    } else {
        StallPhase::Idle
    };
    let deadline = match (state.first_request, state.first_byte_at) {
        // A new connection owes a complete head within the header timeout of its accept.
        (true, _) => state.waiting_since + limits.header_read,
        (false, Some(first_byte)) => first_byte + limits.header_read,
        (false, None) => state.waiting_since + limits.idle,
    };
    Some((deadline, phase))
}

/// The activity of one connection, shared by its I/O, its requests and its watchdog.
#[derive(Debug)]
struct ConnectionActivity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

impl ConnectionActivity {
    fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                waiting_since: now,
                first_request: true,
                first_byte_at: None,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, ActivityState> {
        // The state is plain data, valid after any panic while it was held.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bytes_received(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.first_byte_at.is_none() {
            state.first_byte_at = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlightRequest {
        let mut state = self.state();
        state.in_flight += 1;
        state.first_request = false;
        state.first_byte_at = None;
        drop(state);
        self.changed.notify_one();
        InFlightRequest(Arc::clone(self))
    }

    fn request_finished(&self) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.waiting_since = Instant::now();
            state.first_byte_at = None;
        }
        drop(state);
        self.changed.notify_one();
    }
}

/// Held by a request's response body: the request is in flight until the body is dropped
/// (hyper drops it once it has been written).
#[derive(Debug)]
struct InFlightRequest(Arc<ConnectionActivity>);

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A TCP stream that reports received bytes to the connection's activity.
#[derive(Debug)]
struct ObservedStream {
    inner: TcpStream,
    activity: Arc<ConnectionActivity>,
}

impl AsyncRead for ObservedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_received();
        }
        result
    }
}

impl AsyncWrite for ObservedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Serve `router` on `addr` until `cancel` fires, then finish in-flight requests and return
/// when every connection has ended.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    limits: HttpServerArgs,
    cancel: CancellationToken,
) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(
        %addr,
        header_read_timeout = ?limits.header_read_timeout,
        body_read_timeout = ?limits.body_read_timeout,
        idle_timeout = ?limits.idle_timeout,
        max_connections = limits.max_connections,
        "HTTP listening"
    );
    serve_listener(listener, router, limits, cancel).await;
    Ok(())
}

/// [`serve`] on a bound listener.
pub async fn serve_listener(
    listener: TcpListener,
    router: Router,
    limits: HttpServerArgs,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections as usize));
    let connections = TaskTracker::new();
    let mut at_capacity = false;
    loop {
        if permits.available_permits() == 0 && !at_capacity {
            tracing::warn!(
                max_connections = limits.max_connections,
                "at --http-max-connections: new connections wait in the listen backlog"
            );
        }
        at_capacity = permits.available_permits() == 0;
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => {
                permit.expect("the semaphore is never closed")
            }
            () = cancel.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = cancel.cancelled() => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                connections.spawn(serve_connection(
                    stream,
                    router.clone(),
                    limits.clone(),
                    cancel.clone(),
                    permit,
                ));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // E.g. out of file descriptors: wait for connections to close rather than spin.
                tracing::error!(error = %e, "accepting a connection failed; retrying in 1s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = cancel.cancelled() => break,
                }
            }
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serve one connection until it ends, the client stalls, or shutdown has drained it.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: HttpServerArgs,
    cancel: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let (open_connections, stalled_connections) = metric_names();
    metrics::gauge!(open_connections.clone()).increment(1.0);
    let activity = Arc::new(ConnectionActivity::new(Instant::now()));
    let body_read_timeout = limits.body_read_timeout;
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = requests.request_started();
        let request = request.map(|body| Body::new(DeadlineBody::new(body, body_read_timeout)));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            // The request stays in flight until hyper drops the response body.
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &in_flight;
                    frame
                }))
            }))
        }
    });
    let io = TokioIo::new(ObservedStream {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog below times heads (hyper's timer would also cut idle kept-alive connections).
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let watchdog = WatchdogLimits {
        header_read: limits.header_read_timeout,
        idle: limits.idle_timeout,
    };
    let mut draining = false;
    loop {
        let changed = activity.changed.notified();
        let deadline = stall_deadline(&activity.state(), watchdog);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                break;
            }
            () = changed => {}
            () = sleep_until(deadline.map(|(at, _)| at)) => {
                let phase = deadline.map_or(StallPhase::Idle, |(_, phase)| phase);
                tracing::debug!(phase = phase.label(), "closing a stalled HTTP connection");
                metrics::counter!(stalled_connections.clone(), "phase" => phase.label())
                    .increment(1);
                break;
            }
            () = cancel.cancelled(), if !draining => {
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
    metrics::gauge!(open_connections.clone()).decrement(1.0);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const LIMITS: WatchdogLimits = WatchdogLimits {
        header_read: Duration::from_secs(10),
        idle: Duration::from_secs(120),
    };

    fn waiting(first_request: bool, first_byte_after: Option<u64>) -> (Instant, ActivityState) {
        let since = Instant::now();
        let state = ActivityState {
            in_flight: 0,
            waiting_since: since,
            first_request,
            first_byte_at: first_byte_after.map(|s| since + Duration::from_secs(s)),
        };
        (since, state)
    }

    #[test]
    fn a_new_connection_owes_a_complete_head_within_the_header_timeout() {
        let (since, silent) = waiting(true, None);
        assert_eq!(
            stall_deadline(&silent, LIMITS),
            Some((since + Duration::from_secs(10), StallPhase::Idle))
        );
        let (since, started) = waiting(true, Some(4));
        assert_eq!(
            stall_deadline(&started, LIMITS),
            Some((since + Duration::from_secs(10), StallPhase::Header)),
            "a late first byte does not extend a new connection's budget"
        );
    }

    #[test]
    fn a_kept_alive_connection_gets_the_idle_timeout_then_the_header_timeout() {
        let (since, idle) = waiting(false, None);
        assert_eq!(
            stall_deadline(&idle, LIMITS),
            Some((since + Duration::from_secs(120), StallPhase::Idle))
        );
        let (since, started) = waiting(false, Some(100));
        assert_eq!(
            stall_deadline(&started, LIMITS),
            Some((since + Duration::from_secs(110), StallPhase::Header))
        );
    }

    #[test]
    fn a_request_in_flight_is_never_cut_by_the_watchdog() {
        let (_, mut state) = waiting(false, None);
        state.in_flight = 1;
        assert_eq!(stall_deadline(&state, LIMITS), None);
    }

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        http: HttpServerArgs,
    }

    #[test]
    fn flags_default_to_the_documented_values_and_refuse_zero() {
        let flags = Flags::parse_from(["x"]);
        assert_eq!(flags.http, HttpServerArgs::default());
        let custom = Flags::parse_from([
            "x",
            "--http-header-read-timeout",
            "500ms",
            "--http-max-connections",
            "20",
        ]);
        assert_eq!(custom.http.header_read_timeout, Duration::from_millis(500));
        assert_eq!(custom.http.max_connections, 20);
        for args in [
            ["x", "--http-idle-timeout", "0s"],
            ["x", "--http-max-connections", "0"],
            ["x", "--http-body-read-timeout", "soon"],
        ] {
            assert!(Flags::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_fails_at_the_deadline() {
        let (mut sender, body) = http_body_util::channel::Channel::<Bytes>::new(1);
        let mut body = DeadlineBody::new(body, Duration::from_secs(5));
        sender
            .send_data(Bytes::from_static(b"{\"a\":"))
            .await
            .expect("the body is alive");
        let first = body.frame().await.expect("a frame").expect("data");
        assert_eq!(first.into_data().expect("data"), "{\"a\":");
        let started = Instant::now();
        let err = body
            .frame()
            .await
            .expect("an outcome")
            .expect_err("timeout");
        assert!(err.is::<BodyReadTimeout>(), "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
