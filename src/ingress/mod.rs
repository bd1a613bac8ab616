//! Ingress: the inbound half of the data path, a tower stack composed in [`stack`].
//! Each stage of DESIGN.md's data path is a layer, and each hands the next one typed
//! value ([`Routed`], then [`Exchange`] at each later stage), so a stage can only be
//! reached through the ones before it:
//!
//! route → body → auth → decode → evaluate → admit | relay
//!
//! Failures become RFC 9457 problems in [`rescue`].

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, Request};

use crate::delivery::Inbound;
use crate::model::PathParams;
use crate::registry::{LiveRoute, Snapshot};

pub mod admit;
pub mod auth;
pub mod body;
pub mod decode;
pub mod error;
pub mod evaluate;
pub mod head;
pub mod relay;
pub mod rescue;
pub mod route;
pub mod stack;
pub mod trace;

pub use error::IngressError;
pub use stack::{build, IngressService};

/// The header that carries the request id in and out.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of a request that passed the request-id layer.
pub fn request_id(headers: &http::HeaderMap) -> Option<&str> {
    headers.get(&REQUEST_ID).and_then(|value| value.to_str().ok())
}

/// What the route stage found: the snapshot the request is served by from start to
/// end, the route, its path parameters, and the connecting peer.
#[derive(Debug, Clone)]
pub struct Matched {
    /// The config the request is served by.
    pub snapshot: Arc<Snapshot>,
    /// The route.
    pub route: Arc<LiveRoute>,
    /// Its path parameters.
    pub params: PathParams,
    /// The connecting peer, when the listener knows it.
    pub peer: Option<SocketAddr>,
}

/// A request that matched a route; its body is not read yet.
#[derive(Debug)]
pub struct Routed<B> {
    /// The request as received.
    pub request: Request<B>,
    /// What it matched.
    pub matched: Matched,
}

/// A request with its body read, as every stage after the body stage sees it. `S`
/// is what the stages so far established, each stage's value holding the one before
/// it: a stage can only be given an exchange the previous stages produced.
#[derive(Debug)]
pub struct Exchange<S> {
    /// Method, URI, headers.
    pub head: Parts,
    /// The body as received.
    pub body: Bytes,
    /// What the request matched.
    pub matched: Matched,
    /// What the stages so far established.
    pub stage: S,
}

impl<S> Exchange<S> {
    /// The same exchange, a stage further.
    pub fn advance<T>(self, stage: impl FnOnce(S) -> T) -> Exchange<T> {
        Exchange {
            head: self.head,
            body: self.body,
            matched: self.matched,
            stage: stage(self.stage),
        }
    }

    /// What outbound requests are made from.
    pub fn inbound(&self) -> Inbound<'_> {
        Inbound {
            method: &self.head.method,
            headers: &self.head.headers,
            request_id: self.head.headers.get(&REQUEST_ID),
            peer: self.matched.peer.map(|peer| peer.ip()),
            params: &self.matched.params,
        }
    }

    /// The request id, or `""`.
    pub fn request_id(&self) -> &str {
        request_id(&self.head.headers).unwrap_or_default()
    }
}
