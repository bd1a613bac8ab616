//! Admit: the one path by which a request's events reach the store. Every event of
//! the request, with its dedupe key, goes into one atomic admission; the sender is
//! answered only after it: a 2xx means every delivery is stored. A store that is
//! down or slower than `store.admit_timeout` gives 503 with `Retry-After`, never a
//! 2xx; a store that refuses for good gives 500. A duplicate is not an error: the
//! same success status, marked `Hookgate-Duplicate: true`, and nothing delivered.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::Full;
use tower::Service;

use super::error::IngressError;
use super::evaluate::Evaluated;
use super::Exchange;
use crate::delivery::{delivery, event_headers, Dispatcher};
use crate::model::{Affinity, Event, Route};
use crate::store::{Admission, Admitted, DedupeClaim, EventAdmission, EventRecord, Store, StoreHealth};

/// Marks an answer to a repeat of an event already admitted.
pub static DUPLICATE: HeaderName = HeaderName::from_static("hookgate-duplicate");

/// The terminal service: admits the evaluated events.
#[derive(Clone)]
pub struct Admit {
    store: Arc<dyn Store>,
    health: Arc<StoreHealth>,
    dispatcher: Dispatcher,
}

impl std::fmt::Debug for Admit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admit").finish_non_exhaustive()
    }
}

impl Admit {
    /// Admits into `store` (through its `health`), waking `dispatcher`'s workers
    /// for what was stored.
    pub fn new(store: Arc<dyn Store>, health: Arc<StoreHealth>, dispatcher: Dispatcher) -> Self {
        Self {
            store,
            health,
            dispatcher,
        }
    }
}

impl Service<Exchange<Evaluated>> for Admit {
    type Response = Response<Full<Bytes>>;
    type Error = IngressError;
    type Future = BoxFuture<'static, Result<Self::Response, IngressError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, exchange: Exchange<Evaluated>) -> Self::Future {
        let store = self.store.clone();
        let health = self.health.clone();
        let dispatcher = self.dispatcher.clone();
        Box::pin(async move {
            let route = exchange.matched.route.route.clone();
            let admission = admission(&exchange, &route);
            let timeout = exchange.matched.snapshot.settings.store.admit_timeout;
            let outcomes = if admission.events.is_empty() {
                Vec::new()
            } else {
                let started = std::time::Instant::now();
                let admitted = health.call("admit", timeout, store.admit(admission)).await;
                metrics::histogram!("hookgate_admission_duration_seconds", "route" => route.name.clone())
                    .record(started.elapsed().as_secs_f64());
                admitted.map_err(IngressError::Store)?
            };
            let events = &exchange.stage.events;
            let mut deliveries = 0;
            for (event, outcome) in events.iter().zip(&outcomes) {
                match outcome {
                    Admitted::Stored => {
                        deliveries += event.deliveries();
                        for rewrite in &event.rewrites {
                            for destination in &rewrite.destinations {
                                dispatcher.wake(&destination.target.name);
                            }
                        }
                        log_event(&route, event);
                    }
                    Admitted::Duplicate => {
                        tracing::info!(
                            request_id = exchange.request_id(),
                            route = %route.name,
                            key = event.dedupe_key.as_deref(),
                            "duplicate event; nothing admitted"
                        );
                    }
                }
            }
            let duplicate =
                !outcomes.is_empty() && outcomes.iter().all(|outcome| *outcome == Admitted::Duplicate);
            Ok(accepted(route.success_status, duplicate, deliveries))
        })
    }
}

/// One admission holding every event of the request.
fn admission(exchange: &Exchange<Evaluated>, route: &Route) -> Admission {
    let inbound = exchange.inbound();
    let request_id = exchange.request_id();
    let ttl = route.dedupe.as_ref().map(|dedupe| dedupe.ttl);
    let received_ms = crate::model::now_ms();
    let events = exchange
        .stage
        .events
        .iter()
        .map(|event| {
            let affinity = affinity(event);
            let id = affinity.mint();
            let event_id = &id;
            let deliveries: Vec<_> = event
                .rewrites
                .iter()
                .flat_map(|rewrite| {
                    rewrite.destinations.iter().map(move |destination| {
                        let headers =
                            event_headers(inbound, route, destination, rewrite.content_type.as_ref());
                        let mut delivery = delivery(
                            route,
                            destination,
                            &headers,
                            request_id,
                            rewrite.body.clone(),
                            event.dedupe_key.clone(),
                            affinity,
                        );
                        delivery.event_id = Some(event_id.clone());
                        delivery
                    })
                })
                .collect();
            let record = EventRecord {
                id,
                route: route.name.clone(),
                dedupe_key: event.dedupe_key.clone(),
                request_id: request_id.to_owned(),
                received_ms,
                deliveries: deliveries
                    .iter()
                    .map(|delivery| (delivery.id.clone(), delivery.target.clone()))
                    .collect(),
                body: logged_body(route, event),
            };
            EventAdmission {
                dedupe: event
                    .dedupe_key
                    .clone()
                    .zip(ttl)
                    .map(|(key, ttl)| DedupeClaim { key, ttl }),
                deliveries,
                record: Some(record),
            }
        })
        .collect();
    Admission {
        route: route.name.clone(),
        events,
    }
}

/// Where `event` is stored in a partitioned store: by its dedupe key, so a duplicate
/// meets its first copy; by the bytes its first targets receive when it has none.
fn affinity(event: &Event) -> Affinity {
    match (&event.dedupe_key, event.rewrites.first()) {
        (Some(key), _) => Affinity::of(key.as_bytes()),
        (None, Some(rewrite)) => Affinity::of(&rewrite.body),
        (None, None) => Affinity::of(b""),
    }
}

/// What the event log keeps of `event`: the event (as its first targets receive
/// it) with the route's `redact` paths masked, or its bytes when the route does not
/// parse JSON. Only an event a mask matches is copied to be masked; the others are
/// logged as the bytes already rendered for their targets.
fn logged_body(route: &Route, event: &Event) -> Bytes {
    let Some(rewrite) = event.rewrites.first() else {
        return Bytes::new();
    };
    if rewrite.value.is_null() {
        return rewrite.body.clone();
    }
    if !route.redact.iter().any(|mask| mask.matches(&rewrite.value)) {
        // A JSON rewrite's bytes are the event itself; another output (CloudEvents)
        // wraps it, and the log keeps the event.
        return if rewrite.content_type.is_none() {
            rewrite.body.clone()
        } else {
            Bytes::from(serde_json::to_vec(&*rewrite.value).unwrap_or_default())
        };
    }
    let mut shown = (*rewrite.value).clone();
    let masked = serde_json::Value::String("***".to_owned());
    for mask in &route.redact {
        mask.apply(&mut shown, &masked);
    }
    Bytes::from(serde_json::to_vec(&shown).unwrap_or_default())
}

/// Logs an admitted event at debug level, with the route's `redact` paths masked.
/// Events are never logged above debug.
fn log_event(route: &Route, event: &Event) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    for rewrite in &event.rewrites {
        let mut shown = (*rewrite.value).clone();
        let masked = serde_json::Value::String("***".to_owned());
        for mask in &route.redact {
            mask.apply(&mut shown, &masked);
        }
        tracing::debug!(event = %shown, "event admitted");
    }
}

/// The answer to an admitted (or duplicate) request.
pub(super) fn accepted(status: StatusCode, duplicate: bool, deliveries: usize) -> Response<Full<Bytes>> {
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
