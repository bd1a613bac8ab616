//! The embedded (redb) store on a real data directory: the store contract, plus what
//! only it promises: concurrent admits share commits, one process per data
//! directory, leases of a stopped process are claimable at once on reopening, and a
//! stale holder's completion changes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookgate::model::now_ms;
use hookgate::store::contract::{admission, delivery, record, Harness};
use hookgate::store::embedded::{EmbeddedOptions, EmbeddedStore};
use hookgate::store::{Admitted, Completion, DeadLetterFilter, ErrorKind, Store};
use tempfile::TempDir;

const LEASE_TIMEOUT: Duration = Duration::from_millis(300);

/// A data directory of its own; every `open` opens a new store on it.
struct EmbeddedHarness {
    dir: TempDir,
}

impl EmbeddedHarness {
    fn new() -> Self {
        Self {
            dir: TempDir::new().expect("create a temporary data directory"),
        }
    }
}

#[async_trait]
impl Harness for EmbeddedHarness {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(open(&self.dir, LEASE_TIMEOUT).await)
    }

    fn lease_timeout(&self) -> Duration {
        LEASE_TIMEOUT
    }
}

hookgate::store_contract!(EmbeddedHarness::new());

async fn open(dir: &TempDir, lease_timeout: Duration) -> EmbeddedStore {
    EmbeddedStore::open(dir.path(), EmbeddedOptions { lease_timeout })
        .await
        .expect("open the embedded store")
}

/// Admits `count` single-delivery admissions at once; returns how long they took.
async fn admit_concurrently(store: &Arc<EmbeddedStore>, round: usize, count: usize) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|index| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("evt_{round}_{index}");
                store
                    .admit(admission("r", Some(&key), vec![delivery("r", "t", now_ms())]))
                    .await
            })
        })
        .collect();
    for task in tasks {
        let admitted = task.await.expect("admit task").expect("admit");
        assert_eq!(admitted, [Admitted::Stored]);
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admits_share_commits() {
    let dir = TempDir::new().unwrap();
    let store = Arc::new(open(&dir, LEASE_TIMEOUT).await);
    let before = store.commits();
    admit_concurrently(&store, 0, 500).await;
    let commits = store.commits() - before;
    assert!(commits < 50, "500 concurrent admits took {commits} commits");
    assert_eq!(store.pending("t").await.unwrap(), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_an_idle_target_does_not_commit() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, LEASE_TIMEOUT).await;
    store
        .admit(admission("r", None, vec![delivery("r", "t", now_ms() + 60_000)]))
        .await
        .unwrap();
    let before = store.commits();
    for _ in 0..10 {
        assert!(store.claim("t", 10).await.unwrap().is_empty());
        assert!(store.claim("idle", 10).await.unwrap().is_empty());
    }
    assert_eq!(store.commits(), before, "nothing due: no write, no fsync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_in_a_batch_does_not_fail_the_others() {
    let dir = TempDir::new().unwrap();
    let store = Arc::new(open(&dir, LEASE_TIMEOUT).await);
    let tasks: Vec<_> = (0..100)
        .map(|index| {
            let store = store.clone();
            tokio::spawn(async move {
                // Every other admission repeats the same key.
                let key = if index % 2 == 0 {
                    "same".to_owned()
                } else {
                    format!("evt_{index}")
                };
                store
                    .admit(admission("r", Some(&key), vec![delivery("r", "t", now_ms())]))
                    .await
            })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == [Admitted::Stored] {
            stored += 1;
        }
    }
    assert_eq!(stored, 51, "50 distinct keys and the first of the repeated one");
    assert_eq!(store.pending("t").await.unwrap(), 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_of_the_data_directory_is_refused_while_the_first_is_open() {
    let dir = TempDir::new().unwrap();
    let first = open(&dir, LEASE_TIMEOUT).await;
    let error = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
        .await
        .unwrap_err();
    assert!(
        error.kind() == ErrorKind::Unavailable
            && error.to_string().contains("data directory")
            && error.to_string().contains("in use"),
        "{error}"
    );
    first.ping().await.unwrap();

    drop(first);
    let second = open(&dir, LEASE_TIMEOUT).await;
    second.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_created_when_missing() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("nested").join("data");
    let store = EmbeddedStore::open(&data, EmbeddedOptions::default())
        .await
        .unwrap();
    store.ping().await.unwrap();
    assert!(data.join("hookgate.redb").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_of_a_stopped_process_are_claimable_at_once_on_reopening() {
    let dir = TempDir::new().unwrap();
    let deliveries: Vec<_> = (0..3).map(|_| delivery("r", "t", now_ms())).collect();
    {
        // A long lease timeout: only the reopening can make them claimable in time.
        let store = open(&dir, Duration::from_secs(3600)).await;
        store
            .admit(admission("r", None, deliveries.clone()))
            .await
            .unwrap();
        assert_eq!(store.claim("t", 2).await.unwrap().len(), 2);
    }
    let store = open(&dir, Duration::from_secs(3600)).await;
    let ids: Vec<_> = store
        .claim("t", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|lease| lease.delivery.id)
        .collect();
    let admitted: Vec<_> = deliveries.into_iter().map(|d| d.id).collect();
    assert_eq!(ids, admitted, "all three, in due order");
    assert_eq!(store.pending("t").await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_holder_cannot_undo_the_new_holders_lease() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, LEASE_TIMEOUT).await;
    store
        .admit(admission(
            "r",
            None,
            (0..3).map(|_| delivery("r", "t", now_ms())).collect(),
        ))
        .await
        .unwrap();
    let stale = store.claim("t", 10).await.unwrap();
    // The holder "dies"; the lease timeout is the behaviour under test.
    tokio::time::sleep(LEASE_TIMEOUT + Duration::from_millis(200)).await;
    let current = store.claim("t", 10).await.unwrap();
    assert_eq!(current.len(), 3);

    let mut stale = stale.into_iter();
    store
        .complete(stale.next().unwrap(), hookgate::store::contract::delivered())
        .await
        .unwrap();
    store
        .complete(
            stale.next().unwrap(),
            Completion::Dead {
                reason: "late".into(),
                record: record(400),
            },
        )
        .await
        .unwrap();
    store.release(stale.collect()).await.unwrap();
    assert_eq!(
        store.pending("t").await.unwrap(),
        3,
        "the stale outcomes changed nothing"
    );
    assert!(store.claim("t", 10).await.unwrap().is_empty(), "still leased");
    assert!(store
        .dead_letters(&DeadLetterFilter::default(), 10)
        .await
        .unwrap()
        .is_empty());

    for lease in current {
        store
            .complete(lease, hookgate::store::contract::delivered())
            .await
            .unwrap();
    }
    assert_eq!(store.pending("t").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_and_deferred_deliveries_keep_their_record_and_take_the_new_due_time() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, LEASE_TIMEOUT).await;
    let admitted = delivery("r", "t", now_ms() - 5_000);
    store
        .admit(admission("r", None, vec![admitted.clone()]))
        .await
        .unwrap();
    let lease = store.claim("t", 1).await.unwrap().remove(0);
    let retry_due = now_ms() - 1;
    store
        .complete(
            lease,
            Completion::Retry {
                due_at_ms: retry_due,
                record: record(503),
            },
        )
        .await
        .unwrap();
    let lease = store.claim("t", 1).await.unwrap().remove(0);
    assert_eq!(lease.delivery.due_at_ms, retry_due);
    let defer_due = now_ms() - 1;
    store
        .complete(lease, Completion::Defer { due_at_ms: defer_due })
        .await
        .unwrap();
    let lease = store.claim("t", 1).await.unwrap().remove(0);
    assert_eq!(lease.delivery.due_at_ms, defer_due);
    assert_eq!(lease.delivery.attempts, 1);
    assert_eq!(lease.delivery.body, admitted.body);
    assert_eq!(
        lease.delivery.last_attempt.as_ref().and_then(|r| r.status),
        Some(503)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_by_id_are_listed_oldest_first() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, LEASE_TIMEOUT).await;
    let deliveries: Vec<_> = (0..3).map(|_| delivery("r", "t", now_ms())).collect();
    store.admit(admission("r", None, deliveries)).await.unwrap();
    let mut order = Vec::new();
    for lease in store.claim("t", 10).await.unwrap() {
        order.push(lease.delivery.id.clone());
        let dead = Completion::Dead {
            reason: "gone".into(),
            record: record(410),
        };
        store.complete(lease, dead).await.unwrap();
        // Distinct dead-letter times.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let filter = DeadLetterFilter {
        ids: vec![order[2].clone(), order[0].clone(), "missing".into()],
        ..Default::default()
    };
    let listed: Vec<_> = store
        .dead_letters(&filter, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, vec![order[0].clone(), order[2].clone()]);
    let empty_window = DeadLetterFilter {
        since_ms: Some(now_ms()),
        until_ms: Some(now_ms() - 10_000),
        ..Default::default()
    };
    assert!(store.dead_letters(&empty_window, 10).await.unwrap().is_empty());
}

/// A quick throughput figure, not an assertion: `cargo test --release --test
/// store_embedded -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a timing, run by hand"]
async fn admit_throughput() {
    let dir = TempDir::new().unwrap();
    let store = Arc::new(open(&dir, LEASE_TIMEOUT).await);
    for round in 0..5 {
        let before = store.commits();
        let elapsed = admit_concurrently(&store, round, 2_000).await;
        println!(
            "round {round}: 2000 concurrent admits in {elapsed:?} ({} commits): {:.0} admits/s",
            store.commits() - before,
            2_000.0 / elapsed.as_secs_f64()
        );
    }
    // One at a time, for contrast: each admit pays its own commit (fsync).
    let started = Instant::now();
    for index in 0..200 {
        let key = format!("evt_serial_{index}");
        store
            .admit(admission("r", Some(&key), vec![delivery("r", "t", now_ms())]))
            .await
            .unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "serial: 200 admits in {elapsed:?}: {:.0} admits/s",
        200.0 / elapsed.as_secs_f64()
    );
}

/// The attempt log is bounded like the event log: the sweep forgets the attempts of
/// deliveries admitted before its cut-off (by the time in their UUIDv7 ids) and
/// keeps later ones. (On Redis each attempt list carries the retention as its TTL.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_forgets_attempts_of_deliveries_admitted_before_the_cut_off() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir, LEASE_TIMEOUT).await;
    let old = delivery("r", "t", now_ms());
    store
        .admit(admission("r", None, vec![old.clone()]))
        .await
        .unwrap();
    let lease = store.claim("t", 1).await.unwrap().pop().unwrap();
    store
        .complete(lease, Completion::Delivered { record: record(200) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cut_off = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let new = delivery("r", "t", now_ms());
    store
        .admit(admission("r", None, vec![new.clone()]))
        .await
        .unwrap();
    let lease = store.claim("t", 1).await.unwrap().pop().unwrap();
    store
        .complete(lease, Completion::Delivered { record: record(200) })
        .await
        .unwrap();
    assert!(store.delivery(&old.id).await.unwrap().is_some());
    while store.sweep_events(cut_off).await.unwrap() > 0 {}
    assert_eq!(store.delivery(&old.id).await.unwrap(), None, "swept");
    let kept = store.delivery(&new.id).await.unwrap().expect("kept");
    assert_eq!(kept.attempts.len(), 1);
}
