//! Opens the store the config names.

use std::sync::Arc;

use super::embedded::{EmbeddedOptions, EmbeddedStore};
use super::redis::{connect, RedisOptions, Replicas, DEFAULT_CONSUMER_IDLE};
use super::{Store, StoreError};
use crate::model::{StoreKind, StoreSettings};

/// Opens the configured store. `consumer` names this instance to a shared store.
pub async fn open(settings: &StoreSettings, consumer: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match &settings.kind {
        StoreKind::Embedded { path } => Arc::new(
            EmbeddedStore::open(
                path,
                EmbeddedOptions {
                    lease_timeout: settings.lease_timeout,
                },
            )
            .await?,
        ),
        StoreKind::Redis {
            url,
            cluster,
            key_prefix,
            partitions,
            min_replica_acks,
            replica_timeout,
        } => Arc::new(
            connect(RedisOptions {
                url: url.clone(),
                cluster: cluster.clone(),
                partitions: *partitions,
                replicas: (*min_replica_acks > 0).then(|| Replicas {
                    acks: *min_replica_acks,
                    timeout_ms: u64::try_from(replica_timeout.as_millis())
                        .unwrap_or(u64::MAX)
                        .max(1),
                }),
                key_prefix: key_prefix.clone(),
                lease_timeout: settings.lease_timeout,
                retention: settings.retention,
                consumer: consumer.to_owned(),
                consumer_idle: DEFAULT_CONSUMER_IDLE,
            })
            .await?,
        ),
    })
}
