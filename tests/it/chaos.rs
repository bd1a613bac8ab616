//! A target misbehaving at random (500s, answers that never come, dropped
//! connections, 429 with `Retry-After`), mixed from a fixed seed so a failing run can
//! be replayed, on both stores. Whatever the mix:
//! - every acknowledged event ends delivered (once) or dead-lettered with a reason,
//!   after exactly the attempts the target saw;
//! - no attempt comes sooner than a `Retry-After` asked;
//! - once the target is healthy, an opened breaker closes within its cool-down plus
//!   one second.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use hookgate::model::Delivery;
use hookgate::store::DeadLetterFilter;

use crate::support::redis::RedisServer;
use crate::support::{post_json, Answer, Chaos, Downstream, Hookgate, Received};

/// The mix's seed; change it to explore, keep it to replay.
const SEED: u64 = 0x5eed_2026;
const EVENTS: usize = 60;
const COOL_DOWN: Duration = Duration::from_secs(1);
const MAX_ATTEMPTS: u32 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_target_on_the_embedded_store() {
    run("{ embedded: { path: data } }").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_target_on_redis() {
    let redis = RedisServer::start();
    run(&format!("{{ redis: {{ url: \"{}\" }} }}", redis.url())).await;
}

async fn run(store: &str) {
    // Installed before hookgate starts, so its breaker gauge is recorded.
    let metrics = hookgate::telemetry::metrics();
    let downstream = Downstream::start().await;
    // Out of 100: 25 answered 500, 10 hung past the timeout, 10 dropped, 15 throttled.
    let chaos = Chaos::new(SEED, 25, 10, 10, 15, Duration::from_millis(600));
    downstream.set(|b| b.chaos = Some(chaos));
    let yaml = format!(
        "store: {store}\ntargets:\n  t: {{ url: \"{}\", timeout: 300ms, max_concurrency: 4, retry: {{ max_attempts: {MAX_ATTEMPTS}, initial_backoff: 50ms, max_backoff: 300ms }}, breaker: {{ failures: 4, cool_down: 1s }} }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
        downstream.url("/t")
    );
    let hookgate = Hookgate::start(&yaml).await;
    for n in 0..EVENTS {
        let reply = post_json(&hookgate.url("/in"), format!(r#"{{"id":"chaos-{n}"}}"#)).await;
        assert_eq!(reply.status, 202, "event {n} not acknowledged");
    }

    let dead = settled(&hookgate, &downstream).await;
    let by_event = attempts_by_event(&downstream.received());
    let mut delivered = 0;
    for n in 0..EVENTS {
        let id = format!("chaos-{n}");
        let attempts = by_event.get(&id).map(Vec::as_slice).unwrap_or_default();
        let successes = attempts.iter().filter(|r| is_success(r.answer)).count();
        match dead.get(&id) {
            Some(letter) => {
                assert_eq!(successes, 0, "{id} was delivered and dead-lettered");
                let reason = letter.dead_reason.as_deref().unwrap_or_default();
                assert!(!reason.is_empty(), "{id} dead-lettered without a reason");
                assert_eq!(
                    letter.attempts as usize,
                    attempts.len(),
                    "{id}: the dead letter counts attempts the target did not see ({reason})"
                );
            }
            None => {
                assert_eq!(successes, 1, "{id} delivered {successes} times (seed {SEED:#x})");
                assert!(
                    attempts.last().is_some_and(|r| is_success(r.answer)),
                    "{id} attempted again after it was delivered"
                );
                delivered += 1;
            }
        }
    }
    let honoured = assert_retry_after_honoured(&by_event);
    eprintln!(
        "{EVENTS} events: {delivered} delivered, {} dead-lettered, {} attempts, {honoured} Retry-After waits",
        dead.len(),
        downstream.received().len()
    );
    assert!(
        honoured > 0,
        "the mix never retried after a 429: the check had nothing to check"
    );

    // The breaker: open it on a failing target, then heal the target.
    downstream.set(|b| {
        b.chaos = None;
        b.status = http::StatusCode::INTERNAL_SERVER_ERROR;
    });
    let reply = post_json(&hookgate.url("/in"), r#"{"id":"trip"}"#).await;
    assert_eq!(reply.status, 202);
    let before = downstream.received().len();
    downstream.wait_for(before + 4).await;
    wait_for_breaker(metrics, true, Duration::from_secs(10)).await;
    let healed = Instant::now();
    downstream.set(|b| b.status = http::StatusCode::OK);
    wait_for_breaker(metrics, false, COOL_DOWN + Duration::from_secs(1)).await;
    eprintln!("breaker closed {:?} after the target healed", healed.elapsed());
    let trip: Vec<_> = downstream
        .received()
        .into_iter()
        .filter(|r| r.body.as_ref() == br#"{"id":"trip"}"#)
        .collect();
    assert!(
        trip.last().is_some_and(|r| is_success(r.answer)),
        "the probe that closed the breaker was the failing event, now delivered"
    );
}

/// Waits (60 s at most) until nothing is pending, and returns the dead letters by
/// event id.
async fn settled(hookgate: &Hookgate, downstream: &Downstream) -> HashMap<String, Delivery> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = hookgate.store.pending("t").await.unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} deliveries still pending after 60 s ({} attempts so far)",
            downstream.received().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let letters = hookgate
        .store
        .dead_letters(&DeadLetterFilter::default(), 1000)
        .await
        .unwrap();
    letters
        .into_iter()
        .map(|letter| (event_id(&letter.body), letter))
        .collect()
}

fn event_id(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value["id"].as_str().unwrap().to_owned()
}

fn attempts_by_event(received: &[Received]) -> BTreeMap<String, Vec<Received>> {
    let mut by_event: BTreeMap<String, Vec<Received>> = BTreeMap::new();
    for request in received {
        by_event
            .entry(event_id(&request.body))
            .or_default()
            .push(request.clone());
    }
    by_event
}

fn is_success(answer: Answer) -> bool {
    matches!(
        answer,
        Answer::Status {
            status: 200..=299,
            ..
        }
    )
}

/// Asserts that every attempt after a 429 came at least its `Retry-After` later;
/// returns how many such waits there were.
fn assert_retry_after_honoured(by_event: &BTreeMap<String, Vec<Received>>) -> usize {
    let mut honoured = 0;
    for (id, attempts) in by_event {
        for pair in attempts.windows(2) {
            let Answer::Status {
                retry_after: Some(seconds),
                ..
            } = pair[0].answer
            else {
                continue;
            };
            let waited = pair[1].at.duration_since(pair[0].at);
            assert!(
                waited >= Duration::from_secs(seconds),
                "{id}: attempted again {waited:?} after a 429 asking for {seconds}s (seed {SEED:#x})"
            );
            honoured += 1;
        }
    }
    honoured
}

/// Waits until target `t`'s breaker is open (or closed), `within` at most.
async fn wait_for_breaker(
    metrics: &metrics_exporter_prometheus::PrometheusHandle,
    open: bool,
    within: Duration,
) {
    let wanted = format!("hookgate_breaker_open{{target=\"t\"}} {}", u8::from(open));
    let started = Instant::now();
    while !metrics.render().lines().any(|line| line == wanted) {
        assert!(
            started.elapsed() < within,
            "the breaker was not {} within {within:?}",
            if open { "open" } else { "closed" }
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
