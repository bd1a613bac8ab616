//! Route: the inbound path and method select a route of the current snapshot, and
//! its path parameters. Unknown path → 404; known path with another method → 405
//! with `Allow`. The snapshot read here serves the request to its end.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{ready, Either, Ready};
use http::Request;
use tower::{Layer, Service};

use super::error::IngressError;
use super::trace::MatchedRoute;
use super::{Matched, Routed};
use crate::model::PeerAddr;
use crate::registry::{Lookup, Registry};

/// Matches each request to a route; see the module docs.
#[derive(Debug, Clone)]
pub struct RouteLayer {
    registry: Arc<Registry>,
}

impl RouteLayer {
    /// A layer routing by `registry`'s current snapshot.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = Routing<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Routing {
            inner,
            registry: self.registry.clone(),
        }
    }
}

/// The service made by [`RouteLayer`].
#[derive(Debug, Clone)]
pub struct Routing<S> {
    inner: S,
    registry: Arc<Registry>,
}

impl<S, B> Service<Request<B>> for Routing<S>
where
    S: Service<Routed<B>, Error = IngressError>,
{
    type Response = S::Response;
    type Error = IngressError;
    type Future = Either<Ready<Result<S::Response, IngressError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let snapshot = self.registry.snapshot();
        match snapshot.lookup(request.method(), request.uri().path()) {
            Lookup::Found { route, params } => {
                let span = tracing::Span::current();
                span.record("route", route.route.name.as_str());
                let seen = request.extensions().get::<MatchedRoute>();
                if let Some(seen) = seen {
                    let _ = seen.0.route.set(route.route.name.clone());
                }
                if let Some(masked) = route.route.masked_path(request.uri().path(), &params) {
                    span.record("path", masked.as_str());
                    if let Some(seen) = seen {
                        let _ = seen.0.masked_path.set(masked);
                    }
                }
                let peer = request.extensions().get::<PeerAddr>().map(|peer| peer.0);
                let matched = Matched {
                    snapshot,
                    route,
                    params,
                    peer,
                };
                Either::Right(self.inner.call(Routed { request, matched }))
            }
            Lookup::MethodNotAllowed { allow, masked } => {
                if let Some(masked) = masked {
                    record_masked(&request, masked);
                }
                Either::Left(ready(Err(IngressError::MethodNotAllowed { allow })))
            }
            Lookup::NotFound => {
                if let Some(masked) = snapshot.masked_path(request.uri().path()) {
                    record_masked(&request, masked);
                }
                Either::Left(ready(Err(IngressError::RouteNotFound)))
            }
        }
    }
}

/// Has the request's lines show `masked` as its path.
fn record_masked<B>(request: &Request<B>, masked: String) {
    tracing::Span::current().record("path", masked.as_str());
    if let Some(seen) = request.extensions().get::<MatchedRoute>() {
        let _ = seen.0.masked_path.set(masked);
    }
}
