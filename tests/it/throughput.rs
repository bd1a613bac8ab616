//! A quick measure of admission throughput per store, not a benchmark and not run by
//! default: `cargo test --release --test throughput -- --ignored --nocapture`.
//! Figures are ratios to a baseline measured in the same run (sync-mode forwarding
//! of the same requests to the same downstream, no store), since machines are noisy.

use std::time::Instant;

use crate::support::load::post_events;
use crate::support::redis::RedisServer;
use crate::support::{Downstream, Hookgate};

const EVENTS: usize = 20_000;
const CONCURRENCY: usize = 64;

async fn rate(store: &str, mode: &str, downstream: &Downstream, label: &str) -> f64 {
    let yaml = format!(
        "store: {store}\ntargets:\n  t: {{ url: \"{}\", max_concurrency: 64 }}\nroutes:\n  - {{ name: r, path: /in, mode: {mode}, targets: [t] }}\n",
        downstream.url("/t")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let url = vec![hookgate.url("/in")];
    post_events(&url, &format!("{label}-warm"), 2_000, CONCURRENCY).await;
    let started = Instant::now();
    let report = post_events(&url, label, EVENTS, CONCURRENCY).await;
    let per_second = report.acknowledged.len() as f64 / started.elapsed().as_secs_f64();
    assert_eq!(report.acknowledged.len(), EVENTS);
    per_second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand in release mode"]
async fn admission_throughput() {
    let downstream = Downstream::start().await;
    let redis = RedisServer::start();
    let baseline = rate("{ embedded: {} }", "sync", &downstream, "sync").await;
    let embedded = rate("{ embedded: {} }", "queue", &downstream, "embedded").await;
    let redis_rate = rate(
        &format!("{{ redis: {{ url: \"{}\" }} }}", redis.url()),
        "queue",
        &downstream,
        "redis",
    )
    .await;
    eprintln!("{EVENTS} events, {CONCURRENCY} in flight, load generator in the same process:");
    eprintln!("  sync forwarding (baseline): {baseline:.0} req/s");
    eprintln!(
        "  queue, embedded store:      {embedded:.0} events/s admitted ({:.2}x baseline)",
        embedded / baseline
    );
    eprintln!(
        "  queue, redis store:         {redis_rate:.0} events/s admitted ({:.2}x baseline)",
        redis_rate / baseline
    );
}
