//! The store: where admitted deliveries wait until they are sent, retried or
//! dead-lettered, and where dedupe keys live. One trait, two implementations with the
//! same contract (tested by one suite in [`contract`]): [`embedded`] (redb, on local
//! disk; the default) and [`redis`] (shared by several instances).
//!
//! Deliveries queue per target, so a stalled target's backlog never sits in front of
//! another target's work, and a target's worker claims only as many as it can send.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub mod record;

pub mod embedded;
pub mod open;
pub mod redis;

/// The contract suite, public so that integration tests (which start real Redis
/// servers) can run it; not part of the API.
#[doc(hidden)]
pub mod contract;

/// A delivery: everything needed to send one event to one target, so a worker never
/// consults config to build the request.
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
    /// Request id of the inbound request.
    pub request_id: String,
    /// HTTP method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers to send, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes (kept out of the JSON metadata by [`record`]).
    #[serde(skip)]
    pub body: Bytes,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was admitted, unix milliseconds.
    pub created_at_ms: u64,
    /// When it may next be attempted, unix milliseconds.
    pub due_at_ms: u64,
    /// The last attempt's outcome.
    pub last_attempt: Option<AttemptRecord>,
    /// Why it was dead-lettered, when it was.
    pub dead_reason: Option<String>,
}

/// The outcome of one attempt, kept with the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
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

/// A dedupe key claimed in the same atomic step as the enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupeClaim {
    /// The key, already scoped to nothing: stores scope it by route.
    pub key: String,
    /// How long a duplicate is recognised.
    pub ttl: Duration,
}

/// One inbound request's worth of deliveries, admitted atomically.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The route admitting them (dedupe keys are per route).
    pub route: String,
    /// Claimed together with the enqueue; a duplicate enqueues nothing.
    pub dedupe: Option<DedupeClaim>,
    /// The deliveries, possibly none (an event no target wants).
    pub deliveries: Vec<Delivery>,
}

/// What admission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Every delivery is durably stored.
    Stored,
    /// The dedupe key was already claimed within its TTL; nothing was stored.
    Duplicate,
}

/// A delivery claimed by a worker. Until completed or released it is invisible to
/// other claims; if its holder dies, it becomes claimable again after the lease
/// timeout.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The delivery as stored.
    pub delivery: Delivery,
    /// Store-specific handle (a stream entry id, a queue key).
    pub token: String,
}

/// How a worker finishes a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Sent successfully: forget it.
    Delivered,
    /// Try again at `due_at_ms`; `record` is this attempt (attempts + 1).
    Retry {
        /// When to try again, unix milliseconds.
        due_at_ms: u64,
        /// This attempt's outcome.
        record: AttemptRecord,
    },
    /// Give up: keep it as a dead letter with the reason and this attempt.
    Dead {
        /// Why (e.g. `status 400 is not retried`, `12 attempts exhausted`).
        reason: String,
        /// This attempt's outcome.
        record: AttemptRecord,
    },
    /// Not attempted (breaker open, shutting down): due again at `due_at_ms`,
    /// attempts unchanged.
    Defer {
        /// When it is due again, unix milliseconds.
        due_at_ms: u64,
    },
}

/// Whether a sync-mode dedupe key could be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClaim {
    /// Claimed as pending; confirm or release it.
    Claimed,
    /// Already claimed (pending or done) within its TTL.
    Duplicate,
}

/// Which dead letters to list or replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Only these ids (empty: any).
    pub ids: Vec<String>,
    /// Only this route.
    pub route: Option<String>,
    /// Only this target.
    pub target: Option<String>,
    /// Dead-lettered at or after, unix milliseconds.
    pub since_ms: Option<u64>,
    /// Dead-lettered before, unix milliseconds.
    pub until_ms: Option<u64>,
}

impl DeadLetterFilter {
    /// Whether `delivery` (dead-lettered at `dead_at_ms`) passes.
    pub fn matches(&self, delivery: &Delivery, dead_at_ms: u64) -> bool {
        (self.ids.is_empty() || self.ids.contains(&delivery.id))
            && self.route.as_ref().is_none_or(|route| *route == delivery.route)
            && self
                .target
                .as_ref()
                .is_none_or(|target| *target == delivery.target)
            && self.since_ms.is_none_or(|since| dead_at_ms >= since)
            && self.until_ms.is_none_or(|until| dead_at_ms < until)
    }
}

/// A store failure. Every one is treated as transient by callers: the sender gets
/// 503 with `Retry-After`, a worker tries again later.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back.
    #[error("corrupt record {id}: {reason}")]
    Corrupt {
        /// The record's id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The store contract. All methods are safe to call concurrently.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Claims the dedupe key (if any) and stores every delivery, atomically: either the
    /// key is claimed and all deliveries are durable, or nothing changed. A key
    /// claimed within its TTL yields [`Admitted::Duplicate`] and stores nothing.
    async fn admit(&self, admission: Admission) -> Result<Admitted, StoreError>;

    /// Leases up to `max` deliveries of `target` that are due now, oldest due first.
    async fn claim(&self, target: &str, max: usize) -> Result<Vec<Lease>, StoreError>;

    /// Finishes a lease.
    async fn complete(&self, lease: Lease, completion: Completion) -> Result<(), StoreError>;

    /// Finishes several leases, each as [`Store::complete`] would; on error, some may
    /// be finished and the rest come back after their lease timeout. The default
    /// issues them concurrently (a store that group-commits writes them together);
    /// stores that can finish many in one round trip override it.
    async fn complete_all(&self, completions: Vec<(Lease, Completion)>) -> Result<(), StoreError> {
        let calls = completions
            .into_iter()
            .map(|(lease, completion)| self.complete(lease, completion));
        futures_util::future::join_all(calls).await.into_iter().collect()
    }

    /// Returns leases unattempted, due now, attempts unchanged (graceful shutdown).
    async fn release(&self, leases: Vec<Lease>) -> Result<(), StoreError>;

    /// Sync mode: claims `key` of `route` as pending for `ttl`.
    async fn claim_key(&self, route: &str, key: &str, ttl: Duration) -> Result<KeyClaim, StoreError>;

    /// Sync mode: the primary call failed; forget the pending key so a retry passes.
    async fn release_key(&self, route: &str, key: &str) -> Result<(), StoreError>;

    /// Dead letters passing `filter`, oldest first, at most `limit`.
    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Moves dead letters with these ids back to their queues, due now, attempts
    /// reset; returns how many were found and moved.
    async fn replay(&self, ids: &[String]) -> Result<usize, StoreError>;

    /// Deliveries of `target` waiting or leased (not dead).
    async fn pending(&self, target: &str) -> Result<u64, StoreError>;

    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Current unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
