//! Relay: `sync` routes call their primary (first) target inline and relay its
//! answer. The request's dedupe key is held as pending while the call runs; the other
//! targets' copies and any rule events are admitted first (the stage inside this one);
//! a failure to admit, a failed call or a failure answer releases the key, so the
//! provider's retry goes through. Routes in `queue` mode pass straight through.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, Service};

use super::admit::accepted;
use super::error::IngressError;
use super::evaluate::{Evaluated, Primary};
use super::{Exchange, REQUEST_ID};
use crate::delivery::{event_headers, finish, relay_headers, send, HttpClient, Message, SendError};
use crate::model::QueueAfter;
use crate::store::{KeyClaim, Store, StoreHealth};

/// Calls `sync` routes' primaries; see the module docs.
#[derive(Clone)]
pub struct RelayLayer {
    client: HttpClient,
    store: Arc<dyn Store>,
    health: Arc<StoreHealth>,
}

impl RelayLayer {
    /// Calls primaries with `client`, holding dedupe keys in `store` (through its
    /// `health`).
    pub fn new(client: HttpClient, store: Arc<dyn Store>, health: Arc<StoreHealth>) -> Self {
        Self {
            client,
            store,
            health,
        }
    }
}

impl<S> Layer<S> for RelayLayer {
    type Service = Relay<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Relay {
            inner,
            client: self.client.clone(),
            store: self.store.clone(),
            health: self.health.clone(),
        }
    }
}

/// The service made by [`RelayLayer`].
#[derive(Clone)]
pub struct Relay<S> {
    inner: S,
    client: HttpClient,
    store: Arc<dyn Store>,
    health: Arc<StoreHealth>,
}

impl<S> std::fmt::Debug for Relay<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

impl<S> Service<Exchange<Evaluated>> for Relay<S>
where
    S: Service<Exchange<Evaluated>, Response = Response<Full<Bytes>>, Error = IngressError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<Full<Bytes>>;
    type Error = IngressError;
    type Future = BoxFuture<'static, Result<Self::Response, IngressError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut exchange: Exchange<Evaluated>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(primary) = exchange.stage.primary.take() else {
            return Box::pin(inner.call(exchange));
        };
        let client = self.client.clone();
        let store = self.store.clone();
        let health = self.health.clone();
        Box::pin(async move {
            let route = exchange.matched.route.route.clone();
            // For the lines below (the request's span exists only at debug).
            let request_id = exchange.head.headers.get(&REQUEST_ID).cloned();
            let request_id = request_id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("");
            let queue_after = route.queue_after;
            let settings = &exchange.matched.snapshot.settings;
            let (timeout, max_response_body) =
                (settings.store.admit_timeout, settings.limits.max_response_body);
            let request = primary_request(&exchange, &primary);
            let target = primary.destination.target.clone();
            let key = primary.key.zip(route.dedupe.as_ref().map(|dedupe| dedupe.ttl));
            if let Some((key, ttl)) = &key {
                let claim = health
                    .call("claim_key", timeout, store.claim_key(&route.name, key, *ttl))
                    .await
                    .map_err(IngressError::Store)?;
                if claim == KeyClaim::Duplicate {
                    return Ok(accepted(StatusCode::OK, true, 0));
                }
            }
            let route_name = route.name.as_str();
            let release = |reason: &'static str| async move {
                if let Some((key, _)) = &key {
                    if let Err(error) = store.release_key(route_name, key).await {
                        tracing::warn!(request_id, route = route_name, %error, reason, "releasing the pending dedupe key failed; it expires with its TTL");
                    }
                }
            };
            let mut queued = exchange.stage.events.is_empty();
            let mut exchange = Some(exchange);
            if !queued && queue_after == QueueAfter::Received {
                if let Some(exchange) = exchange.take() {
                    if let Err(error) = inner.call(exchange).await {
                        release("the other targets' deliveries were not admitted").await;
                        return Err(error);
                    }
                }
                queued = true;
            }
            let started = Instant::now();
            let outcome = match request {
                Ok(request) => send(&client, request, target.timeout, max_response_body).await,
                Err(error) => Err(SendError::Invalid(error)),
            };
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let response = match outcome {
                Ok(response) => response,
                Err(source) => {
                    tracing::warn!(request_id, route = %route.name, target_name = %target.name, error = %source, latency_ms, "primary target failed");
                    release("primary failed").await;
                    return Err(IngressError::Primary {
                        target: target.name.clone(),
                        source,
                    });
                }
            };
            // The request's own completion line (info) carries the relayed status.
            tracing::debug!(target_name = %target.name, status = response.status().as_u16(), latency_ms, "primary answered");
            if !response.status().is_success() {
                // The provider will retry after a failure answer: let that retry through.
                release("primary answered with a failure").await;
            } else if let (false, Some(exchange)) = (queued, exchange) {
                // queue_after: primary_success. A 2xx still means everything is
                // stored: if the rest cannot be, the sender gets the store's 503 and its
                // retry calls the primary again (the key is released for it).
                if let Err(error) = inner.call(exchange).await {
                    tracing::warn!(request_id, route = %route.name, target_name = %target.name, %error, "the primary accepted, but the other deliveries could not be stored; answering the store's error so the sender retries");
                    release("the other targets' deliveries were not admitted").await;
                    return Err(error);
                }
            }
            let (parts, body) = response.into_parts();
            let mut relayed = Response::new(Full::new(body));
            *relayed.status_mut() = parts.status;
            *relayed.headers_mut() = relay_headers(&parts.headers);
            Ok(relayed)
        })
    }
}

/// The primary's request: the body as received, with the headers every target
/// gets, finished with the target's own headers and signature.
fn primary_request(
    exchange: &Exchange<Evaluated>,
    primary: &Primary,
) -> Result<Request<Full<Bytes>>, http::Error> {
    let destination = &primary.destination;
    let mut request = Request::builder()
        .method(destination.method.clone())
        .uri(destination.url.clone())
        .body(Full::new(primary.body.clone()))?;
    *request.headers_mut() = event_headers(
        exchange.inbound(),
        &exchange.matched.route.route,
        destination,
        None,
    );
    // A message id of hookgate's own (the request id may come from the sender); the
    // provider's retry is a new call, so every primary call is a first attempt.
    let id = uuid::Uuid::now_v7().to_string();
    let message = Message { id: &id, attempt: 1 };
    finish(&mut request, &destination.target, message, &primary.body);
    Ok(request)
}
