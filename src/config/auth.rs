//! `routes[].auth[]`: one entry per check, keyed by scheme
//! (`- github: { secrets: [...] }`). Each scheme's settings, build function and
//! verifier live in one file of `auth/`, listed in `auth::SCHEMES`; this file only
//! takes an entry apart and lends the scheme the collector, as its `Front`.

use std::sync::Arc;
use std::time::Duration;

use serde_yaml::Value;

use super::error::Collector;
use super::server::duration;
use super::{section_with, ParseFn};
use crate::auth::{self, Context, Front, Verifier};

/// Parses and builds the check at `path` (`routes[i].auth[j]`), reporting problems
/// there.
pub(crate) fn build(value: Value, path: &str, errors: &mut Collector<'_>) -> Option<Arc<dyn Verifier>> {
    let entry = match value {
        Value::Mapping(map) if map.len() == 1 => map.into_iter().next(),
        _ => None,
    };
    let Some((Value::String(scheme), settings)) = entry else {
        errors.at(
            path,
            format!(
                "expected one scheme with its settings, e.g. `- github: {{ secrets: [\"${{GITHUB_SECRET}}\"] }}`; schemes: {}",
                auth::scheme_names()
            ),
        );
        return None;
    };
    let at = format!("{path}.{scheme}");
    if !auth::SCHEMES.iter().any(|known| known.name == scheme) {
        errors.at_key(
            &at,
            format!(
                "unknown scheme `{scheme}`, expected one of: {}",
                auth::scheme_names()
            ),
        );
        return None;
    }
    let mut front = CollectorFront(errors);
    auth::build(&scheme, settings, &mut Context::new(&mut front, at))
}

/// The collector, as what a scheme's build needs from the config front end.
struct CollectorFront<'c, 'a>(&'c mut Collector<'a>);

impl Front for CollectorFront<'_, '_> {
    fn parse(&mut self, value: Value, path: &str, parse: ParseFn<'_>) {
        section_with(Some(value), path, self.0, parse);
    }

    fn report(&mut self, path: &str, message: String) {
        self.0.at(path, message);
    }

    fn duration(&mut self, value: Option<String>, default: Duration, path: &str) -> Duration {
        duration(value, default, path, self.0)
    }

    fn problems(&self) -> usize {
        self.0.len()
    }

    fn secret(&mut self, path: &str) {
        self.0.secret(path);
    }
}
