//! `store:`: where admitted deliveries and dedupe keys live.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::error::Collector;
use super::server::duration;
use crate::model::{StoreKind, StoreSettings};

/// `store:` as written.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The embedded store (the default): a file in a data directory on local disk.
    pub embedded: Option<EmbeddedConfig>,
    /// Redis, shared by several hookgate instances.
    pub redis: Option<RedisConfig>,
    /// How long a request may wait for the store to admit its deliveries before it is
    /// answered 503 with `Retry-After` (default `2s`).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub admit_timeout: Option<String>,
    /// How long a claimed delivery stays invisible to other workers; after it, a
    /// delivery whose worker died is claimed again (default `30s`; keep it above the
    /// largest target `timeout`).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub lease_timeout: Option<String>,
    /// How long the event log keeps an admitted event (default `7d`): listed by
    /// `/api/v1/events`, then forgotten by a sweep.
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub retention: Option<String>,
}

pub use crate::store::DEFAULT_RETENTION;

/// `store.embedded`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Data directory (default `./data`); one hookgate process at a time may use it.
    pub path: Option<String>,
}

/// `store.redis`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// e.g. `redis://127.0.0.1:6379` or `rediss://user:pass@host:6380/0`.
    pub url: String,
    /// Prefix of every key, inside one hash tag (`{hookgate}:...`) so the same
    /// scripts run on Redis Cluster (default `hookgate`).
    pub key_prefix: Option<String>,
}

impl StoreConfig {
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> StoreSettings {
        let kind = match (self.embedded, self.redis) {
            (Some(_), Some(_)) => {
                errors.at(path, "expected one of `embedded` or `redis`, found both");
                StoreKind::Embedded { path: "data".into() }
            }
            (None, Some(redis)) => {
                if !redis.url.starts_with("redis://") && !redis.url.starts_with("rediss://") {
                    errors.at(
                        &format!("{path}.redis.url"),
                        "expected a URL such as `redis://127.0.0.1:6379`",
                    );
                }
                StoreKind::Redis {
                    url: redis.url,
                    key_prefix: redis.key_prefix.unwrap_or_else(|| "hookgate".to_owned()),
                }
            }
            (embedded, None) => StoreKind::Embedded {
                path: embedded
                    .and_then(|e| e.path)
                    .unwrap_or_else(|| "data".to_owned())
                    .into(),
            },
        };
        StoreSettings {
            kind,
            admit_timeout: duration(
                self.admit_timeout,
                Duration::from_secs(2),
                &format!("{path}.admit_timeout"),
                errors,
            ),
            lease_timeout: duration(
                self.lease_timeout,
                Duration::from_secs(30),
                &format!("{path}.lease_timeout"),
                errors,
            ),
            retention: duration(
                self.retention,
                DEFAULT_RETENTION,
                &format!("{path}.retention"),
                errors,
            ),
        }
    }
}
