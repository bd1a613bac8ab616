//! The request a target receives: the inbound body bytes unchanged, `content-type`
//! and the route's pass-through headers, hop-by-hop headers stripped, `x-request-id`
//! and `x-forwarded-for` added, the target's static headers last.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::Full;

use serde_json::Value;

use crate::config::{Route, Target};
use crate::ingress::PathParams;
use crate::rules::template::Scope;
use crate::store::{now_ms, Delivery};

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

/// A target's method, URL and templated headers for one event.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Method to use.
    pub method: Method,
    /// Absolute URL.
    pub url: Uri,
    /// Headers whose values were templates.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Fills the target's templates (URL, method, header values) for `event`; a missing
/// value or a result that is not a valid URL, method or header is an error for that
/// event.
pub fn resolve(inbound: Inbound<'_>, target: &Target, event: &Value) -> Result<Resolved, String> {
    let scope = Scope {
        event,
        params: inbound.params,
        headers: inbound.headers,
    };
    let method = match &target.method {
        None => inbound.method.clone(),
        Some(template) => {
            let text = template.render(scope)?.to_ascii_uppercase();
            Method::from_bytes(text.as_bytes())
                .map_err(|_| format!("target `{}`: `{text}` is not an HTTP method", target.name))?
        }
    };
    let url = match &target.url_template {
        None => target.url.clone(),
        Some(template) => {
            let text = template.render(scope)?;
            text.parse::<Uri>()
                .ok()
                .filter(|uri| uri.host().is_some())
                .ok_or_else(|| format!("target `{}`: `{text}` is not a valid URL", target.name))?
        }
    };
    let headers = target
        .header_templates
        .iter()
        .map(|(name, template)| {
            let text = template.render(scope)?;
            HeaderValue::try_from(text)
                .map(|value| (name.clone(), value))
                .map_err(|_| {
                    format!(
                        "target `{}`: header `{name}` would not be a valid header value",
                        target.name
                    )
                })
        })
        .collect::<Result<_, String>>()?;
    Ok(Resolved { method, url, headers })
}

/// Builds the request for one target.
pub fn outbound_request(
    inbound: Inbound<'_>,
    route: &Route,
    target: &Target,
    resolved: Resolved,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, http::Error> {
    let mut request = Request::builder()
        .method(resolved.method)
        .uri(resolved.url)
        .body(Full::new(body))?;
    let mut headers = outbound_headers(inbound, route, target);
    for (name, value) in resolved.headers {
        headers.insert(name, value);
    }
    *request.headers_mut() = headers;
    Ok(request)
}

/// The delivery that sends the same request later, from the queue.
pub fn outbound_delivery(
    inbound: Inbound<'_>,
    route: &Route,
    target: &Target,
    resolved: Resolved,
    body: Bytes,
    event_key: Option<String>,
) -> Delivery {
    let mut headers = outbound_headers(inbound, route, target);
    for (name, value) in resolved.headers {
        headers.insert(name, value);
    }
    let headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let now = now_ms();
    Delivery {
        id: uuid::Uuid::now_v7().to_string(),
        route: route.name.clone(),
        target: target.name.clone(),
        event_key,
        request_id: inbound
            .request_id
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        method: resolved.method.to_string(),
        url: resolved.url.to_string(),
        headers,
        body,
        attempts: 0,
        created_at_ms: now,
        due_at_ms: now,
        last_attempt: None,
        dead_reason: None,
    }
}

/// The headers a target receives for `inbound`.
fn outbound_headers(inbound: Inbound<'_>, route: &Route, target: &Target) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let passed = std::iter::once(&header::CONTENT_TYPE).chain(route.pass_headers.iter());
    for name in passed {
        if is_hop_by_hop(name, inbound.headers) {
            continue;
        }
        for value in inbound.headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
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
    for (name, value) in &target.headers {
        headers.insert(name.clone(), value.clone());
    }
    headers
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
