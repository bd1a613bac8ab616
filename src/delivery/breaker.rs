//! The circuit breaker of one target: after `failures` consecutive failed attempts the
//! target is open for `cool_down`; meanwhile its worker claims nothing, so due
//! deliveries wait without spending attempts. Then one probe is let through: success
//! closes the breaker, failure opens it again.
//!
//! Half-open never lasts: a probe that is not sent (nothing was due to claim, the
//! claim failed, shutdown) is given back with [`Breaker::release_probe`], and one
//! whose outcome never comes is given up after the probe timeout (the target's own
//! timeout and a margin); either way the next permit is a new probe.

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
    /// One probe is out; given up on at the instant.
    HalfOpen(Instant),
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
    /// How long a probe's outcome may take before the probe is given up.
    probe_timeout: Duration,
    state: State,
    consecutive_failures: u32,
}

/// How often a worker waiting on a probe's outcome looks again.
const PROBE_POLL: Duration = Duration::from_millis(50);

impl Breaker {
    /// A closed breaker; a probe not reported within `probe_timeout` is given up.
    pub fn new(policy: BreakerPolicy, probe_timeout: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                policy,
                probe_timeout,
                state: State::Closed,
                consecutive_failures: 0,
            }),
        }
    }

    /// What may be sent now; moves an expired open breaker, or a half-open one whose
    /// probe was given up, to half-open with a new probe (the caller then owns it:
    /// it records its outcome, or releases it unsent).
    pub fn permit(&self, now: Instant) -> Permit {
        let mut inner = self.lock();
        match inner.state {
            State::Closed => Permit::Send,
            State::HalfOpen(expires) if now < expires => Permit::WaitUntil(expires.min(now + PROBE_POLL)),
            State::Open(until) if now < until => Permit::WaitUntil(until),
            State::Open(_) | State::HalfOpen(_) => {
                inner.state = State::HalfOpen(now + inner.probe_timeout);
                Permit::Probe
            }
        }
    }

    /// Gives back a probe that was not sent: the next permit is a new probe.
    pub fn release_probe(&self, now: Instant) {
        let mut inner = self.lock();
        if matches!(inner.state, State::HalfOpen(_)) {
            inner.state = State::Open(now);
        }
    }

    /// Records an attempt's result.
    pub fn record(&self, success: bool, now: Instant) -> State {
        self.transition(success, now).1
    }

    /// Records an attempt's result; returns the state before and after.
    pub fn transition(&self, success: bool, now: Instant) -> (State, State) {
        let mut inner = self.lock();
        let before = inner.state;
        if success {
            inner.consecutive_failures = 0;
            inner.state = State::Closed;
        } else {
            inner.consecutive_failures += 1;
            let probe_failed = matches!(inner.state, State::HalfOpen(_));
            if probe_failed || inner.consecutive_failures >= inner.policy.failures {
                inner.state = State::Open(now + inner.policy.cool_down);
            }
        }
        (before, inner.state)
    }

    /// The cool-down it opens for.
    pub fn cool_down(&self) -> Duration {
        self.lock().policy.cool_down
    }

    /// When the breaker is open at `now`, until when.
    pub fn open_until(&self, now: Instant) -> Option<Instant> {
        match self.lock().state {
            State::Open(until) if now < until => Some(until),
            _ => None,
        }
    }

    /// Applies a changed policy from now on (a reload); the state is kept.
    pub fn set_policy(&self, policy: BreakerPolicy, probe_timeout: Duration) {
        let mut inner = self.lock();
        inner.policy = policy;
        inner.probe_timeout = probe_timeout;
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
        let breaker = Breaker::new(
            BreakerPolicy {
                failures: 3,
                cool_down: Duration::from_secs(10),
            },
            Duration::from_secs(5),
        );
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
        let breaker = Breaker::new(
            BreakerPolicy {
                failures: 1,
                cool_down: Duration::from_secs(10),
            },
            Duration::from_secs(5),
        );
        let t0 = Instant::now();
        breaker.record(false, t0);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(breaker.permit(later), Permit::Probe);
        assert_eq!(
            breaker.record(false, later),
            State::Open(later + Duration::from_secs(10))
        );
    }

    #[test]
    fn a_probe_never_sent_or_never_answered_does_not_hold_the_breaker_half_open() {
        let breaker = Breaker::new(
            BreakerPolicy {
                failures: 1,
                cool_down: Duration::from_secs(10),
            },
            Duration::from_secs(5),
        );
        let t0 = Instant::now();
        breaker.record(false, t0);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(breaker.permit(later), Permit::Probe);
        // Nothing was due: the probe is given back, and the next permit probes again.
        breaker.release_probe(later);
        assert_eq!(breaker.permit(later), Permit::Probe);
        // A probe whose outcome never comes is given up after the probe timeout.
        assert!(matches!(
            breaker.permit(later + Duration::from_secs(4)),
            Permit::WaitUntil(_)
        ));
        assert_eq!(breaker.permit(later + Duration::from_secs(5)), Permit::Probe);
        assert_eq!(
            breaker.record(true, later + Duration::from_secs(6)),
            State::Closed
        );
    }
}
