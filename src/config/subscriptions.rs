//! `subscriptions:`: how subscriptions registered through the admin API are sent,
//! and which non-public networks they may point into.

use schemars::JsonSchema;
use serde::Deserialize;

use super::error::Collector;
use super::policy::{BreakerConfig, RetryConfig, SignConfig};
use super::target::TargetConfig;
use crate::model::{SubscriptionPolicy, DEFAULT_MAX_SUBSCRIPTIONS};

/// `subscriptions:` as written. Every key is optional: without the section,
/// subscriptions are sent with a target's defaults and only to public addresses.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsConfig {
    /// Time allowed for one attempt (default `10s`).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub timeout: Option<String>,
    /// Most requests in flight to one subscription at once (default 16).
    #[serde(default, deserialize_with = "super::units::count")]
    #[schemars(schema_with = "super::schema::count")]
    pub max_concurrency: Option<u32>,
    /// Most requests per second to one subscription, e.g. `50/s` (default: unlimited).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::rate")]
    pub rate_limit: Option<String>,
    /// When and how often failed deliveries are retried, as for a target.
    #[serde(default)]
    pub retry: RetryConfig,
    /// When to stop sending to a failing subscription for a while, as for a target.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// How hookgate signs what it sends to subscriptions (Standard Webhooks).
    pub sign: Option<SignConfig>,
    /// Send `Hookgate-Delivery-Id` (default true).
    #[serde(default)]
    pub delivery_id_header: Option<bool>,
    /// Send `Hookgate-Attempt` (default true).
    #[serde(default)]
    pub attempt_header: Option<bool>,
    /// Networks (CIDR, e.g. `10.20.0.0/16`, or single addresses) that subscriptions
    /// may point into although they are not public. Everything else that is
    /// loopback, private, link-local, shared, cloud metadata or reserved is refused,
    /// when a subscription is written and again at every connection.
    #[serde(default)]
    pub allow_addresses: Vec<String>,
    /// Most subscriptions kept at once (default 1000).
    #[serde(default, deserialize_with = "super::units::count")]
    #[schemars(schema_with = "super::schema::count")]
    pub max: Option<u32>,
}

impl SubscriptionsConfig {
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> SubscriptionPolicy {
        let mut allowed = Vec::new();
        for (index, text) in self.allow_addresses.iter().enumerate() {
            let parsed = text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(net) => allowed.push(net),
                Err(_) => errors.at(
                    &super::source::join_index(&format!("{path}.allow_addresses"), index),
                    format!("expected a CIDR such as `10.20.0.0/16` or an address, found `{text}`"),
                ),
            }
        }
        if self.max == Some(0) {
            errors.at(&format!("{path}.max"), "expected at least 1, found `0`");
        }
        let template = TargetConfig {
            url: "https://subscriber.invalid/".to_owned(),
            method: None,
            timeout: self.timeout,
            headers: Default::default(),
            max_concurrency: self.max_concurrency,
            rate_limit: self.rate_limit,
            retry: self.retry,
            breaker: self.breaker,
            sign: self.sign,
            delivery_id_header: self.delivery_id_header,
            pass_headers: Vec::new(),
            attempt_header: self.attempt_header,
        }
        .validate("subscriptions", path, errors);
        SubscriptionPolicy {
            template,
            allowed,
            max: self
                .max
                .map_or(DEFAULT_MAX_SUBSCRIPTIONS, |max| max.max(1) as usize),
        }
    }
}
