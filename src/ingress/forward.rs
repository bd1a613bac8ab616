//! Forward: the innermost ingress service, where a request becomes deliveries.
//!
//! `queue` mode: one delivery per target is admitted to the store (atomically with
//! the dedupe key) and only then is the sender answered; store down or slow → 503
//! with `Retry-After`, never a 2xx. `sync` mode: the dedupe key is held as pending,
//! the other targets' deliveries are admitted to the queue, and the primary (first)
//! target is called inline; its answer is relayed, and a failure releases the key so
//! the provider's retry goes through.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::Service;

use super::decode::Decoded;
use super::error::IngressError;
use super::route::RouteMatch;
use super::{dedupe, PathParams, PeerAddr, REQUEST_ID};
use crate::config::{Mode, Route, Target};
use crate::delivery::{
    outbound_delivery, outbound_request, relay_headers, resolve, send, Dispatcher, HttpClient, Inbound,
    SendError,
};
use crate::rules::{Evaluation, Routed};
use crate::store::{Admission, Admitted, DedupeClaim, KeyClaim, Store};

/// Marks an answer to a repeat of an event already admitted.
pub static DUPLICATE: HeaderName = HeaderName::from_static("hookgate-duplicate");

/// What the forward service needs.
pub struct Shared {
    /// The outbound client, for `sync` primaries.
    pub client: HttpClient,
    /// Where deliveries are admitted.
    pub store: Arc<dyn Store>,
    /// Woken after an admission so local workers start at once.
    pub dispatcher: Dispatcher,
    /// How long admission may take before the sender gets 503.
    pub admit_timeout: Duration,
    /// Largest primary response relayed.
    pub max_response_body: usize,
}

/// See the module docs.
#[derive(Clone)]
pub struct Forward {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward").finish_non_exhaustive()
    }
}

impl Forward {
    /// The terminal service over `shared`.
    pub fn new(shared: Shared) -> Self {
        Self {
            shared: Arc::new(shared),
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
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let found = parts
                .extensions
                .get::<RouteMatch>()
                .cloned()
                .ok_or(IngressError::RouteNotFound)?;
            let decoded = parts.extensions.get::<Decoded>().map(|decoded| decoded.0.clone());
            // Rules validate every event before anything is admitted or called.
            let evaluation = shared.evaluate(&parts, &found, decoded.as_deref())?;
            let route = &found.route;
            match (route.mode, evaluation) {
                (Mode::Queue, Some(evaluation)) => {
                    let (duplicate, deliveries) =
                        shared.admit_events(&parts, route, evaluation, true).await?;
                    Ok(accepted(route.success_status, duplicate, deliveries))
                }
                (mode, evaluation) => {
                    let key = dedupe::key(route.dedupe.as_ref(), &parts.headers, &body, decoded.as_deref())?;
                    let event = decoded.as_deref().unwrap_or(&serde_json::Value::Null);
                    log_event(route, event);
                    match mode {
                        Mode::Queue => shared.queue(&parts, route, body, key, event).await,
                        Mode::Sync => shared.sync(&parts, route, body, key, evaluation, event).await,
                    }
                }
            }
        })
    }
}

static NO_PARAMS: PathParams = PathParams(Vec::new());

/// Part of an admission: one body for some targets.
#[derive(Clone, Copy)]
struct Part<'a> {
    /// Where it goes.
    targets: &'a [Arc<Target>],
    /// The bytes targets receive.
    body: &'a Bytes,
    /// The event the target templates are filled from.
    event: &'a serde_json::Value,
    /// A `content-type` replacing the request's (rewritten events).
    content_type: Option<&'a str>,
}

fn inbound(parts: &Parts) -> Inbound<'_> {
    Inbound {
        method: &parts.method,
        headers: &parts.headers,
        request_id: parts.headers.get(&REQUEST_ID),
        peer: parts.extensions.get::<PeerAddr>().map(|peer| peer.0.ip()),
        params: parts
            .extensions
            .get::<RouteMatch>()
            .map_or(&NO_PARAMS, |found| &found.params),
    }
}

/// Logs an event at debug level, with the route's `redact` paths masked. Events are
/// never logged above debug.
fn log_event(route: &Route, event: &serde_json::Value) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let mut shown = event.clone();
    for path in &route.redact {
        if path.get(&shown).is_some() {
            let _ = path.set(&mut shown, serde_json::Value::String("***".to_owned()));
        }
    }
    tracing::debug!(event = %shown, "event admitted");
}

/// A template of a target that cannot be filled for this event.
fn unresolvable(message: String) -> IngressError {
    IngressError::InvalidEvents(vec![crate::rules::validate::Violation {
        path: "$".to_owned(),
        message,
    }])
}

impl Shared {
    /// A store call bounded by `admit_timeout`; failing or slow is "unavailable".
    async fn within_deadline<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, crate::store::StoreError>>,
    ) -> Result<T, IngressError> {
        match tokio::time::timeout(self.admit_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(IngressError::StoreUnavailable(Some(error))),
            Err(_) => Err(IngressError::StoreUnavailable(None)),
        }
    }

    /// Admits one delivery per target of every part, all in one atomic admission
    /// with the dedupe claim `key`; the targets' templates are filled from each part's
    /// event.
    async fn admit(
        &self,
        parts: &Parts,
        route: &Route,
        key: Option<&str>,
        payload: &[Part<'_>],
    ) -> Result<Admitted, IngressError> {
        let mut deliveries = Vec::new();
        for part in payload {
            for target in part.targets {
                let resolved = resolve(inbound(parts), target, part.event).map_err(unresolvable)?;
                let mut delivery = outbound_delivery(
                    inbound(parts),
                    route,
                    target,
                    resolved,
                    part.body.clone(),
                    key.map(str::to_owned),
                );
                if let Some(content_type) = part.content_type {
                    for (name, value) in &mut delivery.headers {
                        if name == "content-type" {
                            content_type.clone_into(value);
                        }
                    }
                }
                deliveries.push(delivery);
            }
        }
        let admission = Admission {
            route: route.name.clone(),
            dedupe: key.zip(route.dedupe.as_ref()).map(|(key, dedupe)| DedupeClaim {
                key: key.to_owned(),
                ttl: dedupe.ttl,
            }),
            deliveries,
        };
        let admitted = self.within_deadline(self.store.admit(admission)).await?;
        if admitted == Admitted::Stored {
            for target in payload.iter().flat_map(|part| part.targets) {
                self.dispatcher.wake(&target.name);
            }
        }
        Ok(admitted)
    }

    /// Evaluates the route's rules, if any: `None` when the route has none.
    fn evaluate(
        &self,
        parts: &Parts,
        found: &RouteMatch,
        decoded: Option<&serde_json::Value>,
    ) -> Result<Option<Evaluation>, IngressError> {
        let Some(rules) = &found.route.rules else {
            return Ok(None);
        };
        let Some(body) = decoded else { return Ok(None) };
        let evaluation = rules
            .evaluate(body, &parts.headers, &found.params, &found.route.targets)
            .map_err(IngressError::InvalidEvents)?;
        if evaluation.dropped > 0 {
            metrics::counter!("hookgate_events_dropped_total", "route" => found.route.name.clone())
                .increment(evaluation.dropped as u64);
        }
        Ok(Some(evaluation))
    }

    /// Admits each routed event on its own (with its own dedupe key); returns whether
    /// every one was a duplicate. Validation already passed for all of them, so a
    /// store failure part-way is a 503 the provider retries, and dedupe keeps the
    /// events already admitted from being delivered twice.
    async fn admit_events(
        &self,
        parts: &Parts,
        route: &Route,
        evaluation: Evaluation,
        dedupe: bool,
    ) -> Result<(bool, usize), IngressError> {
        let cloudevents = route
            .rules
            .as_ref()
            .is_some_and(|rules| matches!(rules.output, crate::rules::Output::CloudEvents { .. }));
        let content_type = cloudevents.then_some("application/cloudevents+json");
        let mut all_duplicates = !evaluation.routed.is_empty();
        let mut deliveries = 0;
        // Every rewrite of one event is admitted together under that event's key:
        // with `match: all` an event may go several ways, and it is one event.
        for (origin, source) in evaluation.sources.iter().enumerate() {
            let copies: Vec<&Routed> = evaluation
                .routed
                .iter()
                .filter(|routed| routed.origin == origin)
                .collect();
            if copies.is_empty() {
                continue;
            }
            for copy in &copies {
                log_event(route, &copy.event);
            }
            let key = if dedupe {
                // Only a body-hash key needs the event's bytes.
                let hashed = route
                    .dedupe
                    .as_ref()
                    .is_some_and(|d| matches!(d.source, crate::config::DedupeSource::BodyHash));
                let original = if hashed {
                    serde_json::to_vec(source).unwrap_or_default()
                } else {
                    Vec::new()
                };
                super::dedupe::key(route.dedupe.as_ref(), &parts.headers, &original, Some(source))?
            } else {
                None
            };
            let payload: Vec<Part<'_>> = copies
                .iter()
                .map(|copy| Part {
                    targets: &copy.targets,
                    body: &copy.body,
                    event: &copy.event,
                    content_type,
                })
                .collect();
            if self.admit(parts, route, key.as_deref(), &payload).await? == Admitted::Stored {
                all_duplicates = false;
                deliveries += copies.iter().map(|copy| copy.targets.len()).sum::<usize>();
            }
        }
        Ok((all_duplicates, deliveries))
    }

    async fn queue(
        &self,
        parts: &Parts,
        route: &Route,
        body: Bytes,
        key: Option<String>,
        event: &serde_json::Value,
    ) -> Result<Response<Full<Bytes>>, IngressError> {
        let admitted = self
            .admit(
                parts,
                route,
                key.as_deref(),
                &[Part {
                    targets: &route.targets,
                    body: &body,
                    event,
                    content_type: None,
                }],
            )
            .await?;
        let duplicate = admitted == Admitted::Duplicate;
        if duplicate {
            tracing::info!(key = key.as_deref(), "duplicate event; nothing admitted");
        }
        Ok(accepted(route.success_status, duplicate, route.targets.len()))
    }

    async fn sync(
        &self,
        parts: &Parts,
        route: &Route,
        body: Bytes,
        key: Option<String>,
        evaluation: Option<Evaluation>,
        event: &serde_json::Value,
    ) -> Result<Response<Full<Bytes>>, IngressError> {
        let (primary, secondaries) = route.targets.split_first().ok_or(IngressError::RouteNotFound)?;
        if let Some((key, dedupe)) = key.as_deref().zip(route.dedupe.as_ref()) {
            let claim = self
                .within_deadline(self.store.claim_key(&route.name, key, dedupe.ttl))
                .await?;
            if claim == KeyClaim::Duplicate {
                return Ok(accepted(StatusCode::OK, true, 0));
            }
        }
        let release = |reason: &'static str| async move {
            if let Some(key) = key.as_deref() {
                if let Err(error) = self.store.release_key(&route.name, key).await {
                    tracing::warn!(%error, reason, "releasing the pending dedupe key failed; it expires with its TTL");
                }
            }
        };
        if !secondaries.is_empty() {
            if let Err(error) = self
                .admit(
                    parts,
                    route,
                    None,
                    &[Part {
                        targets: secondaries,
                        body: &body,
                        event,
                        content_type: None,
                    }],
                )
                .await
            {
                release("secondaries not admitted").await;
                return Err(error);
            }
        }
        if let Some(evaluation) = evaluation {
            if let Err(error) = self.admit_events(parts, route, evaluation, false).await {
                release("rule events not admitted").await;
                return Err(error);
            }
        }
        let started = Instant::now();
        let resolved = match resolve(inbound(parts), primary, event) {
            Ok(resolved) => resolved,
            Err(message) => {
                release("the primary's URL template cannot be filled").await;
                return Err(unresolvable(message));
            }
        };
        let outcome = match outbound_request(inbound(parts), route, primary, resolved, body) {
            Ok(request) => send(&self.client, request, primary.timeout, self.max_response_body).await,
            Err(error) => Err(SendError::Invalid(error)),
        };
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let response = match outcome {
            Ok(response) => response,
            Err(source) => {
                tracing::warn!(target_name = %primary.name, error = %source, latency_ms, "primary target failed");
                release("primary failed").await;
                return Err(IngressError::Primary {
                    target: primary.name.clone(),
                    source,
                });
            }
        };
        // The request's own completion line (info) carries the relayed status.
        tracing::debug!(target_name = %primary.name, status = response.status().as_u16(), latency_ms, "primary answered");
        if !response.status().is_success() {
            // The provider will retry after a failure answer: let that retry through.
            release("primary answered with a failure").await;
        }
        let (parts, body) = response.into_parts();
        let mut relayed = Response::new(Full::new(body));
        *relayed.status_mut() = parts.status;
        *relayed.headers_mut() = relay_headers(&parts.headers);
        Ok(relayed)
    }
}

/// The answer to an admitted (or duplicate) request.
fn accepted(status: StatusCode, duplicate: bool, deliveries: usize) -> Response<Full<Bytes>> {
    let body = if duplicate {
        r#"{"status":"duplicate"}"#.to_owned()
    } else {
        format!(r#"{{"status":"accepted","deliveries":{deliveries}}}"#)
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if duplicate {
        response
            .headers_mut()
            .insert(DUPLICATE.clone(), HeaderValue::from_static("true"));
    }
    response
}
