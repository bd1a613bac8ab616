//! The ingress tower stack, composed in one place, outermost layer first. Each stage
//! of the data path (DESIGN.md) is one layer, and hands the next a typed value.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tower::util::BoxCloneService;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use super::admit::Admit;
use super::auth::AuthLayer;
use super::body::BodyLayer;
use super::decode::DecodeLayer;
use super::evaluate::EvaluateLayer;
use super::head::HeadLayer;
use super::relay::RelayLayer;
use super::rescue::RescueLayer;
use super::route::RouteLayer;
use super::trace::TraceLayer;
use super::REQUEST_ID;
use crate::delivery::{Dispatcher, HttpClient};
use crate::registry::Registry;
use crate::store::{Store, StoreHealth};

/// The composed, boxed ingress service the listener serves.
pub type IngressService = BoxCloneService<Request<Incoming>, Response<Full<Bytes>>, Infallible>;

/// What the stack is built from.
pub struct Parts {
    /// The live routes and targets.
    pub registry: Arc<Registry>,
    /// Where events are admitted.
    pub store: Arc<dyn Store>,
    /// Whether the store answers (admissions fail at once while it does not).
    pub health: Arc<StoreHealth>,
    /// Woken after an admission so local workers start at once.
    pub dispatcher: Dispatcher,
    /// For `sync` primaries.
    pub client: HttpClient,
}

/// Builds the ingress stack.
pub fn build(parts: Parts) -> IngressService {
    let stack = ServiceBuilder::new()
        // Every request gets an id before anything can fail, so every response,
        // problem or not, carries one the sender can quote.
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        // The span wraps everything below, so refusals are logged with their id too.
        .layer(TraceLayer)
        // Below here services fail with `IngressError`; from here up they cannot.
        .layer(RescueLayer)
        // head: the request line and headers within hookgate's limits, which sit below
        // the HTTP library's so that refusals are problems, not bare statuses.
        .layer(HeadLayer)
        // route: matching before reading the body, so unknown paths cost no body
        // bytes and the route decides the body limit; the snapshot read here serves
        // the request to its end.
        .layer(RouteLayer::new(parts.registry))
        // body: read once, bounded in size and time.
        .layer(BodyLayer)
        // auth: signatures are checked on the raw bytes, before anything parses them.
        .layer(AuthLayer)
        // decode: JSON parsed once, and only for authenticated requests.
        .layer(DecodeLayer)
        // evaluate: the route's rules make typed events, all checked before anything
        // is admitted or called.
        .layer(EvaluateLayer)
        // relay: `sync` routes call their primary here; everything else goes on to
        // be admitted.
        .layer(RelayLayer::new(
            parts.client,
            parts.store.clone(),
            parts.health.clone(),
        ))
        // admit: every event of the request in one atomic dedupe + enqueue.
        .service(Admit::new(parts.store, parts.health, parts.dispatcher));
    BoxCloneService::new(stack)
}
