//! What each request does to the tables, inside the writer's batch transaction.
//! Every failure here is a storage error, which fails the whole batch: a request's
//! own faults (a bad lease token, an oversized record) are caught by its caller
//! before it joins a batch, and a duplicate is an outcome, not a failure.

use std::ops::Bound;
use std::time::Duration;

use redb::{ReadableTable, StorageError, Table, WriteTransaction};

use super::locate::{self, Located};
use super::tables::{
    ATTEMPTS, DEAD, DEAD_COUNT, DEAD_IDS, DEDUPE, DEDUPE_EXPIRY, EVENTS, EVENT_IDS, LEASED, PAUSED, PENDING,
    PENDING_SINCE, READY, SUBSCRIPTIONS, TARGETS,
};
use super::writer::{Claimed, Done, Finish, LeaseKey};
use crate::store::{record, Admission, Admitted, Hastened, KeyClaim};

/// Every table, opened once per batch.
pub(super) struct Tables<'txn> {
    ready: Table<'txn, (&'static str, u64, &'static str), &'static [u8]>,
    leased: Table<'txn, (&'static str, u64, u64, &'static str), &'static [u8]>,
    dead: Table<'txn, (u64, &'static str), &'static [u8]>,
    dead_ids: Table<'txn, &'static str, u64>,
    dedupe: Table<'txn, (&'static str, &'static str), (u64, bool)>,
    dedupe_expiry: Table<'txn, (u64, &'static str, &'static str), ()>,
    pending: Table<'txn, &'static str, u64>,
    pending_since: Table<'txn, (&'static str, &'static str), u64>,
    dead_count: Table<'txn, &'static str, u64>,
    paused: Table<'txn, &'static str, u64>,
    events: Table<'txn, (u64, &'static str), &'static [u8]>,
    event_ids: Table<'txn, &'static str, u64>,
    targets: Table<'txn, &'static str, &'static [u8]>,
    subscriptions: Table<'txn, &'static str, &'static [u8]>,
    attempts: Table<'txn, (&'static str, u32), &'static [u8]>,
}

impl<'txn> Tables<'txn> {
    /// Opens (creating where missing) every table.
    pub(super) fn open(txn: &'txn WriteTransaction) -> Result<Self, redb::TableError> {
        Ok(Tables {
            ready: txn.open_table(READY)?,
            leased: txn.open_table(LEASED)?,
            dead: txn.open_table(DEAD)?,
            dead_ids: txn.open_table(DEAD_IDS)?,
            dedupe: txn.open_table(DEDUPE)?,
            dedupe_expiry: txn.open_table(DEDUPE_EXPIRY)?,
            pending: txn.open_table(PENDING)?,
            pending_since: txn.open_table(PENDING_SINCE)?,
            dead_count: txn.open_table(DEAD_COUNT)?,
            paused: txn.open_table(PAUSED)?,
            events: txn.open_table(EVENTS)?,
            event_ids: txn.open_table(EVENT_IDS)?,
            targets: txn.open_table(TARGETS)?,
            subscriptions: txn.open_table(SUBSCRIPTIONS)?,
            attempts: txn.open_table(ATTEMPTS)?,
        })
    }
}

/// Admits each event: claims its dedupe key (unless live: a duplicate changes
/// nothing) and queues every delivery under its target and due time. Events are
/// taken in order, so a key repeated within one request admits its first event only.
pub(super) fn admit(
    tables: &mut Tables<'_>,
    now: u64,
    admission: &Admission,
    records: &[Vec<Vec<u8>>],
    logged: &[Option<Vec<u8>>],
) -> Result<Done, StorageError> {
    let route = admission.route.as_str();
    let mut outcomes = Vec::with_capacity(admission.events.len());
    for ((event, records), logged) in admission.events.iter().zip(records).zip(logged) {
        if let Some(claim) = &event.dedupe {
            // Checked before anything is written, so a duplicate changes nothing.
            if live_key(tables, now, route, &claim.key)?.is_some() {
                outcomes.push(Admitted::Duplicate);
                continue;
            }
            put_key(tables, route, &claim.key, expiry(now, claim.ttl), false)?;
        }
        for (delivery, record) in event.deliveries.iter().zip(records) {
            let target = delivery.target.as_str();
            tables.ready.insert(
                (target, delivery.due_at_ms, delivery.id.as_str()),
                record.as_slice(),
            )?;
            count(tables, target, 1)?;
            tables
                .pending_since
                .insert((target, delivery.id.as_str()), delivery.created_at_ms)?;
        }
        if let (Some(record), Some(encoded)) = (&event.record, logged) {
            tables
                .events
                .insert((record.received_ms, record.id.as_str()), encoded.as_slice())?;
            tables.event_ids.insert(record.id.as_str(), record.received_ms)?;
        }
        outcomes.push(Admitted::Stored);
    }
    Ok(Done::Admitted(outcomes))
}

/// Keeps target definitions, replacing those of the same name.
pub(super) fn save_targets(
    tables: &mut Tables<'_>,
    targets: &[(String, Vec<u8>)],
) -> Result<Done, StorageError> {
    for (name, record) in targets {
        tables.targets.insert(name.as_str(), record.as_slice())?;
    }
    Ok(Done::Nothing)
}

/// Forgets a target definition while it is still `expected`.
pub(super) fn forget_target(
    tables: &mut Tables<'_>,
    name: &str,
    expected: &[u8],
) -> Result<Done, StorageError> {
    let current = tables.targets.get(name)?.map(|kept| kept.value() == expected);
    if current == Some(true) {
        tables.targets.remove(name)?;
    }
    Ok(Done::Nothing)
}

/// Moves `target`'s expired leases back to `READY`, then leases up to `max` of its
/// due deliveries until `deadline_ms`.
pub(super) fn claim(
    tables: &mut Tables<'_>,
    now: u64,
    deadline_ms: u64,
    target: &str,
    max: usize,
) -> Result<Done, StorageError> {
    if max == 0 {
        return Ok(Done::Claimed(Vec::new()));
    }
    requeue_expired(tables, Some(target), now)?;
    let mut claimed = Vec::with_capacity(max.min(1024));
    let due = (target, 0, "")..(target, now.saturating_add(1), "");
    // Only entries read from the iterator are removed, so `take` leaves the rest.
    let mut taken = tables.ready.extract_from_if(due, |_, _| true)?;
    for entry in taken.by_ref().take(max) {
        let (key, value) = entry?;
        let (_, due_at_ms, id) = key.value();
        let record = value.value();
        tables
            .leased
            .insert((target, deadline_ms, due_at_ms, id), record)?;
        claimed.push(Claimed {
            id: id.to_owned(),
            due_at_ms,
            deadline_ms,
            record: record.to_vec(),
        });
    }
    Ok(Done::Claimed(claimed))
}

/// Moves leases whose deadline is at or before `now` (of `target`, or of every
/// target) back to `READY` under their original due time; returns how many.
pub(super) fn requeue_expired(
    tables: &mut Tables<'_>,
    target: Option<&str>,
    now: u64,
) -> Result<usize, StorageError> {
    let range = match target {
        Some(target) => (
            Bound::Included((target, 0, 0, "")),
            Bound::Excluded((target, now.saturating_add(1), 0, "")),
        ),
        None => (Bound::Unbounded, Bound::Unbounded),
    };
    let mut expired = tables.leased.extract_from_if(range, |_, _| true)?;
    let mut returned = 0;
    for entry in expired.by_ref() {
        let (key, value) = entry?;
        let (target, _, due_at_ms, id) = key.value();
        tables.ready.insert((target, due_at_ms, id), value.value())?;
        returned += 1;
    }
    Ok(returned)
}

/// Ends a lease as `how` says.
pub(super) fn complete(
    tables: &mut Tables<'_>,
    now: u64,
    lease: &LeaseKey,
    how: &Finish,
    logged: Option<&(u32, Vec<u8>)>,
) -> Result<Done, StorageError> {
    if finish(tables, now, lease, how)? {
        if let Some((_, attempt)) = logged {
            // Appended: numbers restart after a replay, the log does not.
            let id = lease.id.as_str();
            let last = tables
                .attempts
                .range((id, 0)..=(id, u32::MAX))?
                .next_back()
                .transpose()?
                .map_or(0, |(key, _)| key.value().1);
            tables
                .attempts
                .insert((id, last.saturating_add(1)), attempt.as_slice())?;
        }
    }
    Ok(Done::Nothing)
}

/// Makes pending delivery `id` due now if it waits for a retry.
pub(super) fn hasten(tables: &mut Tables<'_>, now: u64, id: &str) -> Result<Done, StorageError> {
    let found = locate::pending(
        &tables.pending,
        &tables.pending_since,
        &tables.ready,
        &tables.leased,
        id,
    )?;
    let hastened = match found {
        Some(Located::Ready {
            target,
            due_at_ms,
            record,
        }) if due_at_ms > now => {
            tables.ready.remove((target.as_str(), due_at_ms, id))?;
            tables
                .ready
                .insert((target.as_str(), now, id), record.as_slice())?;
            Hastened::Now
        }
        Some(_) => Hastened::AlreadyDue,
        None => Hastened::NotPending,
    };
    Ok(Done::Hastened(hastened))
}

/// Returns leases unattempted: due now, their stored bytes moved as they are.
pub(super) fn release(tables: &mut Tables<'_>, now: u64, leases: &[LeaseKey]) -> Result<Done, StorageError> {
    let requeue = Finish::Requeue {
        due_at_ms: now,
        record: None,
    };
    for lease in leases {
        finish(tables, now, lease, &requeue)?;
    }
    Ok(Done::Nothing)
}

/// Ends a lease. A lease that is no longer in `LEASED` under its token expired and
/// was claimed again (or returned at a restart): its new holder owns the delivery
/// now, so the stale holder's outcome is dropped rather than duplicating it.
fn finish(tables: &mut Tables<'_>, now: u64, lease: &LeaseKey, how: &Finish) -> Result<bool, StorageError> {
    let (target, id) = (lease.target.as_str(), lease.id.as_str());
    let Some(stored) = tables
        .leased
        .remove((target, lease.deadline_ms, lease.due_at_ms, id))?
    else {
        tracing::debug!(
            delivery = id,
            target,
            "Lease expired before it was completed; ignored."
        );
        return Ok(false);
    };
    match how {
        Finish::Forget => {
            drop(stored);
            count(tables, target, -1)?;
            tables.pending_since.remove((target, id))?;
        }
        Finish::Requeue { due_at_ms, record } => {
            let record = record.as_deref().unwrap_or_else(|| stored.value());
            tables.ready.insert((target, *due_at_ms, id), record)?;
        }
        Finish::Bury { record } => {
            drop(stored);
            tables.dead.insert((now, id), record.as_slice())?;
            tables.dead_ids.insert(id, now)?;
            count(tables, target, -1)?;
            tables.pending_since.remove((target, id))?;
            tally(&mut tables.dead_count, target, 1)?;
        }
    }
    Ok(true)
}

/// Moves dead letters back to their queues, due now, attempts and reason reset. The
/// last attempt is kept: it is the only trace of why the delivery died, and the next
/// attempt replaces it. A dead letter that cannot be decoded stays where it is.
pub(super) fn replay(tables: &mut Tables<'_>, now: u64, ids: &[String]) -> Result<Done, StorageError> {
    let mut moved = 0;
    for id in ids {
        let Some(dead_at_ms) = tables.dead_ids.get(id.as_str())?.map(|g| g.value()) else {
            continue;
        };
        let Some(stored) = tables.dead.get((dead_at_ms, id.as_str()))? else {
            continue;
        };
        let mut delivery = match record::decode(id, stored.value()) {
            Ok(delivery) => delivery,
            Err(error) => {
                tracing::error!(delivery = %id, %error, "Dead letter cannot be decoded; not replayed.");
                continue;
            }
        };
        drop(stored);
        delivery.attempts = 0;
        delivery.dead_reason = None;
        delivery.due_at_ms = now;
        tables.dead.remove((dead_at_ms, id.as_str()))?;
        tables.dead_ids.remove(id.as_str())?;
        let target = delivery.target.as_str();
        tables
            .ready
            .insert((target, now, id.as_str()), record::encode(&delivery).as_slice())?;
        count(tables, target, 1)?;
        tables
            .pending_since
            .insert((target, id.as_str()), delivery.created_at_ms)?;
        tally(&mut tables.dead_count, target, -1)?;
        moved += 1;
    }
    Ok(Done::Replayed(moved))
}

/// Deletes dead letters for good (counted under the target their record names; one
/// that cannot be decoded is deleted all the same).
pub(super) fn discard(tables: &mut Tables<'_>, ids: &[String]) -> Result<Done, StorageError> {
    let mut deleted = 0;
    for id in ids {
        let Some(dead_at_ms) = tables.dead_ids.remove(id.as_str())?.map(|g| g.value()) else {
            continue;
        };
        let Some(stored) = tables.dead.remove((dead_at_ms, id.as_str()))? else {
            continue;
        };
        let target = record::decode(id, stored.value()).map(|delivery| delivery.target);
        drop(stored);
        if let Ok(target) = target {
            tally(&mut tables.dead_count, &target, -1)?;
        }
        deleted += 1;
    }
    Ok(Done::Replayed(deleted))
}

/// Forgets logged events received before `before_ms`, at most `cap`.
pub(super) fn sweep_events(
    tables: &mut Tables<'_>,
    before_ms: u64,
    cap: usize,
) -> Result<Done, StorageError> {
    let mut expired = Vec::new();
    for entry in tables.events.range((0, "")..(before_ms, ""))?.take(cap) {
        let (key, _) = entry?;
        let (received_ms, id) = key.value();
        expired.push((received_ms, id.to_owned()));
    }
    for (received_ms, id) in &expired {
        tables.events.remove((*received_ms, id.as_str()))?;
        tables.event_ids.remove(id.as_str())?;
    }
    // Attempts go with the events of their time: a delivery's id is a UUIDv7
    // minted at admission.
    let floor = locate::uuid_v7_floor(before_ms);
    let mut attempts = Vec::new();
    for entry in tables.attempts.range(("", 0)..(floor.as_str(), 0))?.take(cap) {
        let (key, _) = entry?;
        let (id, number) = key.value();
        attempts.push((id.to_owned(), number));
    }
    for (id, number) in &attempts {
        tables.attempts.remove((id.as_str(), *number))?;
    }
    Ok(Done::Replayed(expired.len() + attempts.len()))
}

/// Pauses or resumes `target`.
pub(super) fn set_paused(
    tables: &mut Tables<'_>,
    now: u64,
    target: &str,
    paused: bool,
) -> Result<Done, StorageError> {
    if paused {
        tables.paused.insert(target, now)?;
    } else {
        tables.paused.remove(target)?;
    }
    Ok(Done::Nothing)
}

/// Keeps subscription `id` as `encoded`, or deletes it (`None`); how many existed.
pub(super) fn put_subscription(
    tables: &mut Tables<'_>,
    id: &str,
    encoded: Option<&[u8]>,
) -> Result<Done, StorageError> {
    let existed = match encoded {
        Some(bytes) => tables.subscriptions.insert(id, bytes)?.is_some(),
        None => tables.subscriptions.remove(id)?.is_some(),
    };
    Ok(Done::Replayed(usize::from(existed)))
}

/// Sync mode: claims `key` as pending unless it is live.
pub(super) fn claim_key(
    tables: &mut Tables<'_>,
    now: u64,
    route: &str,
    key: &str,
    ttl: Duration,
) -> Result<Done, StorageError> {
    if live_key(tables, now, route, key)?.is_some() {
        return Ok(Done::KeyClaim(KeyClaim::Duplicate));
    }
    put_key(tables, route, key, expiry(now, ttl), true)?;
    Ok(Done::KeyClaim(KeyClaim::Claimed))
}

/// Sync mode: forgets a pending key. A key that admitted deliveries is kept: it
/// guards against duplicates until it expires.
pub(super) fn release_key(
    tables: &mut Tables<'_>,
    now: u64,
    route: &str,
    key: &str,
) -> Result<Done, StorageError> {
    let stored = tables.dedupe.get((route, key))?.map(|g| g.value());
    if let Some((expires_at_ms, pending)) = stored {
        if pending || expires_at_ms <= now {
            tables.dedupe.remove((route, key))?;
            tables.dedupe_expiry.remove((expires_at_ms, route, key))?;
        }
    }
    Ok(Done::Nothing)
}

/// Deletes up to `cap` expired dedupe keys; returns how many it found.
pub(super) fn sweep_dedupe(tables: &mut Tables<'_>, now: u64, cap: usize) -> Result<usize, StorageError> {
    let mut expired = tables
        .dedupe_expiry
        .extract_from_if((0, "", "")..(now.saturating_add(1), "", ""), |_, _| true)?;
    let mut swept = 0;
    for entry in expired.by_ref().take(cap) {
        let (key, _) = entry?;
        let (expires_at_ms, route, key) = key.value();
        // The index and the keys change together, but a key reclaimed with a new
        // expiry must not be deleted by its old index entry.
        let current = tables.dedupe.get((route, key))?.map(|g| g.value().0);
        if current == Some(expires_at_ms) {
            tables.dedupe.remove((route, key))?;
        }
        swept += 1;
    }
    Ok(swept)
}

fn expiry(now: u64, ttl: Duration) -> u64 {
    now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

/// The key's expiry if it is claimed and not expired. Expiry is checked here, on
/// read, so a key the sweep has not reached yet never blocks admission.
fn live_key(tables: &Tables<'_>, now: u64, route: &str, key: &str) -> Result<Option<u64>, StorageError> {
    Ok(tables
        .dedupe
        .get((route, key))?
        .map(|g| g.value().0)
        .filter(|expires_at_ms| *expires_at_ms > now))
}

/// Claims (or reclaims an expired) key, keeping the expiry index in step.
fn put_key(
    tables: &mut Tables<'_>,
    route: &str,
    key: &str,
    expires_at_ms: u64,
    pending: bool,
) -> Result<(), StorageError> {
    let previous = tables
        .dedupe
        .insert((route, key), (expires_at_ms, pending))?
        .map(|g| g.value().0);
    if let Some(previous) = previous {
        tables.dedupe_expiry.remove((previous, route, key))?;
    }
    tables.dedupe_expiry.insert((expires_at_ms, route, key), ())?;
    Ok(())
}

/// Adjusts `target`'s pending count; a zero count is removed so the table holds only
/// targets with work.
fn count(tables: &mut Tables<'_>, target: &str, delta: i64) -> Result<(), StorageError> {
    tally(&mut tables.pending, target, delta)
}

/// Adjusts `target`'s count in `table`; a zero count is removed.
fn tally(table: &mut Table<'_, &'static str, u64>, target: &str, delta: i64) -> Result<(), StorageError> {
    let current = table.get(target)?.map_or(0, |g| g.value());
    match current.saturating_add_signed(delta) {
        0 => {
            table.remove(target)?;
        }
        next => {
            table.insert(target, next)?;
        }
    }
    Ok(())
}
