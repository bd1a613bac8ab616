//! The top-level server section: `listen`, `limits`, `shutdown_grace`.

use std::net::SocketAddr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::error::Collector;
use super::units::{parse_duration, parse_size};
use crate::model::Limits;

/// Default listen address of the ingress listener.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// `limits:` as written in the file.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body accepted, e.g. `1MiB` (default). Larger requests get 413,
    /// decided from `Content-Length` before reading when the sender gives one.
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::size")]
    pub max_body: Option<String>,
    /// Most events one request may hold once split (default 1000); more get 413.
    #[serde(default, deserialize_with = "super::units::count")]
    #[schemars(schema_with = "super::schema::count")]
    pub max_events: Option<usize>,
    /// Time a client has to send the request line and headers (default `10s`); guards
    /// against slowloris connections. Also the longest a connection with no request
    /// in flight stays open, in HTTP/1.1 and HTTP/2 alike.
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub header_read_timeout: Option<String>,
    /// Time a client has to send the whole body once the headers are in (default `30s`).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub body_read_timeout: Option<String>,
    /// Largest response body read from a target and relayed to the sender in `sync`
    /// mode (default `1MiB`); a larger answer is a 502.
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::size")]
    pub max_response_body: Option<String>,
    /// Most ingress connections open at once (default 10000); more are closed as they
    /// arrive and counted in `hookgate_connections_refused_total`. Keep it below the
    /// process's file-descriptor limit.
    #[serde(default, deserialize_with = "super::units::count")]
    #[schemars(schema_with = "super::schema::count")]
    pub max_connections: Option<usize>,
}

impl LimitsConfig {
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> Limits {
        let defaults = Limits::default();
        Limits {
            max_body: size(
                self.max_body,
                defaults.max_body,
                &format!("{path}.max_body"),
                errors,
            ),
            max_events: at_least_one(
                self.max_events,
                defaults.max_events,
                &format!("{path}.max_events"),
                errors,
            ),
            header_read_timeout: duration(
                self.header_read_timeout,
                defaults.header_read_timeout,
                &format!("{path}.header_read_timeout"),
                errors,
            ),
            body_read_timeout: duration(
                self.body_read_timeout,
                defaults.body_read_timeout,
                &format!("{path}.body_read_timeout"),
                errors,
            ),
            max_response_body: size(
                self.max_response_body,
                defaults.max_response_body,
                &format!("{path}.max_response_body"),
                errors,
            ),
            max_connections: at_least_one(
                self.max_connections,
                defaults.max_connections,
                &format!("{path}.max_connections"),
                errors,
            ),
        }
    }
}

/// Parses an optional duration field, reporting a bad one and falling back to `default`.
pub(crate) fn duration(
    value: Option<String>,
    default: Duration,
    path: &str,
    errors: &mut Collector<'_>,
) -> Duration {
    match value.as_deref().map(parse_duration) {
        None => default,
        Some(Ok(duration)) if duration.is_zero() => {
            errors.at(
                path,
                "expected a duration greater than zero, e.g. `5s`, found `0`",
            );
            default
        }
        Some(Ok(duration)) => duration,
        Some(Err(message)) => {
            errors.at(path, message);
            default
        }
    }
}

/// Parses an optional size field, reporting a bad one and falling back to `default`.
pub(crate) fn size(value: Option<String>, default: usize, path: &str, errors: &mut Collector<'_>) -> usize {
    match value.as_deref().map(parse_size) {
        None => default,
        Some(Ok(0)) => {
            errors.at(path, "expected a size greater than zero, e.g. `1MiB`, found `0`");
            default
        }
        Some(Ok(size)) => size,
        Some(Err(message)) => {
            errors.at(path, message);
            default
        }
    }
}

/// Parses a listen address, `default` when absent.
pub(crate) fn listen(
    value: Option<String>,
    default: &str,
    path: &str,
    errors: &mut Collector<'_>,
) -> SocketAddr {
    let text = value.unwrap_or_else(|| default.to_owned());
    text.parse().unwrap_or_else(|_| {
        errors.at(
            path,
            format!(
                "expected an address with a port such as `0.0.0.0:8080` or `127.0.0.1:9000`, found `{text}`"
            ),
        );
        SocketAddr::from(([0, 0, 0, 0], 8080))
    })
}

/// `admin:` as written in the file.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin listener (`/metrics`, `/healthz`); keep it on loopback or
    /// a private network. Omit the whole `admin` section to run without it.
    pub listen: Option<String>,
    /// Bearer tokens of the admin API (`/api/v1`, `POST /reload`), each with its
    /// roles. None: the API refuses every call (`/metrics`, `/healthz` and `/readyz`
    /// need no token).
    #[serde(default)]
    pub tokens: Vec<AdminTokenConfig>,
}

/// One admin API token as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenConfig {
    /// Who holds it, e.g. `ci` or `oncall`: named in the log line and metrics of
    /// every change it makes.
    pub name: String,
    /// The token (`${ENV}` or `file:`), at least 32 characters, e.g. from `openssl
    /// rand -hex 32`. Only its SHA-256 is kept.
    pub token: String,
    /// `viewer` (read all but bodies), `operator` (also bodies, retry, replay,
    /// discard, pause), `subscriptions` (manage subscriptions), `admin` (all, and
    /// reload).
    pub roles: Vec<crate::model::Role>,
    /// For `subscriptions`: only these routes' subscriptions (default: all routes).
    #[serde(default)]
    pub routes: Vec<String>,
}

/// The shortest token accepted.
const MIN_TOKEN: usize = 32;

impl AdminTokenConfig {
    /// Builds the token at `path` (`admin.tokens[i]`); `None` when it is broken.
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> Option<crate::model::AdminToken> {
        let before = errors.len();
        super::check_name("token", &self.name, &format!("{path}.name"), errors);
        let at = format!("{path}.token");
        errors.secret(&at);
        let secret = crate::model::resolve_secret(&self.token)
            .map_err(|message| errors.at(&at, message))
            .ok();
        if let Some(secret) = &secret {
            if secret.expose().len() < MIN_TOKEN {
                errors.at(
                    &at,
                    format!(
                        "expected a token of at least {MIN_TOKEN} characters (e.g. `openssl rand -hex 32`), found {}",
                        secret.expose().len()
                    ),
                );
            }
        }
        if self.roles.is_empty() {
            errors.at(
                &format!("{path}.roles"),
                "expected at least one role: viewer, operator, subscriptions or admin",
            );
        }
        let secret = secret.filter(|_| errors.len() == before)?;
        Some(crate::model::AdminToken::new(
            self.name,
            secret.expose(),
            self.roles,
            self.routes,
        ))
    }
}

/// Default admin listen address.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// A count that must be at least 1, or `default` when absent.
pub(crate) fn at_least_one(
    value: Option<usize>,
    default: usize,
    path: &str,
    errors: &mut Collector<'_>,
) -> usize {
    match value {
        Some(0) => {
            errors.at(path, "expected at least 1, found `0`");
            default
        }
        Some(count) => count,
        None => default,
    }
}
