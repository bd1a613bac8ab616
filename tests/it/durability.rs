//! Nothing acknowledged is lost: hookgate killed with SIGKILL mid-stream (both
//! stores), a Redis outage under load, a frozen Redis, two instances sharing Redis with one killed,
//! and a stalled target's 96 MiB backlog kept on disk, not in memory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::load::{post_events, post_padded, LoadReport};
use crate::support::redis::RedisServer;
use crate::support::{eventually, rss_kib, Downstream, Hookgate, HookgateProcess};

fn write(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("hookgate.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

fn config(store: &str, target: &str, target_extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nstore: {store}\ntargets:\n  t: {{ url: \"{target}\", max_concurrency: 8, retry: {{ initial_backoff: 50ms, max_backoff: 500ms }}{target_extra} }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n"
    )
}

/// Waits (up to `within`) until the downstream has seen every acknowledged id.
async fn assert_all_delivered(downstream: &Downstream, report: &LoadReport, within: Duration) {
    let acknowledged: HashSet<String> = report.acknowledged.iter().cloned().collect();
    let deadline = std::time::Instant::now() + within;
    loop {
        let seen = downstream.unique("id");
        let missing: Vec<_> = acknowledged.difference(&seen).take(5).cloned().collect();
        if missing.is_empty() {
            eprintln!(
                "acknowledged {} of {} sent; delivered {} unique ids ({} requests)",
                acknowledged.len(),
                report.statuses.len(),
                seen.len(),
                downstream.received().len()
            );
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} acknowledged events never delivered, e.g. {missing:?}",
            acknowledged.difference(&seen).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Once the store is back: hookgate admits again without a restart and is ready;
/// `count` more events are acknowledged, and every acknowledged event, `before`
/// included, is delivered within `within`.
async fn recovers<F, Fut>(
    url: &[String],
    ready: &F,
    downstream: &Downstream,
    before: LoadReport,
    count: usize,
    within: Duration,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = crate::support::Reply>,
{
    eventually("hookgate admits again once the store answers", || {
        let url = url.to_vec();
        async move { post_events(&url, "probe", 1, 1).await.acknowledged.len() == 1 }
    })
    .await;
    assert_eq!(ready().await.status, 200);
    let after = post_events(url, "after", count, 8).await;
    assert_eq!(after.acknowledged.len(), count);
    let mut all = before;
    all.acknowledged.extend(after.acknowledged);
    all.statuses.extend(after.statuses);
    assert_all_delivered(downstream, &all, within).await;
}

/// 2,000 events to a slow target; SIGKILL once a backlog exists; restart on the same
/// store; every acknowledged event must arrive.
async fn survives_sigkill(store: &str, dir: &Path) {
    let downstream = Downstream::start().await;
    downstream.set(|b| b.delay = Duration::from_millis(10));
    let path = write(dir, &config(store, &downstream.url("/t"), ""));
    let mut first = HookgateProcess::spawn(&path);
    let url = first.url("/in");
    let load = tokio::spawn(async move { post_events(&[url], "crash", 2_000, 16).await });
    eventually("a backlog forms", || async { downstream.received().len() >= 200 }).await;
    first.child.kill().expect("SIGKILL");
    let _ = first.child.wait();
    let report = load.await.expect("load finished");
    assert!(
        report.acknowledged.len() >= 200,
        "too few acknowledged before the kill: {}",
        report.acknowledged.len()
    );
    assert!(
        report.statuses.iter().all(|&s| s == 202 || s == 0),
        "only 202 or no answer: {:?}",
        report
            .statuses
            .iter()
            .filter(|&&s| s != 202 && s != 0)
            .take(5)
            .collect::<Vec<_>>()
    );
    let _second = HookgateProcess::spawn(&path);
    assert_all_delivered(&downstream, &report, Duration::from_secs(90)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_event_is_lost_when_killed_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    survives_sigkill(
        &format!("{{ embedded: {{ path: \"{}\" }} }}", data.display()),
        dir.path(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_event_is_lost_when_killed_redis() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    survives_sigkill(
        &format!("{{ redis: {{ url: \"{}\" }}, lease_timeout: 3s }}", redis.url()),
        dir.path(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_gets_503_never_2xx_and_hookgate_recovers() {
    let mut redis = RedisServer::start_durable();
    let downstream = Downstream::start().await;
    let yaml = format!(
        "admin: {{ listen: 127.0.0.1:0 }}\nstore: {{ redis: {{ url: \"{}\" }}, admit_timeout: 1s, lease_timeout: 3s }}\ntargets:\n  t: {{ url: \"{}\", retry: {{ initial_backoff: 50ms, max_backoff: 500ms }} }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
        redis.url(),
        downstream.url("/t")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let url = vec![hookgate.url("/in")];
    let readyz = hookgate.admin_url("/readyz");
    let ready = || crate::support::send(http::Method::GET, &readyz, &[], "");
    assert_eq!(ready().await.status, 200);

    let before = post_events(&url, "before", 200, 8).await;
    assert_eq!(before.acknowledged.len(), 200);

    redis.stop();
    let during = post_events(&url, "during", 40, 8).await;
    assert!(
        during.acknowledged.is_empty(),
        "acknowledged while the store was down"
    );
    assert!(during.statuses.iter().all(|&s| s == 503), "{:?}", during.statuses);
    let health = crate::support::send(http::Method::GET, &hookgate.url("/nowhere"), &[], "").await;
    assert_eq!(health.status, 404, "hookgate stays up and answering");
    assert_eq!(ready().await.status, 503, "not ready while the store is down");

    redis.restart();
    recovers(&url, &ready, &downstream, before, 200, Duration::from_secs(60)).await;
}

/// A frozen Redis (SIGSTOP: connections open, no answers) must not hold every
/// request for the whole `admit_timeout`: once one admission found it silent, the
/// rest fail at once until it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_redis_fails_admissions_at_once_and_hookgate_recovers() {
    let redis = RedisServer::start();
    let downstream = Downstream::start().await;
    let admit_timeout = Duration::from_secs(3);
    let yaml = format!(
        "admin: {{ listen: 127.0.0.1:0 }}\nstore: {{ redis: {{ url: \"{}\" }}, admit_timeout: 3s, lease_timeout: 3s }}\ntargets:\n  t: {{ url: \"{}\", retry: {{ initial_backoff: 50ms, max_backoff: 500ms }} }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
        redis.url(),
        downstream.url("/t")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let url = vec![hookgate.url("/in")];
    let readyz = hookgate.admin_url("/readyz");
    let ready = || crate::support::send(http::Method::GET, &readyz, &[], "");
    let before = post_events(&url, "before", 50, 4).await;
    assert_eq!(before.acknowledged.len(), 50);

    redis.pause();
    let first = post_events(&url, "first", 1, 1).await;
    assert_eq!(first.statuses, [503], "the first admission waits out the timeout");
    // Each of these would take the whole admit_timeout if every request waited for
    // the frozen store; the batch as a whole must not take even one.
    let started = std::time::Instant::now();
    let during = post_events(&url, "during", 200, 8).await;
    let took = started.elapsed();
    assert!(during.statuses.iter().all(|&s| s == 503), "{:?}", during.statuses);
    assert!(
        took < admit_timeout,
        "200 requests to a frozen store took {took:?}: they waited for it instead of failing at once"
    );
    let not_ready = ready().await;
    assert_eq!(not_ready.status, 503, "not ready while the store is frozen");

    redis.resume();
    recovers(&url, &ready, &downstream, before, 100, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_work_and_the_survivor_finishes_a_killed_ones_leases() {
    let redis = RedisServer::start();
    let downstream = Downstream::start().await;
    downstream.set(|b| b.delay = Duration::from_millis(10));
    let dir = tempfile::tempdir().unwrap();
    let store = format!("{{ redis: {{ url: \"{}\" }}, lease_timeout: 2s }}", redis.url());
    let path = write(dir.path(), &config(&store, &downstream.url("/t"), ""));
    let mut one = HookgateProcess::spawn(&path);
    let two = HookgateProcess::spawn(&path);
    let urls = vec![one.url("/in"), two.url("/in")];

    let report = post_events(&urls, "shared", 2_000, 16).await;
    assert_eq!(report.acknowledged.len(), 2_000, "both instances admit");
    eventually("both instances deliver", || async {
        let received = downstream.received();
        received.len() >= 300
    })
    .await;
    one.child.kill().expect("SIGKILL");
    let _ = one.child.wait();
    assert_all_delivered(&downstream, &report, Duration::from_secs(90)).await;
    drop(two);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_target_s_backlog_stays_on_disk() {
    let downstream = Downstream::start().await;
    downstream.set(|b| b.delay = Duration::from_secs(600));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = format!("{{ embedded: {{ path: \"{}\" }} }}", data.display());
    let path = write(
        dir.path(),
        &config(&store, &downstream.url("/t"), ", timeout: 900s"),
    );
    let process = HookgateProcess::spawn(&path);
    let url = vec![process.url("/in")];

    // The first 1,000 fill the store's page cache and the allocator's arenas; from
    // there a backlog held in memory would grow RSS by every body it holds (2,000
    // more of 32 KiB each: 64 MiB), one held on disk does not.
    let warmup = post_padded(&url, "warm", 1_000, 16, 32 * 1024).await;
    assert_eq!(warmup.acknowledged.len(), 1_000);
    let early = rss_kib(process.child.id());
    let bulk = post_padded(&url, "bulk", 2_000, 16, 32 * 1024).await;
    assert_eq!(bulk.acknowledged.len(), 2_000);
    let late = rss_kib(process.child.id());
    eprintln!("RSS with 1,000 bodies pending: {early} KiB; with 3,000: {late} KiB");
    assert!(
        late < early + 16 * 1024,
        "RSS grew from {early} KiB to {late} KiB with a 64 MiB backlog: pending work is held in memory"
    );
}

/// A store that refuses for good (here, Redis keys of another type where hookgate
/// keeps its queue, as a clash with another application would leave them) is
/// answered 500 once, not 503 forever, and claims no dedupe key: once the operator
/// clears the clash, the provider's retry is admitted and delivered.
#[tokio::test]
async fn a_store_that_refuses_for_good_is_answered_500_and_claims_nothing() {
    let redis = RedisServer::start();
    let downstream = Downstream::start().await;
    let yaml = format!(
        "store: {{ redis: {{ url: \"{}\", key_prefix: clash }} }}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t], dedupe: {{ key: $.id }} }}\n",
        redis.url(),
        downstream.url("/t")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    // In every partition, wherever the event falls.
    let clashes: Vec<String> = (0..16)
        .map(|part| format!("{{clash:p{part:02}}}:ready:t"))
        .collect();
    for clash in &clashes {
        let () = ::redis::cmd("SET")
            .arg(clash)
            .arg("not a stream")
            .query_async(&mut connection)
            .await
            .unwrap();
    }

    let body = r#"{"id":"evt-1"}"#;
    let refused = crate::support::post_json(&hookgate.url("/in"), body).await;
    refused.assert_problem(500, "store-rejected");
    assert_eq!(refused.header("retry-after"), None, "retrying will not help");

    let _deleted: i64 = ::redis::cmd("DEL")
        .arg(&clashes)
        .query_async(&mut connection)
        .await
        .unwrap();
    let retried = crate::support::post_json(&hookgate.url("/in"), body).await;
    assert_eq!(retried.status, 202, "the refused request claimed no dedupe key");
    assert_eq!(retried.header("hookgate-duplicate"), None);
    let received = downstream.wait_for(1).await;
    assert_eq!(&received[0].body[..], body.as_bytes());
}
