//! A target's delivery policy as written: `retry`, `breaker`, `rate_limit`, `sign`.

use schemars::JsonSchema;
use serde::Deserialize;

use super::error::Collector;
use super::server::duration;
use crate::model::{resolve_secret as resolve, BreakerPolicy, RetryPolicy, Secret};
use crate::standard_webhooks::decode_secret;

/// `retry:` of a target.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in total, the first included (default 12); then dead-lettered.
    #[serde(default, deserialize_with = "super::units::count")]
    #[schemars(schema_with = "super::schema::count")]
    pub max_attempts: Option<u32>,
    /// Ceiling of the first backoff (default `1s`); each retry doubles it, and the
    /// actual delay is uniform below the ceiling (full jitter).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub initial_backoff: Option<String>,
    /// Largest backoff (default `10m`); a target's `Retry-After` is honoured beyond it.
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub max_backoff: Option<String>,
    /// A delivery older than this is dead-lettered instead of retried (default `24h`).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub max_age: Option<String>,
    /// Extra statuses to retry besides 408, 425, 429 and 5xx, e.g. `[409]`.
    #[serde(default, deserialize_with = "super::units::counts")]
    #[schemars(schema_with = "super::schema::counts")]
    pub retry_on: Vec<u16>,
}

/// `breaker:` of a target.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the breaker (default 5).
    #[serde(default, deserialize_with = "super::units::count")]
    #[schemars(schema_with = "super::schema::count")]
    pub failures: Option<u32>,
    /// How long it stays open before one probe (default `30s`).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub cool_down: Option<String>,
}

/// `sign:` of a target: how hookgate signs what it sends.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignConfig {
    /// Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`), verifiable with any Standard Webhooks library.
    pub standard_webhooks: StandardWebhooksSigning,
}

/// `sign: { standard_webhooks: { secret } }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardWebhooksSigning {
    /// `whsec_` + base64 key (`${ENV}` or `file:`), shared with the backend.
    pub secret: String,
}

impl RetryConfig {
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> RetryPolicy {
        let defaults = RetryPolicy::default();
        if self.max_attempts == Some(0) {
            errors.at(
                &format!("{path}.max_attempts"),
                "expected at least 1 attempt, found `0`",
            );
        }
        RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts).max(1),
            initial_backoff: duration(
                self.initial_backoff,
                defaults.initial_backoff,
                &format!("{path}.initial_backoff"),
                errors,
            ),
            max_backoff: duration(
                self.max_backoff,
                defaults.max_backoff,
                &format!("{path}.max_backoff"),
                errors,
            ),
            max_age: duration(self.max_age, defaults.max_age, &format!("{path}.max_age"), errors),
            retry_on: self.retry_on,
        }
    }
}

impl BreakerConfig {
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> BreakerPolicy {
        let defaults = BreakerPolicy::default();
        if self.failures == Some(0) {
            errors.at(
                &format!("{path}.failures"),
                "expected at least 1 failure, found `0`",
            );
        }
        BreakerPolicy {
            failures: self.failures.unwrap_or(defaults.failures).max(1),
            cool_down: duration(
                self.cool_down,
                defaults.cool_down,
                &format!("{path}.cool_down"),
                errors,
            ),
        }
    }
}

impl SignConfig {
    /// The decoded Standard Webhooks key.
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> Option<Secret> {
        let at = format!("{path}.standard_webhooks.secret");
        errors.secret(&at);
        let text = match resolve(&self.standard_webhooks.secret) {
            Ok(secret) => secret,
            Err(message) => {
                errors.at(&at, message);
                return None;
            }
        };
        match decode_secret(text.expose_str()) {
            Some(key) => Some(Secret::new(key)),
            None => {
                errors.at(
                    &at,
                    "expected a Standard Webhooks secret: `whsec_` followed by base64",
                );
                None
            }
        }
    }
}

/// Parses `200/s`, `50/m`, or a bare number per second.
pub(crate) fn rate(text: &str, path: &str, errors: &mut Collector<'_>) -> Option<u32> {
    let (count, unit) = text.split_once('/').unwrap_or((text, "s"));
    let per_second = match (count.trim().parse::<u32>(), unit.trim()) {
        (Ok(count), "s") if count > 0 => Some(count),
        (Ok(count), "m") if count > 0 => Some(count.div_ceil(60)),
        _ => None,
    };
    if per_second.is_none() {
        errors.at(
            path,
            format!("expected a rate such as `200/s` or `600/m`, found `{text}`"),
        );
    }
    per_second
}
