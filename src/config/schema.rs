//! The config file's JSON Schema (`hookgate schema`), derived from the types the
//! loader reads, so that editors complete and check keys as `hookgate check` does.
//!
//! Keys the loader takes apart by hand (an `auth` entry, a `transform` step,
//! `output`) and values it reads as text (durations, sizes, counts, rates, any of
//! which may be `${VAR}`) get their schema here. The schema never refuses a file the
//! loader accepts; it cannot see everything the loader checks (that a route names a
//! defined target, that a JSONPath compiles), so `hookgate check` remains the judge.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use super::otlp::OtlpConfig;
use super::server::{AdminConfig, LimitsConfig};
use super::store::StoreConfig;
use super::subscriptions::SubscriptionsConfig;
use super::tls::TlsConfig;
use super::{RouteConfig, TargetConfig, TOP_LEVEL};
use crate::auth::SCHEMES;

/// Where the shipped configs say their schema is, relative to the repository root.
pub const SCHEMA_FILE: &str = "docs/hookgate.schema.json";

/// A hookgate config file: its listeners, store, limits, targets and routes.
/// `x-` keys at the top hold YAML anchors for `<<` merges.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, title = "hookgate config")]
#[allow(dead_code)] // Read for its schema only.
struct FileSchema {
    /// Address of the ingress listener (default `0.0.0.0:8080`).
    listen: Option<String>,
    /// Serve the ingress listener over TLS (HTTPS, HTTP/2 by ALPN), optionally
    /// requiring client certificates.
    tls: Option<TlsConfig>,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`, `/reload`); absent: none.
    admin: Option<AdminConfig>,
    /// Where admitted deliveries and dedupe keys live (default: embedded in `./data`).
    store: Option<StoreConfig>,
    /// Request limits of the ingress listener.
    limits: Option<LimitsConfig>,
    /// How long in-flight requests may finish after a stop signal (default `30s`).
    #[schemars(default, schema_with = "duration")]
    shutdown_grace: Option<String>,
    /// Export trace spans (a server span per request, a client span per attempt) to
    /// an OpenTelemetry collector over OTLP/HTTP.
    otlp: Option<OtlpConfig>,
    /// How subscriptions registered through the admin API are sent, and which
    /// non-public networks they may point into.
    subscriptions: Option<SubscriptionsConfig>,
    /// Where deliveries go, by name.
    #[schemars(extend("propertyNames" = { "pattern": NAME }, "minProperties" = 1))]
    targets: BTreeMap<String, TargetConfig>,
    /// Which inbound paths hookgate accepts and where each one goes.
    #[schemars(extend("minItems" = 1))]
    routes: Vec<RouteConfig>,
}

/// Route and target names (see `check_name`).
const NAME: &str = "^[A-Za-z0-9._-]+$";

/// Accepts anything holding a `${VAR}`, whose value is known only at load.
const VARIABLE: &str = ".*\\$\\{.*";

/// The JSON Schema of a config file (draft 7, which editors support best).
pub fn schema() -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<FileSchema>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert("patternProperties".to_owned(), serde_json::json!({ "^x-": {} }));
    }
    debug_assert!(TOP_LEVEL
        .iter()
        .all(|key| schema.pointer(&format!("/properties/{key}")).is_some()));
    schema
}

/// A string that matches `pattern`, or holds a `${VAR}`; or nothing (the default).
fn text(pattern: &str, description: &str, examples: &[&str]) -> Schema {
    json_schema!({
        "type": ["string", "null"],
        "pattern": format!("^({VARIABLE}|{pattern})$"),
        "description": description,
        "examples": examples,
    })
}

/// A whole number, written as one or as text; or nothing (the default).
fn whole(description: &str) -> Schema {
    json_schema!({
        "description": description,
        "anyOf": [
            { "type": "null" },
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": format!("^({VARIABLE}|\\s*[0-9]+\\s*)$") },
        ],
    })
}

/// A duration such as `500ms`, `5s`, `10m` or `1h 30m`.
pub(crate) fn duration(_: &mut SchemaGenerator) -> Schema {
    text(
        "\\s*([0-9]+\\s*[A-Za-zµ]+\\s*)+",
        "A duration such as `500ms`, `5s`, `10m` or `1h 30m`.",
        &["500ms", "5s", "10m"],
    )
}

/// A byte size: a number of bytes, or with `KB`/`MB`/`GB` or `KiB`/`MiB`/`GiB`.
pub(crate) fn size(_: &mut SchemaGenerator) -> Schema {
    let mut schema = whole("A size in bytes, or with a unit: `512KiB`, `1MiB`, `50MB`.");
    if let Some(Value::Array(choices)) = schema.get_mut("anyOf") {
        choices.push(serde_json::json!({
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s*(B|KB|kB|MB|GB|KiB|MiB|GiB)\\s*$",
            "examples": ["512KiB", "1MiB", "50MB"],
        }));
    }
    schema
}

/// A whole number, or `${VAR}`.
pub(crate) fn count(_: &mut SchemaGenerator) -> Schema {
    whole("A whole number.")
}

/// A list of whole numbers.
pub(crate) fn counts(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["array", "null"], "items": count(generator) })
}

/// A rate such as `200/s` or `600/m`.
pub(crate) fn rate(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Most requests per second or minute: `200/s`, `600/m`, or a number per second.",
        "anyOf": [
            { "type": "null" },
            { "type": "integer", "minimum": 1 },
            { "type": "string", "pattern": format!("^({VARIABLE}|\\s*[0-9]+\\s*(/\\s*[sm]\\s*)?)$") },
        ],
    })
}

/// `auth:`: checks, each one scheme with its settings.
pub(crate) fn auth(generator: &mut SchemaGenerator) -> Schema {
    let choices: Vec<Value> = SCHEMES
        .iter()
        .map(|scheme| {
            serde_json::json!({
                "type": "object",
                "properties": { scheme.name: (scheme.settings)(generator) },
                "required": [scheme.name],
                "additionalProperties": false,
            })
        })
        .collect();
    json_schema!({
        "type": "array",
        "items": {
            "description": "One check, keyed by its scheme, e.g. `- github: { secrets: [\"${GITHUB_SECRET}\"] }`.",
            "oneOf": choices,
        },
    })
}

/// `transform:`: steps, each a mapping with one of `set`, `copy`, `move`, `remove`,
/// `rename` or `template`.
pub(crate) fn transform(_: &mut SchemaGenerator) -> Schema {
    let paths = serde_json::json!({ "type": "object", "additionalProperties": { "type": "string" } });
    let step = |name: &str, description: &str, settings: Value| {
        serde_json::json!({
            "type": "object",
            "description": description,
            "properties": { name: settings },
            "required": [name],
            "additionalProperties": false,
        })
    };
    json_schema!({
        "type": "array",
        "items": {
            "oneOf": [
                step("set", "Set paths to values: `{ $.path: value }`.", serde_json::json!({ "type": "object" })),
                step("copy", "Copy values: `{ $.to: $.from }`.", paths.clone()),
                step("move", "Move values: `{ $.to: $.from }`.", paths.clone()),
                step("remove", "Remove paths: `[$.path]`.", serde_json::json!({
                    "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }],
                })),
                step("rename", "Rename members: `{ $.path: newName }`.", paths),
                step("template", "Replace the event with this shape; `{$.path}` strings are filled from it.", serde_json::json!({})),
            ],
        },
    })
}

/// `output:`: `json` or a CloudEvents envelope.
pub(crate) fn output(generator: &mut SchemaGenerator) -> Schema {
    let cloudevents = generator.subschema_for::<super::rules::CloudEventsConfig>();
    json_schema!({
        "description": "`json` (default) or `{ cloudevents: { source, type, id, subject, extensions } }`.",
        "anyOf": [
            { "type": "null" },
            { "const": "json" },
            {
                "type": "object",
                "properties": { "cloudevents": cloudevents },
                "required": ["cloudevents"],
                "additionalProperties": false,
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_top_level_key_is_in_the_schema_and_nothing_else() {
        let schema = schema();
        let properties = schema["properties"].as_object().expect("properties");
        let mut keys: Vec<&str> = properties.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = TOP_LEVEL.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn every_scheme_has_its_settings() {
        let schema = schema();
        let text = schema.to_string();
        for scheme in &SCHEMES {
            assert!(
                text.contains(&format!("\"required\":[\"{}\"]", scheme.name)),
                "{}",
                scheme.name
            );
        }
    }
}
