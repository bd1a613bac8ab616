//! The request a target receives. At admission: the event's bytes, `content-type`
//! and the route's pass-through headers (hop-by-hop headers stripped), `x-request-id`
//! and `x-forwarded-for` added, the target's templated headers filled ([`delivery`]).
//! When sent, whichever path sends it: the target's static headers and its Standard
//! Webhooks signature, from the target's definition at that moment ([`finish`]).

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request};
use http_body_util::Full;

use crate::model::{
    is_subscription_target, now_ms, trace, Affinity, Delivery, Destination, PathParams, Route, Target,
};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those
/// the client computes for each target itself.
const NEVER_FORWARDED: [HeaderName; 10] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
];

/// Whether `name` is never copied between inbound and outbound messages.
pub fn is_never_forwarded(name: &HeaderName) -> bool {
    NEVER_FORWARDED.contains(name) || name == header::CONTENT_LENGTH
}

/// Whether `name` is hop-by-hop for this message: always-hop-by-hop, or listed in its
/// `Connection` header.
fn is_hop_by_hop(name: &HeaderName, headers: &HeaderMap) -> bool {
    is_never_forwarded(name)
        || headers.get_all(header::CONNECTION).iter().any(|value| {
            value
                .to_str()
                .unwrap_or("")
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case(name.as_str()))
        })
}

/// What the outbound request is made from.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// Method of the inbound request.
    pub method: &'a Method,
    /// Headers of the inbound request.
    pub headers: &'a HeaderMap,
    /// The request id (accepted or minted).
    pub request_id: Option<&'a HeaderValue>,
    /// The connecting peer.
    pub peer: Option<IpAddr>,
    /// Path parameters of the matched route.
    pub params: &'a PathParams,
}

/// The headers a target receives for one event, before the target's own: taken from
/// `inbound` as `route` passes them, `content_type` replacing the request's (a
/// rewritten event), and `destination`'s filled templates.
pub fn event_headers(
    inbound: Inbound<'_>,
    route: &Route,
    destination: &Destination,
    content_type: Option<&HeaderValue>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    // The trace context continues the request's trace (each attempt gets its own
    // span id when sent, in `finish`).
    // A subscription is an endpoint someone registered at run time: it gets the
    // event, not the headers the route passes on to the config's own backends.
    let route_headers: &[HeaderName] = if is_subscription_target(&destination.target.name) {
        &[]
    } else {
        &route.pass_headers
    };
    let passed = [&header::CONTENT_TYPE, &trace::TRACEPARENT, &trace::TRACESTATE]
        .into_iter()
        .chain(route_headers)
        .chain(&destination.target.pass_headers);
    for name in passed {
        if is_hop_by_hop(name, inbound.headers) {
            continue;
        }
        for value in inbound.headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, content_type.clone());
    }
    if let Some(id) = inbound.request_id {
        headers.insert(HeaderName::from_static("x-request-id"), id.clone());
    }
    if let Some(peer) = inbound.peer {
        let forwarded = match inbound
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(chain) => format!("{chain}, {peer}"),
            None => peer.to_string(),
        };
        if let Ok(value) = HeaderValue::try_from(forwarded) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), value);
        }
    }
    if !headers.contains_key(header::USER_AGENT) {
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    }
    for (name, value) in &destination.headers {
        headers.insert(name.clone(), value.clone());
    }
    headers
}

/// The delivery that sends one event to `destination` from the queue; its id carries
/// the event's `affinity`, so a partitioned store finds it where the event is.
pub fn delivery(
    route: &Route,
    destination: &Destination,
    headers: &HeaderMap,
    request_id: &str,
    body: Bytes,
    event_key: Option<String>,
    affinity: Affinity,
) -> Delivery {
    let now = now_ms();
    Delivery {
        id: affinity.mint(),
        route: route.name.clone(),
        target: destination.target.name.clone(),
        event_key,
        event_id: None,
        request_id: request_id.to_owned(),
        method: destination.method.to_string(),
        url: destination.url.to_string(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        attempts: 0,
        created_at_ms: now,
        due_at_ms: now,
        last_attempt: None,
        dead_reason: None,
    }
}

/// Which message a request carries: the delivery's id (the same on every attempt)
/// and which attempt this is.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The delivery's id; also the Standard Webhooks message id.
    pub id: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// An attempt's place in its trace, carried by the request to [`send`](super::send),
/// which exports it as a client span.
#[derive(Debug, Clone)]
pub struct AttemptSpan {
    /// The span id of the request hookgate received.
    pub parent: [u8; 8],
    /// The attempt's own trace context, as the target receives it.
    pub context: trace::TraceParent,
    /// The target's name.
    pub target: String,
    /// The delivery's id.
    pub delivery_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// `Hookgate-Delivery-Id`: see [`crate::model::Marks`].
pub static DELIVERY_ID: HeaderName = HeaderName::from_static("hookgate-delivery-id");
/// `Hookgate-Attempt`: see [`crate::model::Marks`].
pub static ATTEMPT: HeaderName = HeaderName::from_static("hookgate-attempt");

/// Adds what `target` puts on every request when it is sent: its static headers
/// (replacing any of the same name), hookgate's own delivery id and attempt headers
/// (unless the target turns them off) and, when it signs, the Standard Webhooks
/// headers for the message. The same for queued deliveries, retries and `sync`
/// primaries.
pub fn finish(request: &mut Request<Full<Bytes>>, target: &Target, message: Message<'_>, body: &[u8]) {
    // Each attempt is a span of its own in the request's trace, exported by `send`.
    let parent = trace::TraceParent::of(request.headers());
    let attempt = parent.child();
    request.extensions_mut().insert(AttemptSpan {
        parent: parent.span_id,
        context: attempt,
        target: target.name.clone(),
        delivery_id: message.id.to_owned(),
        attempt: message.attempt,
    });
    let headers = request.headers_mut();
    headers.insert(trace::TRACEPARENT.clone(), attempt.header());
    for (name, value) in &target.headers {
        headers.insert(name.clone(), value.clone());
    }
    if target.marks.delivery_id {
        if let Ok(value) = HeaderValue::from_str(message.id) {
            headers.insert(DELIVERY_ID.clone(), value);
        }
    }
    if target.marks.attempt {
        headers.insert(ATTEMPT.clone(), HeaderValue::from(message.attempt));
    }
    if let Some(key) = &target.signing_key {
        let signed = crate::standard_webhooks::headers(key.expose(), message.id, now_ms() / 1000, body);
        for (name, value) in signed {
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(name, value);
            }
        }
    }
}

const USER_AGENT: &str = concat!("hookgate/", env!("CARGO_PKG_VERSION"));

/// The headers of a target's response worth relaying to the sender: all but
/// hop-by-hop ones and `x-request-id` (the sender gets hookgate's).
pub fn relay_headers(from: &HeaderMap) -> HeaderMap {
    let mut relayed = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        if !is_hop_by_hop(name, from) && name != "x-request-id" {
            relayed.append(name.clone(), value.clone());
        }
    }
    relayed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_listed_headers_are_hop_by_hop() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret-hop"),
        );
        assert!(is_hop_by_hop(&HeaderName::from_static("x-secret-hop"), &headers));
        assert!(is_hop_by_hop(&header::TRANSFER_ENCODING, &headers));
        assert!(!is_hop_by_hop(&header::CONTENT_TYPE, &headers));
    }
}
