//! `routes[].dedupe`: what identifies an event, and for how long a repeat of it is
//! recognised.

use std::time::Duration;

use http::HeaderName;
use schemars::JsonSchema;
use serde::Deserialize;

use super::error::Collector;
use super::server::duration;
use crate::model::path::Path;
use crate::model::{Dedupe, DedupeSource};

/// `dedupe:` as written: exactly one of `key`, `fields`, `header`, `body_hash`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// JSONPath to the event's id, e.g. `$.eventId`.
    pub key: Option<String>,
    /// Several values that together identify the event, for providers without an id,
    /// e.g. `["$.customerId", "$.modifiedOn", "$.status"]` (absent ones count as
    /// empty).
    pub fields: Option<Vec<String>>,
    /// A header carrying the id, e.g. `webhook-id`.
    pub header: Option<String>,
    /// Use a SHA-256 of the raw body (for providers without an id).
    #[serde(default)]
    pub body_hash: bool,
    /// How long a repeat is recognised (default `24h`).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub ttl: Option<String>,
}

impl DedupeConfig {
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> Option<Dedupe> {
        let ttl = duration(
            self.ttl,
            Duration::from_secs(24 * 3600),
            &format!("{path}.ttl"),
            errors,
        );
        if let Some(fields) = self.fields {
            if self.key.is_some() || self.header.is_some() || self.body_hash || fields.is_empty() {
                errors.at(path, "expected exactly one of `key`, `fields`, `header` or `body_hash`, and `fields` not empty");
                return None;
            }
            let paths = errors.each(&format!("{path}.fields"), &fields, Path::parse);
            return Some(Dedupe {
                source: DedupeSource::Fields(paths),
                ttl,
            });
        }
        let source = match (self.key, self.header, self.body_hash) {
            (Some(text), None, false) => match jsonpath_rust::parser::parse_json_path(&text) {
                Ok(query) => DedupeSource::Path { text, query },
                Err(error) => {
                    errors.at(
                        &format!("{path}.key"),
                        format!("expected a JSONPath such as `$.eventId`: {error}"),
                    );
                    return None;
                }
            },
            (None, Some(name), false) => match HeaderName::try_from(name.as_str()) {
                Ok(name) => DedupeSource::Header(name),
                Err(_) => {
                    errors.at(
                        &format!("{path}.header"),
                        format!("expected a header name such as `webhook-id`, found `{name}`"),
                    );
                    return None;
                }
            },
            (None, None, true) => DedupeSource::BodyHash,
            _ => {
                errors.at(
                    path,
                    "expected exactly one of `key: $.eventId`, `header: webhook-id` or `body_hash: true`",
                );
                return None;
            }
        };
        Some(Dedupe { source, ttl })
    }
}
