//! A target's delivery policies as plain data: when to retry, when to stop sending
//! for a while. The decisions made from them live in `delivery`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A target's retry policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in total, the first included; then dead-lettered.
    pub max_attempts: u32,
    /// The first backoff's ceiling.
    pub initial_backoff: Duration,
    /// The ceiling of every backoff (a target's `Retry-After` is honoured beyond it).
    pub max_backoff: Duration,
    /// Past this age since admission, a failure dead-letters instead of retrying.
    pub max_age: Duration,
    /// Extra statuses to retry (e.g. 409), besides 408, 425, 429 and 5xx.
    pub retry_on: Vec<u16>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            max_age: Duration::from_secs(24 * 3600),
            retry_on: Vec::new(),
        }
    }
}

/// A target's circuit breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerPolicy {
    /// Consecutive failures that open it.
    pub failures: u32,
    /// How long it stays open before a probe.
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failures: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}
