//! Opens the store the config names.

use std::sync::Arc;

use super::embedded::{EmbeddedOptions, EmbeddedStore};
use super::redis::{connect, RedisOptions};
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
        StoreKind::Redis { url, key_prefix } => Arc::new(
            connect(RedisOptions {
                url: url.clone(),
                key_prefix: key_prefix.clone(),
                lease_timeout: settings.lease_timeout,
                retention: settings.retention,
                consumer: consumer.to_owned(),
            })
            .await?,
        ),
    })
}
