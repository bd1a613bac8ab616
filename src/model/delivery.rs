//! Deliveries and attempts: one event on its way to one target, as the store keeps
//! it, and the outcome of each try.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A delivery: one event to one target, as admitted. Its method, URL, body and the
/// headers taken from the inbound request are fixed at admission; the target's own
/// headers and signature are added when it is sent, from the target's definition at
/// that time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Unique, time-ordered (UUID v7, text). Stable across attempts.
    pub id: String,
    /// Route that admitted it.
    pub route: String,
    /// Target it goes to (its queue).
    pub target: String,
    /// The event's dedupe key, when the route has one.
    pub event_key: Option<String>,
    /// The event's id in the event log (absent in deliveries admitted before the
    /// log existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Request id of the inbound request.
    pub request_id: String,
    /// HTTP method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers taken from the inbound request and the target's header templates, in
    /// order.
    pub headers: Vec<(String, String)>,
    /// Body bytes (kept out of the JSON metadata by the store's record format).
    #[serde(skip)]
    pub body: Bytes,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was admitted, unix milliseconds.
    pub created_at_ms: u64,
    /// When it may next be attempted, unix milliseconds.
    pub due_at_ms: u64,
    /// The last attempt's outcome.
    pub last_attempt: Option<Attempt>,
    /// Why it was dead-lettered, when it was.
    pub dead_reason: Option<String>,
}

/// The outcome of one attempt, kept with the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When the attempt ended, unix milliseconds.
    pub at_ms: u64,
    /// Response status, if a response came.
    pub status: Option<u16>,
    /// Time the attempt took.
    pub latency_ms: u64,
    /// What went wrong without a response (timeout, connect error).
    pub error: Option<String>,
    /// The start of the response body (at most [`EXCERPT_LIMIT`] bytes, lossy UTF-8).
    pub excerpt: Option<String>,
}

/// How much of a response body is kept with an attempt.
pub const EXCERPT_LIMIT: usize = 1024;

/// Current unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
