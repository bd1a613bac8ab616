//! Ingress: the inbound half of the data path. A tower stack (composed in
//! [`stack`]) takes each request from the listener through request id, tracing,
//! route match, body buffering and decoding, to forwarding; failures become RFC 9457
//! problems in [`rescue`].

use std::net::SocketAddr;

use http::HeaderName;

pub mod auth;
pub mod body;
pub mod decode;
pub mod dedupe;
pub mod error;
pub mod forward;
pub mod rescue;
pub mod route;
pub mod stack;
pub mod trace;

pub use error::IngressError;
pub use route::{PathParams, RouteMatch, RouteTable};
pub use stack::{build, IngressService};

/// The header that carries the request id in and out.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of a request that passed the request-id layer.
pub fn request_id(headers: &http::HeaderMap) -> Option<&str> {
    headers.get(&REQUEST_ID).and_then(|value| value.to_str().ok())
}

/// The connecting peer's address, set on each request by the server.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);
