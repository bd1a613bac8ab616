//! Targets: the downstream URLs deliveries go to, with the credentials, limits and
//! policies used when sending.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Uri;
use serde::{Deserialize, Serialize};

use super::policy::{BreakerPolicy, RetryPolicy};
use super::secret::Secret;
use super::template::Template;

/// A target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name routes refer to it by.
    pub name: String,
    /// Where deliveries are sent (placeholders, if any, shown as `x`).
    pub url: Uri,
    /// The URL as a template, when it has placeholders.
    pub url_template: Option<Template>,
    /// The method, when the target fixes one (a template if it has placeholders).
    pub method: Option<Template>,
    /// Headers whose values have placeholders, filled per event at admission.
    pub header_templates: Vec<(HeaderName, Template)>,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Headers added to every request when it is sent (credentials the backend
    /// expects): applied at send time, so a rotated key reaches queued deliveries.
    pub headers: HeaderMap,
    /// Most requests in flight at once.
    pub max_concurrency: usize,
    /// Most requests per second.
    pub rate_limit: Option<u32>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Circuit breaker policy.
    pub breaker: BreakerPolicy,
    /// Standard Webhooks signing key, when deliveries are signed.
    pub signing_key: Option<Secret>,
    /// Which of hookgate's own headers each request carries.
    pub marks: Marks,
    /// Inbound headers this target gets besides the route's `pass_headers`.
    pub pass_headers: Vec<HeaderName>,
}

/// hookgate's own headers on every request to a target, so that a backend can tell
/// a retry from a new delivery without outbound signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marks {
    /// `Hookgate-Delivery-Id`: the delivery's id, the same on every attempt.
    pub delivery_id: bool,
    /// `Hookgate-Attempt`: 1 for the first attempt, then 2, 3, ...
    pub attempt: bool,
}

impl Default for Marks {
    fn default() -> Self {
        Self {
            delivery_id: true,
            attempt: true,
        }
    }
}

impl Target {
    /// Whether its URL, method or headers take values from the event.
    pub fn reads_event(&self) -> bool {
        self.url_template
            .iter()
            .chain(&self.method)
            .any(Template::reads_event)
            || self
                .header_templates
                .iter()
                .any(|(_, template)| template.reads_event())
    }

    /// The definition as the store keeps it, so that deliveries of a target removed
    /// from the config are still sent with its last known definition after a restart.
    pub fn record(&self) -> TargetRecord {
        let text = |value: &HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
        TargetRecord {
            name: self.name.clone(),
            url: self
                .url_template
                .as_ref()
                .map_or_else(|| self.url.to_string(), |t| t.as_str().to_owned()),
            method: self.method.as_ref().map(|t| t.as_str().to_owned()),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| (name.to_string(), text(value)))
                .collect(),
            header_templates: self
                .header_templates
                .iter()
                .map(|(name, template)| (name.to_string(), template.as_str().to_owned()))
                .collect(),
            timeout: self.timeout,
            max_concurrency: self.max_concurrency,
            rate_limit: self.rate_limit,
            retry: self.retry.clone(),
            breaker: self.breaker,
            signing_key: self.signing_key.as_ref().map(|key| STANDARD.encode(key.expose())),
            marks: self.marks,
            pass_headers: self.pass_headers.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A target's definition as stored: plain text and numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// Name.
    pub name: String,
    /// URL, or URL template.
    pub url: String,
    /// Method template.
    pub method: Option<String>,
    /// Static headers.
    pub headers: Vec<(String, String)>,
    /// Header templates.
    pub header_templates: Vec<(String, String)>,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Most requests in flight.
    pub max_concurrency: usize,
    /// Most requests per second.
    pub rate_limit: Option<u32>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Breaker policy.
    pub breaker: BreakerPolicy,
    /// Signing key, base64.
    pub signing_key: Option<String>,
    /// hookgate's own headers (both, in records kept before they existed).
    #[serde(default)]
    pub marks: Marks,
    /// Inbound headers passed to this target (applied at admission, kept so the
    /// record describes the whole target).
    #[serde(default)]
    pub pass_headers: Vec<String>,
}

impl TargetRecord {
    /// The target this record describes; the error says what is unreadable.
    pub fn target(&self) -> Result<Target, String> {
        let template = |text: &str| Template::parse(text);
        let url_template = template(&self.url)?;
        let url = url_template
            .sample("x")
            .parse::<Uri>()
            .map_err(|error| format!("url: {error}"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            headers.insert(
                HeaderName::try_from(name.as_str()).map_err(|error| format!("header {name}: {error}"))?,
                HeaderValue::try_from(value.as_str()).map_err(|error| format!("header {name}: {error}"))?,
            );
        }
        let header_templates = self
            .header_templates
            .iter()
            .map(|(name, text)| {
                let name =
                    HeaderName::try_from(name.as_str()).map_err(|error| format!("header {name}: {error}"))?;
                Ok((name, template(text)?))
            })
            .collect::<Result<_, String>>()?;
        let signing_key = self
            .signing_key
            .as_deref()
            .map(|key| STANDARD.decode(key).map(Secret::new))
            .transpose()
            .map_err(|error| format!("signing key: {error}"))?;
        Ok(Target {
            name: self.name.clone(),
            url,
            url_template: (!url_template.is_literal()).then_some(url_template),
            method: self.method.as_deref().map(template).transpose()?,
            header_templates,
            timeout: self.timeout,
            headers,
            max_concurrency: self.max_concurrency.max(1),
            rate_limit: self.rate_limit,
            retry: self.retry.clone(),
            breaker: self.breaker,
            signing_key,
            marks: self.marks,
            pass_headers: self
                .pass_headers
                .iter()
                .map(|name| {
                    HeaderName::try_from(name.as_str())
                        .map_err(|error| format!("pass_headers {name}: {error}"))
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_rebuilds_the_same_target() {
        let target = TargetRecord {
            name: "ledger".into(),
            url: "http://ledger.internal/customers/{path.customerId}".into(),
            method: Some("PUT".into()),
            headers: vec![("x-api-key".into(), "k-1".into())],
            header_templates: vec![("x-event".into(), "{$.type}".into())],
            timeout: Duration::from_secs(3),
            max_concurrency: 4,
            rate_limit: Some(10),
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            signing_key: Some(STANDARD.encode(b"key")),
            marks: Marks {
                delivery_id: false,
                attempt: true,
            },
            pass_headers: vec!["authorization".into()],
        }
        .target()
        .unwrap();
        let again = target.record().target().unwrap();
        assert_eq!(again.record(), target.record());
        assert_eq!(again.headers["x-api-key"], "k-1");
        assert_eq!(
            again.signing_key.map(|k| k.expose().to_vec()),
            Some(b"key".to_vec())
        );
        assert!(again.url_template.is_some());
    }
}
