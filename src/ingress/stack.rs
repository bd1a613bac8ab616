//! The ingress tower stack, composed in one place, outermost layer first.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tower::util::BoxCloneService;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use super::auth::AuthLayer;
use super::body::BodyLayer;
use super::decode::DecodeLayer;
use super::forward::{Forward, Shared};
use super::rescue::RescueLayer;
use super::route::{RouteLayer, RouteTable};
use super::trace::TraceLayer;
use super::REQUEST_ID;
use crate::config::Limits;

/// The composed, boxed ingress service hyper serves.
pub type IngressService = BoxCloneService<Request<Incoming>, Response<Full<Bytes>>, Infallible>;

/// Builds the ingress stack for `routes`.
pub fn build(routes: Arc<RouteTable>, limits: &Limits, forward: Shared) -> IngressService {
    let stack = ServiceBuilder::new()
        // Every request gets an id before anything can fail, so every response,
        // problem or not, carries one the sender can quote.
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        // The span wraps everything below, so refusals are logged with their id too.
        .layer(TraceLayer)
        // Below here services fail with `IngressError`; from here up they cannot.
        .layer(RescueLayer)
        // Matching before reading the body: unknown paths cost no body bytes, and the
        // route decides the body limit.
        .layer(RouteLayer::new(routes))
        // The body is read once, bounded in size and time.
        .layer(BodyLayer::new(limits.max_body, limits.body_read_timeout))
        // Signatures are checked on the raw bytes, before anything parses them.
        .layer(AuthLayer)
        // JSON parsed once, and only for authenticated requests.
        .layer(DecodeLayer)
        .service(Forward::new(forward));
    BoxCloneService::new(stack)
}
