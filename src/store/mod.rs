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

use crate::model::{Attempt, Delivery, Subscription, TargetRecord};

mod error;
mod health;
pub mod record;

pub mod embedded;
pub mod open;
pub mod redis;

pub use error::{ErrorKind, StoreError};
pub use health::StoreHealth;

/// The contract suite, public so that integration tests (which start real Redis
/// servers) can run it; not part of the API.
#[doc(hidden)]
pub mod contract;

/// How long the event log keeps an event unless `store.retention` says otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// What waits for one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Deliveries ready or leased (not dead).
    pub pending: u64,
    /// When the oldest of them was admitted (unix ms); `None` when there is none.
    pub oldest_ms: Option<u64>,
    /// Dead letters.
    pub dead: u64,
}

/// A dedupe key claimed in the same atomic step as the enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupeClaim {
    /// The key, already scoped to nothing: stores scope it by route.
    pub key: String,
    /// How long a duplicate is recognised.
    pub ttl: Duration,
}

/// One inbound request's events, admitted in one atomic step: every event whose
/// dedupe key is new (or that has none) is stored with all its deliveries, and its
/// key claimed; a duplicate event stores nothing. Either all of that happens, or
/// nothing does.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The route admitting them (dedupe keys are per route).
    pub route: String,
    /// The events, in request order.
    pub events: Vec<EventAdmission>,
}

/// One event of an [`Admission`].
#[derive(Debug, Clone)]
pub struct EventAdmission {
    /// Claimed together with the enqueue; a duplicate enqueues nothing.
    pub dedupe: Option<DedupeClaim>,
    /// The deliveries, possibly none (an event no target wants).
    pub deliveries: Vec<Delivery>,
    /// Its entry in the event log, written with it (none: not logged).
    pub record: Option<EventRecord>,
}

/// An admitted event, as the event log keeps it until the retention ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Its id (UUIDv7).
    pub id: String,
    /// The route it came in on.
    pub route: String,
    /// Its dedupe key, if the route dedupes.
    pub dedupe_key: Option<String>,
    /// The request that brought it.
    pub request_id: String,
    /// When it was admitted (unix ms).
    pub received_ms: u64,
    /// Its deliveries: (delivery id, target).
    pub deliveries: Vec<(String, String)>,
    /// The event, with the route's `redact` paths masked.
    #[serde(skip)]
    pub body: Bytes,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting, or being attempted.
    Pending,
    /// Delivered (or, after a discard, gone).
    Delivered,
    /// Dead-lettered.
    Dead,
}

/// An event from the log, with its deliveries' states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// The event.
    pub record: EventRecord,
    /// The state of each of `record.deliveries`, in order.
    pub states: Vec<DeliveryState>,
}

impl LoggedEvent {
    /// The event's state: dead if a delivery is, pending if one is, else delivered.
    pub fn state(&self) -> DeliveryState {
        if self.states.contains(&DeliveryState::Dead) {
            DeliveryState::Dead
        } else if self.states.contains(&DeliveryState::Pending) {
            DeliveryState::Pending
        } else {
            DeliveryState::Delivered
        }
    }
}

/// Which logged events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this route's.
    pub route: Option<String>,
    /// Received at or after, unix ms.
    pub since_ms: Option<u64>,
    /// Received before, unix ms.
    pub until_ms: Option<u64>,
    /// Only those with this dedupe key.
    pub dedupe_key: Option<String>,
    /// Only those in this state.
    pub state: Option<DeliveryState>,
}

impl EventFilter {
    /// Whether `event` passes (its time window is applied by the store's scan).
    pub fn matches(&self, event: &LoggedEvent) -> bool {
        let record = &event.record;
        self.route.as_ref().is_none_or(|route| *route == record.route)
            && self
                .dedupe_key
                .as_ref()
                .is_none_or(|key| record.dedupe_key.as_ref() == Some(key))
            && self.since_ms.is_none_or(|since| record.received_ms >= since)
            && self.until_ms.is_none_or(|until| record.received_ms < until)
            && self.state.is_none_or(|state| event.state() == state)
    }
}

/// What admission did with one event.
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
    /// Sent successfully: forget it (its attempts stay in the attempt log).
    Delivered {
        /// This attempt's outcome.
        record: Attempt,
    },
    /// Try again at `due_at_ms`; `record` is this attempt (attempts + 1).
    Retry {
        /// When to try again, unix milliseconds.
        due_at_ms: u64,
        /// This attempt's outcome.
        record: Attempt,
    },
    /// Give up: keep it as a dead letter with the reason and this attempt.
    Dead {
        /// Why (e.g. `status 400 is not retried`, `12 attempts exhausted`).
        reason: String,
        /// This attempt's outcome.
        record: Attempt,
    },
    /// Not attempted (breaker open, shutting down): due again at `due_at_ms`,
    /// attempts unchanged.
    Defer {
        /// When it is due again, unix milliseconds.
        due_at_ms: u64,
    },
}

impl Completion {
    /// The attempt it records, if one was made.
    pub fn attempt(&self) -> Option<&Attempt> {
        match self {
            Completion::Delivered { record }
            | Completion::Retry { record, .. }
            | Completion::Dead { record, .. } => Some(record),
            Completion::Defer { .. } => None,
        }
    }
}

/// One attempt in the attempt log, kept for `store.retention` after the delivery was
/// admitted, whatever became of the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedAttempt {
    /// Its number: 1 for the first attempt.
    pub number: u32,
    /// The delivery's target.
    pub target: String,
    /// The delivery's route.
    pub route: String,
    /// The delivery's event, when it was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The outcome.
    #[serde(flatten)]
    pub attempt: Attempt,
}

impl LoggedAttempt {
    /// Attempt `attempt` of `delivery` (as leased, before this attempt was counted).
    pub fn of(delivery: &Delivery, attempt: &Attempt) -> Self {
        Self {
            number: delivery.attempts.saturating_add(1),
            target: delivery.target.clone(),
            route: delivery.route.clone(),
            event_id: delivery.event_id.clone(),
            attempt: attempt.clone(),
        }
    }

    /// As the store keeps it.
    pub fn encode(&self) -> Vec<u8> {
        // Strings and numbers: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// From the store; `None` (logged) when unreadable.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes)
            .map_err(|error| tracing::error!(%error, "skipping an unreadable attempt log entry"))
            .ok()
    }
}

/// What the store knows of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Where it is (`Delivered` also when it was discarded).
    pub state: DeliveryState,
    /// The delivery while the store holds it (pending or dead).
    pub delivery: Option<Delivery>,
    /// Whether it is pending and due: waiting for a worker or being attempted, not
    /// waiting out a retry's backoff.
    pub due: bool,
    /// Its attempts, oldest first.
    pub attempts: Vec<LoggedAttempt>,
}

/// What asking for a delivery to be tried now did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hastened {
    /// It was waiting for a retry; it is due now.
    Now,
    /// It is due already, or being attempted.
    AlreadyDue,
    /// The store holds no pending delivery with this id.
    NotPending,
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
    /// Only those whose reason contains this text (any case).
    pub reason: Option<String>,
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
            && self.reason.as_ref().is_none_or(|wanted| {
                delivery
                    .dead_reason
                    .as_ref()
                    .is_some_and(|reason| reason.to_lowercase().contains(&wanted.to_lowercase()))
            })
    }
}

/// The store contract. All methods are safe to call concurrently.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Admits every event of a request atomically (see [`Admission`]): one outcome
    /// per event, in order. An event whose key was claimed within its TTL (by an
    /// earlier request, or an earlier event of this one) is
    /// [`Admitted::Duplicate`] and stores nothing.
    async fn admit(&self, admission: Admission) -> Result<Vec<Admitted>, StoreError>;

    /// Leases up to `max` deliveries of `target` that are due now, oldest due first.
    async fn claim(&self, target: &str, max: usize) -> Result<Vec<Lease>, StoreError>;

    /// Finishes a lease.
    async fn complete(&self, lease: Lease, completion: Completion) -> Result<(), StoreError>;

    /// Finishes several leases, each as [`Store::complete`] would; on error, some may
    /// be finished and the rest come back after their lease timeout. The default
    /// issues them concurrently (a store that group-commits writes them together);
    /// stores that can finish many in one round trip override it.
    /// The leases are borrowed: a caller keeps them to try again after an error.
    async fn complete_all(&self, completions: &[(Lease, Completion)]) -> Result<(), StoreError> {
        let calls = completions
            .iter()
            .map(|(lease, completion)| self.complete(lease.clone(), completion.clone()));
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

    /// Deletes dead letters with these ids for good; returns how many were found.
    async fn discard(&self, ids: &[String]) -> Result<usize, StoreError>;

    /// Logged events passing `filter`, oldest first, at most `limit`.
    async fn events(&self, filter: &EventFilter, limit: usize) -> Result<Vec<LoggedEvent>, StoreError>;

    /// The logged event `id`.
    async fn event(&self, id: &str) -> Result<Option<LoggedEvent>, StoreError>;

    /// Forgets logged events received before `before_ms` (some, at most a batch;
    /// call again while it returns a full batch); how many.
    async fn sweep_events(&self, before_ms: u64) -> Result<usize, StoreError>;

    /// What the store knows of delivery `id`: its record while pending or dead, and
    /// its attempts (kept for the retention); `None` when it knows nothing.
    async fn delivery(&self, id: &str) -> Result<Option<DeliveryReport>, StoreError>;

    /// Makes pending delivery `id` due now if it waits for a retry, attempts unchanged.
    async fn hasten(&self, id: &str) -> Result<Hastened, StoreError>;

    /// Pauses deliveries to `target` (`paused`), or resumes them, for every instance
    /// sharing the store, across restarts.
    async fn set_paused(&self, target: &str, paused: bool) -> Result<(), StoreError>;

    /// The paused targets.
    async fn paused(&self) -> Result<Vec<String>, StoreError>;

    /// Keeps `subscription` (replacing the one with its id), for every instance
    /// sharing the store.
    async fn put_subscription(&self, subscription: &Subscription) -> Result<(), StoreError>;

    /// Deletes subscription `id`; whether it existed.
    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError>;

    /// Every subscription, in no particular order.
    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError>;

    /// What waits for `target`: deliveries pending, the oldest's admission time,
    /// dead letters.
    async fn backlog(&self, target: &str) -> Result<Backlog, StoreError>;

    /// Deliveries of `target` waiting or leased (not dead).
    async fn pending(&self, target: &str) -> Result<u64, StoreError> {
        Ok(self.backlog(target).await?.pending)
    }

    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Keeps these targets' definitions (replacing earlier ones of the same name), so
    /// deliveries of a target later removed from the config are still sent with its
    /// last known definition, across restarts.
    async fn save_targets(&self, targets: &[TargetRecord]) -> Result<(), StoreError>;

    /// Every kept target definition.
    async fn targets(&self) -> Result<Vec<TargetRecord>, StoreError>;

    /// Forgets `target`'s definition (once nothing of it is left to send), but only
    /// while the kept one is this one: a definition saved since (by another
    /// instance that still has the target) stays.
    async fn forget_target(&self, target: &TargetRecord) -> Result<(), StoreError>;
}
