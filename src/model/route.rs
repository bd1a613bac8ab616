//! Routes: which inbound paths hookgate accepts, and what it does with each request.
//! The checks and compiled rules of a route live beside it in the registry.

use std::sync::Arc;

use http::header::HeaderName;
use http::{Method, StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;

use super::dedupe::Dedupe;
use super::mask::Mask;
use super::target::Target;

/// How a route answers the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Answer once every delivery is durably stored (the default).
    #[default]
    Queue,
    /// Call the primary (first) target inline and relay its answer.
    Sync,
}

/// In `sync` mode, when the deliveries to the other targets (and rule events) are
/// queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueAfter {
    /// As soon as the request is accepted, before the primary is called, whatever it
    /// answers (the default).
    #[default]
    Received,
    /// Only once the primary answered 2xx: a request the primary refused leaves no
    /// trace elsewhere.
    PrimarySuccess,
}

impl Mode {
    /// The name used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Queue => "queue",
            Mode::Sync => "sync",
        }
    }
}

/// What bodies a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    /// `application/json` or any `+json` type; the body must parse as JSON (default).
    #[default]
    Json,
    /// Any body, passed on as bytes.
    Any,
}

/// A route.
#[derive(Debug)]
pub struct Route {
    /// Unique name.
    pub name: String,
    /// Path pattern with `{param}` segments.
    pub path: String,
    /// Accepted methods.
    pub methods: Vec<Method>,
    /// How the sender is answered.
    pub mode: Mode,
    /// `sync` mode: when the other deliveries are queued.
    pub queue_after: QueueAfter,
    /// Where events go when no rule says otherwise; the first is the primary.
    pub targets: Vec<Arc<Target>>,
    /// Request headers passed through besides `content-type`.
    pub pass_headers: Vec<HeaderName>,
    /// What bodies are accepted.
    pub content_type: ContentType,
    /// Largest body accepted, in bytes.
    pub max_body: usize,
    /// Most events one request may hold once split.
    pub max_events: usize,
    /// Status answered once admitted (`queue` mode).
    pub success_status: StatusCode,
    /// Dedupe spec.
    pub dedupe: Option<Dedupe>,
    /// Paths masked wherever an event is logged.
    pub redact: Vec<Mask>,
    /// Path parameters that carry a secret (a URL token), masked wherever the path
    /// is logged.
    pub secret_params: Vec<String>,
    /// Query parameters that carry a secret (a URL token), left out of the event of
    /// a request without a body.
    pub secret_query: Vec<String>,
}

impl Route {
    /// `path` with the segments that carry a secret replaced by `***`, for logs;
    /// `None` when nothing needs masking.
    pub fn masked_path(&self, path: &str, params: &super::PathParams) -> Option<String> {
        let secrets: Vec<&str> = self
            .secret_params
            .iter()
            .filter_map(|name| params.get(name))
            .collect();
        if secrets.is_empty() {
            return None;
        }
        let masked = path
            .split('/')
            .map(|segment| {
                if secrets.contains(&segment) {
                    "***"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        Some(masked)
    }
}
