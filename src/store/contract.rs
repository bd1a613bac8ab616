//! The store contract as one test suite, run against every implementation through
//! [`store_contract!`]. A store passes when it behaves as the [`Store`] docs say.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    Admission, Admitted, Backlog, Completion, DeadLetterFilter, DedupeClaim, DeliveryState, EventAdmission,
    EventFilter, EventRecord, Hastened, KeyClaim, Store,
};
use crate::model::{now_ms, Attempt, BreakerPolicy, Delivery, Marks, RetryPolicy, TargetRecord};

/// Opens the store under test. A second `open`, after every handle of the first is
/// dropped, must see the same data (that is the durability check).
#[async_trait]
pub trait Harness: Send + Sync {
    /// Opens (or reopens) the store.
    async fn open(&self) -> Arc<dyn Store>;
    /// The lease timeout the store was opened with (keep it short, e.g. 300 ms).
    fn lease_timeout(&self) -> Duration;
}

/// A successful attempt's completion.
pub fn delivered() -> Completion {
    Completion::Delivered { record: record(200) }
}

/// A delivery to `target` due at `due_at_ms`, with a binary-safe body.
pub fn delivery(route: &str, target: &str, due_at_ms: u64) -> Delivery {
    Delivery {
        id: uuid::Uuid::now_v7().to_string(),
        route: route.to_owned(),
        target: target.to_owned(),
        event_key: None,
        event_id: None,
        request_id: "req-1".to_owned(),
        method: "POST".to_owned(),
        url: format!("http://127.0.0.1:1/{target}"),
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: Bytes::from_static(b"{\"k\":\"\xc3\xa9\"}\x00\xff"),
        attempts: 0,
        created_at_ms: now_ms(),
        due_at_ms,
        last_attempt: None,
        dead_reason: None,
    }
}

/// An event of `deliveries` with dedupe key `key` (60 s TTL).
pub fn event(key: Option<&str>, deliveries: Vec<Delivery>) -> EventAdmission {
    EventAdmission {
        dedupe: key.map(|key| DedupeClaim {
            key: key.to_owned(),
            ttl: Duration::from_secs(60),
        }),
        deliveries,
        record: None,
    }
}

/// The log entry of an event of `deliveries` to `route`, received at `received_ms`.
pub fn logged(route: &str, key: Option<&str>, received_ms: u64, deliveries: &[Delivery]) -> EventRecord {
    EventRecord {
        id: uuid::Uuid::now_v7().to_string(),
        route: route.to_owned(),
        dedupe_key: key.map(str::to_owned),
        request_id: "req-1".to_owned(),
        received_ms,
        deliveries: deliveries
            .iter()
            .map(|delivery| (delivery.id.clone(), delivery.target.clone()))
            .collect(),
        body: Bytes::from_static(b"{\"tax_id\":\"***\"}"),
    }
}

/// An admission of one event of `deliveries` to `route`, with dedupe key `key`.
pub fn admission(route: &str, key: Option<&str>, deliveries: Vec<Delivery>) -> Admission {
    Admission {
        route: route.to_owned(),
        events: vec![event(key, deliveries)],
    }
}

/// The record of an attempt answered with `status`.
pub fn record(status: u16) -> Attempt {
    Attempt {
        at_ms: now_ms(),
        status: Some(status),
        latency_ms: 12,
        error: None,
        excerpt: Some(format!("status {status}")),
    }
}

/// Each admitted delivery is claimed once, from its own target's queue, body intact.
pub async fn admitted_deliveries_are_claimed_once_per_target(store: Arc<dyn Store>) {
    let (a, b) = (delivery("r", "a", now_ms()), delivery("r", "b", now_ms()));
    assert_eq!(
        store
            .admit(admission("r", None, vec![a.clone(), b.clone()]))
            .await
            .unwrap(),
        [Admitted::Stored]
    );
    let claimed = store.claim("a", 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].delivery, a, "delivery comes back exactly as admitted");
    assert_eq!(store.claim("b", 10).await.unwrap()[0].delivery.id, b.id);
    assert!(
        store.claim("a", 10).await.unwrap().is_empty(),
        "a leased delivery is not claimed twice"
    );
    assert!(store.claim("c", 10).await.unwrap().is_empty());
}

/// Claims take due deliveries only, oldest due first, at most `max`.
pub async fn claims_take_due_deliveries_in_order_up_to_max(store: Arc<dyn Store>) {
    let now = now_ms();
    let later = delivery("r", "t", now + 60_000);
    let second = delivery("r", "t", now - 1_000);
    let first = delivery("r", "t", now - 2_000);
    let third = delivery("r", "t", now - 500);
    store
        .admit(admission(
            "r",
            None,
            vec![later, second.clone(), first.clone(), third.clone()],
        ))
        .await
        .unwrap();
    let claimed = store.claim("t", 2).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|l| l.delivery.id.clone()).collect();
    assert_eq!(ids, vec![first.id, second.id]);
    let claimed = store.claim("t", 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "the future one stays");
    assert_eq!(claimed[0].delivery.id, third.id);
    assert_eq!(store.pending("t").await.unwrap(), 4);
}

/// A delivered lease is gone.
pub async fn delivered_leases_are_forgotten(store: Arc<dyn Store>) {
    store
        .admit(admission("r", None, vec![delivery("r", "t", now_ms())]))
        .await
        .unwrap();
    let lease = store.claim("t", 1).await.unwrap().remove(0);
    store.complete(lease, delivered()).await.unwrap();
    assert_eq!(store.pending("t").await.unwrap(), 0);
    assert!(store.claim("t", 10).await.unwrap().is_empty());
}

/// A retry counts the attempt, keeps its record, and waits until due.
pub async fn retries_count_attempts_and_wait_until_due(store: Arc<dyn Store>) {
    store
        .admit(admission(
            "r",
            None,
            vec![delivery("r", "t", now_ms()), delivery("r", "u", now_ms())],
        ))
        .await
        .unwrap();
    let lease = store.claim("t", 1).await.unwrap().remove(0);
    let id = lease.delivery.id.clone();
    store
        .complete(
            lease,
            Completion::Retry {
                due_at_ms: now_ms() - 1,
                record: record(503),
            },
        )
        .await
        .unwrap();
    let again = store.claim("t", 1).await.unwrap().remove(0);
    assert_eq!(again.delivery.id, id);
    assert_eq!(again.delivery.attempts, 1);
    assert_eq!(
        again.delivery.last_attempt.as_ref().and_then(|r| r.status),
        Some(503)
    );

    let lease = store.claim("u", 1).await.unwrap().remove(0);
    store
        .complete(
            lease,
            Completion::Retry {
                due_at_ms: now_ms() + 60_000,
                record: record(500),
            },
        )
        .await
        .unwrap();
    assert!(
        store.claim("u", 1).await.unwrap().is_empty(),
        "not before it is due"
    );
    assert_eq!(store.pending("u").await.unwrap(), 1);
}

/// Deferring does not spend an attempt; releasing makes a lease due now.
pub async fn defer_and_release_keep_attempts(store: Arc<dyn Store>) {
    store
        .admit(admission(
            "r",
            None,
            vec![delivery("r", "t", now_ms()), delivery("r", "t", now_ms())],
        ))
        .await
        .unwrap();
    let mut leases = store.claim("t", 2).await.unwrap();
    let deferred = leases.remove(0);
    store
        .complete(
            deferred,
            Completion::Defer {
                due_at_ms: now_ms() - 1,
            },
        )
        .await
        .unwrap();
    store.release(leases).await.unwrap();
    let claimed = store.claim("t", 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|lease| lease.delivery.attempts == 0));
}

/// Dead letters keep the reason and last attempt, can be filtered, and replay resets
/// them into their queue.
pub async fn dead_letters_are_kept_listed_and_replayed(store: Arc<dyn Store>) {
    let before = now_ms();
    store
        .admit(admission(
            "r1",
            None,
            vec![delivery("r1", "t", now_ms()), delivery("r2", "u", now_ms())],
        ))
        .await
        .unwrap();
    for target in ["t", "u"] {
        let lease = store.claim(target, 1).await.unwrap().remove(0);
        store
            .complete(
                lease,
                Completion::Dead {
                    reason: "status 400 is not retried".into(),
                    record: record(400),
                },
            )
            .await
            .unwrap();
    }
    assert_eq!(store.pending("t").await.unwrap(), 0);
    let all = store
        .dead_letters(&DeadLetterFilter::default(), 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let dead = &all[0];
    assert_eq!(dead.dead_reason.as_deref(), Some("status 400 is not retried"));
    assert_eq!(
        dead.last_attempt.as_ref().and_then(|r| r.excerpt.clone()),
        Some("status 400".into())
    );
    assert_eq!(dead.attempts, 1);

    let by_target = DeadLetterFilter {
        target: Some("u".into()),
        ..Default::default()
    };
    assert_eq!(store.dead_letters(&by_target, 100).await.unwrap().len(), 1);
    let by_route = DeadLetterFilter {
        route: Some("r1".into()),
        ..Default::default()
    };
    assert_eq!(store.dead_letters(&by_route, 100).await.unwrap().len(), 1);
    let future = DeadLetterFilter {
        since_ms: Some(now_ms() + 60_000),
        ..Default::default()
    };
    assert!(store.dead_letters(&future, 100).await.unwrap().is_empty());
    let window = DeadLetterFilter {
        since_ms: Some(before),
        until_ms: Some(now_ms() + 1),
        ..Default::default()
    };
    assert_eq!(store.dead_letters(&window, 100).await.unwrap().len(), 2);
    assert_eq!(
        store
            .dead_letters(&DeadLetterFilter::default(), 1)
            .await
            .unwrap()
            .len(),
        1,
        "limit"
    );

    let target_t = all.iter().find(|d| d.target == "t").unwrap().id.clone();
    assert_eq!(
        store
            .replay(&[target_t.clone(), "no-such-id".into()])
            .await
            .unwrap(),
        1
    );
    let replayed = store.claim("t", 1).await.unwrap().remove(0);
    assert_eq!(replayed.delivery.id, target_t);
    assert_eq!(replayed.delivery.attempts, 0);
    assert_eq!(replayed.delivery.dead_reason, None);
    assert_eq!(
        store
            .dead_letters(&DeadLetterFilter::default(), 100)
            .await
            .unwrap()
            .len(),
        1
    );

    // By reason, any case.
    let by_reason = DeadLetterFilter {
        reason: Some("NOT RETRIED".into()),
        ..Default::default()
    };
    assert_eq!(store.dead_letters(&by_reason, 100).await.unwrap().len(), 1);
    let other_reason = DeadLetterFilter {
        reason: Some("timeout".into()),
        ..Default::default()
    };
    assert!(store.dead_letters(&other_reason, 100).await.unwrap().is_empty());

    // Discarded for good, once, and no longer counted.
    let target_u = all.iter().find(|d| d.target == "u").unwrap().id.clone();
    assert_eq!(store.backlog("u").await.unwrap().dead, 1);
    assert_eq!(
        store
            .discard(&[target_u.clone(), "no-such-id".into()])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.discard(std::slice::from_ref(&target_u)).await.unwrap(), 0);
    assert_eq!(store.backlog("u").await.unwrap().dead, 0);
    assert!(store
        .dead_letters(&DeadLetterFilter::default(), 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.replay(std::slice::from_ref(&target_u)).await.unwrap(),
        0,
        "nothing to replay"
    );
}

/// The backlog counts what waits for a target, dates its oldest pending delivery by
/// admission (through retries, leases and a replay), and counts its dead letters.
pub async fn the_backlog_counts_pending_ages_and_dead_letters(store: Arc<dyn Store>) {
    assert_eq!(store.backlog("t").await.unwrap(), Backlog::default());
    let now = now_ms();
    let mut old = delivery("r", "t", now);
    old.created_at_ms = now - 60_000;
    let mut young = delivery("r", "t", now);
    young.created_at_ms = now - 1_000;
    let other = delivery("r", "u", now);
    store
        .admit(admission("r", None, vec![old.clone(), young.clone(), other]))
        .await
        .unwrap();
    let backlog = store.backlog("t").await.unwrap();
    assert_eq!(backlog.pending, 2);
    assert_eq!(backlog.oldest_ms, Some(old.created_at_ms));
    assert_eq!(backlog.dead, 0);

    // Leased and retried, the old one is still the oldest pending.
    let leases = store.claim("t", 2).await.unwrap();
    assert_eq!(
        store.backlog("t").await.unwrap().oldest_ms,
        Some(old.created_at_ms)
    );
    for lease in leases {
        let completion = if lease.delivery.id == old.id {
            Completion::Retry {
                due_at_ms: now_ms(),
                record: record(503),
            }
        } else {
            delivered()
        };
        store.complete(lease, completion).await.unwrap();
    }
    let backlog = store.backlog("t").await.unwrap();
    assert_eq!((backlog.pending, backlog.oldest_ms), (1, Some(old.created_at_ms)));

    // Dead-lettered: nothing pending, one dead letter; the other target untouched.
    let lease = store.claim("t", 1).await.unwrap().remove(0);
    let dead = Completion::Dead {
        reason: "gone".into(),
        record: record(410),
    };
    store.complete(lease, dead).await.unwrap();
    let expected = Backlog {
        pending: 0,
        oldest_ms: None,
        dead: 1,
    };
    assert_eq!(store.backlog("t").await.unwrap(), expected);
    assert_eq!(store.backlog("u").await.unwrap().pending, 1);
    assert_eq!(store.backlog("u").await.unwrap().dead, 0);

    // Replayed: pending again since its admission, and no longer dead.
    assert_eq!(store.replay(std::slice::from_ref(&old.id)).await.unwrap(), 1);
    let expected = Backlog {
        pending: 1,
        oldest_ms: Some(old.created_at_ms),
        dead: 0,
    };
    assert_eq!(store.backlog("t").await.unwrap(), expected);
}

/// Admitted events are logged in the same step, listed by time window, route, key
/// and state (their deliveries' states followed as they are delivered or dead),
/// found by id, not logged when duplicates, and swept after the retention.
pub async fn admitted_events_are_logged_and_swept(store: Arc<dyn Store>) {
    let base = now_ms() - 10_000;
    let mut ids = Vec::new();
    for (n, route, key) in [(0, "r", "k0"), (1, "r", "k1"), (2, "r2", "k2"), (3, "r", "k3")] {
        let deliveries = vec![delivery(route, "t", now_ms()), delivery(route, "u", now_ms())];
        let record = logged(route, Some(key), base + n * 1000, &deliveries);
        ids.push(record.id.clone());
        let mut admission = admission(route, Some(key), deliveries);
        admission.events[0].record = Some(record);
        assert_eq!(store.admit(admission).await.unwrap(), [Admitted::Stored]);
    }
    // A duplicate is not logged.
    let deliveries = vec![delivery("r", "t", now_ms())];
    let mut again = admission("r", Some("k1"), deliveries.clone());
    again.events[0].record = Some(logged("r", Some("k1"), base + 5000, &deliveries));
    assert_eq!(store.admit(again).await.unwrap(), [Admitted::Duplicate]);

    let all = store.events(&EventFilter::default(), 100).await.unwrap();
    let listed: Vec<&str> = all.iter().map(|event| event.record.id.as_str()).collect();
    assert_eq!(listed, ids, "oldest first, the duplicate left out");
    assert_eq!(all[0].record.body, Bytes::from_static(b"{\"tax_id\":\"***\"}"));
    assert!(all.iter().all(|event| event.state() == DeliveryState::Pending));

    // The window [base+1000, base+3000) holds events 1 and 2; route r only event 1.
    let window = EventFilter {
        since_ms: Some(base + 1000),
        until_ms: Some(base + 3000),
        ..EventFilter::default()
    };
    let in_window: Vec<String> = store
        .events(&window, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.record.id)
        .collect();
    assert_eq!(in_window, ids[1..3]);
    let route_r = EventFilter {
        route: Some("r".into()),
        ..window.clone()
    };
    assert_eq!(store.events(&route_r, 100).await.unwrap().len(), 1);
    let by_key = EventFilter {
        dedupe_key: Some("k3".into()),
        ..EventFilter::default()
    };
    assert_eq!(store.events(&by_key, 100).await.unwrap()[0].record.id, ids[3]);
    assert_eq!(
        store.events(&EventFilter::default(), 2).await.unwrap().len(),
        2,
        "limit"
    );

    // Event 0: one delivery delivered, one dead. (A partitioned store orders claims
    // within a partition, not across them: pick event 0's among all.)
    let first_deliveries: Vec<&String> = all[0].record.deliveries.iter().map(|(id, _)| id).collect();
    for target in ["t", "u"] {
        let mut leases = store.claim(target, 10).await.unwrap();
        let at = leases
            .iter()
            .position(|lease| first_deliveries.contains(&&lease.delivery.id))
            .expect("event 0's delivery is claimed");
        let lease = leases.remove(at);
        store.release(leases).await.unwrap();
        assert_eq!(lease.delivery.route, "r");
        let completion = if target == "t" {
            delivered()
        } else {
            Completion::Dead {
                reason: "gone".into(),
                record: record(410),
            }
        };
        store.complete(lease, completion).await.unwrap();
    }
    let first = store.event(&ids[0]).await.unwrap().expect("found by id");
    assert_eq!(first.states, [DeliveryState::Delivered, DeliveryState::Dead]);
    assert_eq!(first.state(), DeliveryState::Dead);
    let dead = EventFilter {
        state: Some(DeliveryState::Dead),
        ..EventFilter::default()
    };
    assert_eq!(store.events(&dead, 100).await.unwrap().len(), 1);
    assert!(store.event("no-such-event").await.unwrap().is_none());

    // Swept: everything received before base+2000 is forgotten.
    store.sweep_events(base + 2000).await.unwrap();
    let left: Vec<String> = store
        .events(&EventFilter::default(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.record.id)
        .collect();
    assert_eq!(left, ids[2..]);
}

/// Pausing is stored: listed, undone by resuming, and kept across reopening.
pub async fn pauses_are_kept_until_resumed(harness: &dyn Harness) {
    {
        let store = harness.open().await;
        assert!(store.paused().await.unwrap().is_empty());
        store.set_paused("t", true).await.unwrap();
        store.set_paused("u", true).await.unwrap();
        store.set_paused("u", false).await.unwrap();
        store.set_paused("v", false).await.unwrap();
        assert_eq!(store.paused().await.unwrap(), ["t"]);
    }
    let store = harness.open().await;
    assert_eq!(store.paused().await.unwrap(), ["t"], "kept across reopening");
    store.set_paused("t", false).await.unwrap();
    assert!(store.paused().await.unwrap().is_empty());
}

/// Every attempt is logged with its delivery, whatever becomes of it; a delivery is
/// found by id in each state; one waiting out a backoff can be made due now.
pub async fn deliveries_are_found_by_id_with_their_attempts(store: Arc<dyn Store>) {
    assert_eq!(store.delivery("no-such-delivery").await.unwrap(), None);
    assert_eq!(
        store.hasten("no-such-delivery").await.unwrap(),
        Hastened::NotPending
    );
    let mut sent = delivery("r", "t", now_ms());
    sent.event_id = Some("event-1".to_owned());
    store
        .admit(admission("r", None, vec![sent.clone()]))
        .await
        .unwrap();
    let report = store.delivery(&sent.id).await.unwrap().expect("pending");
    assert_eq!((report.state, report.due), (DeliveryState::Pending, true));
    assert!(report.attempts.is_empty());
    assert_eq!(store.hasten(&sent.id).await.unwrap(), Hastened::AlreadyDue);

    let lease = store.claim("t", 1).await.unwrap().pop().unwrap();
    let later = now_ms() + 3_600_000;
    store
        .complete(
            lease,
            Completion::Retry {
                due_at_ms: later,
                record: record(503),
            },
        )
        .await
        .unwrap();
    let report = store.delivery(&sent.id).await.unwrap().expect("pending");
    assert_eq!((report.state, report.due), (DeliveryState::Pending, false));
    assert_eq!(report.delivery.as_ref().unwrap().due_at_ms, later);
    assert_eq!(report.attempts.len(), 1);
    let first = &report.attempts[0];
    assert_eq!(
        (first.number, first.target.as_str(), first.route.as_str()),
        (1, "t", "r")
    );
    assert_eq!(first.event_id.as_deref(), Some("event-1"));
    assert_eq!(first.attempt.status, Some(503));
    assert_eq!(first.attempt.excerpt.as_deref(), Some("status 503"));
    assert_eq!(first.attempt.latency_ms, 12);
    assert!(
        store.claim("t", 1).await.unwrap().is_empty(),
        "waiting out its backoff"
    );
    assert_eq!(store.hasten(&sent.id).await.unwrap(), Hastened::Now);
    let report = store.delivery(&sent.id).await.unwrap().expect("pending");
    assert!(report.due);
    assert!(report.delivery.unwrap().due_at_ms <= now_ms(), "shown due now");
    let lease = store.claim("t", 1).await.unwrap().pop().expect("due now");
    assert_eq!(lease.delivery.attempts, 1, "attempts unchanged");
    let report = store.delivery(&sent.id).await.unwrap().expect("leased");
    assert_eq!((report.state, report.due), (DeliveryState::Pending, true));
    store
        .complete(
            lease,
            Completion::Dead {
                reason: "status 400 is not retried".to_owned(),
                record: record(400),
            },
        )
        .await
        .unwrap();
    let report = store.delivery(&sent.id).await.unwrap().expect("dead");
    assert_eq!(report.state, DeliveryState::Dead);
    assert_eq!(store.hasten(&sent.id).await.unwrap(), Hastened::NotPending);
    let numbers: Vec<u32> = report.attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2]);

    assert_eq!(store.replay(std::slice::from_ref(&sent.id)).await.unwrap(), 1);
    let lease = store.claim("t", 1).await.unwrap().pop().unwrap();
    store.complete(lease, delivered()).await.unwrap();
    let report = store
        .delivery(&sent.id)
        .await
        .unwrap()
        .expect("its attempts outlive it");
    assert_eq!(report.state, DeliveryState::Delivered);
    assert_eq!(report.delivery, None);
    let statuses: Vec<Option<u16>> = report.attempts.iter().map(|a| a.attempt.status).collect();
    assert_eq!(
        statuses,
        [Some(503), Some(400), Some(200)],
        "a replay appends, never overwrites"
    );
    assert_eq!(report.attempts[2].number, 1, "numbered afresh after the replay");
}

/// Subscriptions are kept, replaced by id, deleted, and kept across reopening.
pub async fn subscriptions_are_kept_until_deleted(harness: &dyn Harness) {
    let subscription = |id: &str, active: bool| crate::model::Subscription {
        id: id.to_owned(),
        route: "obp".to_owned(),
        url: format!("https://example.com/{id}"),
        method: "POST".to_owned(),
        headers: [("x-key".to_owned(), "v".to_owned())].into(),
        filter: Some("@.bank_id == 'gh.29.uk'".to_owned()),
        is_active: active,
        description: "d".to_owned(),
        created_by: "ops".to_owned(),
        created_at_ms: 1,
        updated_at_ms: 2,
    };
    let sorted = |mut list: Vec<crate::model::Subscription>| {
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    };
    {
        let store = harness.open().await;
        assert!(store.subscriptions().await.unwrap().is_empty());
        store.put_subscription(&subscription("a", true)).await.unwrap();
        store.put_subscription(&subscription("b", true)).await.unwrap();
        store.put_subscription(&subscription("a", false)).await.unwrap();
        assert!(store.delete_subscription("b").await.unwrap());
        assert!(!store.delete_subscription("b").await.unwrap(), "deleted once");
        store.put_subscription(&subscription("c", true)).await.unwrap();
        assert_eq!(
            sorted(store.subscriptions().await.unwrap()),
            [subscription("a", false), subscription("c", true)]
        );
    }
    let store = harness.open().await;
    assert_eq!(
        sorted(store.subscriptions().await.unwrap()),
        [subscription("a", false), subscription("c", true)],
        "kept across reopening"
    );
}

/// One admission holds every event of a request: each event is stored or found a
/// duplicate on its own (a key seen before, or earlier in the same request), all
/// in one step, and the outcomes come back in event order.
pub async fn a_request_s_events_are_admitted_together_each_deduplicated(store: Arc<dyn Store>) {
    store
        .admit(admission("r", Some("seen"), vec![delivery("r", "t", now_ms())]))
        .await
        .unwrap();
    let fresh = delivery("r", "t", now_ms());
    let (second, other) = (delivery("r", "t", now_ms()), delivery("r", "u", now_ms()));
    let request = Admission {
        route: "r".to_owned(),
        events: vec![
            event(Some("new"), vec![fresh.clone()]),
            event(Some("seen"), vec![delivery("r", "t", now_ms())]),
            event(Some("new"), vec![delivery("r", "t", now_ms())]),
            event(None, vec![second.clone(), other.clone()]),
        ],
    };
    assert_eq!(
        store.admit(request).await.unwrap(),
        [
            Admitted::Stored,
            Admitted::Duplicate,
            Admitted::Duplicate,
            Admitted::Stored
        ]
    );
    let mut claimed: Vec<String> = store
        .claim("t", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|lease| lease.delivery.id)
        .collect();
    claimed.sort();
    let mut expected = vec![fresh.id, second.id];
    // The first admission's delivery is on `t` too.
    assert_eq!(claimed.len(), 3, "{claimed:?}");
    expected.retain(|id| claimed.contains(id));
    assert_eq!(expected.len(), 2, "both stored events' deliveries are queued");
    assert_eq!(store.claim("u", 10).await.unwrap()[0].delivery.id, other.id);
}

/// Target definitions are kept by name, replaced when saved again, and forgotten.
pub async fn target_definitions_are_kept_until_forgotten(store: Arc<dyn Store>) {
    let record = |name: &str, url: &str| TargetRecord {
        name: name.to_owned(),
        url: url.to_owned(),
        method: None,
        headers: vec![("x-api-key".to_owned(), "k-1".to_owned())],
        header_templates: Vec::new(),
        timeout: Duration::from_secs(5),
        max_concurrency: 4,
        rate_limit: None,
        retry: RetryPolicy::default(),
        breaker: BreakerPolicy::default(),
        signing_key: None,
        marks: Marks::default(),
        pass_headers: Vec::new(),
    };
    store
        .save_targets(&[record("a", "http://a/"), record("b", "http://b/")])
        .await
        .unwrap();
    store.save_targets(&[record("a", "http://a2/")]).await.unwrap();
    let mut kept = store.targets().await.unwrap();
    kept.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(kept, vec![record("a", "http://a2/"), record("b", "http://b/")]);
    store.forget_target(&record("a", "http://a/")).await.unwrap();
    assert_eq!(
        store.targets().await.unwrap().len(),
        2,
        "a definition saved since is kept"
    );
    store.forget_target(&record("a", "http://a2/")).await.unwrap();
    assert_eq!(store.targets().await.unwrap(), vec![record("b", "http://b/")]);
}

/// A dedupe key admits once per route within its TTL and stores nothing the second
/// time; it expires after the TTL.
pub async fn dedupe_keys_admit_once_per_route_within_ttl(store: Arc<dyn Store>) {
    let first = admission("r", Some("evt_1"), vec![delivery("r", "t", now_ms())]);
    assert_eq!(store.admit(first).await.unwrap(), [Admitted::Stored]);
    let again = admission("r", Some("evt_1"), vec![delivery("r", "t", now_ms())]);
    assert_eq!(store.admit(again).await.unwrap(), [Admitted::Duplicate]);
    assert_eq!(store.pending("t").await.unwrap(), 1, "a duplicate stores nothing");
    let other_route = admission("r2", Some("evt_1"), vec![delivery("r2", "t", now_ms())]);
    assert_eq!(
        store.admit(other_route).await.unwrap(),
        [Admitted::Stored],
        "keys are per route"
    );

    let short = Admission {
        route: "r".into(),
        events: vec![EventAdmission {
            dedupe: Some(DedupeClaim {
                key: "evt_short".into(),
                ttl: Duration::from_millis(50),
            }),
            deliveries: vec![],
            record: None,
        }],
    };
    assert_eq!(store.admit(short.clone()).await.unwrap(), [Admitted::Stored]);
    assert_eq!(store.admit(short.clone()).await.unwrap(), [Admitted::Duplicate]);
    // Expiry is the behaviour under test: time has to pass.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        store.admit(short).await.unwrap(),
        [Admitted::Stored],
        "after the TTL it admits again"
    );
}

/// Sync mode: a pending key blocks duplicates (also via admit) until released.
pub async fn pending_keys_block_until_released(store: Arc<dyn Store>) {
    let ttl = Duration::from_secs(60);
    assert_eq!(store.claim_key("r", "k", ttl).await.unwrap(), KeyClaim::Claimed);
    assert_eq!(store.claim_key("r", "k", ttl).await.unwrap(), KeyClaim::Duplicate);
    let admit = admission("r", Some("k"), vec![delivery("r", "t", now_ms())]);
    assert_eq!(store.admit(admit).await.unwrap(), [Admitted::Duplicate]);
    assert_eq!(store.claim_key("r2", "k", ttl).await.unwrap(), KeyClaim::Claimed);
    store.release_key("r", "k").await.unwrap();
    assert_eq!(store.claim_key("r", "k", ttl).await.unwrap(), KeyClaim::Claimed);
}

/// A lease that is neither completed nor released comes back after the lease
/// timeout (its holder is presumed dead).
pub async fn abandoned_leases_come_back_after_the_lease_timeout(
    store: Arc<dyn Store>,
    lease_timeout: Duration,
) {
    store
        .admit(admission("r", None, vec![delivery("r", "t", now_ms())]))
        .await
        .unwrap();
    let lease = store.claim("t", 1).await.unwrap().remove(0);
    let id = lease.delivery.id.clone();
    drop(lease);
    assert!(store.claim("t", 1).await.unwrap().is_empty());
    // The lease timeout is the behaviour under test: time has to pass.
    tokio::time::sleep(lease_timeout + Duration::from_millis(200)).await;
    let again = store.claim("t", 1).await.unwrap();
    assert_eq!(again.len(), 1, "reclaimed after the lease timeout");
    assert_eq!(again[0].delivery.id, id);
}

/// Many concurrent admissions all land, each exactly once.
pub async fn concurrent_admissions_all_land(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for index in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("evt_{index}");
            store
                .admit(admission("r", Some(&key), vec![delivery("r", "t", now_ms())]))
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), [Admitted::Stored]);
    }
    let mut seen = HashSet::new();
    loop {
        let batch = store.claim("t", 64).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for lease in batch {
            assert!(seen.insert(lease.delivery.id.clone()), "claimed twice");
            store.complete(lease, delivered()).await.unwrap();
        }
    }
    assert_eq!(seen.len(), 200);
}

/// What was admitted survives closing and reopening the store, and so do dead
/// letters and dedupe keys.
pub async fn admitted_work_survives_reopening(harness: &dyn Harness) {
    let kept = delivery("r", "t", now_ms());
    {
        let store = harness.open().await;
        store
            .admit(admission("r", Some("evt_durable"), vec![kept.clone()]))
            .await
            .unwrap();
        store
            .admit(admission("r", None, vec![delivery("r", "d", now_ms())]))
            .await
            .unwrap();
        let lease = store.claim("d", 1).await.unwrap().remove(0);
        store
            .complete(
                lease,
                Completion::Dead {
                    reason: "gone".into(),
                    record: record(410),
                },
            )
            .await
            .unwrap();
    }
    let store = harness.open().await;
    let claimed = store.claim("t", 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].delivery, kept);
    assert_eq!(
        store
            .dead_letters(&DeadLetterFilter::default(), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let again = admission("r", Some("evt_durable"), vec![delivery("r", "t", now_ms())]);
    assert_eq!(store.admit(again).await.unwrap(), [Admitted::Duplicate]);
    store.ping().await.unwrap();
}

/// Generates one `#[tokio::test]` per contract case for a harness expression.
#[macro_export]
macro_rules! store_contract {
    ($harness:expr) => {
        mod contract_suite {
            #[allow(unused_imports)]
            use super::*;
            use $crate::store::contract::{self, Harness};

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let harness = $harness;
                        contract::$name(harness.open().await).await;
                    }
                };
            }

            case!(admitted_deliveries_are_claimed_once_per_target);
            case!(claims_take_due_deliveries_in_order_up_to_max);
            case!(delivered_leases_are_forgotten);
            case!(retries_count_attempts_and_wait_until_due);
            case!(defer_and_release_keep_attempts);
            case!(dead_letters_are_kept_listed_and_replayed);
            case!(dedupe_keys_admit_once_per_route_within_ttl);
            case!(pending_keys_block_until_released);
            case!(concurrent_admissions_all_land);
            case!(a_request_s_events_are_admitted_together_each_deduplicated);
            case!(target_definitions_are_kept_until_forgotten);
            case!(the_backlog_counts_pending_ages_and_dead_letters);
            case!(admitted_events_are_logged_and_swept);

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn abandoned_leases_come_back_after_the_lease_timeout() {
                let harness = $harness;
                let timeout = harness.lease_timeout();
                contract::abandoned_leases_come_back_after_the_lease_timeout(harness.open().await, timeout)
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn admitted_work_survives_reopening() {
                let harness = $harness;
                contract::admitted_work_survives_reopening(&harness).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pauses_are_kept_until_resumed() {
                let harness = $harness;
                contract::pauses_are_kept_until_resumed(&harness).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn deliveries_are_found_by_id_with_their_attempts() {
                let harness = $harness;
                contract::deliveries_are_found_by_id_with_their_attempts(harness.open().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn subscriptions_are_kept_until_deleted() {
                let harness = $harness;
                contract::subscriptions_are_kept_until_deleted(&harness).await;
            }
        }
    };
}
