//! A programmable fake target: records every request (method, path, headers, body)
//! and answers as told (status, body, headers, delay, or a dropped connection).
//! Behaviour can change mid-test; tests await received requests instead of sleeping.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// How the downstream answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub status: StatusCode,
    pub body: Bytes,
    pub headers: Vec<(&'static str, &'static str)>,
    pub delay: Duration,
    /// Close the connection instead of answering.
    pub reset: bool,
    /// Statuses for the next requests, in order (with `Retry-After` if given); then
    /// `status` again.
    pub script: std::collections::VecDeque<(u16, Option<&'static str>)>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            body: Bytes::from_static(b"{\"ok\":true}"),
            headers: vec![("content-type", "application/json")],
            delay: Duration::ZERO,
            reset: false,
            script: std::collections::VecDeque::new(),
        }
    }
}

/// One request as the downstream saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct State {
    behaviour: Mutex<Behaviour>,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A running fake downstream; stops when dropped.
pub struct Downstream {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Downstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Downstream {
    /// Starts a downstream answering 200 `{"ok":true}`.
    pub async fn start() -> Self {
        Self::serve(None).await
    }

    /// The same over TLS, with the certificate in `acceptor`.
    pub async fn start_tls(acceptor: tokio_rustls::TlsAcceptor) -> Self {
        Self::serve(Some(acceptor)).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind downstream");
        let addr = listener.local_addr().expect("downstream addr");
        let state = Arc::new(State::default());
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), request));
                    let builder = auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        Self { addr, state, task }
    }

    /// A downstream that never listens: for building configs whose target is not
    /// contacted (its port is closed).
    pub fn unstarted() -> Self {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        Self {
            addr,
            state: Arc::default(),
            task: tokio::spawn(async {}),
        }
    }

    /// A URL on this downstream.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A URL on this downstream by host name (for TLS, whose certificate names `localhost`).
    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// Changes how it answers from now on.
    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.state.behaviour.lock().unwrap());
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests have arrived (10 s at most).
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let wait = async {
            loop {
                let arrived = self.state.arrived.notified();
                let received = self.received();
                if received.len() >= count {
                    return received;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "downstream {} received {} requests, expected {count}",
                    self.addr,
                    self.received().len()
                )
            })
    }

    /// How many distinct values of JSON field `field` the bodies carried.
    pub fn unique(&self, field: &str) -> std::collections::HashSet<String> {
        self.received()
            .iter()
            .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .filter_map(|v| v.get(field).and_then(|id| id.as_str().map(str::to_owned)))
            .collect()
    }

    /// The most requests it ever had in flight at once.
    #[allow(dead_code)]
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    state.received.lock().unwrap().push(Received {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        version: parts.version,
        headers: parts.headers,
        body,
        at: std::time::Instant::now(),
    });
    state.arrived.notify_waiters();
    let (behaviour, scripted) = {
        let mut current = state.behaviour.lock().unwrap();
        let scripted = current.script.pop_front();
        (current.clone(), scripted)
    };
    tokio::time::sleep(behaviour.delay).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    if behaviour.reset {
        // An error from the service makes hyper drop the connection unanswered.
        return Err(std::io::Error::other("reset by test"));
    }
    let mut response = Response::new(Full::new(behaviour.body));
    *response.status_mut() = behaviour.status;
    for (name, value) in behaviour.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    if let Some((status, retry_after)) = scripted {
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", seconds.parse().unwrap());
        }
    }
    Ok(response)
}
