//! Evaluate: the route's rules turn the request into typed events, each with its
//! dedupe key and, per rewrite, the bytes, content type and addressed targets its
//! deliveries carry (a route without rules has the identity rule set). Every event
//! is checked before anything is admitted or called: one invalid event refuses the
//! whole request (400).
//!
//! For a `sync` route the request itself is also the event its primary (first)
//! target is called with; it is set apart here, and its other targets' copies and
//! any rule events go on to be admitted without keys (the primary call holds the
//! request's key).

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::{ready, Either, Ready};
use http::Method;
use tower::{Layer, Service};

use super::auth::Authenticated;
use super::decode::Decoded;
use super::error::IngressError;
use super::Exchange;
use crate::model::{Destination, Event, Mode};
use crate::registry::LiveSubscription;
use crate::rules::{self, RouteView, RulesError};

/// What the evaluate stage establishes: the events to admit, and for a `sync`
/// route, the call to relay.
#[derive(Debug)]
pub struct Evaluated {
    /// Proof the checks passed. The parsed body is dropped here: the events hold
    /// what they need of it, and a big array's value would otherwise be held
    /// through admission beside its events' copies.
    pub authenticated: Authenticated,
    /// Events to admit, in request order.
    pub events: Vec<Event>,
    /// `sync` routes: the primary target's call.
    pub primary: Option<Primary>,
}

/// A `sync` route's call to its primary target.
#[derive(Debug)]
pub struct Primary {
    /// The primary target, addressed for the request.
    pub destination: Destination,
    /// The request's dedupe key, held as pending while the call runs.
    pub key: Option<String>,
    /// What it is sent: the body as received.
    pub body: Bytes,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct EvaluateLayer;

impl<S> Layer<S> for EvaluateLayer {
    type Service = Evaluate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Evaluate { inner }
    }
}

/// The service made by [`EvaluateLayer`].
#[derive(Debug, Clone)]
pub struct Evaluate<S> {
    inner: S,
}

impl<S> Service<Exchange<Decoded>> for Evaluate<S>
where
    S: Service<Exchange<Evaluated>, Error = IngressError>,
{
    type Response = S::Response;
    type Error = IngressError;
    type Future = Either<Ready<Result<S::Response, IngressError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, exchange: Exchange<Decoded>) -> Self::Future {
        match evaluate(&exchange) {
            Ok((events, primary)) => Either::Right(self.inner.call(exchange.advance(|decoded| Evaluated {
                authenticated: decoded.authenticated,
                events,
                primary,
            }))),
            Err(error) => Either::Left(ready(Err(IngressError::Rules(error)))),
        }
    }
}

fn evaluate(exchange: &Exchange<Decoded>) -> Result<(Vec<Event>, Option<Primary>), RulesError> {
    let live = &exchange.matched.route;
    let route = &live.route;
    let request = rules::Request {
        method: &exchange.head.method,
        headers: &exchange.head.headers,
        params: &exchange.matched.params,
        uri: &exchange.head.uri,
        body: &exchange.body,
        value: exchange.stage.value.as_ref(),
    };
    let view = RouteView {
        targets: &route.targets,
        dedupe: route.dedupe.as_ref(),
        max_events: route.max_events,
    };
    let subscriptions = exchange.matched.snapshot.subscriptions.of(&route.name);
    if route.mode == Mode::Queue {
        let mut evaluation = live.rules.evaluate(&request, view)?;
        count_dropped(&route.name, evaluation.dropped);
        for event in &mut evaluation.events {
            subscribe(event, subscriptions);
        }
        return Ok((evaluation.events, None));
    }
    let mut event = rules::identity(&request, view)?;
    let key = event.dedupe_key.take();
    let mut events = Vec::new();
    let mut primary = None;
    if let Some(rewrite) = event.rewrites.first_mut() {
        if !rewrite.destinations.is_empty() {
            primary = Some(Primary {
                destination: rewrite.destinations.remove(0),
                key,
                body: rewrite.body.clone(),
            });
        }
    }
    subscribe(&mut event, subscriptions);
    if event.deliveries() > 0 {
        events.push(event);
    }
    if !live.rules.is_identity() {
        // Rule events go through the queue, not deduplicated on their own: the
        // request's key, held by the primary call, covers them.
        let view = RouteView { dedupe: None, ..view };
        let evaluation = live.rules.evaluate(&request, view)?;
        count_dropped(&route.name, evaluation.dropped);
        events.extend(evaluation.events);
    }
    Ok((events, primary))
}

/// Adds a destination for each of `subscriptions` that wants `event` (as its first
/// rewrite has it) to that rewrite: it is admitted, retried and dead-lettered with
/// the event's other deliveries.
fn subscribe(event: &mut Event, subscriptions: &[Arc<LiveSubscription>]) {
    let Some(rewrite) = event.rewrites.first_mut() else {
        return;
    };
    let value = (!rewrite.value.is_null()).then_some(&*rewrite.value);
    for live in subscriptions.iter().filter(|live| live.wants(value)) {
        let method = Method::from_bytes(live.subscription.method.as_bytes()).unwrap_or(Method::POST);
        rewrite.destinations.push(Destination {
            target: live.target.clone(),
            method,
            url: live.target.url.clone(),
            headers: Vec::new(),
        });
    }
}

fn count_dropped(route: &str, dropped: usize) {
    if dropped > 0 {
        metrics::counter!("hookgate_events_dropped_total", "route" => route.to_owned())
            .increment(dropped as u64);
    }
}
