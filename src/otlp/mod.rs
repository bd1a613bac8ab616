//! OTLP trace export (`otlp:` in the config; the `otlp` cargo feature). Two kinds of
//! span, each ended where hookgate already knows everything about it:
//!
//! - a server span per inbound request, child of the sender's `traceparent` when it
//!   sent one, whose id becomes the request's `traceparent` from then on;
//! - a client span per attempt at a target, child of that, whose id is the
//!   `traceparent` the target receives, so the backend's own spans hang below it.
//!
//! Span ids are hookgate's (they travel in `traceparent` before the span ends), so the
//! spans are handed to the SDK's batching processor as finished span data rather
//! than started through a tracer that would choose its own ids. Without the feature,
//! or with no `otlp` section, every function here is a no-op.

use std::time::SystemTime;

use crate::model::trace::TraceParent;

/// Whether a span stands for hookgate answering (server) or calling (client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An inbound request.
    Server,
    /// An attempt at a target.
    Client,
}

/// One finished span.
#[derive(Debug, Clone)]
pub struct Span {
    /// Server or client.
    pub kind: Kind,
    /// e.g. `POST klavi` or `deliver primary`.
    pub name: String,
    /// Its trace id and its own span id.
    pub context: TraceParent,
    /// The span id of its parent, if it has one.
    pub parent: Option<[u8; 8]>,
    /// When it started and ended.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// Attributes, OpenTelemetry semantic conventions where one exists.
    pub attributes: Vec<(&'static str, Value)>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// An attribute value.
#[derive(Debug, Clone)]
pub enum Value {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
}

#[cfg(feature = "otlp")]
mod export;

#[cfg(feature = "otlp")]
pub use self::export::{enabled, export, install, sample_root, shutdown};

#[cfg(not(feature = "otlp"))]
mod disabled {
    use super::Span;

    /// Whether spans are exported: never, in a build without the `otlp` feature.
    pub fn enabled() -> bool {
        false
    }

    /// Never samples: traces hookgate starts are marked not sampled.
    pub fn sample_root() -> bool {
        false
    }

    /// Refuses: the config refuses `otlp` in such a build first.
    pub fn install(
        _settings: &crate::model::OtlpSettings,
        _runtime: tokio::runtime::Handle,
    ) -> Result<(), String> {
        Err("this hookgate was built without OTLP export (the `otlp` cargo feature)".to_owned())
    }

    /// Drops `span`.
    pub fn export(span: Span) {
        drop(span);
    }

    /// Nothing to flush.
    pub async fn shutdown() {}
}

#[cfg(not(feature = "otlp"))]
pub use disabled::{enabled, export, install, sample_root, shutdown};

/// Whether this build can export spans.
pub const BUILT_IN: bool = cfg!(feature = "otlp");
