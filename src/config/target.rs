//! `targets:`: the downstream URLs deliveries go to.

use std::collections::BTreeMap;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Uri;
use serde::Deserialize;

use super::error::Collector;
use super::server::duration;

/// Default time allowed for one attempt against a target, response body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One target as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Absolute `http://` or `https://` URL deliveries are sent to.
    pub url: String,
    /// Time allowed for one attempt, from connecting to the last byte of the response
    /// (default `10s`). In `sync` mode the primary target's timeout is a 504.
    pub timeout: Option<String>,
    /// Static headers added to every request to this target, e.g. an API key the
    /// backend expects. They replace headers of the same name passed through.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name routes refer to it by.
    pub name: String,
    /// Where deliveries are sent.
    pub url: Uri,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Headers added to every request.
    pub headers: HeaderMap,
}

impl TargetConfig {
    pub(crate) fn validate(self, name: &str, path: &str, errors: &mut Collector<'_>) -> Target {
        let url = parse_url(&self.url, &format!("{path}.url"), errors);
        let timeout = duration(self.timeout, DEFAULT_TIMEOUT, &format!("{path}.timeout"), errors);
        let mut headers = HeaderMap::new();
        for (key, value) in &self.headers {
            let field = format!("{path}.headers.{key}");
            match (HeaderName::try_from(key.as_str()), HeaderValue::try_from(value.as_str())) {
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
        Target {
            name: name.to_owned(),
            url,
            timeout,
            headers,
        }
    }
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
