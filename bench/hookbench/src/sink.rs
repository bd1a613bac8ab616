//! The sink: an HTTP server that stands in for every downstream. It answers each request
//! at once and counts, per request path (one path per target), how many requests arrived
//! and how many distinct `eventId`s they carried, so the runner can check nothing was lost.
//!
//! `GET /_stats` returns the counts as JSON; `POST /_reset` clears them.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::event::event_id;

/// What one target (request path) received.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct PathCounts {
    /// Requests received.
    pub total: u64,
    /// Distinct event ids among them.
    pub unique: u64,
    /// Requests whose body had no `eventId`.
    pub without_id: u64,
}

/// The sink's counts, by request path.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Stats {
    /// Counts per request path, e.g. `/t1`.
    pub paths: BTreeMap<String, PathCounts>,
}

impl Stats {
    /// Distinct ids received on `path` (zero if nothing arrived there).
    pub fn unique(&self, path: &str) -> u64 {
        self.paths.get(path).map_or(0, |counts| counts.unique)
    }
}

#[derive(Default)]
struct Seen {
    counts: PathCounts,
    ids: HashSet<Box<[u8]>>,
}

type State = Arc<Mutex<BTreeMap<String, Seen>>>;

/// Serves until the process ends; prints `listening on ADDR` once bound.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!("listening on {}", listener.local_addr()?);
    let state = State::default();
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, state.clone()));
            // A peer closing mid-request is not the sink's business.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, state: State) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST, Bytes::new())),
    };
    let mut seen = state.lock().unwrap_or_else(PoisonError::into_inner);
    match (method, path.as_str()) {
        (Method::GET, "/_stats") => {
            let stats = Stats {
                paths: seen
                    .iter()
                    .map(|(path, seen)| (path.clone(), seen.counts.clone()))
                    .collect(),
            };
            let json = serde_json::to_vec(&stats).unwrap_or_default();
            Ok(reply(StatusCode::OK, Bytes::from(json)))
        }
        (Method::POST, "/_reset") => {
            seen.clear();
            Ok(reply(StatusCode::NO_CONTENT, Bytes::new()))
        }
        _ => {
            let entry = seen.entry(path).or_default();
            entry.counts.total += 1;
            match event_id(&body) {
                Some(id) => {
                    if entry.ids.insert(id.into()) {
                        entry.counts.unique += 1;
                    }
                }
                None => entry.counts.without_id += 1,
            }
            Ok(reply(StatusCode::OK, Bytes::new()))
        }
    }
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}
