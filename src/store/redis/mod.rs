//! The Redis store: the [`Store`] shared by several hookgate instances, so they can
//! sit behind one load balancer with all state in Redis: one Redis, or a Redis
//! Cluster.
//!
//! The keyspace is split into partitions, each one slot (see `keys.rs`), so a
//! cluster spreads them over its masters. An event, its dedupe key and its
//! deliveries share a partition, so admitting it stays one atomic script (see
//! `group.rs` for requests whose events span partitions). Each target has, per
//! partition, a ready stream read by the consumer group `workers`, where new
//! deliveries go at once, and a delayed sorted set (retries, deferrals, replays,
//! scored by due time): admissions and claims promote due deliveries from the set
//! to the stream, oldest due first, and a claim reads the stream as this
//! instance's consumer, all in one script. A worker claims from every partition of
//! its target, fairly (see `queue.rs`). The lease token names the partition and
//! the stream entry; a lease held longer than the lease timeout (its instance died)
//! is taken over with XAUTOCLAIM by the next claim on that partition.
//!
//! Connection: see `connection.rs`. While Redis is down every call fails fast with
//! an unavailable [`StoreError`] (a refused connection at once; an unresponsive
//! server after [`RESPONSE_TIMEOUT`]; nothing waits longer than
//! [`OPERATION_DEADLINE`]); callers answer 503 or retry later. [`connect`] connects
//! eagerly: it fails if Redis cannot be reached at start, so a wrong URL is reported
//! at startup rather than as 503s.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{RedisError, RedisResult, Value};
use async_trait::async_trait;

use super::error::ErrorKind as StoreErrorKind;
use super::{
    record, Admission, Admitted, Backlog, Completion, DeadLetterFilter, DeliveryReport, EventFilter,
    Hastened, KeyClaim, Lease, LoggedEvent, Store, StoreError,
};
use crate::model::{now_ms, Delivery, Subscription, TargetRecord};

mod connection;
mod group;
mod keys;
mod layout;
mod lookup;
mod queue;
mod scripts;

use connection::Connection;
use group::{Admitter, Committer};
use keys::Keys;
pub use keys::MAX_PARTITIONS;
use queue::{finish_item, release_item, Claims, Finish};
use scripts::Scripts;

/// How long one command may wait for its answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one connection attempt may take.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// The most any store call waits, reconnection attempts included.
pub const OPERATION_DEADLINE: Duration = Duration::from_millis(2_500);
/// The most deliveries one claim leases (bounds the time one script holds Redis).
pub const MAX_CLAIM: usize = 1_000;

/// The longest a target's abandoned leases wait, beyond the lease timeout, for a claim
/// to look for them (see [`RedisStore::due_for_reclaim`]).
const RECLAIM_INTERVAL: Duration = Duration::from_secs(1);

/// The consumer group every instance reads the ready streams with.
const GROUP: &str = "workers";
/// Ids replayed or discarded per script call (bounds one script's run time).
const BATCH: usize = 256;

/// How long another instance's consumer may stay idle with nothing pending before
/// it is removed from the group.
pub const DEFAULT_CONSUMER_IDLE: Duration = Duration::from_secs(3_600);

/// How many partitions a store has unless `store.redis.partitions` says otherwise.
pub const DEFAULT_PARTITIONS: u16 = 16;

/// How long admission waits for replicas unless `store.redis.replica_timeout` says
/// otherwise.
pub const DEFAULT_REPLICA_TIMEOUT: Duration = Duration::from_millis(500);

/// Replicas that must confirm an admission before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas {
    /// How many (`WAIT <acks> <timeout>`).
    pub acks: u32,
    /// How long to wait for them, in milliseconds.
    pub timeout_ms: u64,
}

/// How to reach Redis and share it with other instances.
#[derive(Clone)]
pub struct RedisOptions {
    /// Connection URL, e.g. `redis://127.0.0.1:6379/0` (may carry a password; it is
    /// redacted from `Debug`). Unused when `cluster` is set.
    pub url: String,
    /// Seed URLs of a Redis Cluster (any of its nodes; the others are discovered).
    /// Empty: `url` is a single Redis.
    pub cluster: Vec<String>,
    /// How many partitions the keyspace is split into (fixed once data exists).
    pub partitions: u16,
    /// Replicas that must confirm each admission before it is acknowledged (none:
    /// Redis's asynchronous replication, where a failover may lose the last writes).
    pub replicas: Option<Replicas>,
    /// Every key is `{<key_prefix>}:...` (default `hookgate`); must be non-empty and
    /// free of braces. Instances sharing work share the prefix.
    pub key_prefix: String,
    /// How long a claimed delivery stays invisible to other claims; after it the
    /// delivery is claimable again, by any instance (default 30 s; keep it above the
    /// longest target timeout).
    pub lease_timeout: Duration,
    /// How long a logged event's key lives (the sweep drops its index entry).
    pub retention: Duration,
    /// This instance's consumer name in the consumer group, unique among running
    /// instances and stable across restarts of one (default: a fresh UUID).
    pub consumer: String,
    /// How long a consumer of another instance may stay idle with nothing pending
    /// before claims remove it from the group (default an hour): instances that
    /// stopped for good leave no consumer behind.
    pub consumer_idle: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".to_owned(),
            cluster: Vec::new(),
            partitions: DEFAULT_PARTITIONS,
            replicas: None,
            key_prefix: "hookgate".to_owned(),
            lease_timeout: Duration::from_secs(30),
            retention: crate::store::DEFAULT_RETENTION,
            consumer: uuid::Uuid::now_v7().to_string(),
            consumer_idle: DEFAULT_CONSUMER_IDLE,
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact(&self.url))
            .field(
                "cluster",
                &self.cluster.iter().map(|url| redact(url)).collect::<Vec<_>>(),
            )
            .field("partitions", &self.partitions)
            .field("replicas", &self.replicas)
            .field("key_prefix", &self.key_prefix)
            .field("lease_timeout", &self.lease_timeout)
            .field("consumer", &self.consumer)
            .finish()
    }
}

/// `url` without its credentials (`redis://user:secret@host` → `redis://***@host`).
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &url[..scheme + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

/// The Redis store. Cheap to share behind an `Arc`; all calls are concurrent on one
/// multiplexed connection (per node, on a cluster).
pub struct RedisStore {
    connection: Connection,
    keys: Keys,
    scripts: Scripts,
    admitter: Admitter,
    consumer: String,
    consumer_idle_ms: u64,
    lease_timeout_ms: u64,
    retention_ms: u64,
    /// What the claims on each target remember (see `queue.rs`).
    claims: Claims,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .field("consumer", &self.consumer)
            .field("lease_timeout_ms", &self.lease_timeout_ms)
            .finish_non_exhaustive()
    }
}

/// Connects to Redis and loads the store's scripts.
///
/// Eager: fails with an unavailable [`StoreError`] when the URL or key prefix is invalid
/// or Redis does not answer within [`OPERATION_DEADLINE`]. Once connected, outages are
/// survived: calls fail fast while Redis is down and work again when it is back,
/// without a new `connect`.
pub async fn connect(options: RedisOptions) -> Result<RedisStore, StoreError> {
    let keys = Keys::new(&options.key_prefix, options.partitions)?;
    let open = || async {
        if options.cluster.is_empty() {
            connect_single(&options.url).await
        } else {
            connect_cluster(&options.cluster).await
        }
    };
    let connection = open().await?;
    // WAIT blocks the connection it is sent on until the replicas answer: admissions
    // that wait for replicas get a connection of their own, so claims and
    // completions never queue behind them.
    let admitting = match options.replicas {
        Some(_) => open().await?,
        None => connection.clone(),
    };
    let scripts = Scripts::new();
    let retention_ms = millis(options.retention);
    let claims = Claims::default();
    let admitter = Admitter::start(Committer {
        connection: admitting,
        claims: claims.clone(),
        keys: keys.clone(),
        script: scripts.admit.clone(),
        retention_ms,
        replicas: options.replicas,
    });
    let store = RedisStore {
        connection,
        keys,
        scripts,
        admitter,
        consumer: options.consumer,
        consumer_idle_ms: millis(options.consumer_idle),
        lease_timeout_ms: u64::try_from(options.lease_timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1),
        retention_ms,
        claims,
    };
    store.check_server().await?;
    store.check_layout().await?;
    Ok(store)
}

/// A connection to the single Redis at `url`.
async fn connect_single(url: &str) -> Result<Connection, StoreError> {
    let client = ::redis::Client::open(url)
        .map_err(|error| StoreError::unavailable(format!("invalid redis url {}: {error}", redact(url))))?;
    // Few, short reconnection attempts: a caller waits for the attempt in progress,
    // and a store call must fail fast (503, retry later) rather than hang. The manager
    // starts a new attempt on the next call after a failed one.
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(250));
    let manager = deadline(ConnectionManager::new_with_config(client, config))
        .await
        .map_err(|error| {
            StoreError::unavailable(format!("cannot connect to redis at {}: {error}", redact(url)))
        })?;
    Ok(Connection::Single(manager))
}

/// A connection to the Redis Cluster `seeds` belong to.
async fn connect_cluster(seeds: &[String]) -> Result<Connection, StoreError> {
    let shown = || seeds.iter().map(|url| redact(url)).collect::<Vec<_>>().join(", ");
    // Retries stay within the operation deadline: during a failover a call fails
    // (503, retry later) rather than waiting for the new master.
    let client = ::redis::cluster::ClusterClientBuilder::new(seeds.iter().map(String::as_str))
        .connection_timeout(CONNECTION_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .retries(3)
        .min_retry_wait(50)
        .max_retry_wait(400)
        .build()
        .map_err(|error| {
            StoreError::unavailable(format!("invalid redis cluster urls {}: {error}", shown()))
        })?;
    let connection = deadline(client.get_async_connection()).await.map_err(|error| {
        StoreError::unavailable(format!(
            "cannot connect to the redis cluster at {}: {error}",
            shown()
        ))
    })?;
    Ok(Connection::Cluster(connection))
}

/// Runs `operation` within [`OPERATION_DEADLINE`].
async fn deadline<T>(operation: impl Future<Output = RedisResult<T>>) -> RedisResult<T> {
    match tokio::time::timeout(OPERATION_DEADLINE, operation).await {
        Ok(result) => result,
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {OPERATION_DEADLINE:?}"),
        ))),
    }
}

/// A Redis failure as a store error. Only answers that will be the same next time
/// are rejections: a key of the wrong type, missing permissions, keys across slots,
/// or one of hookgate's scripts refusing its arguments. Everything else (no
/// connection, a timeout, a server loading, failing over, out of memory, or a
/// script failing for one of those reasons) may pass, and is unavailability.
fn unavailable(error: RedisError) -> StoreError {
    StoreError::new(classify(&error), "redis").because(error)
}

/// Whether `error` is a rejection or unavailability (see [`unavailable`]).
fn classify(error: &RedisError) -> StoreErrorKind {
    use ::redis::{ErrorKind, ServerErrorKind};
    match error.kind() {
        ErrorKind::Server(ServerErrorKind::NoPerm | ServerErrorKind::CrossSlot) => StoreErrorKind::Rejected,
        ErrorKind::Server(ServerErrorKind::ResponseError) | ErrorKind::Extension => {
            if matches!(error.code(), Some("WRONGTYPE")) {
                StoreErrorKind::Rejected
            } else {
                classify_text(&error.to_string())
            }
        }
        _ => StoreErrorKind::Unavailable,
    }
}

/// The kind of an error Redis answered, from its text (a script's reply carries
/// only that).
fn classify_text(text: &str) -> StoreErrorKind {
    let rejected = ["WRONGTYPE", "NOPERM", "CROSSSLOT"]
        .iter()
        .any(|code| text.contains(code))
        || ["admit", "claim", "finish", "replay", "discard"]
            .iter()
            .any(|script| text.contains(&format!("hookgate {script}:")));
    if rejected {
        StoreErrorKind::Rejected
    } else {
        StoreErrorKind::Unavailable
    }
}

/// Milliseconds of `duration`, at least 1 (Redis refuses a zero expiry).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// Runs one Redis call (built by `call` on a handle of the shared connection)
    /// within the deadline. A refused connection means the command was never sent and
    /// the manager has just started reconnecting, so it is tried once more: the first
    /// call after Redis comes back then succeeds instead of reporting the old outage.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        deadline(async {
            match call(self.connection.clone()).await {
                Err(error) if error.is_connection_refusal() => call(self.connection.clone()).await,
                result => result,
            }
        })
        .await
        .map_err(unavailable)
    }

    /// Runs one command within the deadline.
    async fn query<T: ::redis::FromRedisValue>(&self, command: ::redis::Cmd) -> Result<T, StoreError> {
        self.run(|mut connection| {
            let command = &command;
            async move { command.query_async(&mut connection).await }
        })
        .await
    }

    /// Loads every script (so the first calls do not each pay a NOSCRIPT round trip;
    /// on every master of a cluster) and checks the server has what the store uses
    /// (XAUTOCLAIM: Redis 6.2; on a cluster, every node).
    async fn check_server(&self) -> Result<(), StoreError> {
        for script in self.scripts.all() {
            let _hash: String = self
                .run(|mut connection| async move { script.load_async(&mut connection).await })
                .await?;
        }
        let mut command = ::redis::cmd("INFO");
        command.arg("server");
        // One text from a single Redis; one per node from a cluster.
        let info: Value = self.query(command).await?;
        let mut texts = Vec::new();
        collect_text(&info, &mut texts);
        let versions: Vec<&str> = texts
            .iter()
            .flat_map(|text| text.lines())
            .filter_map(|line| line.strip_prefix("redis_version:"))
            .map(str::trim)
            .collect();
        let too_old = |version: &&&str| {
            let mut parts = version.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
            (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (6, 2)
        };
        if let Some(version) = versions
            .iter()
            .find(too_old)
            .or(versions.is_empty().then_some(&"unknown"))
        {
            return Err(StoreError::unavailable(format!(
                "redis {version} is too old: the store needs 6.2 or later (XAUTOCLAIM)"
            )));
        }
        Ok(())
    }
}

/// Every text in `value` (a reply, or a map of replies per node).
fn collect_text(value: &Value, texts: &mut Vec<String>) {
    match value {
        Value::BulkString(bytes) => texts.push(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => texts.push(text.clone()),
        Value::Array(values) | Value::Set(values) => {
            values.iter().for_each(|value| collect_text(value, texts))
        }
        Value::Map(pairs) => pairs.iter().for_each(|(_, value)| collect_text(value, texts)),
        _ => {}
    }
}

/// Decodes a record; a corrupt one is logged and skipped rather than failing the whole
/// call (it would fail every later call too).
fn decode_or_log(id: &str, bytes: &[u8]) -> Option<Delivery> {
    match record::decode(id, bytes) {
        Ok(delivery) => Some(delivery),
        Err(error) => {
            tracing::error!(delivery_id = %id, %error, "skipping a corrupt delivery record");
            None
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn admit(&self, admission: Admission) -> Result<Vec<Admitted>, StoreError> {
        if admission.events.is_empty() {
            return Ok(Vec::new());
        }
        self.admitter.admit(admission).await
    }

    async fn claim(&self, target: &str, max: usize) -> Result<Vec<Lease>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.claim_target(target, max).await
    }

    async fn complete(&self, lease: Lease, completion: Completion) -> Result<(), StoreError> {
        self.complete_all(&[(lease, completion)]).await
    }

    async fn complete_all(&self, completions: &[(Lease, Completion)]) -> Result<(), StoreError> {
        let items: Vec<Finish<'_>> = completions
            .iter()
            .map(|(lease, completion)| finish_item(lease, completion))
            .collect();
        self.finish(&items).await.map(drop)
    }

    async fn release(&self, leases: Vec<Lease>) -> Result<(), StoreError> {
        let now = now_ms();
        let items: Vec<Finish<'_>> = leases.iter().map(|lease| release_item(lease, now)).collect();
        self.finish(&items).await.map(drop)
    }

    async fn claim_key(&self, route: &str, key: &str, ttl: Duration) -> Result<KeyClaim, StoreError> {
        let mut command = ::redis::cmd("SET");
        command
            .arg(self.keys.dedupe(self.keys.part_of_key(key), route, key))
            .arg("pending")
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl));
        let reply: Value = self.query(command).await?;
        Ok(if reply == Value::Nil {
            KeyClaim::Duplicate
        } else {
            KeyClaim::Claimed
        })
    }

    async fn release_key(&self, route: &str, key: &str) -> Result<(), StoreError> {
        let mut invocation = self.scripts.release_key.prepare_invoke();
        invocation.key(self.keys.dedupe(self.keys.part_of_key(key), route, key));
        let _deleted: i64 = self
            .run(|mut connection| {
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.list_dead_letters(filter, limit).await
    }

    async fn replay(&self, ids: &[String]) -> Result<usize, StoreError> {
        self.replay_dead(ids).await
    }

    async fn events(&self, filter: &EventFilter, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        self.list_events(filter, limit).await
    }

    async fn event(&self, id: &str) -> Result<Option<LoggedEvent>, StoreError> {
        self.find_event(id).await
    }

    async fn sweep_events(&self, before_ms: u64) -> Result<usize, StoreError> {
        // The records expire on their own (they are written with the retention as
        // their TTL); only the index is left to trim.
        self.sweep(before_ms).await
    }

    async fn set_paused(&self, target: &str, paused: bool) -> Result<(), StoreError> {
        let mut command = ::redis::cmd(if paused { "HSET" } else { "HDEL" });
        command.arg(self.keys.paused()).arg(target);
        if paused {
            command.arg(now_ms());
        }
        let _changed: i64 = self.query(command).await?;
        Ok(())
    }

    async fn paused(&self) -> Result<Vec<String>, StoreError> {
        let mut command = ::redis::cmd("HKEYS");
        command.arg(self.keys.paused());
        self.query(command).await
    }

    async fn delivery(&self, id: &str) -> Result<Option<DeliveryReport>, StoreError> {
        self.find_delivery(id).await
    }

    async fn hasten(&self, id: &str) -> Result<Hastened, StoreError> {
        self.hasten_delivery(id).await
    }

    async fn put_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        let mut command = ::redis::cmd("HSET");
        command
            .arg(self.keys.subscriptions())
            .arg(&subscription.id)
            .arg(record::encode_subscription(subscription));
        let _added: i64 = self.query(command).await?;
        Ok(())
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        let mut command = ::redis::cmd("HDEL");
        command.arg(self.keys.subscriptions()).arg(id);
        let deleted: i64 = self.query(command).await?;
        Ok(deleted > 0)
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let mut command = ::redis::cmd("HGETALL");
        command.arg(self.keys.subscriptions());
        let entries: Vec<(String, Vec<u8>)> = self.query(command).await?;
        Ok(entries
            .iter()
            .filter_map(|(id, bytes)| record::decode_subscription(id, bytes))
            .collect())
    }

    async fn discard(&self, ids: &[String]) -> Result<usize, StoreError> {
        self.discard_dead(ids).await
    }

    async fn backlog(&self, target: &str) -> Result<Backlog, StoreError> {
        self.target_backlog(target).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _pong: String = self.query(::redis::cmd("PING")).await?;
        Ok(())
    }

    async fn save_targets(&self, targets: &[TargetRecord]) -> Result<(), StoreError> {
        if targets.is_empty() {
            return Ok(());
        }
        let mut command = ::redis::cmd("HSET");
        command.arg(self.keys.targets());
        for target in targets {
            command.arg(&target.name).arg(record::encode_target(target));
        }
        let _added: i64 = self.query(command).await?;
        Ok(())
    }

    async fn targets(&self) -> Result<Vec<TargetRecord>, StoreError> {
        let mut command = ::redis::cmd("HGETALL");
        command.arg(self.keys.targets());
        let entries: Vec<(String, Vec<u8>)> = self.query(command).await?;
        Ok(entries
            .into_iter()
            .filter_map(|(name, bytes)| match record::decode_target(&name, &bytes) {
                Ok(target) => Some(target),
                Err(error) => {
                    tracing::error!(%error, "skipping an unreadable target definition");
                    None
                }
            })
            .collect())
    }

    async fn forget_target(&self, target: &TargetRecord) -> Result<(), StoreError> {
        let mut invocation = self.scripts.forget_target.prepare_invoke();
        invocation
            .key(self.keys.targets())
            .arg(&target.name)
            .arg(record::encode_target(target));
        let _removed: i64 = self
            .run(|mut connection| {
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact("rediss://user:s3cret@cache:6380/0"),
            "rediss://***@cache:6380/0"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        let options = RedisOptions {
            url: "redis://:s3cret@host".into(),
            ..RedisOptions::default()
        };
        assert!(!format!("{options:?}").contains("s3cret"));
    }
}
