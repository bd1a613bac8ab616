//! Subscriptions: targets registered at run time through the admin API (the Open
//! Bank Project model), kept in the store so every instance sharing it sends to
//! them. Each one becomes a target named `subscription:<id>` (a name no config can
//! give, since `:` is not allowed there), sent with the policy of the config's
//! `subscriptions:` section.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What every subscription's target is named after.
pub const SUBSCRIPTION_TARGET_PREFIX: &str = "subscription:";

/// A subscription as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id (UUIDv7).
    pub id: String,
    /// The route whose events it receives.
    pub route: String,
    /// Where they are sent (`https://`).
    pub url: String,
    /// The method they are sent with.
    pub method: String,
    /// Headers added to every request.
    pub headers: BTreeMap<String, String>,
    /// An RFC 9535 filter expression over the event (`@` is the event); none: every
    /// event of the route.
    pub filter: Option<String>,
    /// Whether events are sent to it now.
    pub is_active: bool,
    /// What it is for.
    pub description: String,
    /// The admin token that created it.
    pub created_by: String,
    /// When it was created (unix ms).
    pub created_at_ms: u64,
    /// When it last changed (unix ms).
    pub updated_at_ms: u64,
}

impl Subscription {
    /// The name of its target.
    pub fn target_name(&self) -> String {
        format!("{SUBSCRIPTION_TARGET_PREFIX}{}", self.id)
    }
}

/// Whether `target` is a subscription's.
pub fn is_subscription_target(target: &str) -> bool {
    target.starts_with(SUBSCRIPTION_TARGET_PREFIX)
}

/// How subscriptions are sent and where they may point (`subscriptions:`).
#[derive(Debug, Clone)]
pub struct SubscriptionPolicy {
    /// The target every subscription's is made from: timeout, concurrency, rate,
    /// retries, breaker, signing and marks (its name, URL, method and headers are
    /// replaced by the subscription's).
    pub template: super::Target,
    /// Non-public networks subscriptions may nevertheless point into.
    pub allowed: Vec<ipnet::IpNet>,
    /// Most subscriptions kept at once.
    pub max: usize,
}

/// Most subscriptions when `subscriptions.max` is not given.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 1000;

/// Most headers a subscription may add.
pub const MAX_SUBSCRIPTION_HEADERS: usize = 20;

/// Methods a subscription may be sent with.
pub const SUBSCRIPTION_METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

impl SubscriptionPolicy {
    /// The target `subscription` is sent to: the template with its URL, method and
    /// headers; an error names the field at fault (`url`, `method`, `headers.<name>`)
    /// and says why. The URL must be absolute `https://`.
    pub fn target(&self, subscription: &Subscription) -> Result<super::Target, (String, String)> {
        let url: http::Uri = subscription
            .url
            .parse()
            .ok()
            .filter(|uri: &http::Uri| uri.scheme_str() == Some("https") && uri.host().is_some_and(|h| !h.is_empty()))
            .ok_or_else(|| {
                (
                    "url".to_owned(),
                    format!(
                        "expected an absolute https:// URL such as `https://example.com/webhooks`, found `{}`",
                        subscription.url
                    ),
                )
            })?;
        if url
            .authority()
            .is_some_and(|authority| authority.as_str().contains('@'))
        {
            return Err((
                "url".to_owned(),
                "credentials in the URL are not accepted; send them in `headers`".to_owned(),
            ));
        }
        if !SUBSCRIPTION_METHODS.contains(&subscription.method.as_str()) {
            return Err((
                "method".to_owned(),
                format!(
                    "expected one of {}, found `{}`",
                    SUBSCRIPTION_METHODS.join(", "),
                    subscription.method
                ),
            ));
        }
        if subscription.headers.len() > MAX_SUBSCRIPTION_HEADERS {
            return Err((
                "headers".to_owned(),
                format!(
                    "at most {MAX_SUBSCRIPTION_HEADERS} headers, found {}",
                    subscription.headers.len()
                ),
            ));
        }
        let mut headers = http::HeaderMap::new();
        for (name, value) in &subscription.headers {
            let field = format!("headers.{name}");
            let name = http::HeaderName::try_from(name.as_str()).map_err(|_| {
                (
                    field.clone(),
                    "expected a header name of letters, digits and `-`, e.g. `x-api-key`".to_owned(),
                )
            })?;
            if RESERVED_HEADERS.contains(&name.as_str()) || name.as_str().starts_with("webhook-") {
                return Err((
                    field,
                    "set by hookgate itself (connection, framing, signature or delivery marks)".to_owned(),
                ));
            }
            let value = http::HeaderValue::try_from(value.as_str()).map_err(|_| {
                (
                    field.clone(),
                    "expected a value of visible ASCII characters".to_owned(),
                )
            })?;
            headers.insert(name, value);
        }
        let method = super::template::Template::parse(&subscription.method)
            .map_err(|message| ("method".to_owned(), message))?;
        Ok(super::Target {
            name: subscription.target_name(),
            url,
            url_template: None,
            method: Some(method),
            header_templates: Vec::new(),
            headers,
            pass_headers: Vec::new(),
            ..self.template.clone()
        })
    }
}

/// Headers a subscription may not set: they describe the connection or the framing,
/// or hookgate sets them on every delivery.
const RESERVED_HEADERS: [&str; 13] = [
    "connection",
    "content-length",
    "content-type",
    "host",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "hookgate-delivery-id",
    "hookgate-attempt",
    "traceparent",
];
