//! Every retry decision in one place: [`classify`] turns an attempt's outcome into
//! what happens next, as a pure function of the outcome, the policy, the attempt count
//! and the delivery's age. Backoff is exponential with full jitter. A `Retry-After`
//! is honoured in full, never undercut, even beyond `max_backoff` (the target said
//! when it can take the request again; sooner would only be refused again); one that
//! would carry the delivery past `max_age` dead-letters it at once, saying so.

use std::time::Duration;

use rand::Rng;

pub use crate::model::RetryPolicy;

/// What an attempt produced, as far as the policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status (and its `Retry-After`, if any).
    Response {
        /// HTTP status.
        status: u16,
        /// Parsed `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// No response within the timeout.
    Timeout,
    /// The connection failed (refused, reset, TLS).
    Failed,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Delivered.
    Done,
    /// Attempt again after this delay.
    RetryAfter(Duration),
    /// Give up, for this reason.
    DeadLetter(String),
}

impl Outcome {
    /// Whether the target worked (2xx), for the circuit breaker.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Response { status, .. } if (200..300).contains(status))
    }
}

/// Decides what follows `outcome`. `attempts` counts this attempt; `age` is the time
/// since admission; `jitter` picks uniformly in `0..=ceiling` (injected so that tests
/// can pin it).
pub fn classify(
    outcome: &Outcome,
    policy: &RetryPolicy,
    attempts: u32,
    age: Duration,
    jitter: impl FnOnce(Duration) -> Duration,
) -> Decision {
    let retry_after = match outcome {
        Outcome::Response { status, .. } if (200..300).contains(status) => return Decision::Done,
        Outcome::Response { status, retry_after } => {
            if !is_retried(*status, policy) {
                return Decision::DeadLetter(format!("status {status} is not retried"));
            }
            *retry_after
        }
        Outcome::Timeout | Outcome::Failed => None,
    };
    if attempts >= policy.max_attempts {
        return Decision::DeadLetter(format!("{attempts} attempts exhausted"));
    }
    let delay = match retry_after {
        Some(wanted) => {
            if age + wanted > policy.max_age {
                return Decision::DeadLetter(format!(
                    "Retry-After {}s would pass max_age {}s",
                    wanted.as_secs(),
                    policy.max_age.as_secs()
                ));
            }
            wanted
        }
        None => jitter(backoff_ceiling(policy, attempts)),
    };
    if age + delay > policy.max_age {
        return Decision::DeadLetter(format!("older than max_age {}s", policy.max_age.as_secs()));
    }
    Decision::RetryAfter(delay)
}

/// 408, 425, 429, 5xx, and whatever the target adds with `retry_on`. Other statuses
/// (other 4xx, 3xx, 1xx) mean the request itself is wrong: retrying cannot help.
pub fn is_retried(status: u16, policy: &RetryPolicy) -> bool {
    matches!(status, 408 | 425 | 429 | 500..=599) || policy.retry_on.contains(&status)
}

/// `min(max_backoff, initial_backoff * 2^(attempts-1))`.
pub fn backoff_ceiling(policy: &RetryPolicy, attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(31);
    policy
        .initial_backoff
        .saturating_mul(1u32 << exponent)
        .min(policy.max_backoff)
}

/// Full jitter: uniform in `0..=ceiling`.
pub fn full_jitter(ceiling: Duration) -> Duration {
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// `Retry-After` as delay-seconds (RFC 9110 §10.2.3). An HTTP-date is also allowed
/// by the RFC; it is read relative to `now_unix_s`.
pub fn parse_retry_after(value: &str, now_unix_s: u64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate_to_unix(value)?;
    Some(Duration::from_secs(at.saturating_sub(now_unix_s)))
}

/// Parses an HTTP-date in any of the three forms RFC 9110 §5.6.7 has recipients
/// accept (IMF-fixdate, RFC 850, asctime), as unix seconds.
fn httpdate_to_unix(value: &str) -> Option<u64> {
    httpdate::parse_http_date(value)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            retry_on: vec![409],
        }
    }

    fn response(status: u16) -> Outcome {
        Outcome::Response {
            status,
            retry_after: None,
        }
    }

    /// Jitter pinned to the ceiling, so the backoff itself is visible.
    fn ceiling(d: Duration) -> Duration {
        d
    }

    #[test]
    fn every_2xx_is_done() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(
                classify(&response(status), &policy(), 1, Duration::ZERO, ceiling),
                Decision::Done
            );
        }
    }

    #[test]
    fn retried_statuses_and_failures_retry() {
        for outcome in [
            response(408),
            response(425),
            response(429),
            response(500),
            response(502),
            response(503),
            response(599),
            response(409),
            Outcome::Timeout,
            Outcome::Failed,
        ] {
            assert_eq!(
                classify(&outcome, &policy(), 1, Duration::ZERO, ceiling),
                Decision::RetryAfter(Duration::from_secs(1)),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn other_statuses_dead_letter_at_once() {
        for status in [100, 301, 304, 400, 401, 403, 404, 410, 422] {
            match classify(&response(status), &policy(), 1, Duration::ZERO, ceiling) {
                Decision::DeadLetter(reason) => assert_eq!(reason, format!("status {status} is not retried")),
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let expected = [1, 2, 4, 8, 16, 32, 60, 60];
        let mut policy = policy();
        policy.max_attempts = 100;
        for (attempt, seconds) in (1..).zip(expected) {
            assert_eq!(
                classify(&Outcome::Timeout, &policy, attempt, Duration::ZERO, ceiling),
                Decision::RetryAfter(Duration::from_secs(seconds)),
                "attempt {attempt}"
            );
        }
        assert_eq!(
            backoff_ceiling(&policy, 200),
            Duration::from_secs(60),
            "no overflow"
        );
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling() {
        for _ in 0..1000 {
            assert!(full_jitter(Duration::from_millis(250)) <= Duration::from_millis(250));
        }
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn retry_after_is_honoured_in_full_up_to_max_age() {
        let wanted = |seconds| Outcome::Response {
            status: 429,
            retry_after: Some(Duration::from_secs(seconds)),
        };
        assert_eq!(
            classify(&wanted(2), &policy(), 1, Duration::ZERO, ceiling),
            Decision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(
            classify(&wanted(600), &policy(), 1, Duration::ZERO, ceiling),
            Decision::RetryAfter(Duration::from_secs(600)),
            "beyond max_backoff, still honoured"
        );
        assert_eq!(
            classify(&wanted(3600), &policy(), 1, Duration::from_secs(1), ceiling),
            Decision::DeadLetter("Retry-After 3600s would pass max_age 3600s".into())
        );
    }

    #[test]
    fn attempts_and_age_are_bounded() {
        assert_eq!(
            classify(&response(503), &policy(), 5, Duration::ZERO, ceiling),
            Decision::DeadLetter("5 attempts exhausted".into())
        );
        assert!(matches!(
            classify(&response(503), &policy(), 4, Duration::ZERO, ceiling),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            classify(&response(503), &policy(), 2, Duration::from_secs(3599), ceiling),
            Decision::DeadLetter("older than max_age 3600s".into())
        );
        // A non-retried status is reported as such even on the last attempt.
        assert_eq!(
            classify(&response(400), &policy(), 5, Duration::ZERO, ceiling),
            Decision::DeadLetter("status 400 is not retried".into())
        );
    }

    #[test]
    fn retry_after_header_forms() {
        assert_eq!(parse_retry_after("2", 0), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 120 ", 0), Some(Duration::from_secs(120)));
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777 - 30),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777 + 30),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
        // The obsolete forms a recipient must still accept.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", 784_111_777 - 30),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", 784_111_777 - 30),
            Some(Duration::from_secs(30))
        );
    }
}
