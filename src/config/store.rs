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
    /// A single Redis, e.g. `redis://127.0.0.1:6379` or
    /// `rediss://user:pass@host:6380/0`. Give this or `cluster`.
    pub url: Option<String>,
    /// A Redis Cluster: URLs of some of its nodes (the others are discovered), e.g.
    /// `[redis://10.0.0.1:6379, redis://10.0.0.2:6379]`. Give this or `url`.
    pub cluster: Option<Vec<String>>,
    /// Prefix of every key (default `hookgate`). Keys sit in partitions, each in a
    /// hash tag of its own (`{hookgate:p07}:...`), so a cluster spreads them over its
    /// masters.
    pub key_prefix: Option<String>,
    /// How many partitions the keyspace is split into (default 16, at most 1024).
    /// Fixed once data exists: a different count is refused at start. More
    /// partitions spread load over more cluster masters; each is one slot.
    pub partitions: Option<u16>,
    /// How many replicas must confirm each admission (Redis `WAIT`) before it is
    /// acknowledged (default 0). Replication is asynchronous: with 0, a master that
    /// fails right after acknowledging may lose the last admissions when its
    /// replica takes over. With 1 or more they survive a failover, at the cost of a
    /// replica round trip per admission; when the replicas do not confirm in
    /// `replica_timeout` the sender gets 503 and retries.
    pub min_replica_acks: Option<u32>,
    /// How long admission waits for `min_replica_acks` replicas (default `500ms`).
    #[serde(default, deserialize_with = "super::units::text")]
    #[schemars(schema_with = "super::schema::duration")]
    pub replica_timeout: Option<String>,
}

impl RedisConfig {
    fn validate(self, path: &str, errors: &mut Collector<'_>) -> StoreKind {
        let url_ok = |url: &str| url.starts_with("redis://") || url.starts_with("rediss://");
        let (url, cluster) = match (self.url, self.cluster) {
            (Some(_), Some(_)) => {
                errors.at(path, "expected one of `url` or `cluster`, found both");
                (String::new(), Vec::new())
            }
            (None, None) => {
                errors.at(
                    path,
                    "expected `url` (a single Redis) or `cluster` (a Redis Cluster)",
                );
                (String::new(), Vec::new())
            }
            (Some(url), None) => {
                if !url_ok(&url) {
                    errors.at(
                        &format!("{path}.url"),
                        "expected a URL such as `redis://127.0.0.1:6379`",
                    );
                }
                (url, Vec::new())
            }
            (None, Some(cluster)) => {
                if cluster.is_empty() {
                    errors.at(
                        &format!("{path}.cluster"),
                        "expected the URL of at least one cluster node",
                    );
                }
                for (n, url) in cluster.iter().enumerate() {
                    if !url_ok(url) {
                        errors.at(
                            &format!("{path}.cluster[{n}]"),
                            "expected a URL such as `redis://10.0.0.1:6379`",
                        );
                    }
                }
                (String::new(), cluster)
            }
        };
        let partitions = self.partitions.unwrap_or(crate::store::redis::DEFAULT_PARTITIONS);
        if !(1..=crate::store::redis::MAX_PARTITIONS).contains(&partitions) {
            errors.at(
                &format!("{path}.partitions"),
                format!(
                    "expected 1 to {}, found {partitions}",
                    crate::store::redis::MAX_PARTITIONS
                ),
            );
        }
        StoreKind::Redis {
            url,
            cluster,
            key_prefix: self.key_prefix.unwrap_or_else(|| "hookgate".to_owned()),
            partitions,
            min_replica_acks: self.min_replica_acks.unwrap_or(0),
            replica_timeout: duration(
                self.replica_timeout,
                crate::store::redis::DEFAULT_REPLICA_TIMEOUT,
                &format!("{path}.replica_timeout"),
                errors,
            ),
        }
    }
}

impl StoreConfig {
    pub(crate) fn validate(self, path: &str, errors: &mut Collector<'_>) -> StoreSettings {
        let kind = match (self.embedded, self.redis) {
            (Some(_), Some(_)) => {
                errors.at(path, "expected one of `embedded` or `redis`, found both");
                StoreKind::Embedded { path: "data".into() }
            }
            (None, Some(redis)) => redis.validate(&format!("{path}.redis"), errors),
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
