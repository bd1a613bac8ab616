//! A target's rate limit: a token bucket refilled continuously at `per_second`, with a
//! burst of one second's worth. Waiting happens in the worker before a send, so a
//! limited target slows only its own deliveries.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// A full bucket allowing `per_second` sends per second.
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        Self {
            per_second,
            state: Mutex::new((per_second, Instant::now())),
        }
    }

    /// Takes a token if one is there; otherwise says how long until one is.
    pub fn try_take(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = *state;
        let refilled = (tokens + now.saturating_duration_since(last).as_secs_f64() * self.per_second)
            .min(self.per_second);
        if refilled >= 1.0 {
            *state = (refilled - 1.0, now);
            Ok(())
        } else {
            *state = (refilled, now);
            Err(Duration::from_secs_f64((1.0 - refilled) / self.per_second))
        }
    }

    /// Waits for a token.
    pub async fn take(&self) {
        while let Err(wait) = self.try_take(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let limit = RateLimit::new(10);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(limit.try_take(t0).is_ok());
        }
        let wait = limit.try_take(t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(limit.try_take(t0 + Duration::from_millis(100)).is_ok());
        assert!(limit.try_take(t0 + Duration::from_millis(100)).is_err());
    }
}
