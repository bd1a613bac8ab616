//! `routes:`: which inbound paths hookgate accepts and where each one goes.

use std::collections::HashMap;
use std::sync::Arc;

use http::{Method, StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;

use super::dedupe::DedupeConfig;
use super::error::Collector;
use super::rules::{DefaultConfig, MatchMode, OneOrMany, RouteRulesConfig, RuleConfig, ValidateConfig};
use super::server::{at_least_one, size};
use crate::auth::Verifier;
use crate::model::mask::Mask;
use crate::model::{ContentType, Limits, Mode, QueueAfter, Route, Target};
use crate::registry::LiveRoute;
use crate::rules::RouteRules;

/// One route as written in the file.
#[derive(Debug, Deserialize, JsonSchema)]
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
    /// `sync` mode: queue the other targets' deliveries and rule events as soon as the
    /// request is accepted (`received`, the default) or only once the primary
    /// answered 2xx (`primary_success`).
    pub queue_after: Option<QueueAfter>,
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
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::size")]
    pub max_body: Option<String>,
    /// Overrides `limits.max_events` for this route.
    #[serde(default, deserialize_with = "super::units::count")]
    #[schemars(schema_with = "super::schema::count")]
    pub max_events: Option<usize>,
    /// Checks that must all pass before the request is accepted, in order; see
    /// `docs/config.md` for every scheme. Empty: no authentication.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::auth")]
    pub auth: Vec<serde_yaml::Value>,
    /// `queue` mode: the status a sender gets once its deliveries are stored (default
    /// 202; some providers insist on 200).
    #[serde(default, deserialize_with = "super::units::count")]
    #[schemars(schema_with = "super::schema::count")]
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
    #[schemars(default, schema_with = "super::schema::output")]
    pub output: Option<serde_yaml::Value>,
    /// Paths whose values never appear in logs (e.g. tax ids), shown as `***`.
    #[serde(default)]
    pub redact: Vec<String>,
}

/// The targets `names` refer to; unknown and repeated names are reported (except
/// those of targets whose own definition was broken, already reported).
pub(crate) fn resolve_targets(
    names: &[String],
    at: &str,
    targets: &HashMap<String, Arc<Target>>,
    broken: &[String],
    errors: &mut Collector<'_>,
) -> Vec<Arc<Target>> {
    let mut resolved = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        if names[..index].contains(name) {
            errors.at(
                &format!("{at}[{index}]"),
                format!("target `{name}` is listed twice; each target receives one copy"),
            );
            continue;
        }
        match targets.get(name) {
            Some(target) => resolved.push(target.clone()),
            None if broken.contains(name) => {}
            None => {
                let mut known: Vec<_> = targets.keys().chain(broken).map(String::as_str).collect();
                known.sort_unstable();
                let defined = if known.is_empty() {
                    "no target is defined under `targets`".to_owned()
                } else {
                    format!("defined targets: {}", known.join(", "))
                };
                errors.at(
                    &format!("{at}[{index}]"),
                    format!("unknown target `{name}`; {defined}"),
                );
            }
        }
    }
    resolved
}

impl RouteConfig {
    pub(crate) fn validate(
        self,
        path: &str,
        targets: &HashMap<String, Arc<Target>>,
        broken: &[String],
        limits: &Limits,
        errors: &mut Collector<'_>,
    ) -> LiveRoute {
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
        let methods = self.methods.unwrap_or_else(|| vec!["POST".to_owned()]);
        let methods = errors.each(&format!("{path}.methods"), &methods, |text| {
            Method::from_bytes(text.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("expected an HTTP method such as `POST` or `PUT`, found `{text}`"))
        });
        let rules_config = RouteRulesConfig {
            split: self.split,
            validate: self.validate,
            rules: self.rules,
            matching: self.matching,
            default: self.default,
            output: self.output,
        };
        if self.queue_after.is_some() && self.mode != Mode::Sync {
            errors.at(
                &format!("{path}.queue_after"),
                "`queue_after` applies to `mode: sync` routes only",
            );
        }
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
        let resolved = resolve_targets(&self.targets, &format!("{path}.targets"), targets, broken, errors);
        let pass_headers =
            super::target::pass_headers(&self.pass_headers, &format!("{path}.pass_headers"), errors);
        let max_body = size(
            self.max_body,
            limits.max_body,
            &format!("{path}.max_body"),
            errors,
        );
        let max_events = at_least_one(
            self.max_events,
            limits.max_events,
            &format!("{path}.max_events"),
            errors,
        );
        let verifiers: Vec<Arc<dyn Verifier>> = self
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
        let rules = if rules_config.is_empty() {
            RouteRules::identity()
        } else {
            let written = !self.targets.is_empty();
            rules_config.compile(path, targets, broken, written, errors)
        };
        let redact = errors.each(&format!("{path}.redact"), &self.redact, Mask::parse);
        let secret_params = verifiers
            .iter()
            .filter_map(|verifier| verifier.secret_path_param())
            .map(str::to_owned)
            .collect();
        let secret_query = verifiers
            .iter()
            .filter_map(|verifier| verifier.secret_query_param())
            .map(str::to_owned)
            .collect();
        LiveRoute::new(
            Route {
                name: self.name,
                path: self.path,
                methods,
                mode: self.mode,
                queue_after: self.queue_after.unwrap_or_default(),
                targets: resolved,
                pass_headers,
                content_type: self.content_type,
                max_body,
                max_events,
                success_status,
                dedupe,
                redact,
                secret_params,
                secret_query,
            },
            verifiers,
            rules,
        )
    }
}
