//! What identifies an event, and for how long a repeat of it is recognised.

use std::time::Duration;

use http::HeaderName;
use jsonpath_rust::parser::model::JpQuery;

use super::path::Path;

/// Where the dedupe key comes from.
#[derive(Debug, Clone)]
pub enum DedupeSource {
    /// The first value the JSONPath selects in the event.
    Path {
        /// The path as written (for messages).
        text: String,
        /// The compiled path.
        query: JpQuery,
    },
    /// The values at these paths, together.
    Fields(Vec<Path>),
    /// A request header.
    Header(HeaderName),
    /// SHA-256 of the event's bytes, hex.
    BodyHash,
}

/// A route's dedupe spec.
#[derive(Debug, Clone)]
pub struct Dedupe {
    /// Key source.
    pub source: DedupeSource,
    /// Recognition window.
    pub ttl: Duration,
}

impl Dedupe {
    /// Whether the key is read from the parsed event.
    pub fn reads_event(&self) -> bool {
        matches!(self.source, DedupeSource::Path { .. } | DedupeSource::Fields(_))
    }
}
