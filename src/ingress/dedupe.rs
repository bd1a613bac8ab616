//! The dedupe key of a request: a JSONPath into the decoded body, a header, or a
//! SHA-256 of the raw bytes, as the route says. Scoped per route by the store.

use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::IngressError;
use crate::config::{Dedupe, DedupeSource};

/// The key for this request, or `None` when the route does not dedupe.
pub fn key(
    dedupe: Option<&Dedupe>,
    headers: &HeaderMap,
    body: &[u8],
    decoded: Option<&Value>,
) -> Result<Option<String>, IngressError> {
    let Some(dedupe) = dedupe else { return Ok(None) };
    let key = match &dedupe.source {
        DedupeSource::Path { text, query } => {
            let found = decoded
                .and_then(|value| jsonpath_rust::query::js_path_process(query, value).ok())
                .and_then(|hits| hits.into_iter().next().map(|hit| hit.val().clone()));
            match found {
                Some(Value::Null) | None => {
                    return Err(IngressError::DedupeKeyMissing {
                        location: text.clone(),
                    })
                }
                Some(Value::String(text)) => text,
                Some(other) => other.to_string(),
            }
        }
        DedupeSource::Header(name) => headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| IngressError::DedupeKeyMissing {
                location: format!("header {name}"),
            })?,
        DedupeSource::Fields(paths) => {
            let event = decoded.ok_or_else(|| IngressError::DedupeKeyMissing {
                location: "a JSON body".to_owned(),
            })?;
            let values: Vec<&Value> = paths
                .iter()
                .map(|path| path.get(event).unwrap_or(&Value::Null))
                .collect();
            if values.iter().all(|value| value.is_null()) {
                return Err(IngressError::DedupeKeyMissing {
                    location: paths.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
                });
            }
            // A JSON array, so that no value can run into the next (`a|b` + `c` vs
            // `a` + `b|c`).
            serde_json::to_string(&values).unwrap_or_default()
        }
        DedupeSource::BodyHash => hex::encode(Sha256::digest(body)),
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

    #[test]
    fn takes_the_first_value_the_path_selects() {
        let body = serde_json::json!({"eventId": "evt_1", "n": 7, "items": [{"id": "a"}, {"id": "b"}]});
        let headers = HeaderMap::new();
        assert_eq!(
            key(Some(&path("$.eventId")), &headers, b"", Some(&body))
                .unwrap()
                .as_deref(),
            Some("evt_1")
        );
        assert_eq!(
            key(Some(&path("$.n")), &headers, b"", Some(&body))
                .unwrap()
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            key(Some(&path("$.items[*].id")), &headers, b"", Some(&body))
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert!(matches!(
            key(Some(&path("$.missing")), &headers, b"", Some(&body)),
            Err(IngressError::DedupeKeyMissing { .. })
        ));
        assert_eq!(key(None, &headers, b"", Some(&body)).unwrap(), None);
    }

    #[test]
    fn body_hash_is_stable_and_distinct() {
        let dedupe = Dedupe {
            source: DedupeSource::BodyHash,
            ttl: Duration::from_secs(1),
        };
        let headers = HeaderMap::new();
        let a = key(Some(&dedupe), &headers, b"{\"a\":1}", None).unwrap();
        assert_eq!(a, key(Some(&dedupe), &headers, b"{\"a\":1}", None).unwrap());
        assert_ne!(a, key(Some(&dedupe), &headers, b"{\"a\":2}", None).unwrap());
    }
}
