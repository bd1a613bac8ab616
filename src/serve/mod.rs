//! Serving one listener: accept connections (pausing when accepting fails, e.g. out
//! of file descriptors, instead of spinning), serve HTTP/1.1 and HTTP/2 (h2c) on each
//! with a service, tag every request with its peer, and on shutdown stop accepting
//! and let the connections in flight finish within the grace period. The ingress
//! listener, the admin listener and `hookgate receive` all run on it.
//!
//! Connections cost a file descriptor each, so none is kept for nothing:
//! - a connection with no request in flight is closed once it has been idle for the
//!   header timeout, whatever it sends meanwhile (nothing, one byte, an HTTP/2
//!   preface, SETTINGS, PINGs, a HEADERS frame never ended). The idle time starts at
//!   accept and again when its last request is answered, so it is also the longest
//!   a kept-alive connection waits for its next request, in both protocols;
//! - beyond `max_connections` open at once, new connections are closed as soon as
//!   they are accepted, and counted;
//! - out of descriptors altogether, the waiting connection is accepted on a reserve
//!   descriptor and answered 503 (`reserve.rs`).
//!
//! A listener with TLS (`tls.rs`) handshakes first, within the header timeout.

mod reserve;
mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

use self::reserve::Reserve;
pub use self::tls::TlsSource;
use crate::model::PeerAddr;

/// The first pause after a failed accept; it doubles up to [`MAX_ACCEPT_BACKOFF`].
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause after failed accepts.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Per-listener limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Which listener, for metrics and logs (`ingress`, `admin`, ...).
    pub listener: &'static str,
    /// Time a client has to send a request's line and headers, and the longest a
    /// connection with no request in flight stays open.
    pub header_read_timeout: Duration,
    /// Most connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Time connections in flight get to finish once shutdown begins.
    pub grace: Duration,
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished within the grace period.
    Completely,
    /// The grace period ended with connections still open; they were closed.
    GraceExpired,
}

/// Serves `service` on `listener` until `shutdown` completes, then drains. With a
/// `tls` source, each connection is accepted with the TLS configuration it gives at
/// that moment (none: plain HTTP), so a reload changes it for new connections.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    tls: Option<TlsSource>,
    shutdown: impl Future<Output = ()>,
) -> Drained
where
    S: Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Above the ingress stack's own limit (100 fields), which answers with a
        // problem document; past this one the library answers a bare 431.
        .max_headers(256);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    let gauge = metrics::gauge!("hookgate_connections_open", "listener" => limits.listener);
    let refused = metrics::counter!("hookgate_connections_refused_total", "listener" => limits.listener);
    refused.increment(0);
    gauge.set(0.0);
    // Only listeners that may speak TLS have the series.
    let handshake_errors = tls.as_ref().map(|_| {
        let counter = metrics::counter!("hookgate_tls_handshake_errors_total", "listener" => limits.listener);
        counter.increment(0);
        counter
    });
    let mut backoff = ACCEPT_BACKOFF;
    let mut reserve = Reserve::new();
    let mut exhausted = false;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff = ACCEPT_BACKOFF;
                    reserve.restore();
                    if std::mem::take(&mut exhausted) {
                        tracing::info!(listener = limits.listener, "file descriptors are free again; accepting connections");
                    }
                    accepted
                }
                Err(error) if Reserve::is_exhaustion(&error) && reserve.release() => {
                    if !std::mem::replace(&mut exhausted, true) {
                        tracing::warn!(%error, listener = limits.listener, "out of file descriptors: new connections are answered 503 until some close");
                    }
                    shed(&listener, &limits, &refused).await;
                    reserve.restore();
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, listener = limits.listener, pause_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut shutdown => break,
                    }
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if open.load(Ordering::Relaxed) >= limits.max_connections {
            // Closed at once: its descriptor is freed before the next accept.
            drop(stream);
            refused.increment(1);
            tracing::debug!(%peer, listener = limits.listener, "connection refused: max_connections reached");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let idle = Arc::new(Idle::new());
        let tracked = Tracked {
            inner: service.clone(),
            idle: idle.clone(),
        };
        let service = TowerToHyperService::new(tracked.map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            request
        }));
        let counted = Open::new(open.clone(), gauge.clone());
        let timeout = limits.header_read_timeout;
        let config = tls.as_ref().and_then(|source| source());
        let Some(config) = config else {
            let connection = graceful.watch(
                builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned(),
            );
            tokio::spawn(async move {
                let _counted = counted;
                drive(connection, &idle, timeout, peer).await;
            });
            continue;
        };
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        let handshake_errors = handshake_errors.clone().unwrap_or_else(metrics::Counter::noop);
        tokio::spawn(async move {
            let _counted = counted;
            // The handshake counts against the header timeout, as the request head does.
            let stream = match tls::accept(stream, config, timeout).await {
                Ok(stream) => stream,
                Err(error) => {
                    handshake_errors.increment(1);
                    tracing::debug!(%peer, listener = limits.listener, %error, "TLS handshake failed");
                    return;
                }
            };
            let connection = watcher.watch(
                builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned(),
            );
            drive(connection, &idle, timeout, peer).await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => Drained::Completely,
        () = tokio::time::sleep(limits.grace) => Drained::GraceExpired,
    }
}

/// Runs one connection to its end, closing it once it has been idle for `timeout`.
async fn drive<E: std::fmt::Display>(
    connection: impl Future<Output = Result<(), E>>,
    idle: &Idle,
    timeout: Duration,
    peer: std::net::SocketAddr,
) {
    tokio::pin!(connection);
    loop {
        tokio::select! {
            result = &mut connection => {
                if let Err(error) = result {
                    tracing::debug!(%peer, error = %error, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(idle.deadline(timeout).into()) => {
                if idle.expired(timeout) {
                    // Nothing in flight: dropping the connection loses nothing.
                    tracing::debug!(%peer, "closing an idle connection");
                    return;
                }
            }
        }
    }
}

/// Out of descriptors, with the reserve just closed: accepts the connection waiting
/// on that descriptor and answers it 503.
async fn shed(listener: &TcpListener, limits: &Limits, refused: &metrics::Counter) {
    // The connection that failed to be accepted is still waiting: this is at once.
    let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
    if let Ok(Ok((stream, peer))) = accepted {
        reserve::refuse(stream);
        refused.increment(1);
        tracing::debug!(%peer, listener = limits.listener, "out of file descriptors: answered a connection 503");
    }
}

/// One open connection, counted while it lives.
struct Open {
    open: Arc<AtomicUsize>,
    gauge: metrics::Gauge,
}

impl Open {
    fn new(open: Arc<AtomicUsize>, gauge: metrics::Gauge) -> Self {
        let now = open.fetch_add(1, Ordering::Relaxed) + 1;
        gauge.set(now as f64);
        Self { open, gauge }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let now = self.open.fetch_sub(1, Ordering::Relaxed) - 1;
        self.gauge.set(now as f64);
    }
}

/// Whether a connection has requests in flight, and since when it has had none.
struct Idle {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started` when the connection last became idle.
    idle_since_ms: AtomicU64,
}

impl Idle {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn idle_since(&self) -> Instant {
        self.started + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire))
    }

    /// When to look again: the end of the idle time, or a timeout from now while busy.
    fn deadline(&self, timeout: Duration) -> Instant {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            Instant::now() + timeout
        } else {
            self.idle_since() + timeout
        }
    }

    /// Whether the connection has had nothing in flight for `timeout`.
    fn expired(&self, timeout: Duration) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && self.idle_since().elapsed() >= timeout
    }

    fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    fn end(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.idle_since_ms.store(elapsed, Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request in flight on its connection, until its response is ready or it is
/// dropped.
struct InFlight(Arc<Idle>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// The service of one connection, counting its requests in flight.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    idle: Arc<Idle>,
}

impl<S, R> Service<R> for Tracked<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.idle.begin();
        let in_flight = InFlight(self.idle.clone());
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            drop(in_flight);
            result
        })
    }
}
