//! Rules: how a route turns a request into events and each event into deliveries.
//! Everything here is compiled at config load (paths, filters, templates) and only
//! evaluated per request:
//!
//! `split` (JSONPath selecting the events in a body) → `validate` (every event; any
//! violation rejects the whole request) → `rules` (first or all matching `when`, then
//! `transform`, then `forward` to targets; `default` for events no rule matches) →
//! `output` (the rewritten JSON, or a CloudEvents 1.0 envelope).

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use jsonpath_rust::parser::model::JpQuery;
use serde_json::{Map, Value};

use crate::config::Target;
use crate::ingress::PathParams;

pub mod condition;
pub mod path;
pub mod template;
pub mod transform;
pub mod validate;

use condition::Condition;
use template::{Scope, Template};
use transform::Step;
use validate::{Validation, Violation};

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// When it applies (always, if absent).
    pub when: Option<Condition>,
    /// How it rewrites the event.
    pub transform: Vec<Step>,
    /// Where the rewritten event goes.
    pub forward: Vec<Arc<Target>>,
}

/// What happens to events no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Counted and dropped.
    Drop,
    /// Sent unchanged to the route's `targets`.
    Forward,
}

/// The shape of what targets receive.
#[derive(Debug, Clone)]
pub enum Output {
    /// The rewritten event as JSON.
    Json,
    /// A CloudEvents 1.0 structured envelope around the rewritten event.
    CloudEvents {
        /// `source` attribute.
        source: Template,
        /// `type` attribute.
        kind: Template,
        /// `id` attribute; a fresh UUID when absent.
        id: Option<Template>,
    },
}

/// A route's compiled rules.
#[derive(Debug, Clone)]
pub struct RouteRules {
    /// Paths selecting the events of a body; none: the body is the one event.
    pub split: Vec<(String, JpQuery)>,
    /// Checks every event must pass.
    pub validation: Validation,
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// Every matching rule applies (otherwise only the first).
    pub all_matches: bool,
    /// For events no rule matches.
    pub fallback: Fallback,
    /// What targets receive.
    pub output: Output,
}

/// One event ready to admit.
#[derive(Debug, Clone)]
pub struct Routed {
    /// Which event of the request this is a rewrite of (an index into
    /// [`Evaluation::sources`]); several rules may rewrite one event.
    pub origin: usize,
    /// The event as rewritten (before any envelope), for target templates.
    pub event: Value,
    /// The bytes targets receive.
    pub body: Bytes,
    /// Where it goes.
    pub targets: Vec<Arc<Target>>,
}

/// What evaluating a request produced.
#[derive(Debug, Default, Clone)]
pub struct Evaluation {
    /// The request's events as split, before any rewrite (dedupe keys come from
    /// these, so a rewrite cannot change an event's identity).
    pub sources: Vec<Value>,
    /// Events to admit, grouped by origin in order.
    pub routed: Vec<Routed>,
    /// Events no rule matched and the fallback dropped.
    pub dropped: usize,
}

impl RouteRules {
    /// Splits, validates, matches, rewrites and renders every event of `body`.
    /// Any violation (or any rewrite that fails for a missing value) rejects the
    /// whole request, listing every problem.
    pub fn evaluate(
        &self,
        body: &Value,
        headers: &HeaderMap,
        params: &PathParams,
        route_targets: &[Arc<Target>],
    ) -> Result<Evaluation, Vec<Violation>> {
        let events = self.split(body);
        let mut violations = Vec::new();
        for (location, event) in &events {
            violations.extend(self.validation.check(event, location));
        }
        if !violations.is_empty() {
            return Err(violations);
        }
        let mut evaluation = Evaluation {
            sources: events.iter().map(|(_, event)| event.clone()).collect(),
            ..Evaluation::default()
        };
        for (origin, (location, event)) in events.into_iter().enumerate() {
            let mut matched = false;
            for rule in &self.rules {
                if !rule
                    .when
                    .as_ref()
                    .is_none_or(|when| when.matches(&event, headers, params))
                {
                    continue;
                }
                matched = true;
                match self.apply(rule, event.clone(), headers, params) {
                    Ok(mut routed) => {
                        routed.origin = origin;
                        evaluation.routed.push(routed);
                    }
                    Err(message) => violations.push(Violation {
                        path: if location.is_empty() {
                            "$".to_owned()
                        } else {
                            location.clone()
                        },
                        message,
                    }),
                }
                if !self.all_matches {
                    break;
                }
            }
            if !matched {
                match self.fallback {
                    Fallback::Drop => evaluation.dropped += 1,
                    Fallback::Forward => {
                        let body = self.render(&event, headers, params);
                        match body {
                            Ok(body) => evaluation.routed.push(Routed {
                                origin,
                                event: event.clone(),
                                body,
                                targets: route_targets.to_vec(),
                            }),
                            Err(message) => violations.push(Violation {
                                path: location,
                                message,
                            }),
                        }
                    }
                }
            }
        }
        if violations.is_empty() {
            Ok(evaluation)
        } else {
            Err(violations)
        }
    }

    /// The events of `body` with their locations (`$[0]`, `$['products'][1]`).
    fn split(&self, body: &Value) -> Vec<(String, Value)> {
        if self.split.is_empty() {
            return vec![(String::new(), body.clone())];
        }
        let mut events = Vec::new();
        for (_, query) in &self.split {
            if let Ok(hits) = jsonpath_rust::query::js_path_process(query, body) {
                events.extend(hits.into_iter().map(|hit| (hit.path.clone(), hit.val.clone())));
            }
        }
        events
    }

    fn apply(
        &self,
        rule: &Rule,
        mut event: Value,
        headers: &HeaderMap,
        params: &PathParams,
    ) -> Result<Routed, String> {
        for step in &rule.transform {
            step.apply(&mut event, params, headers)?;
        }
        let body = self.render(&event, headers, params)?;
        Ok(Routed {
            origin: 0,
            event,
            body,
            targets: rule.forward.clone(),
        })
    }

    fn render(&self, event: &Value, headers: &HeaderMap, params: &PathParams) -> Result<Bytes, String> {
        let document = match &self.output {
            Output::Json => {
                return serde_json::to_vec(event)
                    .map(Bytes::from)
                    .map_err(|e| e.to_string())
            }
            Output::CloudEvents { source, kind, id } => {
                let scope = Scope {
                    event,
                    params,
                    headers,
                };
                let mut envelope = Map::new();
                envelope.insert("specversion".into(), "1.0".into());
                let id = match id {
                    Some(template) => template.render(scope)?,
                    None => uuid::Uuid::now_v7().to_string(),
                };
                envelope.insert("id".into(), id.into());
                envelope.insert("source".into(), source.render(scope)?.into());
                envelope.insert("type".into(), kind.render(scope)?.into());
                envelope.insert(
                    "time".into(),
                    humantime::format_rfc3339_millis(std::time::SystemTime::now())
                        .to_string()
                        .into(),
                );
                envelope.insert("datacontenttype".into(), "application/json".into());
                envelope.insert("data".into(), event.clone());
                Value::Object(envelope)
            }
        };
        serde_json::to_vec(&document)
            .map(Bytes::from)
            .map_err(|e| e.to_string())
    }
}
