//! Shared test harness: fake downstreams, a test client, hookgate runners.
#![allow(dead_code, clippy::unwrap_used)]

pub mod client;
pub mod cluster;
pub mod downstream;
pub mod examples;
pub mod hookgate;
pub mod load;
pub mod redis;
pub mod tls;

#[allow(unused_imports)]
pub use client::{post_chunked, post_h2c, post_json, send, Reply};
#[allow(unused_imports)]
pub use downstream::{Answer, Behaviour, Chaos, Downstream, Received};
#[allow(unused_imports)]
pub use hookgate::{Hookgate, HookgateProcess};

/// A fixture's bytes from `tests/fixtures/` (copies of the providers' seed payloads).
pub fn fixture(name: &str) -> Vec<u8> {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&full).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", full.display()))
}

/// Polls `check` every 20 ms until it holds (10 s at most); for conditions that have
/// no signal to await, such as a record appearing in the store.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits (10 s at most) until the store holds at least `count` dead letters, and
/// returns them, oldest first.
pub async fn dead_letters(
    store: &std::sync::Arc<dyn ::hookgate::store::Store>,
    count: usize,
) -> Vec<::hookgate::model::Delivery> {
    let filter = ::hookgate::store::DeadLetterFilter::default();
    eventually(&format!("{count} dead letter(s)"), || async {
        store.dead_letters(&filter, 1000).await.unwrap().len() >= count
    })
    .await;
    store.dead_letters(&filter, 1000).await.unwrap()
}

/// Waits (10 s at most) until `target` has nothing pending in the store.
pub async fn drained(store: &std::sync::Arc<dyn ::hookgate::store::Store>, target: &str) {
    eventually(&format!("target {target} drained"), || async {
        store.pending(target).await.unwrap() == 0
    })
    .await;
}

/// Current unix time in seconds.
/// The admin API token test configs give the `admin` role.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef-0123";

/// `admin:` with a free port and [`ADMIN_TOKEN`] as an admin token, flow style.
pub const ADMIN: &str = "admin: { listen: 127.0.0.1:0, tokens: [{ name: test-admin, token: test-admin-token-0123456789abcdef-0123, roles: [admin] }] }";

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// The resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("procfs");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
