//! The Redis store: the [`Store`] shared by several hookgate instances, so they can
//! sit behind one load balancer with all state in Redis.
//!
//! Admission (dedupe + enqueue) is one Lua script, called once for every group of
//! requests admitted together (see `group.rs`). Each target has a ready stream read
//! by the consumer group `workers`, where new deliveries go at once, and a delayed
//! sorted set (retries, deferrals, replays, scored by due time): admissions and claims
//! promote due deliveries from the set to the stream, oldest due first, and a claim
//! reads the stream as this instance's consumer, all in one script. The lease token is the stream entry id; a lease held
//! longer than the lease timeout (its instance died) is taken over with XAUTOCLAIM by
//! the next claim on that target. The key layout is in `keys.rs`; every key shares one
//! hash tag so the scripts also run on one slot of a Redis Cluster.
//!
//! Connection: one multiplexed connection behind a [`ConnectionManager`], which
//! reconnects by itself after an outage. While Redis is down every call fails fast
//! with an unavailable [`StoreError`] (a refused connection at once; an unresponsive
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
    record, Admission, Admitted, Backlog, Completion, DeadLetterFilter, DeliveryReport, DeliveryState,
    EventFilter, Hastened, KeyClaim, Lease, LoggedAttempt, LoggedEvent, Store, StoreError,
};
use crate::model::{now_ms, Delivery, Subscription, TargetRecord};

mod group;
mod keys;
mod scripts;

use group::{Admitter, Committer};
use keys::Keys;
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
/// Leases finished or ids replayed per script call (bounds one script's run time).
const BATCH: usize = 256;

/// How to reach Redis and share it with other instances.
#[derive(Clone)]
pub struct RedisOptions {
    /// Connection URL, e.g. `redis://127.0.0.1:6379/0` (may carry a password; it is
    /// redacted from `Debug`).
    pub url: String,
    /// Every key is `{<key_prefix>}:...` (default `hookgate`); must be non-empty and
    /// free of braces. Instances sharing work share the prefix.
    pub key_prefix: String,
    /// How long a claimed delivery stays invisible to other claims; after it the
    /// delivery is claimable again, by any instance (default 30 s; keep it above the
    /// longest target timeout).
    pub lease_timeout: Duration,
    /// How long a logged event's key lives (the sweep drops its index entry).
    pub retention: Duration,
    /// This instance's consumer name in the consumer group, unique per running
    /// instance (default: a fresh UUID).
    pub consumer: String,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".to_owned(),
            key_prefix: "hookgate".to_owned(),
            lease_timeout: Duration::from_secs(30),
            retention: crate::store::DEFAULT_RETENTION,
            consumer: uuid::Uuid::now_v7().to_string(),
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact(&self.url))
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
/// multiplexed connection.
pub struct RedisStore {
    connection: ConnectionManager,
    keys: Keys,
    scripts: Scripts,
    admitter: Admitter,
    consumer: String,
    lease_timeout_ms: u64,
    retention_ms: u64,
    /// When each target's claims last looked for abandoned leases.
    reclaimed_at: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
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
    let keys = Keys::new(&options.key_prefix)?;
    let client = ::redis::Client::open(options.url.as_str()).map_err(|error| {
        StoreError::unavailable(format!("invalid redis url {}: {error}", redact(&options.url)))
    })?;
    // Few, short reconnection attempts: a caller waits for the attempt in progress,
    // and a store call must fail fast (503, retry later) rather than hang. The manager
    // starts a new attempt on the next call after a failed one.
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(250));
    let connection = deadline(ConnectionManager::new_with_config(client, config))
        .await
        .map_err(|error| {
            StoreError::unavailable(format!(
                "cannot connect to redis at {}: {error}",
                redact(&options.url)
            ))
        })?;
    let scripts = Scripts::new();
    let retention_ms = millis(options.retention);
    let admitter = Admitter::start(Committer {
        connection: connection.clone(),
        keys: keys.clone(),
        script: scripts.admit.clone(),
        retention_ms,
    });
    let store = RedisStore {
        connection,
        keys,
        scripts,
        admitter,
        consumer: options.consumer,
        lease_timeout_ms: u64::try_from(options.lease_timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1),
        retention_ms,
        reclaimed_at: std::sync::Mutex::default(),
    };
    store.check_server().await?;
    Ok(store)
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

/// One lease to finish, as the finish script takes it.
struct Finish<'a> {
    lease: &'a Lease,
    kind: &'static str,
    record: Vec<u8>,
    score: u64,
    /// The attempt for the attempt log ('' when none was made).
    logged: Vec<u8>,
}

/// What the finish script does with `lease` after `completion`.
fn finish_item<'a>(lease: &'a Lease, completion: &Completion) -> Finish<'a> {
    let mut delivery = match completion {
        // The record is deleted: nothing to re-encode.
        Completion::Delivered { record } => {
            return Finish {
                lease,
                kind: "delivered",
                record: Vec::new(),
                score: 0,
                logged: LoggedAttempt::of(&lease.delivery, record).encode(),
            }
        }
        _ => lease.delivery.clone(),
    };
    let logged = completion
        .attempt()
        .map(|attempt| LoggedAttempt::of(&lease.delivery, attempt).encode())
        .unwrap_or_default();
    let (kind, score) = match completion {
        Completion::Delivered { .. } => ("delivered", 0),
        Completion::Retry { due_at_ms, record } => {
            delivery.attempts = delivery.attempts.saturating_add(1);
            delivery.last_attempt = Some(record.clone());
            delivery.due_at_ms = *due_at_ms;
            ("delay", *due_at_ms)
        }
        Completion::Defer { due_at_ms } => {
            delivery.due_at_ms = *due_at_ms;
            ("delay", *due_at_ms)
        }
        Completion::Dead { reason, record } => {
            delivery.attempts = delivery.attempts.saturating_add(1);
            delivery.last_attempt = Some(record.clone());
            delivery.dead_reason = Some(reason.clone());
            ("dead", now_ms())
        }
    };
    Finish {
        lease,
        kind,
        record: record::encode(&delivery),
        score,
        logged,
    }
}

impl RedisStore {
    /// Whether this claim on `target` should look for abandoned leases. XAUTOCLAIM
    /// walks the pending list, which under load is every lease in flight, so doing it
    /// on every claim costs Redis more than the claim itself. A lease is abandoned
    /// only after the lease timeout, so looking once per [`RECLAIM_INTERVAL`] (or a
    /// quarter of the timeout, if shorter) delays a takeover by at most that much.
    fn due_for_reclaim(&self, target: &str) -> bool {
        let interval = RECLAIM_INTERVAL.min(Duration::from_millis(self.lease_timeout_ms / 4));
        let now = std::time::Instant::now();
        let mut reclaimed = self
            .reclaimed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match reclaimed.get_mut(target) {
            Some(last) if now.duration_since(*last) < interval => false,
            Some(last) => {
                *last = now;
                true
            }
            None => {
                reclaimed.insert(target.to_owned(), now);
                true
            }
        }
    }

    /// Runs one Redis call (built by `call` on a handle of the shared connection)
    /// within the deadline. A refused connection means the command was never sent and
    /// the manager has just started reconnecting, so it is tried once more: the first
    /// call after Redis comes back then succeeds instead of reporting the old outage.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
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

    /// Loads every script (so the first calls do not each pay a NOSCRIPT round trip)
    /// and checks the server has what the store uses (XAUTOCLAIM: Redis 6.2).
    async fn check_server(&self) -> Result<(), StoreError> {
        let mut pipe = ::redis::pipe();
        pipe.cmd("INFO").arg("server");
        for script in self.scripts.all() {
            pipe.load_script(script).ignore();
        }
        let (info,): (String,) = self
            .run(|mut connection| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut connection).await }
            })
            .await?;
        let version = info
            .lines()
            .find_map(|line| line.strip_prefix("redis_version:"))
            .unwrap_or("")
            .trim();
        let mut parts = version.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) < (6, 2) {
            return Err(StoreError::unavailable(format!(
                "redis {version} is too old: the store needs 6.2 or later (XAUTOCLAIM)"
            )));
        }
        Ok(())
    }

    /// The logged events `ids`, with their deliveries' states (`None`: expired).
    async fn logged(&self, ids: &[String]) -> Result<Vec<Option<LoggedEvent>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut command = ::redis::cmd("MGET");
        for id in ids {
            command.arg(self.keys.event(id));
        }
        let stored: Vec<Option<Vec<u8>>> = self.query(command).await?;
        let mut records = Vec::with_capacity(ids.len());
        for (id, bytes) in ids.iter().zip(stored) {
            records.push(match bytes.map(|bytes| record::decode_event(id, &bytes)) {
                Some(Ok(record)) => Some(record),
                Some(Err(error)) => {
                    tracing::error!(event = %id, %error, "Logged event is corrupt; not listed.");
                    None
                }
                None => None,
            });
        }
        // A delivery whose record is gone was delivered; one in the dead set is dead.
        let mut pipe = ::redis::pipe();
        for record in records.iter().flatten() {
            for (delivery, _) in &record.deliveries {
                pipe.cmd("EXISTS")
                    .arg(self.keys.record(delivery))
                    .cmd("ZSCORE")
                    .arg(self.keys.dead())
                    .arg(delivery);
            }
        }
        let answers: Vec<(bool, Option<f64>)> = if pipe.cmd_iter().next().is_some() {
            let flat: Vec<::redis::Value> = self
                .run(|mut connection| {
                    let pipe = &pipe;
                    async move { pipe.query_async(&mut connection).await }
                })
                .await?;
            flat.chunks(2)
                .map(|pair| {
                    let exists = ::redis::from_redis_value::<bool>(pair[0].clone()).unwrap_or(false);
                    let dead = pair
                        .get(1)
                        .and_then(|value| ::redis::from_redis_value::<Option<f64>>(value.clone()).ok())
                        .flatten();
                    (exists, dead)
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut answers = answers.into_iter();
        Ok(records
            .into_iter()
            .map(|record| {
                record.map(|record| {
                    let states = record
                        .deliveries
                        .iter()
                        .map(|_| match answers.next() {
                            Some((_, Some(_))) => DeliveryState::Dead,
                            Some((true, None)) => DeliveryState::Pending,
                            _ => DeliveryState::Delivered,
                        })
                        .collect();
                    LoggedEvent { record, states }
                })
            })
            .collect())
    }

    /// Runs the finish script over `items`, in batches; returns how many were finished.
    async fn finish(&self, items: &[Finish<'_>]) -> Result<usize, StoreError> {
        let mut finished = 0;
        for batch in items.chunks(BATCH) {
            let mut invocation = self.scripts.finish.prepare_invoke();
            invocation
                .key(self.keys.dead())
                .key(self.keys.dead_count())
                .arg(GROUP)
                .arg(batch.len())
                .arg(self.retention_ms);
            for item in batch {
                let delivery = &item.lease.delivery;
                invocation
                    .key(self.keys.ready(&delivery.target))
                    .key(self.keys.delayed(&delivery.target))
                    .key(self.keys.record(&delivery.id))
                    .key(self.keys.since(&delivery.target))
                    .key(self.keys.attempts(&delivery.id))
                    .arg(item.kind)
                    .arg(&item.lease.token)
                    .arg(&delivery.id)
                    .arg(&item.record)
                    .arg(item.score)
                    .arg(&delivery.target)
                    .arg(&item.logged);
            }
            let count: usize = self
                .run(|mut connection| {
                    let invocation = &invocation;
                    async move { invocation.invoke_async(&mut connection).await }
                })
                .await?;
            finished += count;
        }
        if finished < items.len() {
            // Another worker took the lease over (ours outlived the lease timeout) and
            // finished it; the delivery is in its hands.
            tracing::debug!(
                leases = items.len(),
                finished,
                "some leases were no longer held; left as the new holder finished them"
            );
        }
        Ok(finished)
    }

    /// Drops stream entries whose record cannot be decoded, so they do not come back
    /// on every lease timeout; the record key is kept for inspection.
    async fn drop_entries(&self, target: &str, entries: &[String]) -> Result<(), StoreError> {
        let ready = self.keys.ready(target);
        let mut pipe = ::redis::pipe();
        for entry in entries {
            pipe.cmd("XACK").arg(&ready).arg(GROUP).arg(entry).ignore();
            pipe.cmd("XDEL").arg(&ready).arg(entry).ignore();
        }
        self.run(|mut connection| {
            let pipe = &pipe;
            async move { pipe.exec_async(&mut connection).await }
        })
        .await
    }

    /// Fetches and decodes the records of `ids`, skipping missing or corrupt ones.
    async fn records(&self, ids: &[String]) -> Result<Vec<Option<Delivery>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.record(id)).collect();
        let mut command = ::redis::cmd("MGET");
        command.arg(&keys);
        let values: Vec<Option<Vec<u8>>> = self.query(command).await?;
        Ok(ids
            .iter()
            .zip(values)
            .map(|(id, value)| value.and_then(|bytes| decode_or_log(id, &bytes)))
            .collect())
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
        let mut invocation = self.scripts.claim.prepare_invoke();
        invocation
            .key(self.keys.ready(target))
            .key(self.keys.delayed(target))
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(now_ms())
            .arg(max.min(MAX_CLAIM))
            .arg(self.lease_timeout_ms)
            .arg(self.keys.record_prefix())
            .arg(u8::from(self.due_for_reclaim(target)));
        let reply: Vec<Vec<u8>> = self
            .run(|mut connection| {
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        let mut leases = Vec::with_capacity(reply.len() / 3);
        let mut corrupt = Vec::new();
        for triple in reply.chunks_exact(3) {
            let token = String::from_utf8_lossy(&triple[0]).into_owned();
            let id = String::from_utf8_lossy(&triple[1]);
            match decode_or_log(&id, &triple[2]) {
                Some(delivery) => leases.push(Lease { delivery, token }),
                None => corrupt.push(token),
            }
        }
        if !corrupt.is_empty() {
            self.drop_entries(target, &corrupt).await?;
        }
        // Reclaimed leases come first in the reply, promoted ones after: order the
        // batch as a whole. Stable, so equal due times keep their stream order.
        leases.sort_by_key(|lease| lease.delivery.due_at_ms);
        Ok(leases)
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
        let items: Vec<Finish<'_>> = leases
            .iter()
            .map(|lease| {
                let mut delivery = lease.delivery.clone();
                delivery.due_at_ms = now;
                Finish {
                    lease,
                    kind: "delay",
                    record: record::encode(&delivery),
                    score: now,
                    logged: Vec::new(),
                }
            })
            .collect();
        self.finish(&items).await.map(drop)
    }

    async fn claim_key(&self, route: &str, key: &str, ttl: Duration) -> Result<KeyClaim, StoreError> {
        let mut command = ::redis::cmd("SET");
        command
            .arg(self.keys.dedupe(route, key))
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
        invocation.key(self.keys.dedupe(route, key));
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
        let mut found = Vec::new();
        if limit == 0 {
            return Ok(found);
        }
        let dead = self.keys.dead();
        if !filter.ids.is_empty() {
            // Only these ids: look their scores up instead of scanning the set.
            let mut ids: Vec<String> = filter.ids.clone();
            ids.sort();
            ids.dedup();
            let mut command = ::redis::cmd("ZMSCORE");
            command.arg(&dead).arg(&ids);
            let scores: Vec<Option<f64>> = self.query(command).await?;
            let mut listed: Vec<(String, u64)> = ids
                .into_iter()
                .zip(scores)
                .filter_map(|(id, score)| score.map(|score| (id, score as u64)))
                .collect();
            listed.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            let (ids, scores): (Vec<String>, Vec<u64>) = listed.into_iter().unzip();
            for (delivery, dead_at_ms) in self.records(&ids).await?.into_iter().zip(scores) {
                if let Some(delivery) = delivery.filter(|d| filter.matches(d, dead_at_ms)) {
                    found.push(delivery);
                    if found.len() == limit {
                        break;
                    }
                }
            }
            return Ok(found);
        }

        let min = filter
            .since_ms
            .map_or("-inf".to_owned(), |since| since.to_string());
        let max = filter
            .until_ms
            .map_or("+inf".to_owned(), |until| format!("({until}"));
        // Route and target are only known from the records: page through the time
        // window until `limit` pass.
        let page = limit.clamp(64, 1_000);
        let mut offset = 0;
        loop {
            let mut command = ::redis::cmd("ZRANGEBYSCORE");
            command
                .arg(&dead)
                .arg(&min)
                .arg(&max)
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(offset)
                .arg(page);
            let members: Vec<(String, f64)> = self.query(command).await?;
            let fetched = members.len();
            let (ids, scores): (Vec<String>, Vec<f64>) = members.into_iter().unzip();
            for (delivery, score) in self.records(&ids).await?.into_iter().zip(scores) {
                if let Some(delivery) = delivery.filter(|d| filter.matches(d, score as u64)) {
                    found.push(delivery);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if fetched < page {
                return Ok(found);
            }
            offset += fetched;
        }
    }

    async fn replay(&self, ids: &[String]) -> Result<usize, StoreError> {
        let mut unique: Vec<String> = ids.to_vec();
        unique.sort();
        unique.dedup();
        let dead = self.keys.dead();
        let mut moved = 0;
        for batch in unique.chunks(BATCH) {
            let mut command = ::redis::cmd("ZMSCORE");
            command.arg(&dead).arg(batch);
            let scores: Vec<Option<f64>> = self.query(command).await?;
            let dead_ids: Vec<String> = batch
                .iter()
                .zip(scores)
                .filter(|(_, score)| score.is_some())
                .map(|(id, _)| id.clone())
                .collect();
            let now = now_ms();
            let deliveries: Vec<Delivery> = self
                .records(&dead_ids)
                .await?
                .into_iter()
                .flatten()
                .map(|mut delivery| {
                    delivery.attempts = 0;
                    delivery.dead_reason = None;
                    delivery.due_at_ms = now;
                    delivery
                })
                .collect();
            if deliveries.is_empty() {
                continue;
            }
            let mut invocation = self.scripts.replay.prepare_invoke();
            invocation
                .key(&dead)
                .key(self.keys.dead_count())
                .arg(deliveries.len());
            for delivery in &deliveries {
                invocation
                    .key(self.keys.record(&delivery.id))
                    .key(self.keys.delayed(&delivery.target))
                    .key(self.keys.since(&delivery.target))
                    .arg(&delivery.id)
                    .arg(record::encode(delivery))
                    .arg(now)
                    .arg(delivery.created_at_ms)
                    .arg(&delivery.target);
            }
            let count: usize = self
                .run(|mut connection| {
                    let invocation = &invocation;
                    async move { invocation.invoke_async(&mut connection).await }
                })
                .await?;
            moved += count;
        }
        Ok(moved)
    }

    async fn events(&self, filter: &EventFilter, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut found = Vec::new();
        if limit == 0 {
            return Ok(found);
        }
        let min = filter
            .since_ms
            .map_or("-inf".to_owned(), |since| since.to_string());
        let max = filter
            .until_ms
            .map_or("+inf".to_owned(), |until| format!("({until}"));
        // Route, key and state are only known from the records: page through the
        // time window until `limit` pass.
        let page = limit.clamp(64, 1_000);
        let mut offset = 0;
        loop {
            let mut command = ::redis::cmd("ZRANGEBYSCORE");
            command
                .arg(self.keys.events())
                .arg(&min)
                .arg(&max)
                .arg("LIMIT")
                .arg(offset)
                .arg(page);
            let ids: Vec<String> = self.query(command).await?;
            let fetched = ids.len();
            for event in self.logged(&ids).await?.into_iter().flatten() {
                if filter.matches(&event) {
                    found.push(event);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if fetched < page {
                return Ok(found);
            }
            offset += fetched;
        }
    }

    async fn event(&self, id: &str) -> Result<Option<LoggedEvent>, StoreError> {
        Ok(self.logged(&[id.to_owned()]).await?.pop().flatten())
    }

    async fn sweep_events(&self, before_ms: u64) -> Result<usize, StoreError> {
        // The records expire on their own (they are written with the retention as
        // their TTL); only the index is left to trim.
        let mut command = ::redis::cmd("ZREMRANGEBYSCORE");
        command
            .arg(self.keys.events())
            .arg("-inf")
            .arg(format!("({before_ms}"));
        self.query(command).await
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
        let mut pipe = ::redis::pipe();
        pipe.cmd("GET")
            .arg(self.keys.record(id))
            .cmd("ZSCORE")
            .arg(self.keys.dead())
            .arg(id)
            .cmd("LRANGE")
            .arg(self.keys.attempts(id))
            .arg(0)
            .arg(-1);
        let (stored, dead, logged): (Option<Vec<u8>>, Option<f64>, Vec<Vec<u8>>) = self
            .run(|mut connection| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut connection).await }
            })
            .await?;
        let attempts: Vec<LoggedAttempt> = logged
            .iter()
            .filter_map(|bytes| LoggedAttempt::decode(bytes))
            .collect();
        let delivery = match stored {
            Some(bytes) => Some(record::decode(id, &bytes)?),
            None => None,
        };
        let Some(mut delivery) = delivery else {
            return Ok((!attempts.is_empty()).then_some(DeliveryReport {
                state: DeliveryState::Delivered,
                delivery: None,
                due: false,
                attempts,
            }));
        };
        let (state, due) = if dead.is_some() {
            (DeliveryState::Dead, false)
        } else {
            let mut command = ::redis::cmd("ZSCORE");
            command.arg(self.keys.delayed(&delivery.target)).arg(id);
            let delayed: Option<f64> = self.query(command).await?;
            // The delayed set's score is when it is due (a retry made due now moves
            // the score, not the record).
            if let Some(score) = delayed {
                delivery.due_at_ms = score as u64;
            }
            // In the stream (due, or being attempted), or in the delayed set and due.
            let due = delayed.is_none_or(|score| score <= now_ms() as f64);
            (DeliveryState::Pending, due)
        };
        Ok(Some(DeliveryReport {
            state,
            delivery: Some(delivery),
            due,
            attempts,
        }))
    }

    async fn hasten(&self, id: &str) -> Result<Hastened, StoreError> {
        let Some(report) = self.delivery(id).await? else {
            return Ok(Hastened::NotPending);
        };
        let (DeliveryState::Pending, Some(delivery)) = (report.state, report.delivery) else {
            return Ok(Hastened::NotPending);
        };
        if report.due {
            return Ok(Hastened::AlreadyDue);
        }
        // XX: only while it waits in the delayed set (not yet due, so not in the
        // stream); CH: answers 1 when the score changed.
        let mut command = ::redis::cmd("ZADD");
        command
            .arg(self.keys.delayed(&delivery.target))
            .arg("XX")
            .arg("CH")
            .arg(now_ms())
            .arg(id);
        let changed: i64 = self.query(command).await?;
        Ok(if changed > 0 {
            Hastened::Now
        } else {
            Hastened::AlreadyDue
        })
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
        let mut unique: Vec<String> = ids.to_vec();
        unique.sort();
        unique.dedup();
        let mut deleted = 0;
        for batch in unique.chunks(BATCH) {
            // The target of each, for its count; a record that cannot be read is
            // deleted all the same.
            let records = self.records(batch).await?;
            let mut invocation = self.scripts.discard.prepare_invoke();
            invocation
                .key(self.keys.dead())
                .key(self.keys.dead_count())
                .arg(batch.len());
            for (id, record) in batch.iter().zip(&records) {
                invocation
                    .key(self.keys.record(id))
                    .arg(id)
                    .arg(record.as_ref().map_or("", |delivery| delivery.target.as_str()));
            }
            let count: usize = self
                .run(|mut connection| {
                    let invocation = &invocation;
                    async move { invocation.invoke_async(&mut connection).await }
                })
                .await?;
            deleted += count;
        }
        Ok(deleted)
    }

    async fn backlog(&self, target: &str) -> Result<Backlog, StoreError> {
        // Every entry in the ready stream is either unread or leased: finishing a lease
        // deletes its entry.
        let mut pipe = ::redis::pipe();
        // One MULTI: a claim moving an entry from the delayed set to the stream
        // between two separate reads would make it counted in neither.
        pipe.atomic()
            .cmd("XLEN")
            .arg(self.keys.ready(target))
            .cmd("ZCARD")
            .arg(self.keys.delayed(target))
            .cmd("ZRANGE")
            .arg(self.keys.since(target))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .cmd("HGET")
            .arg(self.keys.dead_count())
            .arg(target);
        let (ready, delayed, oldest, dead): (u64, u64, Vec<(String, f64)>, Option<u64>) = self
            .run(|mut connection| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut connection).await }
            })
            .await?;
        Ok(Backlog {
            pending: ready + delayed,
            oldest_ms: oldest.first().map(|(_, score)| *score as u64),
            dead: dead.unwrap_or(0),
        })
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
