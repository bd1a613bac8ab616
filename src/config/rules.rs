//! A route's `split`, `validate`, `rules`, `match`, `default` and `output`, compiled
//! into [`RouteRules`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::HeaderName;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::error::Collector;
use crate::model::path::Path;
use crate::model::template::Template;
use crate::model::Target;
use crate::rules::condition::Condition;
use crate::rules::split::Split;
use crate::rules::transform::{Shape, Step};
use crate::rules::validate::{Format, Validation};
use crate::rules::{CloudEvents, Fallback, Output, RouteRules, Rule};

/// One path or several.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single path.
    One(String),
    /// Several paths; each selects events.
    Many(Vec<String>),
}

/// `validate:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateConfig {
    /// Paths that must be present and not null in every event, e.g. `["$.eventId"]`.
    #[serde(default)]
    pub required: Vec<String>,
    /// Path → format (`uuid`, `date-time`, `string`, `number`, `bool`, `uuid[]`, or
    /// `{ enum: [A, B] }`), checked when the value is present.
    #[serde(default)]
    pub formats: BTreeMap<String, FormatConfig>,
    /// Split path (as written in `split`) → `required` and `formats` for the events
    /// that path selects only, e.g. products but not deleted ids.
    #[serde(default)]
    pub per_split: BTreeMap<String, ValidateConfig>,
}

/// A format as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FormatConfig {
    /// A format name.
    Named(String),
    /// `{ enum: [...] }`.
    Enum {
        /// The allowed strings.
        #[serde(rename = "enum")]
        values: Vec<String>,
    },
}

/// `when:` as written: a filter expression, or a mapping.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum WhenConfig {
    /// An RFC 9535 filter expression over the event (`@`).
    Filter(String),
    /// A filter and/or header and path-parameter equalities, all required.
    Detailed {
        /// An RFC 9535 filter expression over the event.
        filter: Option<String>,
        /// Headers that must equal these values.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Path parameters that must equal these values.
        #[serde(default)]
        params: BTreeMap<String, String>,
    },
}

/// One rule as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// When the rule applies (always, if absent).
    pub when: Option<WhenConfig>,
    /// Steps, each `set`, `copy`, `move`, `remove`, `rename` or `template`.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::transform")]
    pub transform: Vec<serde_yaml::Value>,
    /// Target names the rewritten event goes to.
    pub forward: Vec<String>,
}

/// `match:`.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Only the first matching rule applies (default).
    #[default]
    First,
    /// Every matching rule applies.
    All,
}

/// `default:`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DefaultConfig {
    /// Events no rule matches are counted and dropped.
    Drop,
    /// They go, unchanged, to the route's `targets`.
    Forward,
}

/// `output:`.
#[derive(Debug)]
pub enum OutputConfig {
    /// The rewritten event as JSON (default).
    Json,
    /// A CloudEvents 1.0 structured envelope.
    Cloudevents(CloudEventsConfig),
}

/// `output: { cloudevents: {...} }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudEventsConfig {
    /// `source` attribute (a template), e.g. `https://api.openbankproject.com`.
    pub source: String,
    /// `type` attribute (a template), e.g. `com.openbankproject.{$.event_name}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `id` attribute (a template), e.g. `{$.event_id}`; a fresh UUID when absent.
    pub id: Option<String>,
    /// `subject` attribute (a template), e.g. `{$.account_id}`.
    pub subject: Option<String>,
    /// Extension attributes: name (lower-case letters and digits) → value (a
    /// template), e.g. `{ bankid: "{$.bank_id}" }`.
    #[serde(default)]
    pub extensions: std::collections::BTreeMap<String, String>,
}

/// Attribute names the CloudEvents 1.0 specification defines; no extension may take
/// one.
const CLOUDEVENTS_ATTRIBUTES: [&str; 10] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data",
    "data_base64",
];

/// Everything rule-related of a route, as written.
#[derive(Debug, Default)]
pub struct RouteRulesConfig {
    pub(crate) split: Option<OneOrMany>,
    pub(crate) validate: Option<ValidateConfig>,
    pub(crate) rules: Vec<RuleConfig>,
    pub(crate) matching: Option<MatchMode>,
    pub(crate) default: Option<DefaultConfig>,
    pub(crate) output: Option<serde_yaml::Value>,
}

impl RouteRulesConfig {
    /// Whether the route has anything rule-related.
    pub(crate) fn is_empty(&self) -> bool {
        self.split.is_none() && self.validate.is_none() && self.rules.is_empty() && self.output.is_none()
    }

    /// Compiles the rules of the route at `path`; `targets_written` says whether the
    /// route lists `targets` (some may have failed to resolve, already reported).
    pub(crate) fn compile(
        self,
        path: &str,
        targets: &HashMap<String, Arc<Target>>,
        broken: &[String],
        targets_written: bool,
        errors: &mut Collector<'_>,
    ) -> RouteRules {
        let split: Vec<Split> = match self.split {
            None => Vec::new(),
            Some(OneOrMany::One(text)) => vec![text],
            Some(OneOrMany::Many(texts)) => texts,
        }
        .into_iter()
        .filter_map(|text| match jsonpath_rust::parser::parse_json_path(&text) {
            Ok(query) => Some(Split::new(text, query)),
            Err(error) => {
                errors.at(
                    &format!("{path}.split"),
                    format!("expected a JSONPath such as `$[*]`: {error}"),
                );
                None
            }
        })
        .collect();
        let mut per_split = vec![Validation::default(); split.len()];
        let validation = self.validate.map_or_else(Validation::default, |mut validate| {
            let at = format!("{path}.validate");
            for (source, config) in std::mem::take(&mut validate.per_split) {
                let at = format!("{at}.per_split.{source}");
                let Some(index) = split.iter().position(|path| path.as_str() == source) else {
                    let listed: Vec<&str> = split.iter().map(Split::as_str).collect();
                    errors.at(
                        &at,
                        format!(
                            "`{source}` is not a path of this route's `split`; expected one of: {}",
                            if listed.is_empty() {
                                "(the route does not split)".to_owned()
                            } else {
                                listed.join(", ")
                            }
                        ),
                    );
                    continue;
                };
                if !config.per_split.is_empty() {
                    errors.at(&at, "`per_split` cannot be nested");
                }
                per_split[index] = compile_validation(config, &at, errors);
            }
            compile_validation(validate, &at, errors)
        });
        let rules = self
            .rules
            .into_iter()
            .enumerate()
            .filter_map(|(index, rule)| {
                compile_rule(rule, &format!("{path}.rules[{index}]"), targets, broken, errors)
            })
            .collect();
        let fallback = match self.default {
            Some(DefaultConfig::Drop) => Fallback::Drop,
            Some(DefaultConfig::Forward) => Fallback::Forward,
            // Without rules every event goes to the route's targets; with rules an
            // unmatched event is dropped unless the route says otherwise.
            None if !targets_written => Fallback::Drop,
            None => Fallback::Forward,
        };
        if fallback == Fallback::Forward && !targets_written {
            errors.at(
                &format!("{path}.default"),
                "`default: forward` needs the route's `targets`",
            );
        }
        let output = match self.output {
            None => Output::Json,
            Some(value) => compile_output(value, &format!("{path}.output"), errors),
        };
        RouteRules {
            split,
            validation,
            per_split,
            rules,
            all_matches: self.matching == Some(MatchMode::All),
            fallback,
            output,
            identity: false,
        }
    }
}

fn compile_validation(config: ValidateConfig, path: &str, errors: &mut Collector<'_>) -> Validation {
    let mut validation = Validation {
        required: errors.each(&format!("{path}.required"), &config.required, Path::parse),
        ..Validation::default()
    };
    for (text, format) in config.formats {
        let at = format!("{path}.formats.{text}");
        let format = match format {
            FormatConfig::Named(name) => Format::parse(&name),
            FormatConfig::Enum { values } => Ok(Format::Enum(values)),
        };
        match (Path::parse(&text), format) {
            (Ok(parsed), Ok(format)) => validation.formats.push((parsed, format)),
            (Err(message), _) | (_, Err(message)) => errors.at(&at, message),
        }
    }
    validation
}

fn compile_rule(
    config: RuleConfig,
    path: &str,
    targets: &HashMap<String, Arc<Target>>,
    broken: &[String],
    errors: &mut Collector<'_>,
) -> Option<Rule> {
    let before = errors.len();
    let when = config.when.and_then(|when| {
        let (filter, headers, params) = match when {
            WhenConfig::Filter(filter) => (Some(filter), BTreeMap::new(), BTreeMap::new()),
            WhenConfig::Detailed {
                filter,
                headers,
                params,
            } => (filter, headers, params),
        };
        let headers = headers
            .into_iter()
            .filter_map(|(name, value)| match HeaderName::try_from(name.as_str()) {
                Ok(name) => Some((name, value)),
                Err(_) => {
                    errors.at(&format!("{path}.when.headers.{name}"), "expected a header name");
                    None
                }
            })
            .collect();
        match Condition::compile(filter.as_deref(), headers, params.into_iter().collect()) {
            Ok(condition) => Some(condition),
            Err(message) => {
                errors.at(&format!("{path}.when"), message);
                None
            }
        }
    });
    let transform = config
        .transform
        .into_iter()
        .enumerate()
        .filter_map(|(index, step)| match compile_step(step) {
            Ok(step) => Some(step),
            Err(message) => {
                errors.at(&format!("{path}.transform[{index}]"), message);
                None
            }
        })
        .collect();
    if config.forward.is_empty() {
        errors.at(
            &format!("{path}.forward"),
            "expected at least one target name, e.g. `[consents]`",
        );
    }
    let forward = super::route::resolve_targets(
        &config.forward,
        &format!("{path}.forward"),
        targets,
        broken,
        errors,
    );
    (errors.len() == before).then_some(Rule {
        when,
        transform,
        forward,
    })
}

/// One `transform` step: a mapping with exactly one of `set`, `copy`, `move`,
/// `remove`, `rename`, `template`.
fn compile_step(value: serde_yaml::Value) -> Result<Step, String> {
    let expected = "expected one of `set: { $.path: value }`, `copy: { $.to: $.from }`, `move: { $.to: $.from }`, `remove: [$.path]`, `rename: { $.path: newName }`, `template: {...}`";
    let value: Value = serde_json::to_value(&value).map_err(|error| format!("{expected}: {error}"))?;
    let Value::Object(map) = value else {
        return Err(expected.to_owned());
    };
    if map.len() != 1 {
        return Err(expected.to_owned());
    }
    let Some((kind, settings)) = map.into_iter().next() else {
        return Err(expected.to_owned());
    };
    let pairs = |settings: &Value| -> Result<Vec<(Path, Value)>, String> {
        let Value::Object(map) = settings else {
            return Err(format!("`{kind}` takes a mapping of paths"));
        };
        map.iter()
            .map(|(path, value)| Ok((Path::parse(path)?, value.clone())))
            .collect()
    };
    let path_pairs = |settings: &Value| -> Result<Vec<(Path, Path)>, String> {
        pairs(settings)?
            .into_iter()
            .map(|(to, from)| match from {
                Value::String(from) => Ok((to, Path::parse(&from)?)),
                _ => Err(format!("`{kind}` maps a destination path to a source path")),
            })
            .collect()
    };
    Ok(match kind.as_str() {
        "set" => Step::Set(pairs(&settings)?),
        "copy" => Step::Copy(path_pairs(&settings)?),
        "move" => Step::Move(path_pairs(&settings)?),
        "remove" => {
            let items = match settings {
                Value::Array(items) => items,
                single @ Value::String(_) => vec![single],
                _ => return Err("`remove` takes a list of paths".to_owned()),
            };
            Step::Remove(
                items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .ok_or("`remove` takes a list of paths".to_owned())
                            .and_then(Path::parse)
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        "rename" => Step::Rename(
            pairs(&settings)?
                .into_iter()
                .map(|(path, name)| match name {
                    Value::String(name) => Ok((path, name)),
                    _ => Err("`rename` maps a path to the new member name".to_owned()),
                })
                .collect::<Result<_, String>>()?,
        ),
        "template" => Step::Template(Shape::compile(&settings)?),
        _ => return Err(expected.to_owned()),
    })
}

fn compile_output(value: serde_yaml::Value, path: &str, errors: &mut Collector<'_>) -> Output {
    // serde_yaml reads enums only from YAML tags, so the `{ cloudevents: {...} }`
    // mapping is taken apart here. `output: cloudevents` alone is not enough: source
    // and type are required.
    let parsed: Result<OutputConfig, ()> = match value {
        serde_yaml::Value::String(text) if text == "json" => Ok(OutputConfig::Json),
        serde_yaml::Value::Mapping(map) if map.len() == 1 => match map.get("cloudevents") {
            Some(settings) => serde_yaml::from_value(settings.clone())
                .map(OutputConfig::Cloudevents)
                .map_err(|_| ()),
            None => Err(()),
        },
        _ => Err(()),
    };
    match parsed {
        Ok(OutputConfig::Json) => Output::Json,
        Ok(OutputConfig::Cloudevents(config)) => {
            let template = |text: &str, key: &str, errors: &mut Collector<'_>| match Template::parse(text) {
                Ok(template) => Some(template),
                Err(message) => {
                    errors.at(&format!("{path}.cloudevents.{key}"), message);
                    None
                }
            };
            let source = template(&config.source, "source", errors);
            let kind = template(&config.kind, "type", errors);
            let id = config.id.as_deref().and_then(|id| template(id, "id", errors));
            let subject = config
                .subject
                .as_deref()
                .and_then(|subject| template(subject, "subject", errors));
            let mut extensions = Vec::new();
            for (name, value) in &config.extensions {
                let key = format!("extensions.{name}");
                let valid =
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
                if !valid || CLOUDEVENTS_ATTRIBUTES.contains(&name.as_str()) {
                    errors.at(
                        &format!("{path}.cloudevents.{key}"),
                        format!(
                            "expected an extension name of lower-case letters and digits that the \
                             specification does not use (such as `bankid`), found `{name}`"
                        ),
                    );
                    continue;
                }
                if let Some(value) = template(value, &key, errors) {
                    extensions.push((name.clone(), value));
                }
            }
            match (source, kind) {
                (Some(source), Some(kind)) => Output::CloudEvents(Box::new(CloudEvents {
                    source,
                    kind,
                    id,
                    subject,
                    extensions,
                })),
                _ => Output::Json,
            }
        }
        Err(_) => {
            errors.at(
                path,
                "expected `json` or `{ cloudevents: { source: ..., type: ..., id: ..., subject: ..., extensions: {...} } }`",
            );
            Output::Json
        }
    }
}
