//! Config: the YAML front end. YAML as written (serde types that reject unknown keys)
//! is built into the running system's types: a [`Snapshot`] of `model` routes and
//! targets with their verifiers and compiled rules. Everything the hot path needs
//! (URIs, header names, durations, the route table) is parsed here, once. Every
//! problem in a file is reported at once, each with its YAML path, line and column.
//!
//! This is the one module that knows about config files; nothing at run time
//! imports it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_yaml::Value;
use sha2::{Digest, Sha256};

mod auth;
mod dedupe;
mod error;
mod files;
mod interpolate;
mod otlp;
mod policy;
mod route;
mod rules;
pub(crate) mod schema;
mod server;
mod source;
mod store;
mod subscriptions;
mod summary;
mod target;
mod tls;
mod units;

pub use error::{ConfigError, ConfigErrors};
pub use route::RouteConfig;
pub use schema::{schema, SCHEMA_FILE};
pub use server::{AdminConfig, LimitsConfig, DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN};
pub use source::Location;
pub use store::DEFAULT_RETENTION;
pub use summary::summary;
pub use target::TargetConfig;
pub use units::{parse_duration, parse_size};

use crate::model::{AdminSettings, Limits, Settings, Target};
use crate::registry::{LiveRoute, Snapshot};
use crate::reload::Source;
pub(crate) use error::Collector;
use source::{join_index, join_key, Positions};

/// The default grace period for in-flight requests on shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A top-level scalar written as a string or a number.
#[derive(serde::Deserialize)]
#[serde(transparent)]
struct Scalar(#[serde(deserialize_with = "units::text")] Option<String>);

/// A serde attempt on a node (see [`section_with`]).
pub(crate) type ParseFn<'p> =
    &'p mut dyn FnMut(Value) -> Result<(), serde_path_to_error::Error<serde_yaml::Error>>;

/// Reads and validates the file at `path`, interpolating from the process
/// environment.
pub fn load(path: &Path) -> Result<Snapshot, ConfigErrors> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ConfigErrors {
        file: label.clone(),
        errors: vec![ConfigError {
            path: String::new(),
            location: None,
            message: format!("cannot read the config file: {error}"),
        }],
    })?;
    parse(&text, &label, &|name| std::env::var(name).ok())
}

/// Where the admin listener of the config file at `path` listens, read leniently (a
/// file broken elsewhere still names it): `None` when the file has no `admin`
/// section. `${VAR}` in the address is resolved from the environment.
pub fn admin_listen(path: &Path) -> Result<Option<std::net::SocketAddr>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let value: Value =
        serde_yaml::from_str(&text).map_err(|error| format!("{}: invalid YAML: {error}", path.display()))?;
    let Some(admin) = value.get("admin") else {
        return Ok(None);
    };
    let mut listen = admin
        .get("listen")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_ADMIN_LISTEN)
        .to_owned();
    if listen.contains('$') {
        let mut value = Value::String(listen);
        let positions = Positions::default();
        let mut errors = Collector::new(&positions);
        interpolate::interpolate(
            &mut value,
            "admin.listen",
            &|name| std::env::var(name).ok(),
            &mut errors,
        );
        errors
            .finish(&path.display().to_string())
            .map_err(|errors| errors.to_string())?;
        listen = value.as_str().unwrap_or_default().to_owned();
    }
    listen.parse().map(Some).map_err(|_| {
        format!(
            "{}: admin.listen `{listen}` is not an address with a port",
            path.display()
        )
    })
}

/// The first admin API token whose roles allow what `role` allows in the config file
/// at `path`, read leniently as [`admin_listen`] is (`${VAR}` from the environment,
/// `file:` read), for `hookgate reload` and `hookgate dlq` on the server's own host;
/// `None` when there is none.
pub fn admin_token(path: &Path, role: crate::model::Role) -> Result<Option<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let value: Value =
        serde_yaml::from_str(&text).map_err(|error| format!("{}: invalid YAML: {error}", path.display()))?;
    let tokens = value
        .get("admin")
        .and_then(|admin| admin.get("tokens"))
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let admin = tokens.into_iter().find(|token| {
        token
            .get("roles")
            .and_then(Value::as_sequence)
            .is_some_and(|roles| {
                roles.iter().any(|held| {
                    serde_yaml::from_value::<crate::model::Role>(held.clone())
                        .is_ok_and(|held| held.grants(role))
                })
            })
    });
    let Some(mut token) = admin.and_then(|admin| admin.get("token").cloned()) else {
        return Ok(None);
    };
    let positions = Positions::default();
    let mut errors = Collector::new(&positions);
    interpolate::interpolate(
        &mut token,
        "admin.tokens.token",
        &|name| std::env::var(name).ok(),
        &mut errors,
    );
    errors
        .finish(&path.display().to_string())
        .map_err(|errors| errors.to_string())?;
    if let Some(base) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        files::anchor(&mut token, base);
    }
    let written = token.as_str().unwrap_or_default();
    let secret = crate::model::resolve_secret(written)
        .map_err(|error| format!("{}: admin token: {error}", path.display()))?;
    Ok(Some(secret.expose_str().to_owned()))
}

/// The config file a server starts and reloads from: read and validated again,
/// exactly as `hookgate check` does, at every reload. Unless told otherwise, a
/// config whose secrets take the `${VAR:-default}` defaults written in it is
/// refused: anyone who can read the file (or the example it was copied from) knows
/// them.
#[derive(Debug, Clone)]
pub struct File {
    path: PathBuf,
    allow_default_secrets: bool,
}

impl File {
    /// The file at `path`, refusing default secrets.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            allow_default_secrets: false,
        }
    }

    /// The same, accepting default secrets (`--allow-default-secrets`: to try a
    /// shipped config out).
    pub fn allowing_default_secrets(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            allow_default_secrets: true,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Source for File {
    fn load(&self) -> Result<Snapshot, ConfigErrors> {
        let snapshot = load(&self.path)?;
        if self.allow_default_secrets || snapshot.default_secrets.is_empty() {
            return Ok(snapshot);
        }
        Err(ConfigErrors {
            file: self.path.display().to_string(),
            errors: snapshot
                .default_secrets
                .iter()
                .map(|(path, variables)| ConfigError {
                    path: path.clone(),
                    location: None,
                    message: default_secret(variables),
                })
                .collect(),
        })
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Why a secret taken from a written default is refused, and what to do.
pub fn default_secret(variables: &[String]) -> String {
    let set = variables.join(", ");
    format!(
        "this secret is the default written in the config for `{set}`, which anyone who can read it knows; set {set}, or pass --allow-default-secrets to try the config out"
    )
}

/// The top-level keys, in the order they are documented.
const TOP_LEVEL: [&str; 10] = [
    "listen",
    "tls",
    "admin",
    "store",
    "limits",
    "shutdown_grace",
    "otlp",
    "subscriptions",
    "targets",
    "routes",
];

/// Validates config `text`; `file` names it in errors; `env` resolves `${VAR}`.
pub fn parse(text: &str, file: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Snapshot, ConfigErrors> {
    let positions = Positions::scan(text);
    // Reported where the repeat is written (the YAML parser points at the mapping).
    let duplicates = positions.duplicates();
    if !duplicates.is_empty() {
        return Err(ConfigErrors {
            file: file.to_owned(),
            errors: duplicates
                .iter()
                .map(|(path, at, first)| ConfigError {
                    path: path.clone(),
                    location: Some(*at),
                    message: format!(
                        "duplicate key `{}`; it is already written at line {}, column {}",
                        path.rsplit('.').next().unwrap_or(path),
                        first.line,
                        first.column
                    ),
                })
                .collect(),
        });
    }
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
    let mut errors = Collector::new(&positions);
    if value.is_null() {
        value = Value::Mapping(Default::default());
    }
    // `<<: *anchor` merges, as YAML 1.1 defines them: keys written beside the merge
    // win over merged ones.
    if let Err(error) = value.apply_merge() {
        errors.at("", format!("invalid YAML merge (`<<`): {error}"));
    }
    interpolate::interpolate(&mut value, "", env, &mut errors);
    if let Some(base) = Path::new(file).parent().filter(|dir| !dir.as_os_str().is_empty()) {
        files::anchor(&mut value, base);
    }
    let Value::Mapping(mut top) = value else {
        errors.at(
            "",
            "expected a mapping with `targets` and `routes` at the top of the file",
        );
        return Err(errors.finish(file).err().unwrap_or_else(|| empty(file)));
    };
    for key in top.keys() {
        let name = key.as_str().unwrap_or("?");
        // `x-` keys hold anchors for `<<` merges, as in Compose files.
        if !TOP_LEVEL.contains(&name) && !name.starts_with("x-") {
            errors.at_key(
                name,
                format!(
                    "unknown key `{name}`, expected one of: {} (or an `x-` key, for anchors)",
                    TOP_LEVEL.join(", ")
                ),
            );
        }
    }
    let listen = section::<Option<String>>(top.remove("listen"), "listen", &mut errors).flatten();
    let listen = server::listen(listen, DEFAULT_LISTEN, "listen", &mut errors);
    let base = Path::new(file)
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tls = section::<Option<tls::TlsConfig>>(top.remove("tls"), "tls", &mut errors)
        .flatten()
        .and_then(|tls| tls.validate("tls", base, &mut errors));
    let mut token_paths = Vec::new();
    let admin = section::<Option<AdminConfig>>(top.remove("admin"), "admin", &mut errors)
        .flatten()
        .map(|admin| {
            let listen = server::listen(admin.listen, DEFAULT_ADMIN_LISTEN, "admin.listen", &mut errors);
            let mut tokens: Vec<crate::model::AdminToken> = Vec::new();
            for (index, token) in admin.tokens.into_iter().enumerate() {
                let path = join_index("admin.tokens", index);
                let Some(token) = token.validate(&path, &mut errors) else {
                    continue;
                };
                if tokens.iter().any(|other| other.name == token.name) {
                    errors.at(
                        &format!("{path}.name"),
                        format!("duplicate token name `{}`", token.name),
                    );
                } else if tokens.iter().any(|other| other.hash == token.hash) {
                    errors.at(
                        &format!("{path}.token"),
                        "the same token as another one; give each holder its own",
                    );
                }
                tokens.push(token);
                token_paths.push(path);
            }
            AdminSettings { listen, tokens }
        });
    let store = section::<Option<store::StoreConfig>>(top.remove("store"), "store", &mut errors)
        .flatten()
        .unwrap_or_default()
        .validate("store", &mut errors);
    let limits = section::<Option<LimitsConfig>>(top.remove("limits"), "limits", &mut errors)
        .flatten()
        .unwrap_or_default()
        .validate("limits", &mut errors);
    let grace = section::<Scalar>(top.remove("shutdown_grace"), "shutdown_grace", &mut errors)
        .and_then(|grace| grace.0);
    let shutdown_grace = server::duration(grace, DEFAULT_SHUTDOWN_GRACE, "shutdown_grace", &mut errors);
    let otlp = section::<Option<otlp::OtlpConfig>>(top.remove("otlp"), "otlp", &mut errors)
        .flatten()
        .and_then(|otlp| otlp.validate("otlp", &mut errors));
    let subscriptions = section::<Option<subscriptions::SubscriptionsConfig>>(
        top.remove("subscriptions"),
        "subscriptions",
        &mut errors,
    )
    .flatten()
    .unwrap_or_default()
    .validate("subscriptions", &mut errors);

    let (targets, broken) = validate_targets(top.remove("targets"), &mut errors);
    let by_name: HashMap<String, Arc<Target>> = targets
        .iter()
        .map(|target| (target.name.clone(), target.clone()))
        .collect();
    let routes = validate_routes(top.remove("routes"), &by_name, &broken, &limits, &mut errors);

    for (token, path) in admin.iter().flat_map(|admin| &admin.tokens).zip(&token_paths) {
        for (index, name) in token.routes.iter().enumerate() {
            if !routes.iter().any(|(_, route)| route.route.name == *name) {
                errors.at(
                    &join_index(&format!("{path}.routes"), index),
                    format!("unknown route `{name}`"),
                );
            }
        }
    }
    let settings = Settings {
        listen,
        tls,
        admin,
        store,
        limits,
        shutdown_grace,
        otlp,
        instance_id: None,
    };
    let paths: Vec<String> = routes.iter().map(|(path, _)| path.clone()).collect();
    let routes = routes.into_iter().map(|(_, route)| route).collect();
    let snapshot = Snapshot::new(settings, routes, targets, Arc::new(subscriptions), hash(text));
    if let Err(conflicts) = &snapshot {
        for conflict in conflicts {
            errors.at(
                &format!("{}.path", paths[conflict.index]),
                conflict.message.clone(),
            );
        }
    }
    let default_secrets = errors.default_secrets();
    errors.finish(file)?;
    let mut snapshot = snapshot.map_err(|_| empty(file))?;
    snapshot.default_secrets = default_secrets;
    Ok(snapshot)
}

/// A short hash of the config text, to tell loads apart in logs and metrics.
fn hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
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

fn empty(file: &str) -> ConfigErrors {
    ConfigErrors {
        file: file.to_owned(),
        errors: Vec::new(),
    }
}

/// Deserialises one node, recording a failure at its path. A missing node is `Null`.
fn section<T: DeserializeOwned>(value: Option<Value>, path: &str, errors: &mut Collector<'_>) -> Option<T> {
    let mut parsed = None;
    section_with(value, path, errors, &mut |value| {
        parsed = Some(serde_path_to_error::deserialize(value)?);
        Ok(())
    });
    parsed
}

/// Runs `parse` on one node, recording a failure at its path; whether it parsed.
///
/// A key that fails (unknown, or a value of the wrong type) is recorded, removed and
/// the node tried again, so that one mistake does not hide the other problems of the
/// same item, and the item still exists for what refers to it (a route naming a
/// target whose `timeout` is wrong is not also told the target is unknown). A
/// required key removed this way is not reported again as missing.
pub(crate) fn section_with(
    value: Option<Value>,
    path: &str,
    errors: &mut Collector<'_>,
    parse: ParseFn<'_>,
) -> bool {
    let mut value = value.unwrap_or(Value::Null);
    let mut removed: Vec<String> = Vec::new();
    loop {
        let error = match parse(value.clone()) {
            Ok(()) => return true,
            Err(error) => error,
        };
        let message = error.inner().to_string();
        if let Some(field) = missing_field(&message) {
            let at = error.path().to_string();
            let key = if at == "." {
                field.to_owned()
            } else {
                format!("{at}.{field}")
            };
            if removed.contains(&key) {
                // Already reported as the value that was wrong.
                return false;
            }
        }
        let failed_key = match error.path().iter().next_back() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        let was_removed = failed_key.is_some_and(|key| remove_key(&mut value, error.path(), &key));
        if was_removed {
            removed.push(error.path().to_string());
        }
        errors.serde(path, error);
        if !was_removed || removed.len() > 64 {
            return false;
        }
    }
}

/// `missing field `url`` → `url`.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
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
    limits: &Limits,
    errors: &mut Collector<'_>,
) -> Vec<(String, Arc<LiveRoute>)> {
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
    let mut routes: Vec<(String, Arc<LiveRoute>)> = Vec::with_capacity(items.len());
    for (index, value) in items.into_iter().enumerate() {
        let path = join_index("routes", index);
        let Some(config) = section::<RouteConfig>(Some(value), &path, errors) else {
            continue;
        };
        let route = config.validate(&path, targets, broken, limits, errors);
        if let Some((first, _)) = routes
            .iter()
            .find(|(_, other)| other.route.name == route.route.name)
        {
            errors.at(
                &format!("{path}.name"),
                format!(
                    "duplicate route name `{}`; it is already used by {first}",
                    route.route.name
                ),
            );
        }
        routes.push((path, Arc::new(route)));
    }
    routes
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::registry::Lookup;

    fn table(routes: &str) -> Snapshot {
        let yaml = format!("targets:\n  t: {{ url: \"http://127.0.0.1:1/\" }}\nroutes:\n{routes}");
        parse(&yaml, "t.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn extracts_path_parameters_in_order() {
        let config =
            table("  - { name: a, path: \"/c/{customerId}/p/{productId}\", mode: sync, targets: [t] }\n");
        match config.lookup(&Method::POST, "/c/cus_1/p/prod_9") {
            Lookup::Found { route, params } => {
                assert_eq!(route.route.name, "a");
                assert_eq!(params.get("customerId"), Some("cus_1"));
                assert_eq!(params.get("productId"), Some("prod_9"));
                assert_eq!(params.0.len(), 2);
            }
            other => panic!("expected a match, got {other:?}"),
        }
        assert!(matches!(
            config.lookup(&Method::POST, "/c/cus_1/p"),
            Lookup::NotFound
        ));
        assert!(matches!(
            config.lookup(&Method::POST, "/c/cus_1/p/x/y"),
            Lookup::NotFound
        ));
    }

    #[test]
    fn routes_may_share_a_path_with_disjoint_methods() {
        let config = table(
            "  - { name: a, path: /x, methods: [POST], mode: sync, targets: [t] }\n  - { name: b, path: /x, methods: [PUT], mode: sync, targets: [t] }\n",
        );
        let name = |method| match config.lookup(&method, "/x") {
            Lookup::Found { route, .. } => route.route.name.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(name(Method::POST), "a");
        assert_eq!(name(Method::PUT), "b");
        match config.lookup(&Method::GET, "/x") {
            Lookup::MethodNotAllowed { allow, .. } => assert_eq!(allow, vec![Method::POST, Method::PUT]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_hash_tells_files_apart() {
        let a = table("  - { name: a, path: /x, targets: [t] }\n");
        let b = table("  - { name: a, path: /y, targets: [t] }\n");
        assert_eq!(a.hash.len(), 12);
        assert_ne!(a.hash, b.hash);
        assert_eq!(a.hash, table("  - { name: a, path: /x, targets: [t] }\n").hash);
    }
}
