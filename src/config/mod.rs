//! Config: YAML as written (serde types that reject unknown keys) → validated runtime
//! types. Everything the hot path needs (URIs, header names, durations, the route
//! table) is parsed here, once. Every problem in a file is reported at once, each
//! with its YAML path, line and column.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_yaml::Value;

mod auth;
mod dedupe;
mod error;
mod interpolate;
mod policy;
mod route;
mod rules;
mod server;
mod source;
mod store;
mod summary;
mod target;
mod units;

pub use auth::SCHEMES;
pub use dedupe::{Dedupe, DedupeSource};
pub use error::{ConfigError, ConfigErrors};
pub use route::{ContentType, Mode, Route, RouteConfig};
pub use server::{AdminConfig, Limits, LimitsConfig, DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN};
pub use source::Location;
pub use store::{StoreKind, StoreSettings};
pub use summary::summary;
pub use target::{Target, TargetConfig};
pub use units::{parse_duration, parse_size};

use crate::delivery::is_never_forwarded;
use crate::ingress::RouteTable;
pub(crate) use error::Collector;
pub(crate) use server::duration as duration_field;
use source::{join_index, join_key, Positions};

/// The default grace period for in-flight requests on shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A validated config.
#[derive(Debug)]
pub struct Config {
    /// Where the ingress listener binds.
    pub listen: SocketAddr,
    /// Where the admin listener binds, if it runs.
    pub admin: Option<SocketAddr>,
    /// The store.
    pub store: StoreSettings,
    /// Size and time limits.
    pub limits: Limits,
    /// Time in-flight requests get to finish on SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// Targets, in file order.
    pub targets: Vec<Arc<Target>>,
    /// Routes, in file order.
    pub routes: Vec<Arc<Route>>,
    /// The routes indexed for matching.
    pub route_table: Arc<RouteTable>,
}

/// The top-level keys, in the order they are documented.
const TOP_LEVEL: [&str; 7] = [
    "listen",
    "admin",
    "store",
    "limits",
    "shutdown_grace",
    "targets",
    "routes",
];

impl Config {
    /// Reads and validates the file at `path`, interpolating from the process
    /// environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigErrors {
            file: label.clone(),
            errors: vec![ConfigError {
                path: String::new(),
                location: None,
                message: format!("cannot read the config file: {error}"),
            }],
        })?;
        Config::parse(&text, &label, &|name| std::env::var(name).ok())
    }

    /// Validates config `text`; `file` names it in errors; `env` resolves `${VAR}`.
    pub fn parse(
        text: &str,
        file: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut value: Value = serde_yaml::from_str(text).map_err(|error| ConfigErrors {
            file: file.to_owned(),
            errors: vec![ConfigError {
                path: String::new(),
                location: error.location().map(|at| Location {
                    line: at.line(),
                    column: at.column(),
                }),
                message: format!("invalid YAML: {error}"),
            }],
        })?;
        let positions = Positions::scan(text);
        let mut errors = Collector::new(&positions);
        if value.is_null() {
            value = Value::Mapping(Default::default());
        }
        interpolate::interpolate(&mut value, "", env, &mut errors);
        let Value::Mapping(mut top) = value else {
            errors.at(
                "",
                "expected a mapping with `targets` and `routes` at the top of the file",
            );
            return Err(errors.finish(file).err().unwrap_or_else(|| empty(file)));
        };
        for key in top.keys() {
            let name = key.as_str().unwrap_or("?");
            if !TOP_LEVEL.contains(&name) {
                errors.at_key(
                    name,
                    format!("unknown key `{name}`, expected one of: {}", TOP_LEVEL.join(", ")),
                );
            }
        }
        let listen = section::<Option<String>>(top.remove("listen"), "listen", &mut errors).flatten();
        let listen = server::listen(listen, DEFAULT_LISTEN, "listen", &mut errors);
        let admin = section::<Option<AdminConfig>>(top.remove("admin"), "admin", &mut errors)
            .flatten()
            .map(|admin| server::listen(admin.listen, DEFAULT_ADMIN_LISTEN, "admin.listen", &mut errors));
        let store = section::<Option<store::StoreConfig>>(top.remove("store"), "store", &mut errors)
            .flatten()
            .unwrap_or_default()
            .validate("store", &mut errors);
        let limits = section::<Option<LimitsConfig>>(top.remove("limits"), "limits", &mut errors)
            .flatten()
            .unwrap_or_default()
            .validate("limits", &mut errors);
        let grace =
            section::<Option<String>>(top.remove("shutdown_grace"), "shutdown_grace", &mut errors).flatten();
        let shutdown_grace = server::duration(grace, DEFAULT_SHUTDOWN_GRACE, "shutdown_grace", &mut errors);

        let (targets, broken) = validate_targets(top.remove("targets"), &mut errors);
        let by_name: HashMap<String, Arc<Target>> = targets
            .iter()
            .map(|target| (target.name.clone(), target.clone()))
            .collect();
        let routes = validate_routes(
            top.remove("routes"),
            &by_name,
            &broken,
            limits.max_body,
            &mut errors,
        );

        let route_table = match RouteTable::build(&routes.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>())
        {
            Ok(table) => Arc::new(table),
            Err(conflicts) => {
                for (index, message) in conflicts {
                    errors.at(&format!("{}.path", routes[index].0), message);
                }
                Arc::default()
            }
        };
        errors.finish(file)?;
        Ok(Config {
            listen,
            admin,
            store,
            limits,
            shutdown_grace,
            targets,
            routes: routes.into_iter().map(|(_, route)| route).collect(),
            route_table,
        })
    }
}

/// Route and target names become parts of store keys, metric labels and log fields:
/// letters, digits, `-`, `_` and `.` only.
pub(crate) fn check_name(kind: &str, name: &str, path: &str, errors: &mut Collector<'_>) {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        errors.at_key(
            path,
            format!("expected a {kind} name of letters, digits, `-`, `_` and `.`, e.g. `klavi-events`, found `{name}`"),
        );
    }
}

/// Runs `build` with a fresh collector and returns its result and the errors it
/// recorded (without locations), for unit tests of config builders.
#[cfg(test)]
pub(crate) fn collect<T>(build: impl FnOnce(&mut Collector<'_>) -> T) -> (T, Vec<ConfigError>) {
    let positions = Positions::default();
    let mut errors = Collector::new(&positions);
    let built = build(&mut errors);
    let errors = errors.finish("test").err().map(|e| e.errors).unwrap_or_default();
    (built, errors)
}

fn empty(file: &str) -> ConfigErrors {
    ConfigErrors {
        file: file.to_owned(),
        errors: Vec::new(),
    }
}

/// Deserialises one node, recording a failure at its path. A missing node is `Null`.
///
/// An unknown key is recorded, removed and the node tried again, so that a typo does
/// not hide the other problems of the same item; any other failure ends the item.
fn section<T: DeserializeOwned>(value: Option<Value>, path: &str, errors: &mut Collector<'_>) -> Option<T> {
    let mut value = value.unwrap_or(Value::Null);
    let mut unknown_keys = 0;
    loop {
        let error = match serde_path_to_error::deserialize(value.clone()) {
            Ok(parsed) => return Some(parsed),
            Err(error) => error,
        };
        let removed = error::unknown_field(&error.inner().to_string())
            .map(str::to_owned)
            .is_some_and(|key| remove_key(&mut value, error.path(), &key));
        errors.serde(path, error);
        if !removed || unknown_keys > 32 {
            return None;
        }
        unknown_keys += 1;
    }
}

/// Removes mapping key `key`, which serde_path_to_error's `path` ends at.
fn remove_key(value: &mut Value, path: &serde_path_to_error::Path, key: &str) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<_> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    if !matches!(last, Segment::Map { key: k } if k == key) {
        return false;
    }
    let mut node = value;
    for segment in parents {
        node = match (segment, node) {
            (Segment::Map { key }, Value::Mapping(map)) => match map.get_mut(key.as_str()) {
                Some(child) => child,
                None => return false,
            },
            (Segment::Seq { index }, Value::Sequence(items)) => match items.get_mut(*index) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match node {
        Value::Mapping(map) => map.remove(key).is_some(),
        _ => false,
    }
}

/// Validates `targets:`; returns the valid targets and the names of those whose
/// definition had errors (already reported, so routes naming them stay quiet).
fn validate_targets(value: Option<Value>, errors: &mut Collector<'_>) -> (Vec<Arc<Target>>, Vec<String>) {
    let entries = match value {
        None | Some(Value::Null) => {
            errors.at(
                "targets",
                "expected at least one target, e.g. `targets: { backend: { url: http://127.0.0.1:9001/ } }`",
            );
            return (Vec::new(), Vec::new());
        }
        Some(Value::Mapping(entries)) => entries,
        Some(_) => {
            errors.at(
                "targets",
                "expected a mapping of target names to targets, e.g. `backend: { url: ... }`",
            );
            return (Vec::new(), Vec::new());
        }
    };
    let mut targets = Vec::with_capacity(entries.len());
    let mut broken = Vec::new();
    for (key, value) in entries {
        let Some(name) = key.as_str() else {
            errors.at("targets", "expected target names to be strings");
            continue;
        };
        let path = join_key("targets", name);
        match section::<TargetConfig>(Some(value), &path, errors) {
            Some(config) => targets.push(Arc::new(config.validate(name, &path, errors))),
            None => broken.push(name.to_owned()),
        }
    }
    (targets, broken)
}

fn validate_routes(
    value: Option<Value>,
    targets: &HashMap<String, Arc<Target>>,
    broken: &[String],
    max_body: usize,
    errors: &mut Collector<'_>,
) -> Vec<(String, Arc<Route>)> {
    let items = match value {
        None | Some(Value::Null) => {
            errors.at("routes", "expected at least one route, e.g. `routes: [{ name: a, path: /hooks/a, targets: [backend] }]`");
            return Vec::new();
        }
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            errors.at(
                "routes",
                "expected a list of routes, each starting with `- name: ...`",
            );
            return Vec::new();
        }
    };
    let mut routes: Vec<(String, Arc<Route>)> = Vec::with_capacity(items.len());
    for (index, value) in items.into_iter().enumerate() {
        let path = join_index("routes", index);
        let Some(config) = section::<RouteConfig>(Some(value), &path, errors) else {
            continue;
        };
        let route = config.validate(&path, targets, broken, max_body, errors);
        for (index, name) in route.pass_headers.iter().enumerate() {
            if is_never_forwarded(name) {
                errors.at(
                    &format!("{path}.pass_headers[{index}]"),
                    format!(
                        "`{name}` describes the connection, not the event, and is never passed to targets"
                    ),
                );
            }
        }
        if let Some((first, _)) = routes.iter().find(|(_, other)| other.name == route.name) {
            errors.at(
                &format!("{path}.name"),
                format!(
                    "duplicate route name `{}`; it is already used by {first}",
                    route.name
                ),
            );
        }
        routes.push((path, Arc::new(route)));
    }
    routes
}
