//! The redb tables of the embedded store and their key layouts. Keys are tuples, which
//! redb compares element by element, so a range over a key prefix is one target's
//! queue in due order.

use redb::TableDefinition;

use crate::store::StoreError;

/// Waiting deliveries: (target, due_at_ms, id) → encoded delivery. A claim is a range
/// scan over one target's due prefix, oldest due first. The key's due time is the
/// authoritative one (a released delivery is re-keyed, not re-encoded).
pub(super) const READY: TableDefinition<(&str, u64, &str), &[u8]> = TableDefinition::new("ready");

/// Claimed deliveries: (target, lease_deadline_ms, due_at_ms, id) → encoded delivery.
/// The deadline orders a target's expired leases first; the due time is kept so an
/// expired lease goes back to `READY` under its original key.
pub(super) const LEASED: TableDefinition<(&str, u64, u64, &str), &[u8]> = TableDefinition::new("leased");

/// Dead letters: (dead_at_ms, id) → encoded delivery (with `dead_reason` and
/// `last_attempt`), so listing is oldest first and a time window is a range.
pub(super) const DEAD: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("dead");

/// id → dead_at_ms: finds a dead letter by id for replay without scanning `DEAD`.
pub(super) const DEAD_IDS: TableDefinition<&str, u64> = TableDefinition::new("dead_ids");

/// (route, key) → (expires_at_ms, pending): a claimed dedupe key. `pending` marks a
/// sync-mode key that `release_key` may forget; admitted keys are never released.
pub(super) const DEDUPE: TableDefinition<(&str, &str), (u64, bool)> = TableDefinition::new("dedupe");

/// (expires_at_ms, route, key) → (): the dedupe keys in expiry order, so the sweep
/// deletes expired keys without scanning the live ones.
pub(super) const DEDUPE_EXPIRY: TableDefinition<(u64, &str, &str), ()> =
    TableDefinition::new("dedupe_expiry");

/// target → deliveries ready or leased, so `pending` is one lookup, not a count of a
/// possibly long queue.
pub(super) const PENDING: TableDefinition<&str, u64> = TableDefinition::new("pending");

/// (target, delivery id) → admitted_at_ms: the deliveries ready or leased, in id
/// order, which is admission order (ids are UUIDv7), so the first entry of a target
/// is its oldest pending delivery.
pub(super) const PENDING_SINCE: TableDefinition<(&str, &str), u64> = TableDefinition::new("pending_since");

/// target → dead letters, so counting them is one lookup.
pub(super) const DEAD_COUNT: TableDefinition<&str, u64> = TableDefinition::new("dead_count");

/// The event log: (received_ms, event id) → encoded event, so a time window is a
/// range and the retention sweep deletes from the front.
pub(super) const EVENTS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("events");

/// event id → received_ms: finds a logged event by id.
pub(super) const EVENT_IDS: TableDefinition<&str, u64> = TableDefinition::new("event_ids");

/// target → when it was paused (unix ms): targets whose deliveries wait.
pub(super) const PAUSED: TableDefinition<&str, u64> = TableDefinition::new("paused");

/// name → target definition (JSON): the last known definition of every target, so
/// deliveries of a target removed from the config are still sent after a restart.
/// (delivery id, attempt number) → the attempt ([`LoggedAttempt`](crate::store::LoggedAttempt)
/// JSON); swept with the event log, by the time in the delivery's UUIDv7 id.
pub(super) const ATTEMPTS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("attempts");

/// subscription id → the subscription (JSON).
pub(super) const SUBSCRIPTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("subscriptions");

pub(super) const TARGETS: TableDefinition<&str, &[u8]> = TableDefinition::new("targets");

/// Maps a redb error to an unavailable [`StoreError`], saying what was being done.
pub(super) fn unavailable<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> StoreError + '_ {
    move |error| StoreError::unavailable(format!("embedded store: {context}: {error}"))
}
