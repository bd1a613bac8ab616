//! Events: what a request becomes once its route's rules have run. One request holds
//! one event, or several when the route splits its body; each event is identified
//! by its dedupe key and carries what its targets receive.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Uri};
use serde_json::Value;

use super::target::Target;

/// One event of a request, evaluated.
#[derive(Debug, Clone)]
pub struct Event {
    /// What identifies it among the route's events (`None`: the route does not
    /// dedupe). Computed from the event as received, so a rewrite never changes it.
    pub dedupe_key: Option<String>,
    /// What its targets receive: one rewrite, or several when `match: all` rules
    /// rewrite it differently. All are admitted together, under the one key.
    pub rewrites: Vec<Rewrite>,
}

impl Event {
    /// How many deliveries the event makes.
    pub fn deliveries(&self) -> usize {
        self.rewrites
            .iter()
            .map(|rewrite| rewrite.destinations.len())
            .sum()
    }
}

/// The event as some of its targets receive it.
#[derive(Debug, Clone)]
pub struct Rewrite {
    /// The event as rewritten, before any envelope (`null` when the route never
    /// parses its events); what logs show, with the route's `redact` paths masked.
    pub value: Arc<Value>,
    /// The bytes sent.
    pub body: Bytes,
    /// The `content-type` sent, when it is not the request's (a rewritten body is
    /// JSON, a CloudEvents envelope has its own type).
    pub content_type: Option<HeaderValue>,
    /// Where it goes, each target's templates filled for this event.
    pub destinations: Vec<Destination>,
}

/// A target with its URL, method and header templates filled for one event.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The target.
    pub target: Arc<Target>,
    /// The method sent.
    pub method: Method,
    /// The URL sent to.
    pub url: Uri,
    /// The target's templated headers, filled.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}
