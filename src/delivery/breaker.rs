//! The circuit breaker of one target: after `failures` consecutive failed attempts the
//! target is open for `cool_down`; meanwhile its worker claims nothing, so due
//! deliveries wait without spending attempts. Then one probe is let through: success
//! closes the breaker, failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::model::BreakerPolicy;

/// Breaker state as reported (admin, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Sending normally.
    Closed,
    /// Not sending until the instant.
    Open(Instant),
    /// One probe is out.
    HalfOpen,
}

/// What the worker may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Send as many as capacity allows.
    Send,
    /// Send exactly one probe.
    Probe,
    /// Send nothing until then.
    WaitUntil(Instant),
}

/// One target's breaker.
#[derive(Debug)]
pub struct Breaker {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    policy: BreakerPolicy,
    state: State,
    consecutive_failures: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            inner: Mutex::new(Inner {
                policy,
                state: State::Closed,
                consecutive_failures: 0,
            }),
        }
    }

    /// What may be sent now; moves an expired open breaker to half-open (the caller
    /// then owns the probe).
    pub fn permit(&self, now: Instant) -> Permit {
        let mut inner = self.lock();
        match inner.state {
            State::Closed => Permit::Send,
            State::HalfOpen => Permit::WaitUntil(now + Duration::from_millis(50)),
            State::Open(until) if now < until => Permit::WaitUntil(until),
            State::Open(_) => {
                inner.state = State::HalfOpen;
                Permit::Probe
            }
        }
    }

    /// Records an attempt's result.
    pub fn record(&self, success: bool, now: Instant) -> State {
        let mut inner = self.lock();
        if success {
            inner.consecutive_failures = 0;
            inner.state = State::Closed;
        } else {
            inner.consecutive_failures += 1;
            let probe_failed = inner.state == State::HalfOpen;
            if probe_failed || inner.consecutive_failures >= inner.policy.failures {
                inner.state = State::Open(now + inner.policy.cool_down);
            }
        }
        inner.state
    }

    /// When the breaker is open at `now`, until when.
    pub fn open_until(&self, now: Instant) -> Option<Instant> {
        match self.lock().state {
            State::Open(until) if now < until => Some(until),
            _ => None,
        }
    }

    /// Applies a changed policy from now on (a reload); the state is kept.
    pub fn set_policy(&self, policy: BreakerPolicy) {
        self.lock().policy = policy;
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.lock().state
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_closes_on_a_good_probe() {
        let breaker = Breaker::new(BreakerPolicy {
            failures: 3,
            cool_down: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        assert_eq!(breaker.permit(t0), Permit::Send);
        breaker.record(false, t0);
        breaker.record(true, t0);
        breaker.record(false, t0);
        breaker.record(false, t0);
        assert_eq!(breaker.state(), State::Closed, "a success resets the count");
        let opened = breaker.record(false, t0);
        assert_eq!(opened, State::Open(t0 + Duration::from_secs(10)));
        assert_eq!(
            breaker.permit(t0 + Duration::from_secs(5)),
            Permit::WaitUntil(t0 + Duration::from_secs(10))
        );
        let later = t0 + Duration::from_secs(10);
        assert_eq!(breaker.permit(later), Permit::Probe);
        assert!(
            matches!(breaker.permit(later), Permit::WaitUntil(_)),
            "one probe at a time"
        );
        assert_eq!(breaker.record(true, later), State::Closed);
        assert_eq!(breaker.permit(later), Permit::Send);
    }

    #[test]
    fn a_failed_probe_reopens_at_once() {
        let breaker = Breaker::new(BreakerPolicy {
            failures: 1,
            cool_down: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        breaker.record(false, t0);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(breaker.permit(later), Permit::Probe);
        assert_eq!(
            breaker.record(false, later),
            State::Open(later + Duration::from_secs(10))
        );
    }
}
