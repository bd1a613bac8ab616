//! Trace: one log line when a request completes, with its id, trace id, method, path,
//! route, status and latency (and, at debug, a span carrying the same fields around
//! everything logged while it is handled; at info a span per request would cost more
//! than the lines it frames, so the few lines below it name the request themselves);
//! the request counted
//! and timed by route and status (`hookgate_requests_total`,
//! `hookgate_request_duration_seconds`), and exported as a server span when OTLP
//! export is on.
//!
//! hookgate takes part in the request's W3C trace: its handling is a span of its own,
//! child of the sender's `traceparent` (or the root of a new trace), and that span's
//! id is the request's `traceparent` from here on, so each attempt at a target is its
//! child.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower::{Layer, Service};
use tracing::Instrument;

use super::request_id;
use crate::model::trace::{TraceParent, TRACEPARENT};
use crate::otlp;

/// What the route stage learnt about a request (a request extension), read by the
/// lines logged when the answer is ready.
#[derive(Debug, Clone, Default)]
pub struct MatchedRoute(pub Arc<Seen>);

/// See [`MatchedRoute`].
#[derive(Debug, Default)]
pub struct Seen {
    /// The name of the route the request matched.
    pub route: OnceLock<String>,
    /// The path with secret parameters masked, when the route has any.
    pub masked_path: OnceLock<String>,
}

impl MatchedRoute {
    /// The route's name, or `"none"`.
    pub fn route(&self) -> &str {
        self.0.route.get().map_or("none", String::as_str)
    }

    /// The path as it may be logged: masked, or else as received.
    pub fn path<'a>(&'a self, received: &'a str) -> &'a str {
        self.0.masked_path.get().map_or(received, String::as_str)
    }
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Trace { inner }
    }
}

/// The service made by [`TraceLayer`].
#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for Trace<S>
where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<R>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let matched = MatchedRoute::default();
        request.extensions_mut().insert(matched.clone());
        // The provider's trace, or a new one: every stage (and every delivery) sees
        // a valid `traceparent`, naming hookgate's span, from here on.
        let inbound = request
            .headers()
            .get(&TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(TraceParent::parse);
        let trace = inbound.map_or_else(|| TraceParent::root(otlp::sample_root()), TraceParent::child);
        request.headers_mut().insert(TRACEPARENT.clone(), trace.header());
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let began = SystemTime::now();
        let request_id = request_id(request.headers()).unwrap_or("").to_owned();
        let span = tracing::debug_span!(
            "request",
            request_id = %request_id,
            trace_id = %trace.trace_id(),
            method = %request.method(),
            path = %request.uri().path(),
            route = tracing::field::Empty,
        );
        let started = Instant::now();
        let future = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                let response = future.await;
                if let Ok(response) = &response {
                    let elapsed = started.elapsed().as_secs_f64();
                    tracing::info!(
                        request_id = %request_id,
                        trace_id = %trace.shown_trace_id(),
                        %method,
                        path = matched.path(&path),
                        route = matched.route(),
                        status = response.status().as_u16(),
                        latency_ms = elapsed * 1000.0,
                        "request completed"
                    );
                    let route = matched.route().to_owned();
                    metrics::counter!(
                        "hookgate_requests_total",
                        "route" => route.clone(),
                        "status" => response.status().as_str().to_owned()
                    )
                    .increment(1);
                    if trace.sampled() && otlp::enabled() {
                        let status = response.status();
                        let mut attributes = vec![
                            ("http.request.method", otlp::Value::Text(method.to_string())),
                            (
                                "http.response.status_code",
                                otlp::Value::Int(status.as_u16().into()),
                            ),
                            ("hookgate.request_id", otlp::Value::Text(request_id.clone())),
                        ];
                        let name = match matched.0.route.get() {
                            Some(name) => {
                                attributes.push(("hookgate.route", otlp::Value::Text(name.clone())));
                                format!("{method} {name}")
                            }
                            None => method.to_string(),
                        };
                        otlp::export(otlp::Span {
                            kind: otlp::Kind::Server,
                            name,
                            context: trace,
                            parent: inbound.map(|parent| parent.span_id),
                            start: began,
                            end: SystemTime::now(),
                            attributes,
                            error: status.is_server_error().then(|| status.to_string()),
                        });
                    }
                    metrics::histogram!("hookgate_request_duration_seconds", "route" => route)
                        .record(elapsed);
                }
                response
            }
            .instrument(span),
        )
    }
}
