//! `otlp:`: where hookgate exports its trace spans (OTLP over HTTP, protobuf).

use std::collections::BTreeMap;

use http::{HeaderName, Uri};
use schemars::JsonSchema;
use serde::Deserialize;

use super::error::Collector;
use crate::model::{resolve_secret, OtlpSettings};

/// `otlp:` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector's OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`
    /// (a URL without a path gets `/v1/traces`). `https://` works as for targets.
    pub endpoint: String,
    /// Headers sent with every export, e.g. `{ x-api-key: "${OTLP_KEY}" }`; values
    /// are secrets (`${ENV}` or `file:`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `service.name` of the spans (default `hookgate`).
    pub service_name: Option<String>,
    /// Share of the traces hookgate starts (requests without a `traceparent`) that
    /// are exported, from 0 to 1 (default 1). A sender's `traceparent` decides for its
    /// own trace through its sampled flag.
    pub sample_ratio: Option<f64>,
}

impl OtlpConfig {
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> Option<OtlpSettings> {
        let before = errors.len();
        if !crate::otlp::BUILT_IN {
            errors.at(
                path,
                "this hookgate was built without OTLP export (the `otlp` cargo feature); remove `otlp` or build with it",
            );
            return None;
        }
        let endpoint = match self.endpoint.parse::<Uri>() {
            Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {
                if matches!(uri.path(), "" | "/") {
                    format!("{}/v1/traces", self.endpoint.trim_end_matches('/'))
                        .parse()
                        .ok()
                } else {
                    Some(uri)
                }
            }
            _ => None,
        };
        if endpoint.is_none() {
            errors.at(
                &format!("{path}.endpoint"),
                format!(
                    "expected an http:// or https:// URL such as `http://127.0.0.1:4318/v1/traces`, found `{}`",
                    self.endpoint
                ),
            );
        }
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in self.headers {
            let at = format!("{path}.headers.{name}");
            errors.secret(&at);
            let Ok(header) = HeaderName::try_from(name.as_str()) else {
                errors.at_key(&at, format!("expected a header name, found `{name}`"));
                continue;
            };
            match resolve_secret(&value) {
                Ok(secret) if http::HeaderValue::from_bytes(secret.expose()).is_ok() => {
                    headers.push((header, secret))
                }
                Ok(_) => errors.at(&at, "expected a value a header can carry (no control characters)"),
                Err(message) => errors.at(&at, message),
            }
        }
        let sample_ratio = self.sample_ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_ratio) {
            errors.at(
                &format!("{path}.sample_ratio"),
                format!("expected a share from 0 to 1, such as `0.1`, found `{sample_ratio}`"),
            );
        }
        let service_name = self.service_name.unwrap_or_else(|| "hookgate".to_owned());
        if service_name.is_empty() {
            errors.at(
                &format!("{path}.service_name"),
                "expected a name, found an empty string",
            );
        }
        (errors.len() == before).then(|| OtlpSettings {
            endpoint: endpoint.unwrap_or_default(),
            headers,
            service_name,
            sample_ratio,
        })
    }
}
