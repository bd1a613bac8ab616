//! A Redis Cluster master killed (SIGKILL) while two hookgate instances take load,
//! after its replica fell behind: the replica is promoted, requests during the
//! failover are answered 503, and with `min_replica_acks: 1` every acknowledged
//! event reaches the target.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use crate::support::cluster::RedisCluster;
use crate::support::downstream::Answer;
use crate::support::load::Sustained;
use crate::support::{Downstream, Hookgate};

/// What one failover run saw.
#[derive(Debug)]
struct Failover {
    /// Requests by status.
    statuses: BTreeMap<u16, usize>,
    /// Acknowledged (2xx) events.
    acknowledged: usize,
    /// Acknowledged events the target never received.
    lost: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_killed_under_load_loses_nothing_acknowledged_with_replica_acks() {
    let run = failover(1, Duration::from_secs(60)).await;
    eprintln!("min_replica_acks 1: {run:?}");
    assert!(run.lost.is_empty(), "{run:?}");
    assert!(run.acknowledged > 0, "{run:?}");
    assert!(
        run.statuses.get(&503).is_some_and(|refused| *refused > 0),
        "requests during the failover are answered 503: {run:?}"
    );
    assert!(
        run.statuses.keys().all(|status| [202, 503].contains(status)),
        "only 202 or 503: {run:?}"
    );
}

/// The same without replica acknowledgements, to show what they are for: `cargo
/// nextest run --run-ignored only -E 'test(failover_without)' --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a report, run by hand"]
async fn failover_without_replica_acks_report() {
    let run = failover(0, Duration::from_secs(30)).await;
    println!(
        "min_replica_acks 0: {} acknowledged, {} lost, statuses {:?}",
        run.acknowledged,
        run.lost.len(),
        run.statuses
    );
}

/// The ids of the events the target accepted (answered 2xx).
fn delivered(downstream: &Downstream) -> HashSet<String> {
    downstream
        .received()
        .iter()
        .filter(|received| {
            matches!(
                received.answer,
                Answer::Status {
                    status: 200..=299,
                    ..
                }
            )
        })
        .filter_map(|received| serde_json::from_slice::<serde_json::Value>(&received.body).ok())
        .filter_map(|event| event["id"].as_str().map(str::to_owned))
        .collect()
}

/// How many requests `loads` have started.
fn sent(loads: &[Sustained]) -> usize {
    loads.iter().map(Sustained::sent).sum()
}

/// Waits until `loads` have started `more` requests (answered or not).
async fn until_sent(more: usize, loads: &[Sustained]) {
    let target = sent(loads) + more;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent(loads) < target {
        assert!(Instant::now() < deadline, "the load stalled");
        // Polling: the senders signal nothing per request.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two instances under load on a cluster of their own; one master killed, its
/// replica promoted, the killed node brought back as a replica; then waits up to
/// `settle` for every acknowledged event to arrive.
async fn failover(min_replica_acks: u32, settle: Duration) -> Failover {
    let mut cluster = RedisCluster::start();
    let downstream = Downstream::start().await;
    let yaml = format!(
        "store:\n  redis: {{ cluster: {}, key_prefix: failover, min_replica_acks: {min_replica_acks} }}\n  lease_timeout: 2s\ntargets:\n  t: {{ url: \"{}\", retry: {{ max_attempts: 1000, initial_backoff: 100ms, max_backoff: 500ms }} }}\nroutes:\n  - {{ name: r, path: /in, targets: [t], dedupe: {{ key: $.id }} }}\n",
        cluster.seeds_yaml(),
        downstream.url("/t")
    );
    let (a, b) = (Hookgate::start(&yaml).await, Hookgate::start(&yaml).await);
    // Events of 16 KiB: what the master acknowledges while its replica is frozen
    // soon outgrows the socket buffers that would carry it over the freeze.
    let loads = [
        Sustained::padded(&a.url("/in"), "a", 8, 16 * 1024),
        Sustained::padded(&b.url("/in"), "b", 8, 16 * 1024),
    ];
    until_sent(400, &loads).await;

    // The worst case of asynchronous replication: the replica falls behind (frozen
    // while its master goes on acknowledging), then the master dies and the replica,
    // thawed, is promoted with what it had.
    // The target is down meanwhile, so what was admitted waits in the store rather
    // than being delivered at once.
    downstream.set(|answer| answer.status = http::StatusCode::SERVICE_UNAVAILABLE);
    let victim = cluster.masters()[0];
    let replica = cluster.replica_of(victim);
    cluster.freeze(replica);
    until_sent(1_500, &loads).await;
    cluster.kill(victim);
    cluster.thaw(replica);
    tokio::task::block_in_place(|| cluster.wait_for_failover(victim));
    downstream.set(|answer| answer.status = http::StatusCode::OK);
    until_sent(200, &loads).await;
    tokio::task::block_in_place(|| {
        cluster.restart(victim);
        cluster.wait_until_settled();
    });
    until_sent(400, &loads).await;

    let mut answers = Vec::new();
    for load in loads {
        answers.extend(load.stop().await);
    }
    let mut statuses = BTreeMap::new();
    for answer in &answers {
        *statuses.entry(answer.status).or_insert(0) += 1;
    }
    let acknowledged: HashSet<String> = answers
        .iter()
        .filter(|answer| (200..300).contains(&answer.status))
        .map(|answer| answer.id.clone())
        .collect();
    let deadline = Instant::now() + settle;
    let lost = loop {
        let received = delivered(&downstream);
        let mut lost: Vec<String> = acknowledged.difference(&received).cloned().collect();
        if lost.is_empty() || Instant::now() >= deadline {
            lost.sort();
            break lost;
        }
        // Polling: redelivery after a failover waits out lease timeouts.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    a.shutdown().await;
    b.shutdown().await;
    Failover {
        statuses,
        acknowledged: acknowledged.len(),
        lost,
    }
}
