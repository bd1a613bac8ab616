//! Forward: the innermost ingress service. In `sync` mode every target of the route
//! receives the request concurrently; the sender gets the primary (first) target's
//! answer, and the other targets' outcomes are logged.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body_util::Full;
use tokio_util::task::TaskTracker;
use tower::Service;
use tracing::Instrument;

use super::error::IngressError;
use super::route::RouteMatch;
use super::{PeerAddr, REQUEST_ID};
use crate::config::Target;
use crate::delivery::{outbound_request, relay_headers, send, HttpClient, Inbound, SendError};

/// Shared state of the forward service.
#[derive(Debug)]
struct Shared {
    client: HttpClient,
    /// Secondary sends still running; shutdown waits for them.
    tracker: TaskTracker,
    max_response_body: usize,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Forward {
    shared: Arc<Shared>,
}

impl Forward {
    /// A forward service sending through `client`; secondary sends are spawned on
    /// `tracker`.
    pub fn new(client: HttpClient, tracker: TaskTracker, max_response_body: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                tracker,
                max_response_body,
            }),
        }
    }
}

impl Service<Request<Bytes>> for Forward {
    type Response = Response<Full<Bytes>>;
    type Error = IngressError;
    type Future = BoxFuture<'static, Result<Self::Response, IngressError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { shared.forward(request).await })
    }
}

impl Shared {
    async fn forward(&self, request: Request<Bytes>) -> Result<Response<Full<Bytes>>, IngressError> {
        let (parts, body) = request.into_parts();
        let found = parts
            .extensions
            .get::<RouteMatch>()
            .ok_or(IngressError::RouteNotFound)?;
        let route = &found.route;
        let inbound = Inbound {
            method: &parts.method,
            headers: &parts.headers,
            request_id: parts.headers.get(&REQUEST_ID),
            peer: parts.extensions.get::<PeerAddr>().map(|peer| peer.0.ip()),
        };
        let (primary, secondaries) = route.targets.split_first().ok_or(IngressError::RouteNotFound)?;
        for target in secondaries {
            let request = outbound_request(inbound, route, target, body.clone());
            let (client, target, limit) = (self.client.clone(), target.clone(), self.max_response_body);
            let send_secondary = async move {
                let started = Instant::now();
                let outcome = match request {
                    Ok(request) => send(&client, request, target.timeout, limit).await,
                    Err(error) => Err(SendError::Invalid(error)),
                };
                log_outcome(&target, started, &outcome);
            };
            // The send outlives the request; it keeps the request's span for its log.
            self.tracker
                .spawn(send_secondary.instrument(tracing::Span::current()));
        }
        let started = Instant::now();
        let outcome = match outbound_request(inbound, route, primary, body) {
            Ok(request) => send(&self.client, request, primary.timeout, self.max_response_body).await,
            Err(error) => Err(SendError::Invalid(error)),
        };
        log_outcome(primary, started, &outcome);
        let response = outcome.map_err(|source| IngressError::Primary {
            target: primary.name.clone(),
            source,
        })?;
        let (parts, body) = response.into_parts();
        let mut relayed = Response::new(Full::new(body));
        *relayed.status_mut() = parts.status;
        *relayed.headers_mut() = relay_headers(&parts.headers);
        Ok(relayed)
    }
}

fn log_outcome(target: &Target, started: Instant, outcome: &Result<Response<Bytes>, SendError>) {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(response) => tracing::info!(
            target_name = %target.name,
            status = response.status().as_u16(),
            latency_ms,
            "target answered"
        ),
        Err(error) => tracing::warn!(
            target_name = %target.name,
            error = %error,
            cause = ?std::error::Error::source(error).map(ToString::to_string),
            latency_ms,
            "target failed"
        ),
    }
}
