//! Decode: for JSON routes, check the declared content type (415) and parse the body
//! once (400 naming line and column). The parsed value travels beside the untouched
//! bytes, which are what targets of a route without rules receive.
//!
//! A GET or HEAD request has no body to parse: its event is its query parameters
//! as a JSON object (`{"name": "value"}`, percent-decoded; a name given more than
//! once maps to the array of its values, in order), and that object's bytes stand
//! for its body from here on, declared `application/json`. Query parameters that
//! carry the route's URL token are left out.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::{ready, Either, Ready};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Map, Value};
use tower::{Layer, Service};

use super::auth::Authenticated;
use super::error::IngressError;
use super::Exchange;
use crate::model::{percent, ContentType};

/// What the decode stage establishes: the request is authenticated, and its body
/// parsed when its route reads events (`None` otherwise).
#[derive(Debug)]
pub struct Decoded {
    /// Proof the checks passed.
    pub authenticated: Authenticated,
    /// The body, parsed once.
    pub value: Option<Arc<Value>>,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct DecodeLayer;

impl<S> Layer<S> for DecodeLayer {
    type Service = Decode<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Decode { inner }
    }
}

/// The service made by [`DecodeLayer`].
#[derive(Debug, Clone)]
pub struct Decode<S> {
    inner: S,
}

impl<S> Service<Exchange<Authenticated>> for Decode<S>
where
    S: Service<Exchange<Decoded>, Error = IngressError>,
{
    type Response = S::Response;
    type Error = IngressError;
    type Future = Either<Ready<Result<S::Response, IngressError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut exchange: Exchange<Authenticated>) -> Self::Future {
        let json = exchange.matched.route.route.content_type == ContentType::Json;
        if json && exchange.body.is_empty() && matches!(exchange.head.method, Method::GET | Method::HEAD) {
            let event = query_event(
                exchange.head.uri.query(),
                &exchange.matched.route.route.secret_query,
            );
            exchange.body = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
            exchange
                .head
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let value = Some(Arc::new(event));
            return Either::Right(
                self.inner
                    .call(exchange.advance(|authenticated| Decoded { authenticated, value })),
            );
        }
        let route = &exchange.matched.route;
        let mut value = None;
        if json {
            // Events are logged at debug level, so then every route needs the value.
            let wanted = route.reads_event()
                || exchange.matched.snapshot.filters_events(&route.route.name)
                || tracing::enabled!(tracing::Level::DEBUG);
            let decoded = if wanted {
                decode(&exchange.head.headers, &exchange.body).map(|parsed| Some(Arc::new(parsed)))
            } else {
                validate(&exchange.head.headers, &exchange.body).map(|()| None)
            };
            match decoded {
                Ok(parsed) => value = parsed,
                Err(error) => return Either::Left(ready(Err(error))),
            }
        }
        Either::Right(
            self.inner
                .call(exchange.advance(|authenticated| Decoded { authenticated, value })),
        )
    }
}

/// The event of a request without a body: see the module docs.
pub fn query_event(query: Option<&str>, secret: &[String]) -> Value {
    let mut event = Map::new();
    for (name, value) in percent::query_pairs(query.unwrap_or("")) {
        let value = Value::String(value);
        if secret.contains(&name) {
            continue;
        }
        match event.get_mut(&name) {
            None => {
                event.insert(name, value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    Value::Object(event)
}

/// Checks the content type and parses the body.
pub fn decode(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, IngressError> {
    parse(headers, body)
}

/// The checks of [`decode`] without building the value: what a route that never looks
/// inside its events needs, at a fraction of the cost (no allocation per node).
pub fn validate(headers: &HeaderMap, body: &[u8]) -> Result<(), IngressError> {
    // Skipping over strings does not check their UTF-8, so the whole body is checked
    // first. Anything refused takes the full parse, for exactly its located message.
    if std::str::from_utf8(body).is_ok() && parse::<serde::de::IgnoredAny>(headers, body).is_ok() {
        return Ok(());
    }
    decode(headers, body).map(drop)
}

fn parse<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, IngressError> {
    let declared = headers
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()));
    if !declared.as_deref().is_some_and(is_json) {
        return Err(IngressError::UnsupportedMediaType {
            found: declared.map(|text| text.chars().take(100).collect()),
        });
    }
    serde_json::from_slice(body).map_err(|error| IngressError::InvalidJson {
        line: error.line(),
        column: error.column(),
        reason: reason(&error),
    })
}

/// `application/json`, `application/cloudevents+json`, with or without parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// serde_json's message without its trailing location (reported separately).
fn reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("x")),
        );
        headers
    }

    #[test]
    fn validation_refuses_what_decoding_refuses_with_the_same_message() {
        let json = headers("application/json");
        for body in [
            &b"{\"a\": [1, 2,]}"[..],
            b"{\"a\": \"\xff\"}",
            b"",
            b"{} x",
            b"{\"a\": \"\\q\"}",
        ] {
            let decoded = decode(&json, body).map(drop).map_err(|error| error.to_string());
            let validated = validate(&json, body).map_err(|error| error.to_string());
            assert!(decoded.is_err(), "{body:?}");
            assert_eq!(validated, decoded, "{body:?}");
        }
        assert!(validate(&json, br#"[{"eventId": "x", "n": 1.5e3, "ok": [true, null]}]"#).is_ok());
        assert!(validate(&headers("text/plain"), b"{}").is_err());
    }

    #[test]
    fn accepts_json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/cloudevents+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
    }

    #[test]
    fn names_line_and_column_of_invalid_json() {
        let error = decode(&headers("application/json"), b"{\n  \"a\": @\n}").unwrap_err();
        match error {
            IngressError::InvalidJson { line, column, reason } => {
                assert_eq!(line, 2);
                assert!(column > 0);
                assert!(!reason.contains("at line"), "{reason}");
            }
            other => panic!("expected InvalidJson, got {other:?}"),
        }
    }

    #[test]
    fn a_query_is_an_event() {
        let secret = ["token".to_owned()];
        assert_eq!(
            query_event(Some("a=1&b=x%20y+z&a=2&flag&token=s3cret&a=3&=e"), &secret),
            serde_json::json!({"a": ["1", "2", "3"], "b": "x y z", "flag": "", "": "e"})
        );
        assert_eq!(query_event(None, &secret), serde_json::json!({}));
        assert_eq!(query_event(Some("&&"), &[]), serde_json::json!({}));
    }

    #[test]
    fn missing_content_type_is_unsupported() {
        let error = decode(&HeaderMap::new(), b"{}").unwrap_err();
        assert!(matches!(
            error,
            IngressError::UnsupportedMediaType { found: None }
        ));
    }
}
