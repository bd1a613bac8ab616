//! `targets:`: the downstream URLs deliveries go to.

use std::collections::BTreeMap;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Uri;
use schemars::JsonSchema;
use serde::Deserialize;

use super::error::Collector;
use super::policy::{rate, BreakerConfig, RetryConfig, SignConfig};
use super::server::duration;
use crate::model::template::Template;
use crate::model::{Marks, Target};

/// Default time allowed for one attempt against a target, response body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One target as written in the file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Absolute `http://` or `https://` URL deliveries are sent to. May contain
    /// `{$.json.path}`, `{path.name}` and `{header.name}` placeholders, filled per
    /// event, e.g. `http://backend/customers/{path.customerId}/products`.
    pub url: String,
    /// HTTP method (default: the inbound request's). May be a template.
    pub method: Option<String>,
    /// Time allowed for one attempt, from connecting to the last byte of the response
    /// (default `10s`). In `sync` mode the primary target's timeout is a 504.
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub timeout: Option<String>,
    /// Static headers added to every request to this target, e.g. an API key the
    /// backend expects. They replace headers of the same name passed through.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Most requests in flight to this target at once (default 16).
    #[serde(default, deserialize_with = "super::units::count")]
    #[schemars(schema_with = "super::schema::count")]
    pub max_concurrency: Option<u32>,
    /// Most requests per second, e.g. `200/s` or `600/m` (default: unlimited).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::rate")]
    pub rate_limit: Option<String>,
    /// When and how often failed deliveries are retried.
    #[serde(default)]
    pub retry: RetryConfig,
    /// When to stop sending to a failing target for a while.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// How hookgate signs what it sends to this target.
    pub sign: Option<SignConfig>,
    /// Send `Hookgate-Delivery-Id` (default true): the delivery's id, the same on
    /// every attempt, so the backend can recognise a retry.
    #[serde(default)]
    pub delivery_id_header: Option<bool>,
    /// Inbound headers passed to this target only, besides the route's
    /// `pass_headers`, e.g. a credential one backend needs and others must not see.
    #[serde(default)]
    pub pass_headers: Vec<String>,
    /// Send `Hookgate-Attempt` (default true): 1, 2, 3, ...
    #[serde(default)]
    pub attempt_header: Option<bool>,
}

impl TargetConfig {
    pub(crate) fn validate(self, name: &str, path: &str, errors: &mut Collector<'_>) -> Target {
        super::check_name("target", name, path, errors);
        let (url, url_template) = match Template::parse(&self.url) {
            Ok(template) if !template.is_literal() => {
                // The parts around the placeholders must make an absolute URL.
                let sample = template.sample("x");
                (parse_url(&sample, &format!("{path}.url"), errors), Some(template))
            }
            Ok(_) => (parse_url(&self.url, &format!("{path}.url"), errors), None),
            Err(message) => {
                errors.at(&format!("{path}.url"), message);
                (Uri::from_static("http://invalid.invalid/"), None)
            }
        };
        let method = self
            .method
            .as_deref()
            .and_then(|text| match Template::parse(text) {
                Ok(template)
                    if template.is_literal()
                        && http::Method::from_bytes(text.to_ascii_uppercase().as_bytes()).is_err() =>
                {
                    errors.at(
                        &format!("{path}.method"),
                        format!("expected an HTTP method such as `PUT`, found `{text}`"),
                    );
                    None
                }
                Ok(template) => Some(template),
                Err(message) => {
                    errors.at(&format!("{path}.method"), message);
                    None
                }
            });
        let mut header_templates = Vec::new();
        let timeout = duration(self.timeout, DEFAULT_TIMEOUT, &format!("{path}.timeout"), errors);
        let mut headers = HeaderMap::new();
        for (key, value) in &self.headers {
            let field = format!("{path}.headers.{key}");
            let templated = Template::parse(value)
                .ok()
                .filter(|template| !template.is_literal());
            match (HeaderName::try_from(key.as_str()), HeaderValue::try_from(value.as_str())) {
                (Ok(name), Ok(_)) if templated.is_some() => {
                    header_templates.extend(templated.map(|template| (name, template)));
                }
                (Ok(name), Ok(value)) => {
                    headers.insert(name, value);
                }
                (Err(_), _) => errors.at_key(
                    &field,
                    format!("expected a header name of letters, digits and `-`, e.g. `x-api-key`, found `{key}`"),
                ),
                (_, Err(_)) => errors.at(
                    &field,
                    "expected a header value of visible ASCII characters, found a control character or non-ASCII text",
                ),
            }
        }
        if self.max_concurrency == Some(0) {
            errors.at(
                &format!("{path}.max_concurrency"),
                "expected at least 1, found `0`",
            );
        }
        Target {
            name: name.to_owned(),
            url,
            url_template,
            method,
            header_templates,
            timeout,
            headers,
            max_concurrency: self.max_concurrency.unwrap_or(16).max(1) as usize,
            rate_limit: self
                .rate_limit
                .and_then(|text| rate(&text, &format!("{path}.rate_limit"), errors)),
            retry: self.retry.validate(&format!("{path}.retry"), errors),
            breaker: self.breaker.validate(&format!("{path}.breaker"), errors),
            signing_key: self
                .sign
                .and_then(|sign| sign.validate(&format!("{path}.sign"), errors)),
            marks: Marks {
                delivery_id: self.delivery_id_header.unwrap_or(true),
                attempt: self.attempt_header.unwrap_or(true),
            },
            pass_headers: pass_headers(&self.pass_headers, &format!("{path}.pass_headers"), errors),
        }
    }
}

/// Header names to pass on, as a route or a target lists them: each a valid name
/// that describes the event, not the connection.
pub(crate) fn pass_headers(names: &[String], path: &str, errors: &mut Collector<'_>) -> Vec<HeaderName> {
    let mut passed = Vec::with_capacity(names.len());
    for (index, text) in names.iter().enumerate() {
        let at = format!("{path}[{index}]");
        match HeaderName::try_from(text.as_str()) {
            Ok(name) if crate::delivery::is_never_forwarded(&name) => errors.at(
                &at,
                format!("`{name}` describes the connection, not the event, and is never passed to targets"),
            ),
            Ok(name) => passed.push(name),
            Err(_) => errors.at(
                &at,
                format!("expected a header name such as `x-klavi-signature`, found `{text}`"),
            ),
        }
    }
    passed
}

fn parse_url(text: &str, path: &str, errors: &mut Collector<'_>) -> Uri {
    let expected =
        "expected an absolute http:// or https:// URL such as `http://backend.internal:8080/webhooks`";
    match text.parse::<Uri>() {
        Ok(uri)
            if matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some_and(|host| !host.is_empty()) =>
        {
            uri
        }
        _ => {
            errors.at(path, format!("{expected}, found `{text}`"));
            Uri::from_static("http://invalid.invalid/")
        }
    }
}
