//! The dedupe key of an event, computed one way for every route: a JSONPath or
//! several fields of the event, a request header, or a SHA-256 of the event's bytes.
//! Scoped per route by the store.

use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::RulesError;
use crate::model::{Dedupe, DedupeSource};

/// The event a key is computed from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The event's bytes as received (needed only for a body hash).
    pub bytes: &'a [u8],
    /// The event parsed, when the route parses it.
    pub value: Option<&'a Value>,
}

/// The key of `source`, or `None` when the route does not dedupe.
pub fn key(dedupe: Option<&Dedupe>, source: Source<'_>) -> Result<Option<String>, RulesError> {
    let Some(dedupe) = dedupe else { return Ok(None) };
    let missing = |location: String| RulesError::KeyMissing { location };
    let key = match &dedupe.source {
        DedupeSource::Path { text, query } => {
            let found = source
                .value
                .and_then(|value| jsonpath_rust::query::js_path_process(query, value).ok())
                .and_then(|hits| hits.into_iter().next().map(|hit| hit.val().clone()));
            match found {
                Some(Value::Null) | None => return Err(missing(text.clone())),
                Some(Value::String(text)) => text,
                Some(other) => other.to_string(),
            }
        }
        DedupeSource::Header(name) => source
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| missing(format!("header {name}")))?,
        DedupeSource::Fields(paths) => {
            let event = source.value.ok_or_else(|| missing("a JSON body".to_owned()))?;
            let values: Vec<&Value> = paths
                .iter()
                .map(|path| path.get(event).unwrap_or(&Value::Null))
                .collect();
            if values.iter().all(|value| value.is_null()) {
                return Err(missing(
                    paths.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
                ));
            }
            // A JSON array, so that no value can run into the next (`a|b` + `c` vs
            // `a` + `b|c`).
            serde_json::to_string(&values).unwrap_or_default()
        }
        DedupeSource::BodyHash => hex::encode(Sha256::digest(source.bytes)),
    };
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn path(text: &str) -> Dedupe {
        Dedupe {
            source: DedupeSource::Path {
                text: text.to_owned(),
                query: jsonpath_rust::parser::parse_json_path(text).unwrap(),
            },
            ttl: Duration::from_secs(60),
        }
    }

    fn of<'a>(headers: &'a HeaderMap, bytes: &'a [u8], value: Option<&'a Value>) -> Source<'a> {
        Source {
            headers,
            bytes,
            value,
        }
    }

    #[test]
    fn takes_the_first_value_the_path_selects() {
        let body = serde_json::json!({"eventId": "evt_1", "n": 7, "items": [{"id": "a"}, {"id": "b"}]});
        let headers = HeaderMap::new();
        let key_of = |text| key(Some(&path(text)), of(&headers, b"", Some(&body)));
        assert_eq!(key_of("$.eventId").unwrap().as_deref(), Some("evt_1"));
        assert_eq!(key_of("$.n").unwrap().as_deref(), Some("7"));
        assert_eq!(key_of("$.items[*].id").unwrap().as_deref(), Some("a"));
        assert!(matches!(key_of("$.missing"), Err(RulesError::KeyMissing { .. })));
        assert_eq!(key(None, of(&headers, b"", Some(&body))).unwrap(), None);
    }

    #[test]
    fn body_hash_is_stable_and_distinct() {
        let dedupe = Dedupe {
            source: DedupeSource::BodyHash,
            ttl: Duration::from_secs(1),
        };
        let headers = HeaderMap::new();
        let a = key(Some(&dedupe), of(&headers, b"{\"a\":1}", None)).unwrap();
        assert_eq!(a, key(Some(&dedupe), of(&headers, b"{\"a\":1}", None)).unwrap());
        assert_ne!(a, key(Some(&dedupe), of(&headers, b"{\"a\":2}", None)).unwrap());
    }
}
