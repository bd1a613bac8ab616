//! `routes:`: which inbound paths hookgate accepts and where each one goes.

use std::collections::HashMap;
use std::sync::Arc;

use http::header::HeaderName;
use http::{Method, StatusCode};
use serde::Deserialize;

use super::dedupe::{Dedupe, DedupeConfig, DedupeSource};
use super::error::Collector;
use super::rules::{DefaultConfig, MatchMode, OneOrMany, RouteRulesConfig, RuleConfig, ValidateConfig};
use super::server::size;
use super::target::Target;
use crate::ingress::auth::Verifier;
use crate::rules::RouteRules;

/// How a route answers the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Answer once every delivery is durably stored (the default).
    #[default]
    Queue,
    /// Call the primary (first) target inline and relay its answer.
    Sync,
}

impl Mode {
    /// The name used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Queue => "queue",
            Mode::Sync => "sync",
        }
    }
}

/// What bodies a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    /// `application/json` or any `+json` type; the body must parse as JSON (default).
    #[default]
    Json,
    /// Any body, passed on as bytes.
    Any,
}

/// One route as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Unique name, used in logs and metrics.
    pub name: String,
    /// Path pattern; `{name}` matches one segment and makes it a path parameter,
    /// e.g. `/customers/{customerId}/products/changes`.
    pub path: String,
    /// Accepted methods (default `[POST]`); others get 405 with `Allow`.
    pub methods: Option<Vec<String>>,
    /// `queue` (default: answer once every delivery is durably stored) or `sync` (call
    /// the first target inline and relay its answer; the others go through the queue).
    #[serde(default)]
    pub mode: Mode,
    /// Target names, in order; the first is the primary in `sync` mode. Optional in
    /// `queue` mode when `rules` name the targets.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Request headers passed through to targets besides `content-type`, e.g. a
    /// provider's event-type header. Hop-by-hop headers are never passed.
    #[serde(default)]
    pub pass_headers: Vec<String>,
    /// `json` (default: 415 unless the body is declared JSON, 400 unless it parses) or
    /// `any`.
    #[serde(default)]
    pub content_type: ContentType,
    /// Overrides `limits.max_body` for this route.
    pub max_body: Option<String>,
    /// Checks that must all pass before the request is accepted, in order; see
    /// `docs/config.md` for every scheme. Empty: no authentication.
    #[serde(default)]
    pub auth: Vec<serde_yaml::Value>,
    /// `queue` mode: the status a sender gets once its deliveries are stored (default
    /// 202; some providers insist on 200).
    pub success_status: Option<u16>,
    /// How repeats of an event are recognised and dropped.
    pub dedupe: Option<DedupeConfig>,
    /// JSONPath(s) selecting the events inside one request, e.g. `$[*]`.
    pub split: Option<OneOrMany>,
    /// Required paths and formats every event must have.
    pub validate: Option<ValidateConfig>,
    /// Ordered rules: `when` → `transform` → `forward`.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// `first` (default): only the first matching rule applies; `all`: every one.
    #[serde(rename = "match")]
    pub matching: Option<MatchMode>,
    /// Events no rule matches: `drop`, or `forward` unchanged to `targets`.
    pub default: Option<DefaultConfig>,
    /// `json` (default) or `{ cloudevents: { source, type, id } }`.
    pub output: Option<serde_yaml::Value>,
    /// Paths whose values never appear in logs (e.g. tax ids), shown as `***`.
    #[serde(default)]
    pub redact: Vec<String>,
}

/// A validated route.
#[derive(Debug)]
pub struct Route {
    /// Unique name.
    pub name: String,
    /// Path pattern with `{param}` segments.
    pub path: String,
    /// Accepted methods.
    pub methods: Vec<Method>,
    /// How the sender is answered.
    pub mode: Mode,
    /// Where events go; the first is the primary.
    pub targets: Vec<Arc<Target>>,
    /// Request headers passed through besides `content-type`.
    pub pass_headers: Vec<HeaderName>,
    /// What bodies are accepted.
    pub content_type: ContentType,
    /// Largest body accepted, in bytes.
    pub max_body: usize,
    /// Checks that must all pass.
    pub auth: Vec<Arc<dyn Verifier>>,
    /// Status answered once admitted (`queue` mode).
    pub success_status: StatusCode,
    /// Dedupe setting.
    pub dedupe: Option<Dedupe>,
    /// Split, validation, rules and output, when the route has any.
    pub rules: Option<RouteRules>,
    /// Paths masked wherever an event is logged.
    pub redact: Vec<crate::rules::path::Path>,
}

impl Route {
    /// Whether anything done with a request needs its body as parsed JSON: rules, a
    /// JSONPath dedupe key, or a target template reading the event. Other JSON routes
    /// only check that the body is JSON.
    pub fn reads_event(&self) -> bool {
        self.rules.is_some()
            || self.dedupe.as_ref().is_some_and(|dedupe| {
                matches!(dedupe.source, DedupeSource::Path { .. } | DedupeSource::Fields(_))
            })
            || self.targets.iter().any(|target| target.reads_event())
    }
}

impl RouteConfig {
    pub(crate) fn validate(
        self,
        path: &str,
        targets: &HashMap<String, Arc<Target>>,
        broken: &[String],
        default_max_body: usize,
        errors: &mut Collector<'_>,
    ) -> Route {
        if self.name.trim().is_empty() {
            errors.at(
                &format!("{path}.name"),
                "expected a non-empty route name, e.g. `klavi`",
            );
        }
        if !self.path.starts_with('/') {
            errors.at(
                &format!("{path}.path"),
                format!(
                    "expected a path starting with `/`, e.g. `/hooks/klavi`, found `{}`",
                    self.path
                ),
            );
        }
        let methods = self
            .methods
            .unwrap_or_else(|| vec!["POST".to_owned()])
            .iter()
            .enumerate()
            .filter_map(|(index, text)| {
                let upper = text.to_ascii_uppercase();
                match Method::from_bytes(upper.as_bytes()) {
                    Ok(method) => Some(method),
                    Err(_) => {
                        errors.at(
                            &format!("{path}.methods[{index}]"),
                            format!("expected an HTTP method such as `POST` or `PUT`, found `{text}`"),
                        );
                        None
                    }
                }
            })
            .collect();
        let rules_config = RouteRulesConfig {
            split: self.split,
            validate: self.validate,
            rules: self.rules,
            matching: self.matching,
            default: self.default,
            output: self.output,
        };
        if self.targets.is_empty() && (rules_config.rules.is_empty() || self.mode == Mode::Sync) {
            errors.at(
                &format!("{path}.targets"),
                "expected at least one target name, e.g. `[backend]`",
            );
        }
        if !rules_config.is_empty() && self.content_type != ContentType::Json {
            errors.at(
                &format!("{path}.content_type"),
                "rules, split and validate need `content_type: json`",
            );
        }
        let known = || {
            let mut names: Vec<_> = targets.keys().map(String::as_str).collect();
            names.sort_unstable();
            names.join(", ")
        };
        let resolved: Vec<Arc<Target>> = self
            .targets
            .iter()
            .enumerate()
            .filter_map(|(index, name)| {
                if self.targets[..index].contains(name) {
                    errors.at(
                        &format!("{path}.targets[{index}]"),
                        format!("target `{name}` is listed twice; each target receives one copy"),
                    );
                    return None;
                }
                let found = targets.get(name).cloned();
                if found.is_none() && !broken.contains(name) {
                    errors.at(
                        &format!("{path}.targets[{index}]"),
                        format!("unknown target `{name}`; defined targets: {}", known()),
                    );
                }
                found
            })
            .collect();
        let pass_headers = self
            .pass_headers
            .iter()
            .enumerate()
            .filter_map(|(index, text)| match HeaderName::try_from(text.as_str()) {
                Ok(name) => Some(name),
                Err(_) => {
                    errors.at(
                        &format!("{path}.pass_headers[{index}]"),
                        format!("expected a header name such as `x-klavi-signature`, found `{text}`"),
                    );
                    None
                }
            })
            .collect();
        let max_body = size(
            self.max_body,
            default_max_body,
            &format!("{path}.max_body"),
            errors,
        );
        let auth = self
            .auth
            .into_iter()
            .enumerate()
            .filter_map(|(index, value)| super::auth::build(value, &format!("{path}.auth[{index}]"), errors))
            .collect();
        let success_status = match self.success_status.map(StatusCode::from_u16) {
            None => StatusCode::ACCEPTED,
            Some(Ok(status)) if status.is_success() => status,
            Some(_) => {
                errors.at(
                    &format!("{path}.success_status"),
                    "expected a 2xx status such as 200 or 202: a sender must see success",
                );
                StatusCode::ACCEPTED
            }
        };
        let dedupe = self
            .dedupe
            .and_then(|dedupe| dedupe.validate(&format!("{path}.dedupe"), errors));
        let rules =
            (!rules_config.is_empty()).then(|| rules_config.compile(path, targets, &resolved, errors));
        let redact = self
            .redact
            .iter()
            .enumerate()
            .filter_map(|(index, text)| match crate::rules::path::Path::parse(text) {
                Ok(path) => Some(path),
                Err(message) => {
                    errors.at(&format!("{path}.redact[{index}]"), message);
                    None
                }
            })
            .collect();
        Route {
            name: self.name,
            path: self.path,
            methods,
            mode: self.mode,
            targets: resolved,
            pass_headers,
            content_type: self.content_type,
            max_body,
            auth,
            success_status,
            dedupe,
            rules,
            redact,
        }
    }
}
