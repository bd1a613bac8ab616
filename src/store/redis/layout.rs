//! What the data under a key prefix was written with, checked at connect: the
//! partition count is fixed once data exists (an event's partition is its affinity
//! modulo the count, so another count would look for everything in the wrong
//! place), and data of the single-tag layout (before partitions) is not read by
//! this one, so it is refused rather than stranded.

use super::RedisStore;
use crate::store::StoreError;

impl RedisStore {
    /// Records the partition count on first use; refuses a different one, or queues
    /// left in the single-tag layout.
    pub(super) async fn check_layout(&self) -> Result<(), StoreError> {
        let partitions = self.keys.partitions();
        let layout = self.keys.layout();
        let mut command = ::redis::cmd("HGET");
        command.arg(&layout).arg("partitions");
        let written: Option<String> = self.query(command).await?;
        if let Some(written) = written {
            return if written == partitions.to_string() {
                Ok(())
            } else {
                Err(StoreError::rejected(format!(
                    "store.redis.partitions is {partitions}, but the data under this key prefix was \
                     written with {written} partitions; the count is fixed once data exists: set it \
                     back to {written} (or use a new key_prefix for a new count)"
                )))
            };
        }
        self.refuse_unpartitioned().await?;
        let mut command = ::redis::cmd("HSETNX");
        command.arg(&layout).arg("partitions").arg(partitions);
        let _set: i64 = self.query(command).await?;
        // Another instance may have written a different count meanwhile.
        let mut command = ::redis::cmd("HGET");
        command.arg(&layout).arg("partitions");
        let written: Option<String> = self.query(command).await?;
        if written.as_deref() != Some(partitions.to_string().as_str()) {
            return Err(StoreError::rejected(format!(
                "store.redis.partitions is {partitions}, but another instance set up this key prefix \
                 with {} partitions at the same time; give every instance the same count",
                written.unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Fails when deliveries wait in the single-tag layout: the queues and dead
    /// letters of every target the store knows of.
    async fn refuse_unpartitioned(&self) -> Result<(), StoreError> {
        let mut command = ::redis::cmd("HKEYS");
        command.arg(self.keys.targets());
        let targets: Vec<String> = self.query(command).await?;
        let keys = &self.keys;
        let mut pipe = ::redis::pipe();
        pipe.cmd("ZCARD").arg(keys.unpartitioned("dead"));
        for target in &targets {
            pipe.cmd("XLEN")
                .arg(keys.unpartitioned(&format!("ready:{target}")));
            pipe.cmd("ZCARD")
                .arg(keys.unpartitioned(&format!("delayed:{target}")));
        }
        let counts: Vec<u64> = self
            .run(|mut connection| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut connection).await }
            })
            .await?;
        let waiting: u64 = counts.iter().sum();
        if waiting > 0 {
            return Err(StoreError::rejected(format!(
                "this Redis holds {waiting} deliveries (pending or dead) in the single-tag layout of \
                 hookgate before partitions, which this version does not read; drain them first with \
                 the version that wrote them (stop sending to it, wait until /admin/targets shows no \
                 backlog, replay or discard the dead letters), or start this version with a new \
                 store.redis.key_prefix"
            )));
        }
        Ok(())
    }
}
