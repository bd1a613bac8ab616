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
    /// When set, each request not scripted is answered at random instead.
    pub chaos: Option<Chaos>,
}

/// Answers mixed at random from a fixed seed, so a failing run can be replayed: out
/// of every 100 requests, about `fail` get 500, `hang` get no answer for `hang_for`
/// and then a dropped connection, `reset` get a dropped connection at once, and
/// `throttle` get 429 with a `Retry-After` of 1 or 2 seconds; the rest get `status`.
#[derive(Debug, Clone)]
pub struct Chaos {
    state: u64,
    pub fail: u64,
    pub hang: u64,
    pub reset: u64,
    pub throttle: u64,
    pub hang_for: Duration,
}

impl Chaos {
    /// A mix of each misbehaviour (percent), from `seed`.
    pub fn new(seed: u64, fail: u64, hang: u64, reset: u64, throttle: u64, hang_for: Duration) -> Self {
        Self {
            state: seed.max(1),
            fail,
            hang,
            reset,
            throttle,
            hang_for,
        }
    }

    /// xorshift64*: small, seeded, and good enough to mix answers.
    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick(&mut self, otherwise: StatusCode) -> Answer {
        let roll = self.next() % 100;
        let mut bound = self.fail;
        if roll < bound {
            return Answer::Status {
                status: 500,
                retry_after: None,
            };
        }
        bound += self.hang;
        if roll < bound {
            return Answer::Hang(self.hang_for);
        }
        bound += self.reset;
        if roll < bound {
            return Answer::Reset;
        }
        bound += self.throttle;
        if roll < bound {
            let seconds = 1 + self.next() % 2;
            return Answer::Status {
                status: 429,
                retry_after: Some(seconds),
            };
        }
        Answer::Status {
            status: otherwise.as_u16(),
            retry_after: None,
        }
    }
}

/// How the downstream answered one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// This status (with `Retry-After` seconds, when set).
    Status { status: u16, retry_after: Option<u64> },
    /// Nothing for this long, then the connection dropped.
    Hang(Duration),
    /// The connection dropped at once.
    Reset,
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
            chaos: None,
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
    /// How it was answered (a delay set in the behaviour comes first).
    pub answer: Answer,
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
    let (behaviour, answer) = {
        let mut guard = state.behaviour.lock().unwrap();
        let current = &mut *guard;
        let scripted = current.script.pop_front();
        let (reset, otherwise) = (current.reset, current.status);
        let answer = match (scripted, &mut current.chaos) {
            _ if reset => Answer::Reset,
            (Some((status, retry_after)), _) => Answer::Status {
                status,
                retry_after: retry_after.map(|seconds| seconds.parse().unwrap()),
            },
            (None, Some(chaos)) => chaos.pick(otherwise),
            (None, None) => Answer::Status {
                status: current.status.as_u16(),
                retry_after: None,
            },
        };
        (current.clone(), answer)
    };
    state.received.lock().unwrap().push(Received {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        version: parts.version,
        headers: parts.headers,
        body,
        at: std::time::Instant::now(),
        answer,
    });
    state.arrived.notify_waiters();
    tokio::time::sleep(behaviour.delay).await;
    let answered = match answer {
        Answer::Hang(duration) => {
            tokio::time::sleep(duration).await;
            None
        }
        Answer::Reset => None,
        Answer::Status { status, retry_after } => Some((status, retry_after)),
    };
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let Some((status, retry_after)) = answered else {
        // An error from the service makes hyper drop the connection unanswered.
        return Err(std::io::Error::other("reset by test"));
    };
    let mut response = Response::new(Full::new(behaviour.body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    for (name, value) in behaviour.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.to_string().parse().unwrap());
    }
    Ok(response)
}
