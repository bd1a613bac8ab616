//! The embedded store's reads: each runs its own read transaction on a snapshot, so
//! listing dead letters or counting a queue never waits for the writer.

use redb::{Database, ReadableDatabase, ReadableTable};

use super::locate::{self, Located};
use super::tables::{
    unavailable, ATTEMPTS, DEAD, DEAD_COUNT, DEAD_IDS, EVENTS, EVENT_IDS, LEASED, PAUSED, PENDING,
    PENDING_SINCE, READY, SUBSCRIPTIONS, TARGETS,
};
use crate::model::{Delivery, Subscription, TargetRecord};
use crate::store::{
    record, Backlog, DeadLetterFilter, DeliveryReport, DeliveryState, EventFilter, LoggedAttempt,
    LoggedEvent, StoreError,
};

/// Whether `target` has anything a claim would take: a due delivery or an expired
/// lease. Looks at the first entry of two ranges, so it is cheap enough to run on
/// the caller's thread; it spares an idle target's polling a write and an fsync.
pub(super) fn has_due(db: &Database, target: &str, now: u64) -> Result<bool, StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    let until = now.saturating_add(1);
    let ready = txn.open_table(READY).map_err(unavailable("opening ready"))?;
    let mut due = ready
        .range((target, 0, "")..(target, until, ""))
        .map_err(unavailable("scanning ready"))?;
    if due.next().is_some() {
        return Ok(true);
    }
    let leased = txn.open_table(LEASED).map_err(unavailable("opening leased"))?;
    let mut expired = leased
        .range((target, 0, 0, "")..(target, until, 0, ""))
        .map_err(unavailable("scanning leased"))?;
    Ok(expired.next().is_some())
}

/// What waits for `target`: three lookups in one snapshot.
pub(super) fn backlog(db: &Database, target: &str) -> Result<Backlog, StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    let count = |table| -> Result<u64, StoreError> {
        let table = txn.open_table(table).map_err(unavailable("opening a count"))?;
        let count = table.get(target).map_err(unavailable("reading a count"))?;
        Ok(count.map_or(0, |count| count.value()))
    };
    let (pending, dead) = (count(PENDING)?, count(DEAD_COUNT)?);
    let since = txn
        .open_table(PENDING_SINCE)
        .map_err(unavailable("opening pending_since"))?;
    let oldest_ms = match since
        .range((target, "")..)
        .map_err(unavailable("scanning pending_since"))?
        .next()
    {
        Some(entry) => {
            let (key, admitted) = entry.map_err(unavailable("reading pending_since"))?;
            (key.value().0 == target).then(|| admitted.value())
        }
        None => None,
    };
    Ok(Backlog {
        pending,
        oldest_ms,
        dead,
    })
}

/// Logged events passing `filter`, oldest first, at most `limit`, each with its
/// deliveries' states read in the same snapshot.
pub(super) fn events(
    db: &Database,
    filter: &EventFilter,
    limit: usize,
) -> Result<Vec<LoggedEvent>, StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    let events = txn.open_table(EVENTS).map_err(unavailable("opening events"))?;
    let states = States::open(&txn)?;
    let since = filter.since_ms.unwrap_or(0);
    let range = match filter.until_ms {
        Some(until) if until <= since => return Ok(Vec::new()),
        Some(until) => events.range((since, "")..(until, "")),
        None => events.range((since, "")..),
    };
    let mut found = Vec::new();
    for entry in range.map_err(unavailable("listing events"))? {
        if found.len() >= limit {
            break;
        }
        let (key, value) = entry.map_err(unavailable("listing events"))?;
        let (_, id) = key.value();
        match record::decode_event(id, value.value()) {
            Ok(record) => {
                let event = states.of(record)?;
                if filter.matches(&event) {
                    found.push(event);
                }
            }
            Err(error) => tracing::error!(event = id, %error, "Logged event is corrupt; not listed."),
        }
    }
    Ok(found)
}

/// The logged event `id`.
pub(super) fn event(db: &Database, id: &str) -> Result<Option<LoggedEvent>, StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    let ids = txn
        .open_table(EVENT_IDS)
        .map_err(unavailable("opening event ids"))?;
    let Some(received_ms) = ids
        .get(id)
        .map_err(unavailable("finding an event"))?
        .map(|g| g.value())
    else {
        return Ok(None);
    };
    let events = txn.open_table(EVENTS).map_err(unavailable("opening events"))?;
    let Some(stored) = events
        .get((received_ms, id))
        .map_err(unavailable("reading an event"))?
    else {
        return Ok(None);
    };
    let record = record::decode_event(id, stored.value())?;
    Ok(Some(States::open(&txn)?.of(record)?))
}

/// Where each delivery of an event is: pending while its target's queue holds it,
/// dead while it is a dead letter, delivered otherwise.
struct States {
    pending: redb::ReadOnlyTable<(&'static str, &'static str), u64>,
    dead: redb::ReadOnlyTable<&'static str, u64>,
}

impl States {
    fn open(txn: &redb::ReadTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            pending: txn
                .open_table(PENDING_SINCE)
                .map_err(unavailable("opening pending_since"))?,
            dead: txn
                .open_table(DEAD_IDS)
                .map_err(unavailable("opening dead letter ids"))?,
        })
    }

    fn of(&self, record: crate::store::EventRecord) -> Result<LoggedEvent, StoreError> {
        let mut states = Vec::with_capacity(record.deliveries.len());
        for (id, target) in &record.deliveries {
            let pending = self
                .pending
                .get((target.as_str(), id.as_str()))
                .map_err(unavailable("reading pending_since"))?
                .is_some();
            let dead = !pending
                && self
                    .dead
                    .get(id.as_str())
                    .map_err(unavailable("reading dead letter ids"))?
                    .is_some();
            states.push(match (pending, dead) {
                (true, _) => DeliveryState::Pending,
                (false, true) => DeliveryState::Dead,
                (false, false) => DeliveryState::Delivered,
            });
        }
        Ok(LoggedEvent { record, states })
    }
}

/// The paused targets.
pub(super) fn paused(db: &Database) -> Result<Vec<String>, StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    let table = txn.open_table(PAUSED).map_err(unavailable("opening paused"))?;
    let mut names = Vec::new();
    for entry in table.iter().map_err(unavailable("scanning paused"))? {
        let (name, _) = entry.map_err(unavailable("reading paused"))?;
        names.push(name.value().to_owned());
    }
    Ok(names)
}

/// What the store knows of delivery `id`.
pub(super) fn delivery(db: &Database, id: &str) -> Result<Option<DeliveryReport>, StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    let open = |error| unavailable("opening a table")(error);
    let attempts_table = txn.open_table(ATTEMPTS).map_err(open)?;
    let mut attempts = Vec::new();
    for entry in attempts_table
        .range((id, 0)..=(id, u32::MAX))
        .map_err(unavailable("scanning attempts"))?
    {
        let (_, bytes) = entry.map_err(unavailable("reading attempts"))?;
        attempts.extend(LoggedAttempt::decode(bytes.value()));
    }
    let dead_ids = txn.open_table(DEAD_IDS).map_err(open)?;
    if let Some(dead_at) = dead_ids.get(id).map_err(unavailable("reading dead_ids"))? {
        let dead = txn.open_table(DEAD).map_err(open)?;
        if let Some(bytes) = dead
            .get((dead_at.value(), id))
            .map_err(unavailable("reading dead"))?
        {
            return Ok(Some(DeliveryReport {
                state: DeliveryState::Dead,
                delivery: Some(record::decode(id, bytes.value())?),
                due: false,
                attempts,
            }));
        }
    }
    let found = locate::pending(
        &txn.open_table(PENDING).map_err(open)?,
        &txn.open_table(PENDING_SINCE).map_err(open)?,
        &txn.open_table(READY).map_err(open)?,
        &txn.open_table(LEASED).map_err(open)?,
        id,
    )
    .map_err(unavailable("finding a delivery"))?;
    Ok(match found {
        Some(Located::Ready {
            record: bytes,
            due_at_ms,
            ..
        }) => Some(DeliveryReport {
            state: DeliveryState::Pending,
            // The queue's key says when it is due (a retry made due now moves the
            // key, not the record).
            delivery: Some(Delivery {
                due_at_ms,
                ..record::decode(id, &bytes)?
            }),
            due: due_at_ms <= crate::model::now_ms(),
            attempts,
        }),
        Some(Located::Leased { record: bytes }) => Some(DeliveryReport {
            state: DeliveryState::Pending,
            delivery: Some(record::decode(id, &bytes)?),
            due: true,
            attempts,
        }),
        None if attempts.is_empty() => None,
        None => Some(DeliveryReport {
            state: DeliveryState::Delivered,
            delivery: None,
            due: false,
            attempts,
        }),
    })
}

/// Every subscription; an unreadable one is logged and skipped.
pub(super) fn subscriptions(db: &Database) -> Result<Vec<Subscription>, StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    let table = txn
        .open_table(SUBSCRIPTIONS)
        .map_err(unavailable("opening subscriptions"))?;
    let mut subscriptions = Vec::new();
    for entry in table.iter().map_err(unavailable("scanning subscriptions"))? {
        let (id, bytes) = entry.map_err(unavailable("reading subscriptions"))?;
        subscriptions.extend(record::decode_subscription(id.value(), bytes.value()));
    }
    Ok(subscriptions)
}

/// Every kept target definition; an unreadable one is logged and skipped.
pub(super) fn targets(db: &Database) -> Result<Vec<TargetRecord>, StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    let table = txn.open_table(TARGETS).map_err(unavailable("opening targets"))?;
    let mut found = Vec::new();
    for entry in table.iter().map_err(unavailable("scanning targets"))? {
        let (name, bytes) = entry.map_err(unavailable("reading targets"))?;
        match record::decode_target(name.value(), bytes.value()) {
            Ok(target) => found.push(target),
            Err(error) => tracing::error!(%error, "skipping an unreadable target definition"),
        }
    }
    Ok(found)
}

/// Whether the database answers a read.
pub(super) fn ping(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    txn.open_table(READY).map_err(unavailable("opening ready"))?;
    Ok(())
}

/// Lists dead letters oldest first. With ids, each is looked up by id; otherwise the
/// time window bounds the scan and the rest of the filter is applied to each.
pub(super) fn dead_letters(
    db: &Database,
    filter: &DeadLetterFilter,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let txn = db.begin_read().map_err(unavailable("starting a read"))?;
    let dead = txn
        .open_table(DEAD)
        .map_err(unavailable("opening dead letters"))?;
    let mut found = Vec::new();
    let passes = |dead_at_ms: u64, id: &str, stored: &[u8]| match record::decode(id, stored) {
        Ok(delivery) => filter
            .matches(&delivery, dead_at_ms)
            .then_some((dead_at_ms, delivery)),
        Err(error) => {
            tracing::error!(delivery = id, %error, "Dead letter is corrupt; not listed.");
            None
        }
    };
    if filter.ids.is_empty() {
        let since = filter.since_ms.unwrap_or(0);
        let range = match filter.until_ms {
            Some(until) if until <= since => return Ok(Vec::new()),
            Some(until) => dead.range((since, "")..(until, "")),
            None => dead.range((since, "")..),
        };
        for entry in range.map_err(unavailable("listing dead letters"))? {
            if found.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(unavailable("listing dead letters"))?;
            let (dead_at_ms, id) = key.value();
            found.extend(passes(dead_at_ms, id, value.value()));
        }
    } else {
        let ids = txn
            .open_table(DEAD_IDS)
            .map_err(unavailable("opening dead letter ids"))?;
        for id in &filter.ids {
            let Some(dead_at_ms) = ids
                .get(id.as_str())
                .map_err(unavailable("finding a dead letter"))?
                .map(|g| g.value())
            else {
                continue;
            };
            if let Some(stored) = dead
                .get((dead_at_ms, id.as_str()))
                .map_err(unavailable("reading a dead letter"))?
            {
                found.extend(passes(dead_at_ms, id, stored.value()));
            }
        }
        found.sort_by(|(a_at, a), (b_at, b)| (a_at, &a.id).cmp(&(b_at, &b.id)));
        found.dedup_by(|(_, a), (_, b)| a.id == b.id);
        found.truncate(limit);
    }
    Ok(found.into_iter().map(|(_, delivery)| delivery).collect())
}
