//! The Redis store against a real redis-server: the store contract, plus what only a
//! shared store has to do: leases reclaimed across instances, fast failure during an
//! outage and recovery after it, keys in one hash tag.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::redis::RedisServer;
use async_trait::async_trait;
use hookgate::model::{now_ms, Affinity, Delivery};
use hookgate::store::contract::{admission, delivery, record, Harness};
use hookgate::store::redis::{connect, RedisOptions, RedisStore};
use hookgate::store::{Admitted, Completion, DeadLetterFilter, ErrorKind, KeyClaim, Store};

const LEASE_TIMEOUT: Duration = Duration::from_millis(300);

/// A redis-server of its own and a key prefix; every `open` connects a new store
/// (a new consumer) to the same data.
struct RedisHarness {
    server: RedisServer,
    prefix: String,
}

impl RedisHarness {
    fn start() -> Self {
        Self {
            server: RedisServer::start(),
            prefix: unique_prefix(),
        }
    }
}

#[async_trait]
impl Harness for RedisHarness {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(open(&self.server, &self.prefix, &unique_prefix()).await)
    }

    fn lease_timeout(&self) -> Duration {
        LEASE_TIMEOUT
    }
}

hookgate::store_contract!(RedisHarness::start());

fn unique_prefix() -> String {
    format!("hg-{}", uuid::Uuid::new_v4().simple())
}

async fn open(server: &RedisServer, prefix: &str, consumer: &str) -> RedisStore {
    connect(RedisOptions {
        url: server.url(),
        key_prefix: prefix.to_owned(),
        lease_timeout: LEASE_TIMEOUT,
        retention: hookgate::config::DEFAULT_RETENTION,
        consumer: consumer.to_owned(),
        ..RedisOptions::default()
    })
    .await
    .expect("connect to the test redis-server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_abandoned_by_one_instance_are_reclaimed_by_another() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let (a, b) = (
        open(&server, &prefix, "instance-a").await,
        open(&server, &prefix, "instance-b").await,
    );
    let deliveries: Vec<_> = (0..3).map(|_| delivery("r", "t", now_ms())).collect();
    let ids: HashSet<_> = deliveries.iter().map(|d| d.id.clone()).collect();
    a.admit(admission("r", None, deliveries)).await.unwrap();

    let held_by_a = a.claim("t", 10).await.unwrap();
    assert_eq!(held_by_a.len(), 3);
    assert!(
        b.claim("t", 10).await.unwrap().is_empty(),
        "leased by a: invisible to b"
    );

    // a "dies" holding its leases; the lease timeout is the behaviour under test.
    tokio::time::sleep(LEASE_TIMEOUT + Duration::from_millis(200)).await;
    let taken_by_b = b.claim("t", 10).await.unwrap();
    let taken: HashSet<_> = taken_by_b.iter().map(|l| l.delivery.id.clone()).collect();
    assert_eq!(taken, ids, "b took over every abandoned lease");
    assert!(a.claim("t", 10).await.unwrap().is_empty(), "b holds them now");

    for lease in taken_by_b {
        b.complete(lease, hookgate::store::contract::delivered())
            .await
            .unwrap();
    }
    assert_eq!(b.pending("t").await.unwrap(), 0);

    // a comes back to life and finishes its stale leases: nothing is resurrected.
    let mut stale = held_by_a.into_iter();
    a.complete(
        stale.next().unwrap(),
        Completion::Retry {
            due_at_ms: now_ms() - 1,
            record: record(503),
        },
    )
    .await
    .unwrap();
    a.complete(
        stale.next().unwrap(),
        Completion::Dead {
            reason: "late".into(),
            record: record(400),
        },
    )
    .await
    .unwrap();
    a.release(stale.collect()).await.unwrap();
    assert_eq!(a.pending("t").await.unwrap(), 0);
    assert!(a.claim("t", 10).await.unwrap().is_empty());
    assert!(a
        .dead_letters(&DeadLetterFilter::default(), 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_order_by_due_time_across_admissions_and_retries() {
    // New deliveries go straight to the ready stream, so a retry that fell due must
    // be queued before any delivery of its partition admitted after that: the
    // admission promotes it.
    let server = RedisServer::start();
    let store = open(&server, &unique_prefix(), "c").await;
    let now = now_ms();
    // Claims are ordered within a partition: keep the three in one.
    let affinity = Affinity::of(b"one partition");
    let delivery = |route, target, due| Delivery {
        id: affinity.mint(),
        ..delivery(route, target, due)
    };
    let first = delivery("r", "t", now);
    store
        .admit(admission("r", None, vec![first.clone()]))
        .await
        .unwrap();
    let claimed: Vec<_> = store.claim("t", 1).await.unwrap();
    assert_eq!(claimed[0].delivery.id, first.id);
    store
        .complete(
            claimed.into_iter().next().unwrap(),
            Completion::Retry {
                due_at_ms: now - 1_000,
                record: record(500),
            },
        )
        .await
        .unwrap();
    // Admitted after the retry fell due: queued behind it.
    let later = delivery("r", "t", now);
    store
        .admit(admission("r", None, vec![later.clone()]))
        .await
        .unwrap();
    let young = delivery("r", "t", now);
    store
        .admit(admission("r", None, vec![young.clone()]))
        .await
        .unwrap();
    // One at a time: a claim orders what it takes, but not what it leaves.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let claimed = store.claim("t", 1).await.unwrap();
        ids.extend(claimed.into_iter().map(|lease| lease.delivery.id));
    }
    assert_eq!(
        ids,
        vec![first.id, later.id, young.id],
        "the retry due before the later admissions is claimed first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_fast_and_the_store_recovers_on_its_own() {
    // Durable (fsync always): what was admitted before the outage is still there after.
    let mut server = RedisServer::start_durable();
    let store = open(&server, &unique_prefix(), "c").await;
    let kept = delivery("r", "t", now_ms());
    store
        .admit(admission("r", None, vec![kept.clone()]))
        .await
        .unwrap();

    server.stop();
    // Well under the response timeout (2 s) + 1 s.
    let fast = Duration::from_millis(1_500);
    for round in 0..3 {
        let started = Instant::now();
        let results = [
            store.ping().await.err(),
            store
                .admit(admission("r", Some("k"), vec![delivery("r", "t", now_ms())]))
                .await
                .err(),
            store.claim("t", 10).await.err(),
            store.pending("t").await.err(),
            store.claim_key("r", "k2", Duration::from_secs(5)).await.err(),
        ];
        for result in results {
            assert!(
                result
                    .as_ref()
                    .is_some_and(|error| error.kind() == ErrorKind::Unavailable),
                "round {round}: {result:?}"
            );
        }
        assert!(
            started.elapsed() < fast * 5,
            "round {round}: five calls took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        assert!(store.ping().await.is_err());
        assert!(started.elapsed() < fast, "one call took {:?}", started.elapsed());
    }

    server.restart();
    // No reconnect by hand: the same store answers again, on the first call. (The
    // restarted server's script cache is empty: the scripts are loaded again.)
    let started = Instant::now();
    store.ping().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let fresh = delivery("r", "t", now_ms());
    assert_eq!(
        store
            .admit(admission("r", Some("k"), vec![fresh.clone()]))
            .await
            .unwrap(),
        [Admitted::Stored]
    );
    let claimed: Vec<_> = store
        .claim("t", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|lease| lease.delivery)
        .collect();
    assert_eq!(claimed, vec![kept, fresh]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fails_clearly_when_redis_is_down() {
    let mut server = RedisServer::start();
    server.stop();
    let started = Instant::now();
    let error = connect(RedisOptions {
        url: server.url(),
        ..RedisOptions::default()
    })
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        error.kind() == ErrorKind::Unavailable && error.to_string().contains("cannot connect"),
        "{error}"
    );

    server.restart();
    let error = connect(RedisOptions {
        url: server.url(),
        key_prefix: "a{b}".into(),
        ..RedisOptions::default()
    })
    .await
    .unwrap_err();
    assert!(error.to_string().contains("key prefix"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_carries_a_partition_s_hash_tag() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = open(&server, &prefix, "c").await;
    let now = now_ms();
    store
        .admit(admission(
            "r",
            Some("evt"),
            vec![
                delivery("r", "t", now),
                delivery("r", "t", now + 60_000),
                delivery("r", "u", now),
            ],
        ))
        .await
        .unwrap();
    let lease = store.claim("u", 1).await.unwrap().remove(0);
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
    store.claim("t", 1).await.unwrap();
    assert_eq!(
        store
            .claim_key("r", "sync", Duration::from_secs(5))
            .await
            .unwrap(),
        KeyClaim::Claimed
    );

    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    // `{prefix}:<kind>...` (global) or `{prefix:pNN}:<kind>...` (a partition).
    let split = |key: &str| -> Option<(String, String)> {
        let rest = key.strip_prefix(&format!("{{{prefix}"))?;
        let (tag, rest) = rest.split_once("}:")?;
        let kind = rest.split(':').next()?.to_owned();
        let part = match tag.strip_prefix(":p") {
            Some(number) if number.len() == 2 && number.parse::<u16>().is_ok() => number.to_owned(),
            Some(_) => return None,
            None if tag.is_empty() => String::new(),
            None => return None,
        };
        Some((part, kind))
    };
    let parts: Vec<(String, String)> = keys
        .iter()
        .map(|key| split(key).unwrap_or_else(|| panic!("{key} is outside the prefix's tags")))
        .collect();
    let global: HashSet<_> = parts
        .iter()
        .filter(|(part, _)| part.is_empty())
        .map(|(_, kind)| kind.as_str())
        .collect();
    assert_eq!(global, HashSet::from(["layout"]));
    let kinds: HashSet<_> = parts
        .iter()
        .filter(|(part, _)| !part.is_empty())
        .map(|(_, kind)| kind.as_str())
        .collect();
    let expected = HashSet::from([
        "ready",
        "delayed",
        "d",
        "a",
        "dedupe",
        "dead",
        "since",
        "dead_count",
    ]);
    assert_eq!(kinds, expected);
    // The event's keys share its dedupe key's partition.
    let part_of = |suffix: &str| {
        keys.iter()
            .find(|key| key.ends_with(suffix))
            .and_then(|key| split(key))
            .map(|(part, _)| part)
            .unwrap_or_else(|| panic!("no key ends with {suffix}: {keys:?}"))
    };
    assert_eq!(part_of("}:dedupe:r:evt"), part_of("}:ready:t"));
    assert_eq!(part_of("}:dedupe:r:evt"), part_of("}:dead"));
}

/// A quick throughput figure, not an assertion: `cargo test --release --test
/// store_redis -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a timing, run by hand"]
async fn admit_throughput() {
    let server = RedisServer::start();
    let store = Arc::new(open(&server, &unique_prefix(), "c").await);
    for round in 0..3 {
        let started = Instant::now();
        let tasks: Vec<_> = (0..2_000)
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
            assert_eq!(task.await.unwrap().unwrap(), [Admitted::Stored]);
        }
        let elapsed = started.elapsed();
        println!(
            "round {round}: 2000 concurrent admits in {elapsed:?}: {:.0} admits/s",
            2_000.0 / elapsed.as_secs_f64()
        );
    }
}

/// Concurrent admissions share script calls (a group commit), and each request still
/// succeeds or fails on its own: a request refused for a clashing key leaves nothing
/// behind, and the others in its group are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admissions_are_grouped_and_fail_alone() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = Arc::new(open(&server, &prefix, "c").await);
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    for part in 0..16 {
        let () = ::redis::cmd("SET")
            .arg(format!("{{{prefix}:p{part:02}}}:ready:clash"))
            .arg("not a stream")
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    let () = ::redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut connection)
        .await
        .unwrap();

    const REQUESTS: usize = 200;
    // Keys of one partition: a group is one script call per partition it touches.
    let keys: Vec<String> = (0..)
        .map(|n| format!("k{n}"))
        .filter(|key| Affinity::of(key.as_bytes()).partition(16) == 0)
        .take(REQUESTS)
        .collect();
    let admissions = (0..REQUESTS).map(|i| {
        let store = store.clone();
        let target = if i % 4 == 0 { "clash" } else { "t" };
        let key = keys[i].clone();
        tokio::spawn(async move {
            let delivery = delivery("r", target, now_ms());
            store.admit(admission("r", Some(&key), vec![delivery])).await
        })
    });
    let results = futures_util::future::join_all(admissions).await;
    for (i, result) in results.into_iter().enumerate() {
        let result = result.unwrap();
        if i % 4 == 0 {
            let error = result.expect_err("a clashing key refuses the request");
            assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
        } else {
            assert_eq!(result.unwrap(), vec![Admitted::Stored], "request {i}");
        }
    }
    assert_eq!(
        store.pending("t").await.unwrap(),
        (REQUESTS - REQUESTS / 4) as u64
    );

    let stats: String = ::redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .unwrap();
    let calls: usize = stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0);
    assert!(
        (1..REQUESTS).contains(&calls),
        "{REQUESTS} concurrent admissions took {calls} script calls"
    );

    // The refused requests claimed no dedupe key: once the clash is cleared, the
    // providers' retries are admitted.
    for part in 0..16 {
        let _deleted: i64 = ::redis::cmd("DEL")
            .arg(format!("{{{prefix}:p{part:02}}}:ready:clash"))
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    let retried = store
        .admit(admission(
            "r",
            Some(&keys[0]),
            vec![delivery("r", "clash", now_ms())],
        ))
        .await
        .unwrap();
    assert_eq!(retried, vec![Admitted::Stored]);
}

/// Two keys whose events fall in different partitions (of 16).
fn keys_in_two_partitions() -> ((String, u16), (String, u16)) {
    let part = |key: &str| Affinity::of(key.as_bytes()).partition(16);
    let first = "evt_a".to_owned();
    let second = (0..)
        .map(|n| format!("evt_b{n}"))
        .find(|key| part(key) != part(&first))
        .unwrap();
    let (a, b) = (part(&first), part(&second));
    ((first, a), (second, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_failing_in_one_partition_is_refused_and_its_retry_admits_only_the_rest() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = open(&server, &prefix, "c").await;
    let ((stored_key, _), (refused_key, refused_part)) = keys_in_two_partitions();
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let clash = format!("{{{prefix}:p{refused_part:02}}}:ready:t");
    let () = ::redis::cmd("SET")
        .arg(&clash)
        .arg("not a stream")
        .query_async(&mut connection)
        .await
        .unwrap();

    let request = || hookgate::store::Admission {
        route: "r".into(),
        events: vec![
            hookgate::store::contract::event(Some(&stored_key), vec![delivery("r", "t", now_ms())]),
            hookgate::store::contract::event(Some(&refused_key), vec![delivery("r", "t", now_ms())]),
        ],
    };
    let error = store.admit(request()).await.expect_err("one part was refused");
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");

    // The provider retries once the cause is gone: the part stored the first time is
    // a duplicate, the other is admitted; each event is queued once.
    let _deleted: i64 = ::redis::cmd("DEL")
        .arg(&clash)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        store.admit(request()).await.unwrap(),
        vec![Admitted::Duplicate, Admitted::Stored]
    );
    assert_eq!(
        store.claim("t", 10).await.unwrap().len(),
        2,
        "one delivery per event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_partition_count_or_unpartitioned_queues_are_refused_at_connect() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = open(&server, &prefix, "c").await;
    store
        .admit(admission("r", None, vec![delivery("r", "t", now_ms())]))
        .await
        .unwrap();
    let error = connect(RedisOptions {
        url: server.url(),
        key_prefix: prefix.clone(),
        partitions: 8,
        ..RedisOptions::default()
    })
    .await
    .expect_err("the data was written with 16 partitions");
    assert_eq!(error.kind(), ErrorKind::Rejected);
    assert!(
        error.to_string().contains("is 8") && error.to_string().contains("set it back to 16"),
        "{error}"
    );

    // A store of the single-tag layout with a delivery waiting.
    let old = unique_prefix();
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let () = ::redis::pipe()
        .cmd("HSET")
        .arg(format!("{{{old}}}:targets"))
        .arg("t")
        .arg("{}")
        .ignore()
        .cmd("ZADD")
        .arg(format!("{{{old}}}:delayed:t"))
        .arg(now_ms())
        .arg("0190-old")
        .ignore()
        .query_async(&mut connection)
        .await
        .unwrap();
    let refused = connect(RedisOptions {
        url: server.url(),
        key_prefix: old.clone(),
        ..RedisOptions::default()
    })
    .await
    .expect_err("its queue is not read by this layout");
    assert!(
        refused.to_string().contains("single-tag layout") && refused.to_string().contains("drain"),
        "{refused}"
    );
    // Drained: accepted.
    let _deleted: i64 = ::redis::cmd("DEL")
        .arg(format!("{{{old}}}:delayed:t"))
        .query_async(&mut connection)
        .await
        .unwrap();
    connect(RedisOptions {
        url: server.url(),
        key_prefix: old,
        ..RedisOptions::default()
    })
    .await
    .expect("an empty store of the old layout is taken over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_over_cannot_be_finished_by_its_former_holder() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let (a, b) = (
        open(&server, &prefix, "instance-a").await,
        open(&server, &prefix, "instance-b").await,
    );
    let kept = delivery("r", "t", now_ms());
    a.admit(admission("r", None, vec![kept.clone()])).await.unwrap();
    let stale = a.claim("t", 1).await.unwrap().remove(0);
    // a is slow: its lease times out and b takes the delivery over.
    tokio::time::sleep(LEASE_TIMEOUT + Duration::from_millis(200)).await;
    let held = b.claim("t", 1).await.unwrap().remove(0);
    assert_eq!(held.delivery.id, kept.id);

    // a wakes up and dead-letters, then completes, what b now holds: neither lands.
    a.complete(
        stale.clone(),
        Completion::Dead {
            reason: "late".into(),
            record: record(400),
        },
    )
    .await
    .unwrap();
    a.complete(stale, hookgate::store::contract::delivered())
        .await
        .unwrap();
    let report = b.delivery(&kept.id).await.unwrap().expect("still stored");
    assert_eq!(report.state, hookgate::store::DeliveryState::Pending);
    assert!(report.attempts.is_empty(), "{:?}", report.attempts);
    assert!(b
        .dead_letters(&DeadLetterFilter::default(), 10)
        .await
        .unwrap()
        .is_empty());

    // b, its holder, finishes it.
    b.complete(held, hookgate::store::contract::delivered())
        .await
        .unwrap();
    assert_eq!(b.pending("t").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_idle_with_nothing_pending_are_removed() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = connect(RedisOptions {
        url: server.url(),
        key_prefix: prefix.clone(),
        // Long enough that the holder's lease is not taken over meanwhile.
        lease_timeout: Duration::from_secs(30),
        consumer: "live".into(),
        consumer_idle: Duration::from_millis(100),
        ..RedisOptions::default()
    })
    .await
    .unwrap();
    // One partition, its stream and group made by a first delivery.
    let first = delivery("r", "t", now_ms());
    let affinity = Affinity::of_id(&first.id);
    let part = affinity.partition(16);
    let stream = format!("{{{prefix}:p{part:02}}}:ready:t");
    store.admit(admission("r", None, vec![first])).await.unwrap();
    let lease = store.claim("t", 1).await.unwrap().remove(0);
    store
        .complete(lease, hookgate::store::contract::delivered())
        .await
        .unwrap();
    // A stopped instance's consumer with nothing pending, and one that still holds
    // a delivery.
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _created: i64 = ::redis::cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg(&stream)
        .arg("workers")
        .arg("gone")
        .query_async(&mut connection)
        .await
        .unwrap();
    let holding = Delivery {
        id: affinity.mint(),
        ..delivery("r", "t", now_ms())
    };
    store.admit(admission("r", None, vec![holding])).await.unwrap();
    let _read: ::redis::Value = ::redis::cmd("XREADGROUP")
        .arg(&["GROUP", "workers", "holder", "COUNT", "1", "STREAMS"])
        .arg(&stream)
        .arg(">")
        .query_async(&mut connection)
        .await
        .unwrap();

    let consumers = || {
        let client = client.clone();
        let stream = stream.clone();
        async move {
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            let info: Vec<std::collections::HashMap<String, ::redis::Value>> = ::redis::cmd("XINFO")
                .arg("CONSUMERS")
                .arg(&stream)
                .arg("workers")
                .query_async(&mut connection)
                .await
                .unwrap();
            let mut names: Vec<String> = info
                .iter()
                .map(|consumer| ::redis::from_redis_value(consumer["name"].clone()).unwrap())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(consumers().await, ["gone", "holder", "live"]);
    // Idle past the limit (the behaviour under test is time passing).
    tokio::time::sleep(Duration::from_millis(300)).await;
    crate::support::eventually("the idle consumer is removed", || {
        let (store, consumers) = (&store, &consumers);
        async move {
            let _ = store.claim("t", 1).await.unwrap();
            consumers().await == ["holder", "live"]
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_keeps_its_consumer_name_across_restarts() {
    let server = RedisServer::start();
    let downstream = crate::support::Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\nstore: {{ redis: {{ url: \"{}\", key_prefix: restarts }} }}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
            server.url(),
            downstream.url("/t")
        ),
    )
    .unwrap();
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    for start in 0..3 {
        let process =
            crate::support::HookgateProcess::spawn_with_args(&path, &[], &["--instance-id", "node-a"]);
        // Events in many partitions, so many streams get a consumer.
        for n in 0..16 {
            let reply =
                crate::support::post_json(&process.url("/in"), format!(r#"{{"n":"{start}-{n}"}}"#)).await;
            assert_eq!(reply.status, 202);
        }
        downstream.wait_for(16 * (start + 1)).await;
    }
    let streams: Vec<String> = ::redis::cmd("KEYS")
        .arg("{restarts:p*}:ready:t")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(streams.len() > 1, "{streams:?}");
    let mut names = HashSet::new();
    for stream in &streams {
        let info: Vec<std::collections::HashMap<String, ::redis::Value>> = ::redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(stream)
            .arg("workers")
            .query_async(&mut connection)
            .await
            .unwrap();
        for consumer in info {
            names.insert(::redis::from_redis_value::<String>(consumer["name"].clone()).unwrap());
        }
    }
    assert_eq!(
        names,
        HashSet::from(["node-a".to_owned()]),
        "one consumer after three starts"
    );
}

/// What one event and one delivery cost Redis (the figures of docs/scaling.md), not
/// an assertion: `cargo nextest run --run-ignored only -E 'test(redis_costs)'
/// --no-capture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, run by hand"]
async fn redis_costs_per_event_and_delivery() {
    const EVENTS: usize = 10_000;
    for logged in [false, true] {
        let server = RedisServer::start();
        let store = Arc::new(open(&server, &unique_prefix(), "c").await);
        let client = ::redis::Client::open(server.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let stats = |connection: &mut ::redis::aio::MultiplexedConnection| {
            let mut connection = connection.clone();
            async move {
                let text: String = ::redis::cmd("INFO")
                    .arg("all")
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                let field = |name: &str| -> u64 {
                    text.lines()
                        .find_map(|line| line.strip_prefix(&format!("{name}:")))
                        .and_then(|value| value.trim().parse().ok())
                        .unwrap_or(0)
                };
                let calls: u64 = text
                    .lines()
                    .filter(|line| line.starts_with("cmdstat_") && !line.starts_with("cmdstat_info"))
                    .filter_map(|line| line.split("calls=").nth(1))
                    .filter_map(|rest| rest.split(',').next()?.parse::<u64>().ok())
                    .sum();
                let scripts: u64 = text
                    .lines()
                    .filter(|line| line.starts_with("cmdstat_evalsha:"))
                    .filter_map(|line| line.split("calls=").nth(1))
                    .filter_map(|rest| rest.split(',').next()?.parse::<u64>().ok())
                    .sum();
                (
                    field("used_memory"),
                    calls,
                    scripts,
                    field("total_net_input_bytes"),
                )
            }
        };
        let body = format!(
            r#"{{"id":"evt","type":"payment.settled","data":{{"pad":"{}"}}}}"#,
            "x".repeat(900)
        );
        let before = stats(&mut connection).await;
        let tasks: Vec<_> = (0..EVENTS)
            .map(|n| {
                let store = store.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let key = format!("evt_{n}");
                    let affinity = Affinity::of(key.as_bytes());
                    let mut sent = Delivery {
                        id: affinity.mint(),
                        body: bytes::Bytes::from(body.clone()),
                        ..delivery("r", "t", now_ms())
                    };
                    sent.headers = [
                        ("content-type", "application/json"),
                        ("user-agent", "hookgate/0.1"),
                        ("x-forwarded-for", "203.0.113.7"),
                        (
                            "traceparent",
                            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                        ),
                        ("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
                        ("x-hookgate-request-id", "0190b5c2-7d7e-7c3a-9b1e-6f2d7c1a8e41"),
                    ]
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect();
                    let mut admitted = admission("r", Some(&key), vec![sent.clone()]);
                    if logged {
                        let mut record =
                            hookgate::store::contract::logged("r", Some(&key), now_ms(), &[sent]);
                        record.id = affinity.mint();
                        record.body = bytes::Bytes::from(body);
                        admitted.events[0].record = Some(record);
                    }
                    store.admit(admitted).await.unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let admitted = stats(&mut connection).await;
        let mut delivered = 0;
        while delivered < EVENTS {
            let leases = store.claim("t", 256).await.unwrap();
            delivered += leases.len();
            let done: Vec<_> = leases
                .into_iter()
                .map(|lease| (lease, hookgate::store::contract::delivered()))
                .collect();
            store.complete_all(&done).await.unwrap();
        }
        let finished = stats(&mut connection).await;
        let per = |a: u64, b: u64| (b - a) as f64 / EVENTS as f64;
        println!(
            "event log {}: admission: {:.0} bytes of memory per pending delivery, {:.1} commands and {:.3} script calls per event, {:.0} bytes sent per event; \
             claim + complete: {:.1} commands and {:.3} script calls per delivery; memory left per delivered event {:.0} bytes",
            if logged { "on" } else { "off" },
            per(before.0, admitted.0),
            per(before.1, admitted.1),
            per(before.2, admitted.2),
            per(before.3, admitted.3),
            per(admitted.1, finished.1),
            per(admitted.2, finished.2),
            finished.0.saturating_sub(before.0) as f64 / EVENTS as f64,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_serve_every_partition_with_a_backlog() {
    let server = RedisServer::start();
    let store = open(&server, &unique_prefix(), "c").await;
    // A backlog of 20 in each of two partitions.
    let ((first, first_part), (second, second_part)) = keys_in_two_partitions();
    for key in [&first, &second] {
        let affinity = Affinity::of(key.as_bytes());
        let deliveries: Vec<Delivery> = (0..20)
            .map(|_| Delivery {
                id: affinity.mint(),
                ..delivery("r", "t", now_ms())
            })
            .collect();
        store.admit(admission("r", None, deliveries)).await.unwrap();
    }
    // Each claim shares what it takes between them; none starves.
    let part_of = |lease: &hookgate::store::Lease| Affinity::of_id(&lease.delivery.id).partition(16);
    for _ in 0..4 {
        let leases = store.claim("t", 10).await.unwrap();
        assert_eq!(leases.len(), 10);
        let from_first = leases.iter().filter(|lease| part_of(lease) == first_part).count();
        let from_second = leases
            .iter()
            .filter(|lease| part_of(lease) == second_part)
            .count();
        assert_eq!((from_first, from_second), (5, 5), "one claim's share");
    }
    // One partition drained: the other fills the whole claim.
    let leases = store.claim("t", 10).await.unwrap();
    assert_eq!(leases.len(), 0, "both drained by the four claims");
    let affinity = Affinity::of(first.as_bytes());
    let more: Vec<Delivery> = (0..20)
        .map(|_| Delivery {
            id: affinity.mint(),
            ..delivery("r", "t", now_ms())
        })
        .collect();
    store.admit(admission("r", None, more)).await.unwrap();
    assert_eq!(store.claim("t", 10).await.unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admissions_wait_for_replicas_when_asked_and_fail_without_them() {
    let primary = RedisServer::start();
    let mut replica = RedisServer::start();
    let client = ::redis::Client::open(replica.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let () = ::redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query_async(&mut connection)
        .await
        .unwrap();
    let store = connect(RedisOptions {
        url: primary.url(),
        key_prefix: unique_prefix(),
        replicas: Some(hookgate::store::redis::Replicas {
            acks: 1,
            timeout_ms: 300,
        }),
        ..RedisOptions::default()
    })
    .await
    .unwrap();
    crate::support::eventually("the replica is in sync and confirms", || async {
        store
            .admit(admission("r", None, vec![delivery("r", "t", now_ms())]))
            .await
            .is_ok()
    })
    .await;

    // No replica to confirm: refused, as unavailable (the sender retries).
    replica.stop();
    let error = store
        .admit(admission("r", None, vec![delivery("r", "t", now_ms())]))
        .await
        .expect_err("no replica confirmed");
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(format!("{error:#}").contains("0 of 1 replicas"), "{error:#}");
}
