//! The dedupe key of an event, computed one way for every route: a JSONPath or
//! several fields of the event, a request header, or a SHA-256 of the event's bytes.
//! Scoped per route by the store.
//!
//! A `fields` key stands for a provider's missing event id, built from the fields
//! that tell its notifications apart. When one of them is absent (an optional
//! field, such as a version stamp the provider may omit), those that remain may no
//! longer tell two different notifications apart, and a key built from them would
//! drop the second as a duplicate of the first. So the key is then the SHA-256 of
//! the whole event instead: a retry of the same notification is still recognised,
//! and notifications that differ in anything are not merged.

use http::HeaderMap;
use jsonpath_rust::parser::model::JpQuery;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::RulesError;
use super::singular::{walk, Walk};
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
        DedupeSource::Path { text, query } => match source.value.and_then(|value| first(query, value)) {
            Some(Value::Null) | None => return Err(missing(text.clone())),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        },
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
            if values.iter().any(|value| value.is_null()) {
                // See the module docs.
                let event = serde_json::to_vec(event).unwrap_or_default();
                return Ok(Some(format!("sha256:{}", hash(&event))));
            }
            // A JSON array, so that no value can run into the next (`a|b` + `c` vs
            // `a` + `b|c`).
            serde_json::to_string(&values).unwrap_or_default()
        }
        DedupeSource::BodyHash => hash(source.bytes),
    };
    Ok(Some(key))
}

/// The first node `query` selects in `value`: looked up directly when the query is
/// singular (`$.eventId`), by jsonpath-rust otherwise (`$.items[*].id`).
fn first<'a>(query: &JpQuery, value: &'a Value) -> Option<&'a Value> {
    match walk(&query.segments, value) {
        Walk::Found(node) => Some(node),
        Walk::Absent => None,
        Walk::NotSingular => jsonpath_rust::query::js_path_process(query, value)
            .ok()?
            .into_iter()
            .next()
            .map(|hit| hit.val),
    }
}

/// SHA-256 of `bytes`, hex.
fn hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
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
        assert_eq!(key_of("$.items[-1].id").unwrap().as_deref(), Some("b"));
        assert_eq!(key_of("$['items'][1]['id']").unwrap().as_deref(), Some("b"));
        assert_eq!(
            key_of("$.items").unwrap().as_deref(),
            Some(r#"[{"id":"a"},{"id":"b"}]"#)
        );
        assert!(matches!(
            key_of("$.items[2].id"),
            Err(RulesError::KeyMissing { .. })
        ));
        assert!(matches!(key_of("$.n.x"), Err(RulesError::KeyMissing { .. })));
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

    #[test]
    fn fields_fall_back_to_the_whole_event_when_one_is_missing() {
        let dedupe = Dedupe {
            source: DedupeSource::Fields(vec![
                crate::model::path::Path::parse("$.id").unwrap(),
                crate::model::path::Path::parse("$.modifiedOn").unwrap(),
            ]),
            ttl: Duration::from_secs(60),
        };
        let headers = HeaderMap::new();
        let key_of = |body: &Value| {
            key(Some(&dedupe), of(&headers, b"", Some(body)))
                .unwrap()
                .unwrap()
        };
        let versioned = serde_json::json!({"id": "a", "modifiedOn": "t1", "error": "X"});
        assert_eq!(key_of(&versioned), r#"["a","t1"]"#);
        assert_eq!(
            key_of(&versioned),
            key_of(&serde_json::json!({"id": "a", "modifiedOn": "t1", "error": "Y"})),
            "the fields identify it"
        );
        let unversioned = serde_json::json!({"id": "a", "error": "X"});
        assert!(key_of(&unversioned).starts_with("sha256:"));
        assert_eq!(
            key_of(&unversioned),
            key_of(&serde_json::json!({"id": "a", "error": "X"}))
        );
        assert_ne!(
            key_of(&unversioned),
            key_of(&serde_json::json!({"id": "a", "error": "Y"})),
            "without its version, a notification that differs is not a duplicate"
        );
        assert!(matches!(
            key(
                Some(&dedupe),
                of(&headers, b"", Some(&serde_json::json!({"other": 1})))
            ),
            Err(RulesError::KeyMissing { .. })
        ));
    }
}
