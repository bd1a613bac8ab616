//! Shared test harness: fake downstreams, a test client, hookgate runners.
#![allow(dead_code, clippy::unwrap_used)]

pub mod client;
pub mod downstream;
pub mod hookgate;
pub mod redis;
pub mod tls;

#[allow(unused_imports)]
pub use client::{post_chunked, post_h2c, post_json, send, Reply};
#[allow(unused_imports)]
pub use downstream::{Behaviour, Downstream, Received};
#[allow(unused_imports)]
pub use hookgate::{Hookgate, HookgateProcess};

/// A fixture's bytes from `tests/fixtures/` (copies of the providers' seed payloads).
pub fn fixture(name: &str) -> Vec<u8> {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&full).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", full.display()))
}
