//! The worker's side of the Redis store: claiming deliveries from every partition of
//! a target, fairly, and finishing the leases.
//!
//! A claim asks the partitions for shares of what the worker can take: the wanted
//! count split evenly over as many partitions as it covers, those that last had
//! work first, the rest in turn. A partition that fills its share is asked again
//! for what the others did not fill; one that falls short is empty for this claim.
//! So no partition starves while another has a backlog, and a claim never leases more
//! than it asked for.
//!
//! A partition found empty is skipped by the claims of the next [`EMPTY_RECHECK`],
//! unless this instance admitted to it since (admission leaves a hint): under load a
//! worker is woken by every admission, and asking every partition each time would
//! cost a script per partition to find one delivery, more so the more instances
//! share the load. What other instances admit there, or retries falling due, wait at
//! most that long (the worker's idle poll is longer still).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::keys::Part;
use super::{decode_or_log, RedisStore, GROUP, MAX_CLAIM, RECLAIM_INTERVAL};
use crate::model::{now_ms, Delivery};
use crate::store::{record, Backlog, Completion, Lease, LoggedAttempt, StoreError};

/// Leases finished per script call (bounds one script's run time).
const BATCH: usize = 256;

/// How long claims skip a partition found empty, unless this instance admitted to it
/// since.
pub(super) const EMPTY_RECHECK: Duration = Duration::from_millis(50);

/// What the claims on each target remember, shared with admission (which leaves
/// hints).
pub(super) type Claims = Arc<Mutex<HashMap<String, TargetClaims>>>;

/// What the claims on one target remember between calls.
#[derive(Debug, Default)]
pub(super) struct TargetClaims {
    /// When each partition's claims last looked for abandoned leases.
    reclaimed_at: HashMap<Part, Instant>,
    /// Per partition: whether its last claim filled its share (likely to have more).
    busy: Vec<bool>,
    /// Per partition: when a claim that found it empty began.
    empty_at: Vec<Option<Instant>>,
    /// Per partition: when this instance last admitted to it.
    hinted_at: Vec<Option<Instant>>,
    /// Where the next claim starts among the others.
    turn: usize,
}

impl TargetClaims {
    fn fit(&mut self, partitions: usize) {
        self.busy.resize(partitions, false);
        self.empty_at.resize(partitions, None);
        self.hinted_at.resize(partitions, None);
    }

    /// Whether a claim at `now` should skip `part`: found empty lately, and nothing
    /// admitted to it here since.
    fn skips(&self, part: usize, now: Instant) -> bool {
        match self.empty_at[part] {
            Some(empty) => {
                now.duration_since(empty) < EMPTY_RECHECK
                    && self.hinted_at[part].is_none_or(|hinted| hinted < empty)
            }
            None => false,
        }
    }
}

/// Leaves a hint that `part` of `target` has new deliveries, for this instance's
/// next claim.
pub(super) fn hint(claims: &Claims, partitions: u16, target: &str, part: Part) {
    let mut claims = claims.lock().unwrap_or_else(PoisonError::into_inner);
    let state = match claims.get_mut(target) {
        Some(state) => state,
        None => claims.entry(target.to_owned()).or_default(),
    };
    state.fit(usize::from(partitions));
    state.hinted_at[usize::from(part)] = Some(Instant::now());
}

/// A lease token: the partition and the stream entry id, `<part>/<entry>`.
fn token(part: Part, entry: &str) -> String {
    format!("{part}/{entry}")
}

/// The partition and entry of a token (`None`: not one of ours).
pub(super) fn parse_token(token: &str) -> Option<(Part, &str)> {
    let (part, entry) = token.split_once('/')?;
    Some((part.parse().ok()?, entry))
}

/// One lease to finish, as the finish script takes it.
pub(super) struct Finish<'a> {
    pub(super) lease: &'a Lease,
    pub(super) kind: &'static str,
    pub(super) record: Vec<u8>,
    pub(super) score: u64,
    /// The attempt for the attempt log ('' when none was made).
    pub(super) logged: Vec<u8>,
}

/// What the finish script does with `lease` after `completion`.
pub(super) fn finish_item<'a>(lease: &'a Lease, completion: &Completion) -> Finish<'a> {
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

/// A release: the delivery due again now.
pub(super) fn release_item(lease: &Lease, now: u64) -> Finish<'_> {
    let mut delivery: Delivery = lease.delivery.clone();
    delivery.due_at_ms = now;
    Finish {
        lease,
        kind: "delay",
        record: record::encode(&delivery),
        score: now,
        logged: Vec::new(),
    }
}

impl RedisStore {
    /// Leases up to `max` deliveries of `target` from its partitions (see the module
    /// header for how they share).
    pub(super) async fn claim_target(&self, target: &str, max: usize) -> Result<Vec<Lease>, StoreError> {
        let max = max.min(MAX_CLAIM);
        let started = Instant::now();
        let mut candidates: VecDeque<Part> = self.claim_order(target, started);
        let mut leases = Vec::new();
        let mut failure = None;
        let mut filled = Vec::new();
        let mut empty = Vec::new();
        // Whether each partition looks for abandoned leases: decided when it is first
        // asked, and kept when it is asked again for more in this claim.
        let mut reclaim: HashMap<Part, bool> = HashMap::new();
        while leases.len() < max && !candidates.is_empty() {
            let remaining = max - leases.len();
            let asked: Vec<Part> = candidates.drain(..remaining.min(candidates.len())).collect();
            let (each, extra) = (remaining / asked.len(), remaining % asked.len());
            let shares: Vec<(Part, usize)> = asked
                .iter()
                .enumerate()
                .map(|(n, part)| (*part, each + usize::from(n < extra)))
                .collect();
            for (part, _) in &shares {
                reclaim
                    .entry(*part)
                    .or_insert_with(|| self.due_for_reclaim(*part, target));
            }
            let answers = futures_util::future::join_all(
                shares
                    .iter()
                    .map(|(part, share)| self.claim_part(*part, target, *share, reclaim[part])),
            )
            .await;
            for ((part, share), answer) in shares.into_iter().zip(answers) {
                match answer {
                    Ok(got) => {
                        let full = got.len() >= share;
                        leases.extend(got);
                        if full {
                            candidates.push_back(part);
                            filled.push(part);
                        } else {
                            empty.push(part);
                        }
                    }
                    Err(error) => failure = Some(error),
                }
            }
        }
        self.remember(target, started, &filled, &empty);
        match failure {
            // Nothing leased: report the failure. Some leased: they are held, so
            // hand them over; the failing partition is asked again next claim.
            Some(error) if leases.is_empty() => Err(error),
            _ => {
                // Order the batch as a whole (partitions, and reclaimed leases before
                // promoted ones). Stable: equal due times keep their stream order.
                leases.sort_by_key(|lease| lease.delivery.due_at_ms);
                Ok(leases)
            }
        }
    }

    /// The partitions in the order a claim on `target` at `now` asks them: those that
    /// last filled their share first, then the others, each group from this claim's
    /// turn; without those found empty lately (see [`EMPTY_RECHECK`]).
    fn claim_order(&self, target: &str, now: Instant) -> VecDeque<Part> {
        let partitions = usize::from(self.keys.partitions());
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        let state = claims.entry(target.to_owned()).or_default();
        state.fit(partitions);
        state.turn = (state.turn + 1) % partitions;
        let rotated = (0..partitions)
            .map(|n| (state.turn + n) % partitions)
            .filter(|part| !state.skips(*part, now));
        let (busy, idle): (Vec<usize>, Vec<usize>) = rotated.partition(|part| state.busy[*part]);
        busy.into_iter().chain(idle).map(|part| part as Part).collect()
    }

    /// Remembers, of a claim on `target` that began at `started`, which partitions
    /// filled their share and which were found empty.
    fn remember(&self, target: &str, started: Instant, filled: &[Part], empty: &[Part]) {
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = claims.get_mut(target) {
            state.busy.iter_mut().for_each(|busy| *busy = false);
            for part in filled {
                state.busy[usize::from(*part)] = true;
                state.empty_at[usize::from(*part)] = None;
            }
            for part in empty {
                state.empty_at[usize::from(*part)] = Some(started);
            }
        }
    }

    /// Whether this claim on `part` of `target` should look for abandoned leases.
    /// XAUTOCLAIM walks the pending list, which under load is every lease in flight,
    /// so doing it on every claim costs Redis more than the claim itself. A lease is
    /// abandoned only after the lease timeout, so looking once per
    /// [`RECLAIM_INTERVAL`] (or a quarter of the timeout, if shorter) delays a
    /// takeover by at most that much.
    fn due_for_reclaim(&self, part: Part, target: &str) -> bool {
        let interval = RECLAIM_INTERVAL.min(Duration::from_millis(self.lease_timeout_ms / 4));
        let now = Instant::now();
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        let reclaimed = &mut claims.entry(target.to_owned()).or_default().reclaimed_at;
        match reclaimed.get_mut(&part) {
            Some(last) if now.duration_since(*last) < interval => false,
            Some(last) => {
                *last = now;
                true
            }
            None => {
                reclaimed.insert(part, now);
                true
            }
        }
    }

    /// Leases up to `max` deliveries of `target` from partition `part`.
    async fn claim_part(
        &self,
        part: Part,
        target: &str,
        max: usize,
        reclaim: bool,
    ) -> Result<Vec<Lease>, StoreError> {
        let mut invocation = self.scripts.claim.prepare_invoke();
        invocation
            .key(self.keys.ready(part, target))
            .key(self.keys.delayed(part, target))
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(now_ms())
            .arg(max)
            .arg(self.lease_timeout_ms)
            .arg(self.keys.record_prefix(part))
            .arg(u8::from(reclaim))
            .arg(self.consumer_idle_ms);
        let reply: Vec<Vec<u8>> = self
            .run(|mut connection| {
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        let mut leases = Vec::with_capacity(reply.len() / 3);
        let mut corrupt = Vec::new();
        for triple in reply.chunks_exact(3) {
            let entry = String::from_utf8_lossy(&triple[0]).into_owned();
            let id = String::from_utf8_lossy(&triple[1]);
            match decode_or_log(&id, &triple[2]) {
                Some(delivery) => leases.push(Lease {
                    delivery,
                    token: token(part, &entry),
                }),
                None => corrupt.push(entry),
            }
        }
        if !corrupt.is_empty() {
            self.drop_entries(part, target, &corrupt).await?;
        }
        Ok(leases)
    }

    /// Drops stream entries whose record cannot be decoded, so they do not come back
    /// on every lease timeout; the record key is kept for inspection.
    async fn drop_entries(&self, part: Part, target: &str, entries: &[String]) -> Result<(), StoreError> {
        let ready = self.keys.ready(part, target);
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

    /// Runs the finish script over `items`, per partition and in batches; returns
    /// how many were finished.
    pub(super) async fn finish(&self, items: &[Finish<'_>]) -> Result<usize, StoreError> {
        let mut parts: HashMap<Part, Vec<(&Finish<'_>, &str)>> = HashMap::new();
        for item in items {
            // A token of no partition is no lease of ours: nothing to finish.
            if let Some((part, entry)) = parse_token(&item.lease.token) {
                if part < self.keys.partitions() {
                    parts.entry(part).or_default().push((item, entry));
                }
            }
        }
        let calls = parts.iter().flat_map(|(part, items)| {
            items
                .chunks(BATCH)
                .map(move |batch| self.finish_batch(*part, batch))
        });
        let mut finished = 0;
        for answer in futures_util::future::join_all(calls).await {
            finished += answer?;
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

    async fn finish_batch(&self, part: Part, batch: &[(&Finish<'_>, &str)]) -> Result<usize, StoreError> {
        let keys = &self.keys;
        let mut invocation = self.scripts.finish.prepare_invoke();
        invocation
            .key(keys.dead(part))
            .key(keys.dead_count(part))
            .arg(GROUP)
            .arg(batch.len())
            .arg(self.retention_ms)
            .arg(&self.consumer);
        let now = now_ms();
        for (item, entry) in batch {
            let delivery = &item.lease.delivery;
            if item.kind == "delay" && item.score <= now {
                // Due again at once (a release): this instance's claims look here.
                hint(&self.claims, keys.partitions(), &delivery.target, part);
            }
            invocation
                .key(keys.ready(part, &delivery.target))
                .key(keys.delayed(part, &delivery.target))
                .key(keys.record(part, &delivery.id))
                .key(keys.since(part, &delivery.target))
                .key(keys.attempts(part, &delivery.id))
                .arg(item.kind)
                .arg(*entry)
                .arg(&delivery.id)
                .arg(&item.record)
                .arg(item.score)
                .arg(&delivery.target)
                .arg(&item.logged);
        }
        self.run(|mut connection| {
            let invocation = &invocation;
            async move { invocation.invoke_async(&mut connection).await }
        })
        .await
    }

    /// What waits for `target`, over every partition.
    pub(super) async fn target_backlog(&self, target: &str) -> Result<Backlog, StoreError> {
        let parts = self.keys.all().map(|part| self.part_backlog(part, target));
        let mut total = Backlog::default();
        for backlog in futures_util::future::join_all(parts).await {
            let backlog = backlog?;
            total.pending += backlog.pending;
            total.dead += backlog.dead;
            total.oldest_ms = match (total.oldest_ms, backlog.oldest_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(total)
    }

    async fn part_backlog(&self, part: Part, target: &str) -> Result<Backlog, StoreError> {
        // Every entry in the ready stream is either unread or leased: finishing a lease
        // deletes its entry.
        let mut pipe = ::redis::pipe();
        // One MULTI: a claim moving an entry from the delayed set to the stream
        // between two separate reads would make it counted in neither.
        pipe.atomic()
            .cmd("XLEN")
            .arg(self.keys.ready(part, target))
            .cmd("ZCARD")
            .arg(self.keys.delayed(part, target))
            .cmd("ZRANGE")
            .arg(self.keys.since(part, target))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .cmd("HGET")
            .arg(self.keys.dead_count(part))
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
}
