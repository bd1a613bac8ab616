//! Building a check from config: what every scheme needs while it builds (its
//! settings deserialized, problems reported at their place in the file, secrets
//! resolved, a tolerance parsed) in one place, so that scheme files hold only what
//! is theirs. The YAML front end provides the [`Front`]; auth knows nothing of files.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Uri};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml::Value;

use super::Verifier;
use crate::model::{resolve_secret, Secret};

/// A serde failure at some path inside a scheme's settings.
pub type SettingsError = serde_path_to_error::Error<serde_yaml::Error>;

/// What the config front end lends a scheme while it builds.
pub trait Front {
    /// Deserializes `value`, the settings at `path`, by calling `parse` (perhaps more
    /// than once, to report every unknown key); reports failures at their path.
    fn parse(&mut self, value: Value, path: &str, parse: &mut dyn FnMut(Value) -> Result<(), SettingsError>);
    /// Records a problem with the value at `path`.
    fn report(&mut self, path: &str, message: String);
    /// Parses an optional duration at `path`, `default` when absent.
    fn duration(&mut self, value: Option<String>, default: Duration, path: &str) -> Duration;
    /// How many problems have been recorded so far.
    fn problems(&self) -> usize;
    /// Notes that the value at `path` is a secret (so that one taken from a default
    /// written in the config can be refused).
    fn secret(&mut self, path: &str);
}

/// Default accepted skew for signed timestamps, as the reference libraries use.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The settings of schemes configured by their secrets alone:
/// `- github: { secrets: ["${GITHUB_SECRET}"] }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// The shared secrets (`${ENV}` or `file:`); a request signed with any one of
    /// them passes, so a secret can be rotated.
    pub secrets: Vec<String>,
}

/// The settings of schemes that also sign a timestamp:
/// `- stripe: { secrets: [...], tolerance: 5m }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimedConfig {
    /// The shared secrets (`${ENV}` or `file:`); any one matches.
    pub secrets: Vec<String>,
    /// Accepted clock skew of the signed timestamp, both ways (default `300s`).
    #[serde(default)]
    #[schemars(schema_with = "crate::config::schema::duration")]
    pub tolerance: Option<String>,
}

/// The settings of schemes that sign the public URL the provider calls:
/// `- square: { secrets: [...], url: https://hooks.example.com/square }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlConfig {
    /// The shared secrets (`${ENV}` or `file:`); any one matches.
    pub secrets: Vec<String>,
    /// The URL exactly as configured at the provider, which it signs (the one
    /// hookgate sees behind a load balancer differs).
    pub url: String,
}

/// One scheme's build: the path of its settings in the file, and the front.
pub struct Context<'a> {
    front: &'a mut dyn Front,
    path: String,
}

impl<'a> Context<'a> {
    /// A context for the settings at `path` (e.g. `routes[0].auth[1].github`).
    pub fn new(front: &'a mut dyn Front, path: String) -> Self {
        Self { front, path }
    }

    /// The path of the settings.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path of `field` inside the settings.
    pub fn at(&self, field: &str) -> String {
        if field.is_empty() {
            self.path.clone()
        } else if field.starts_with('[') {
            format!("{}{field}", self.path)
        } else {
            format!("{}.{field}", self.path)
        }
    }

    /// The settings, deserialized; `None` (reported) when they do not fit `T`.
    pub fn settings<T: DeserializeOwned>(&mut self, value: Value) -> Option<T> {
        let mut parsed = None;
        self.front.parse(value, &self.path, &mut |value| {
            parsed = Some(serde_path_to_error::deserialize(value)?);
            Ok(())
        });
        parsed
    }

    /// Records a problem with `field` of the settings (`""`: the settings as a whole).
    pub fn report(&mut self, field: &str, message: impl Into<String>) {
        let path = self.at(field);
        self.front.report(&path, message.into());
    }

    /// How many problems have been recorded so far (to tell whether a build added any).
    pub fn problems(&self) -> usize {
        self.front.problems()
    }

    /// Resolves a `secrets` list (`${ENV}` already interpolated, `file:` read here),
    /// reporting each bad one at its index. At least one is required.
    pub fn secrets(&mut self, values: Vec<String>) -> Vec<Secret> {
        if values.is_empty() {
            self.report(
                "secrets",
                "expected at least one secret, e.g. `secrets: [\"${WEBHOOK_SECRET}\"]`",
            );
        }
        values
            .iter()
            .enumerate()
            .filter_map(|(index, value)| self.secret(&format!("secrets[{index}]"), value))
            .collect()
    }

    /// Notes that `field` holds a secret used as written (no `file:`).
    pub fn note_secret(&mut self, field: &str) {
        let path = self.at(field);
        self.front.secret(&path);
    }

    /// Resolves the secret `value` of `field` (`file:` read here), reporting a bad
    /// one there.
    pub fn secret(&mut self, field: &str, value: &str) -> Option<Secret> {
        let path = self.at(field);
        self.front.secret(&path);
        match resolve_secret(value) {
            Ok(secret) => Some(secret),
            Err(message) => {
                self.front.report(&path, message);
                None
            }
        }
    }

    /// The resolved secrets and the tolerance of [`TimedConfig`] settings.
    pub fn timed(&mut self, value: Value) -> Option<(Vec<Secret>, Duration)> {
        let config: TimedConfig = self.settings(value)?;
        let secrets = self.secrets(config.secrets);
        Some((secrets, self.tolerance(config.tolerance)))
    }

    /// Parses a `tolerance` (default 300 s).
    pub fn tolerance(&mut self, value: Option<String>) -> Duration {
        self.duration("tolerance", value, DEFAULT_TOLERANCE)
    }

    /// Parses an optional duration `field`.
    pub fn duration(&mut self, field: &str, value: Option<String>, default: Duration) -> Duration {
        let path = self.at(field);
        self.front.duration(value, default, &path)
    }

    /// Parses a header name `field`.
    pub fn header(&mut self, field: &str, text: &str) -> Option<HeaderName> {
        HeaderName::try_from(text)
            .map_err(|_| {
                self.report(
                    field,
                    format!(
                        "expected a header name of letters, digits and `-`, e.g. `x-signature`, found `{text}`"
                    ),
                );
            })
            .ok()
    }

    /// Checks a public URL (absolute, `http` or `https`) and returns it as written:
    /// providers sign the exact text, so it is never normalised.
    pub fn public_url(&mut self, field: &str, text: &str) -> Option<String> {
        match text.parse::<Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.host().is_some_and(|host| !host.is_empty()) =>
            {
                Some(text.to_owned())
            }
            _ => {
                self.report(
                    field,
                    format!(
                        "expected the absolute URL the provider calls, e.g. `https://hooks.example.com/in`, found `{text}`"
                    ),
                );
                None
            }
        }
    }

    /// `verifier` shared, or `None` when building it reported problems.
    pub fn done<V: Verifier + 'static>(&self, before: usize, verifier: V) -> Option<Arc<dyn Verifier>> {
        (self.problems() == before).then(|| Arc::new(verifier) as Arc<dyn Verifier>)
    }
}

/// A [`Front`] for unit tests: settings parsed as they are, problems kept as
/// `(path, message)`.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Problems recorded while building.
    #[derive(Debug, Default)]
    pub(crate) struct Recorded(pub(crate) Vec<(String, String)>);

    impl Front for Recorded {
        fn parse(
            &mut self,
            value: Value,
            path: &str,
            parse: &mut dyn FnMut(Value) -> Result<(), SettingsError>,
        ) {
            if let Err(error) = parse(value) {
                self.0.push((path.to_owned(), error.to_string()));
            }
        }
        fn report(&mut self, path: &str, message: String) {
            self.0.push((path.to_owned(), message));
        }
        fn secret(&mut self, _path: &str) {}
        fn duration(&mut self, value: Option<String>, default: Duration, path: &str) -> Duration {
            match value.map(|text| humantime::parse_duration(&text)) {
                None => default,
                Some(Ok(duration)) => duration,
                Some(Err(error)) => {
                    self.0.push((path.to_owned(), error.to_string()));
                    default
                }
            }
        }
        fn problems(&self) -> usize {
            self.0.len()
        }
    }

    /// Builds scheme `name` from `yaml` settings: the check, or every problem.
    pub(crate) fn build(name: &str, yaml: &str) -> Result<Arc<dyn Verifier>, Vec<(String, String)>> {
        let mut recorded = Recorded::default();
        let value: Value = serde_yaml::from_str(yaml).map_err(|e| vec![(String::new(), e.to_string())])?;
        let built = super::super::build(name, value, &mut Context::new(&mut recorded, name.to_owned()));
        match built {
            Some(verifier) if recorded.0.is_empty() => Ok(verifier),
            _ => Err(recorded.0),
        }
    }
}
