//! Rules: how a route turns a request into events and each event into deliveries.
//! Everything here is compiled at config load (paths, filters, templates) and only
//! evaluated per request:
//!
//! `split` (JSONPath selecting the events in a body) → `validate` (every event; any
//! violation rejects the whole request) → `rules` (first or all matching `when`, then
//! `transform`, then `forward` to targets; `default` for events no rule matches) →
//! `output` (the rewritten JSON, or a CloudEvents 1.0 envelope). A route without
//! rules has the identity rule set: its body as received is its one event, for the
//! route's targets.
//!
//! Evaluation yields typed [`Event`]s: each with its dedupe key (computed one way for
//! every route, see [`dedupe`]) and, per rewrite, the bytes, content type and
//! addressed targets its deliveries carry.

use std::sync::Arc;

use std::fmt::Display;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::Value;

use crate::model::template::{Line, Scope, Template};
use crate::model::{Dedupe, Destination, Event, PathParams, Rewrite, Target};

pub mod condition;
pub mod dedupe;
mod destination;
mod envelope;
mod error;
pub mod filter;
pub mod singular;
pub mod split;
pub mod transform;
pub mod validate;

use condition::Condition;
pub use destination::destination;
pub use error::{EventError, RulesError};
use split::{Location, Selected, Split};
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
    CloudEvents(Box<CloudEvents>),
}

/// The attributes of a CloudEvents envelope, as templates.
#[derive(Debug, Clone)]
pub struct CloudEvents {
    /// `source` attribute.
    pub source: Template,
    /// `type` attribute.
    pub kind: Template,
    /// `id` attribute; a fresh UUID when absent.
    pub id: Option<Template>,
    /// `subject` attribute, when set.
    pub subject: Option<Template>,
    /// Extension attributes: (name, value).
    pub extensions: Vec<(String, Template)>,
}

/// A route's compiled rules.
#[derive(Debug, Clone)]
pub struct RouteRules {
    /// Paths selecting the events of a body; none: the body is the one event.
    pub split: Vec<Split>,
    /// Checks every event must pass.
    pub validation: Validation,
    /// Checks the events of one split path must also pass, by its index in `split`
    /// (a default, empty validation where it has none).
    pub per_split: Vec<Validation>,
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// Every matching rule applies (otherwise only the first).
    pub all_matches: bool,
    /// For events no rule matches.
    pub fallback: Fallback,
    /// What targets receive.
    pub output: Output,
    /// Whether these are the identity rules (a route without any rule setting).
    pub identity: bool,
}

/// The request rules are evaluated on.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Its method (the default method of targets).
    pub method: &'a Method,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its path parameters.
    pub params: &'a PathParams,
    /// Its URI.
    pub uri: &'a Uri,
    /// Its body as received.
    pub body: &'a Bytes,
    /// Its body parsed, when the route parses it.
    pub value: Option<&'a Arc<Value>>,
}

impl Request<'_> {
    fn scope<'a>(&'a self, event: &'a Value) -> Scope<'a> {
        Scope {
            event,
            params: self.params,
            headers: self.headers,
            request: self.line(),
        }
    }

    fn line(&self) -> Line<'_> {
        Line {
            method: self.method,
            uri: self.uri,
        }
    }
}

/// What evaluating a request produced.
#[derive(Debug, Default, Clone)]
pub struct Evaluation {
    /// The events to admit, in request order (events no rule matched and the
    /// fallback dropped are left out).
    pub events: Vec<Event>,
    /// How many events the fallback dropped.
    pub dropped: usize,
}

/// The route an evaluation is for: its default targets and dedupe spec.
#[derive(Debug, Clone, Copy)]
pub struct RouteView<'a> {
    /// Where events go when no rule says otherwise.
    pub targets: &'a [Arc<Target>],
    /// How events are identified; `None`: they are not deduplicated.
    pub dedupe: Option<&'a Dedupe>,
    /// Most events one request may hold.
    pub max_events: usize,
}

impl RouteRules {
    /// The rules of a route that has none: the body as received is the one event.
    pub fn identity() -> Self {
        RouteRules {
            split: Vec::new(),
            validation: Validation::default(),
            per_split: Vec::new(),
            rules: Vec::new(),
            all_matches: false,
            fallback: Fallback::Forward,
            output: Output::Json,
            identity: true,
        }
    }

    /// Whether these are the identity rules: the body as received is the event.
    /// (A route with any rule setting, even one that changes nothing, such as
    /// `output: json`, re-serialises its events.)
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    /// Splits, validates, matches, rewrites, renders and addresses every event of
    /// `request`. Any violation (or any rewrite or address that fails for a missing
    /// value) rejects the whole request, listing every problem.
    pub fn evaluate(&self, request: &Request<'_>, route: RouteView<'_>) -> Result<Evaluation, RulesError> {
        if self.is_identity() {
            return identity(request, route).map(|event| Evaluation {
                events: vec![event],
                dropped: 0,
            });
        }
        let body = request.value.map_or(&Value::Null, |value| &**value);
        self.check_shape(body)?;
        let events = self.split(body);
        if events.len() > route.max_events {
            return Err(RulesError::TooManyEvents {
                count: events.len(),
                max: route.max_events,
            });
        }
        let mut violations = Vec::new();
        for Selected {
            event,
            location,
            source,
        } in &events
        {
            violations.extend(self.validation.check(event, location));
            if let Some(validation) = source.and_then(|index| self.per_split.get(index)) {
                violations.extend(validation.check(event, location));
            }
        }
        if !violations.is_empty() {
            return Err(RulesError::Invalid(violations));
        }
        let mut evaluation = Evaluation::default();
        for Selected {
            event: source,
            location,
            ..
        } in events
        {
            let mut rewrites = Vec::new();
            let mut matched = false;
            for rule in &self.rules {
                let applies = rule
                    .when
                    .as_ref()
                    .is_none_or(|when| when.matches(source, request.headers, request.params));
                if !applies {
                    continue;
                }
                matched = true;
                match self.apply(rule, source, request) {
                    Ok(rewrite) => rewrites.push(rewrite),
                    Err(error) => violations.push(violation(&location, &error)),
                }
                if !self.all_matches {
                    break;
                }
            }
            if !matched {
                match self.fallback {
                    Fallback::Drop => {
                        evaluation.dropped += 1;
                        continue;
                    }
                    Fallback::Forward => {
                        match self.rewrite(shared(source, request), route.targets, request) {
                            Ok(rewrite) => rewrites.push(rewrite),
                            Err(error) => violations.push(violation(&location, &error)),
                        }
                    }
                }
            }
            if rewrites.is_empty() || !violations.is_empty() {
                continue;
            }
            // The key comes from the event as received, so no rewrite can change
            // its identity; only a body-hash key needs its bytes.
            let hashed = route.dedupe.is_some_and(|dedupe| !dedupe.reads_event());
            let bytes = if hashed {
                serde_json::to_vec(source).unwrap_or_default()
            } else {
                Vec::new()
            };
            let key = dedupe::key(
                route.dedupe,
                dedupe::Source {
                    headers: request.headers,
                    bytes: &bytes,
                    value: Some(source),
                },
            )?;
            evaluation.events.push(Event {
                dedupe_key: key,
                rewrites,
            });
        }
        if violations.is_empty() {
            Ok(evaluation)
        } else {
            Err(RulesError::Invalid(violations))
        }
    }

    /// Rules read members of an event, so a body without `split` must be an object,
    /// and one that `split` selects events from must be an object or an array: a bare
    /// `42` or `"text"` is refused rather than silently matching nothing.
    fn check_shape(&self, body: &Value) -> Result<(), RulesError> {
        let expected = match (self.split.is_empty(), body) {
            (_, Value::Object(_)) | (false, Value::Array(_)) => return Ok(()),
            (true, _) => "a JSON object",
            (false, _) => "a JSON object or array to split",
        };
        let found = match body {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array (this route has no `split`)",
            Value::Object(_) => "an object",
        };
        Err(RulesError::Invalid(vec![Violation {
            path: "$".to_owned(),
            message: format!("expected {expected}, found {found}"),
        }]))
    }

    /// The events of `body` (`$[0]`, `$['products'][1]`, ...), borrowed from it,
    /// each with the index of the split path that selected it.
    fn split<'a>(&'a self, body: &'a Value) -> Vec<Selected<'a>> {
        if self.split.is_empty() {
            return vec![Selected {
                event: body,
                location: Location::Body,
                source: None,
            }];
        }
        let mut events = Vec::new();
        for (index, split) in self.split.iter().enumerate() {
            split.select(body, index, &mut events);
        }
        events
    }

    /// `rule` applied to `event`: its copy rewritten by the rule's transform (when
    /// it has one), rendered and addressed to the rule's targets.
    fn apply(&self, rule: &Rule, event: &Value, request: &Request<'_>) -> Result<Rewrite, EventError> {
        let event = if rule.transform.is_empty() {
            shared(event, request)
        } else {
            let mut event = event.clone();
            for step in &rule.transform {
                step.apply(&mut event, request.params, request.headers, request.line())?;
            }
            Arc::new(event)
        };
        self.rewrite(event, &rule.forward, request)
    }

    /// `event` rendered in the route's output and addressed to `targets`.
    fn rewrite(
        &self,
        event: Arc<Value>,
        targets: &[Arc<Target>],
        request: &Request<'_>,
    ) -> Result<Rewrite, EventError> {
        let destinations = addressed(targets, &event, request)?;
        let (body, content_type) = self.render(&event, request)?;
        Ok(Rewrite {
            value: event,
            body,
            content_type,
            destinations,
        })
    }

    /// The bytes targets receive, and their content type when it is not the
    /// request's (a JSON rewrite keeps the request's, parameters included).
    fn render(
        &self,
        event: &Value,
        request: &Request<'_>,
    ) -> Result<(Bytes, Option<HeaderValue>), EventError> {
        let (bytes, content_type) = match &self.output {
            Output::Json => (
                serde_json::to_vec(event).map_err(|error| EventError::Render(error.to_string()))?,
                None,
            ),
            Output::CloudEvents(attributes) => (
                envelope::render(attributes, event, request.scope(event))?,
                Some(HeaderValue::from_static("application/cloudevents+json")),
            ),
        };
        Ok((Bytes::from(bytes), content_type))
    }
}

/// The identity rules' one event: the body as received, for the route's targets.
pub fn identity(request: &Request<'_>, route: RouteView<'_>) -> Result<Event, RulesError> {
    // The parsed body is shared, not copied: the event is the body as it is.
    static UNPARSED: std::sync::LazyLock<Arc<Value>> = std::sync::LazyLock::new(Arc::default);
    let value = request.value.unwrap_or(&UNPARSED).clone();
    let destinations = addressed(route.targets, &value, request)
        .map_err(|error| RulesError::Invalid(vec![violation("$", &error)]))?;
    let key = dedupe::key(
        route.dedupe,
        dedupe::Source {
            headers: request.headers,
            bytes: request.body,
            value: request.value.map(|value| &**value),
        },
    )?;
    Ok(Event {
        dedupe_key: key,
        rewrites: vec![Rewrite {
            value,
            body: request.body.clone(),
            content_type: None,
            destinations,
        }],
    })
}

/// `targets` addressed for `event`.
fn addressed(
    targets: &[Arc<Target>],
    event: &Value,
    request: &Request<'_>,
) -> Result<Vec<Destination>, EventError> {
    targets
        .iter()
        .map(|target| destination(target, request.method, request.scope(event)))
        .collect()
}

/// `event` as a rewrite's value: the request's own body when the event is all of
/// it, shared rather than copied.
fn shared(event: &Value, request: &Request<'_>) -> Arc<Value> {
    match request.value {
        Some(body) if std::ptr::eq(&**body, event) => Arc::clone(body),
        _ => Arc::new(event.clone()),
    }
}

fn violation(location: &(impl Display + ?Sized), error: &EventError) -> Violation {
    Violation {
        path: location.to_string(),
        message: error.to_string(),
    }
}
