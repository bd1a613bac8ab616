//! Finding things by id and listing them, over the partitions of the Redis store:
//! deliveries, their attempts, dead letters and logged events.
//!
//! An id minted by hookgate names its partition (see `model::id`), so a lookup asks
//! that partition first; an id that is not there (one given from outside, or one
//! admitted under a key whose partition its id does not carry) is looked for in the
//! others, so a lookup never misses what is stored. Listings ask every partition
//! for a page and merge them by time.

use std::collections::BTreeMap;

use ::redis::{Cmd, Value};

use super::keys::{Keys, Part};
use super::queue::hint;
use super::{decode_or_log, RedisStore, BATCH};
use crate::model::{now_ms, Delivery};
use crate::store::{
    record, DeadLetterFilter, DeliveryReport, DeliveryState, EventFilter, Hastened, LoggedAttempt,
    LoggedEvent, StoreError,
};

impl RedisStore {
    /// The partition each of `ids` is in, by `probe` (a command answering non-zero or
    /// non-nil where the id is): those not found in any are left out.
    pub(super) async fn locate(
        &self,
        ids: &[String],
        probe: impl Fn(&Keys, Part, &str) -> Cmd,
    ) -> Result<BTreeMap<Part, Vec<String>>, StoreError> {
        let mut guessed: BTreeMap<Part, Vec<String>> = BTreeMap::new();
        for id in ids {
            guessed
                .entry(self.keys.part_of_id(id))
                .or_default()
                .push(id.clone());
        }
        let (mut found, missed) = self.probe(guessed, &probe).await?;
        if missed.is_empty() {
            return Ok(found);
        }
        // The rest: every other partition.
        let elsewhere = self
            .keys
            .all()
            .map(|part| {
                let ids = missed
                    .iter()
                    .filter(|id| self.keys.part_of_id(id) != part)
                    .cloned()
                    .collect();
                (part, ids)
            })
            .collect();
        let (more, _) = self.probe(elsewhere, &probe).await?;
        for (part, ids) in more {
            found.entry(part).or_default().extend(ids);
        }
        Ok(found)
    }

    /// Asks each partition about its ids; (found per partition, not found).
    async fn probe(
        &self,
        asked: BTreeMap<Part, Vec<String>>,
        probe: &impl Fn(&Keys, Part, &str) -> Cmd,
    ) -> Result<(BTreeMap<Part, Vec<String>>, Vec<String>), StoreError> {
        let calls = asked
            .iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(part, ids)| {
                let mut pipe = ::redis::pipe();
                for id in ids {
                    pipe.add_command(probe(&self.keys, *part, id));
                }
                async move {
                    let answers: Vec<Value> = self
                        .run(|mut connection| {
                            let pipe = &pipe;
                            async move { pipe.query_async(&mut connection).await }
                        })
                        .await?;
                    Ok::<_, StoreError>((*part, ids, answers))
                }
            });
        let mut found: BTreeMap<Part, Vec<String>> = BTreeMap::new();
        let mut missed = Vec::new();
        for answer in futures_util::future::join_all(calls).await {
            let (part, ids, answers) = answer?;
            for (id, answer) in ids.iter().zip(answers) {
                if matches!(answer, Value::Nil | Value::Int(0)) {
                    missed.push(id.clone());
                } else {
                    found.entry(part).or_default().push(id.clone());
                }
            }
        }
        Ok((found, missed))
    }

    /// Fetches and decodes the records of `ids` in `part`, skipping missing or
    /// corrupt ones.
    async fn records(&self, part: Part, ids: &[String]) -> Result<Vec<Option<Delivery>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut command = ::redis::cmd("MGET");
        for id in ids {
            command.arg(self.keys.record(part, id));
        }
        let values: Vec<Option<Vec<u8>>> = self.query(command).await?;
        Ok(ids
            .iter()
            .zip(values)
            .map(|(id, value)| value.and_then(|bytes| decode_or_log(id, &bytes)))
            .collect())
    }

    /// The logged events `ids` of `part`, with their deliveries' states (`None`:
    /// expired).
    async fn logged(&self, part: Part, ids: &[String]) -> Result<Vec<Option<LoggedEvent>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut command = ::redis::cmd("MGET");
        for id in ids {
            command.arg(self.keys.event(part, id));
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
        // The deliveries are in their event's partition.
        let mut pipe = ::redis::pipe();
        for record in records.iter().flatten() {
            for (delivery, _) in &record.deliveries {
                pipe.cmd("EXISTS")
                    .arg(self.keys.record(part, delivery))
                    .cmd("ZSCORE")
                    .arg(self.keys.dead(part))
                    .arg(delivery);
            }
        }
        let answers: Vec<(bool, Option<f64>)> = if pipe.cmd_iter().next().is_some() {
            let flat: Vec<Value> = self
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

    /// One logged event.
    pub(super) async fn find_event(&self, id: &str) -> Result<Option<LoggedEvent>, StoreError> {
        let located = self
            .locate(&[id.to_owned()], |keys, part, id| {
                let mut probe = ::redis::cmd("EXISTS");
                probe.arg(keys.event(part, id));
                probe
            })
            .await?;
        match located.into_iter().next() {
            Some((part, ids)) => Ok(self.logged(part, &ids).await?.pop().flatten()),
            None => Ok(None),
        }
    }

    /// Logged events passing `filter`, oldest first, at most `limit`.
    pub(super) async fn list_events(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Events of one key are in that key's partition.
        let parts: Vec<Part> = match &filter.dedupe_key {
            Some(key) => vec![self.keys.part_of_key(key)],
            None => self.keys.all().collect(),
        };
        let lists = parts
            .into_iter()
            .map(|part| self.part_events(part, filter, limit));
        let mut found = Vec::new();
        for list in futures_util::future::join_all(lists).await {
            found.extend(list?);
        }
        found.sort_by(|a, b| (a.record.received_ms, &a.record.id).cmp(&(b.record.received_ms, &b.record.id)));
        found.truncate(limit);
        Ok(found)
    }

    /// Up to `limit` events of `part` passing `filter`, oldest first.
    async fn part_events(
        &self,
        part: Part,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut found = Vec::new();
        let (min, max) = window(filter.since_ms, filter.until_ms);
        // Route, key and state are only known from the records: page through the
        // time window until `limit` pass.
        let page = limit.clamp(64, 1_000);
        let mut offset = 0;
        loop {
            let mut command = ::redis::cmd("ZRANGEBYSCORE");
            command
                .arg(self.keys.events(part))
                .arg(&min)
                .arg(&max)
                .arg("LIMIT")
                .arg(offset)
                .arg(page);
            let ids: Vec<String> = self.query(command).await?;
            let fetched = ids.len();
            for event in self.logged(part, &ids).await?.into_iter().flatten() {
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

    /// Drops the event log's index entries older than `before_ms`, in every partition.
    pub(super) async fn sweep(&self, before_ms: u64) -> Result<usize, StoreError> {
        let sweeps = self.keys.all().map(|part| {
            let mut command = ::redis::cmd("ZREMRANGEBYSCORE");
            command
                .arg(self.keys.events(part))
                .arg("-inf")
                .arg(format!("({before_ms}"));
            async move { self.query::<usize>(command).await }
        });
        let mut swept = 0;
        for answer in futures_util::future::join_all(sweeps).await {
            swept += answer?;
        }
        Ok(swept)
    }

    /// A delivery, its state and its attempts.
    pub(super) async fn find_delivery(&self, id: &str) -> Result<Option<DeliveryReport>, StoreError> {
        Ok(self.report(id).await?.map(|(_, report)| report))
    }

    /// A delivery's partition and report.
    async fn report(&self, id: &str) -> Result<Option<(Part, DeliveryReport)>, StoreError> {
        let located = self
            .locate(&[id.to_owned()], |keys, part, id| {
                let mut probe = ::redis::cmd("EXISTS");
                probe.arg(keys.record(part, id)).arg(keys.attempts(part, id));
                probe
            })
            .await?;
        let Some(part) = located.into_keys().next() else {
            return Ok(None);
        };
        let mut pipe = ::redis::pipe();
        pipe.cmd("GET")
            .arg(self.keys.record(part, id))
            .cmd("ZSCORE")
            .arg(self.keys.dead(part))
            .arg(id)
            .cmd("LRANGE")
            .arg(self.keys.attempts(part, id))
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
            return Ok((!attempts.is_empty()).then_some((
                part,
                DeliveryReport {
                    state: DeliveryState::Delivered,
                    delivery: None,
                    due: false,
                    attempts,
                },
            )));
        };
        let (state, due) = if dead.is_some() {
            (DeliveryState::Dead, false)
        } else {
            let mut command = ::redis::cmd("ZSCORE");
            command.arg(self.keys.delayed(part, &delivery.target)).arg(id);
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
        Ok(Some((
            part,
            DeliveryReport {
                state,
                delivery: Some(delivery),
                due,
                attempts,
            },
        )))
    }

    /// Makes a waiting delivery due now.
    pub(super) async fn hasten_delivery(&self, id: &str) -> Result<Hastened, StoreError> {
        let Some((part, report)) = self.report(id).await? else {
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
            .arg(self.keys.delayed(part, &delivery.target))
            .arg("XX")
            .arg("CH")
            .arg(now_ms())
            .arg(id);
        let changed: i64 = self.query(command).await?;
        hint(&self.claims, self.keys.partitions(), &delivery.target, part);
        Ok(if changed > 0 {
            Hastened::Now
        } else {
            Hastened::AlreadyDue
        })
    }

    /// Where the dead letters among `ids` are.
    async fn locate_dead(&self, ids: &[String]) -> Result<BTreeMap<Part, Vec<String>>, StoreError> {
        self.locate(ids, |keys, part, id| {
            let mut probe = ::redis::cmd("ZSCORE");
            probe.arg(keys.dead(part)).arg(id);
            probe
        })
        .await
    }

    /// Dead letters passing `filter`, oldest dead first, at most `limit`.
    pub(super) async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let lists: Vec<_> = if filter.ids.is_empty() {
            self.keys
                .all()
                .map(|part| self.part_dead_letters(part, None, filter, limit))
                .collect()
        } else {
            let mut ids = filter.ids.clone();
            ids.sort();
            ids.dedup();
            self.locate_dead(&ids)
                .await?
                .into_iter()
                .map(|(part, ids)| self.part_dead_letters(part, Some(ids), filter, limit))
                .collect()
        };
        let mut found = Vec::new();
        for list in futures_util::future::join_all(lists).await {
            found.extend(list?);
        }
        found.sort_by(|(a_at, a), (b_at, b)| (a_at, &a.id).cmp(&(b_at, &b.id)));
        Ok(found
            .into_iter()
            .take(limit)
            .map(|(_, delivery)| delivery)
            .collect())
    }

    /// Up to `limit` dead letters of `part` passing `filter` (only `ids`, if given),
    /// with when each died, oldest first.
    async fn part_dead_letters(
        &self,
        part: Part,
        ids: Option<Vec<String>>,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<Vec<(u64, Delivery)>, StoreError> {
        let dead = self.keys.dead(part);
        let mut found = Vec::new();
        if let Some(ids) = ids {
            // Only these ids: look their scores up instead of scanning the set.
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
            for (delivery, dead_at_ms) in self.records(part, &ids).await?.into_iter().zip(scores) {
                if let Some(delivery) = delivery.filter(|d| filter.matches(d, dead_at_ms)) {
                    found.push((dead_at_ms, delivery));
                    if found.len() == limit {
                        break;
                    }
                }
            }
            return Ok(found);
        }

        let (min, max) = window(filter.since_ms, filter.until_ms);
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
            for (delivery, score) in self.records(part, &ids).await?.into_iter().zip(scores) {
                let dead_at_ms = score as u64;
                if let Some(delivery) = delivery.filter(|d| filter.matches(d, dead_at_ms)) {
                    found.push((dead_at_ms, delivery));
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

    /// The dead letters among `ids`, each once, in batches of one partition (of at
    /// most [`BATCH`], bounding one script's run time).
    async fn dead_batches(&self, ids: &[String]) -> Result<Vec<(Part, Vec<String>)>, StoreError> {
        let mut unique: Vec<String> = ids.to_vec();
        unique.sort();
        unique.dedup();
        Ok(self
            .locate_dead(&unique)
            .await?
            .into_iter()
            .flat_map(|(part, ids)| {
                ids.chunks(BATCH)
                    .map(|batch| (part, batch.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect())
    }

    /// Moves the dead letters among `ids` back to their queues.
    pub(super) async fn replay_dead(&self, ids: &[String]) -> Result<usize, StoreError> {
        let mut moved = 0;
        for (part, batch) in self.dead_batches(ids).await? {
            moved += self.replay_batch(part, &batch).await?;
        }
        Ok(moved)
    }

    async fn replay_batch(&self, part: Part, batch: &[String]) -> Result<usize, StoreError> {
        let now = now_ms();
        let deliveries: Vec<Delivery> = self
            .records(part, batch)
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
            return Ok(0);
        }
        for delivery in &deliveries {
            hint(&self.claims, self.keys.partitions(), &delivery.target, part);
        }
        let keys = &self.keys;
        let mut invocation = self.scripts.replay.prepare_invoke();
        invocation
            .key(keys.dead(part))
            .key(keys.dead_count(part))
            .arg(deliveries.len());
        for delivery in &deliveries {
            invocation
                .key(keys.record(part, &delivery.id))
                .key(keys.delayed(part, &delivery.target))
                .key(keys.since(part, &delivery.target))
                .arg(&delivery.id)
                .arg(record::encode(delivery))
                .arg(now)
                .arg(delivery.created_at_ms)
                .arg(&delivery.target);
        }
        self.run(|mut connection| {
            let invocation = &invocation;
            async move { invocation.invoke_async(&mut connection).await }
        })
        .await
    }

    /// Deletes the dead letters among `ids` for good.
    pub(super) async fn discard_dead(&self, ids: &[String]) -> Result<usize, StoreError> {
        let mut deleted = 0;
        for (part, batch) in self.dead_batches(ids).await? {
            deleted += self.discard_batch(part, &batch).await?;
        }
        Ok(deleted)
    }

    async fn discard_batch(&self, part: Part, batch: &[String]) -> Result<usize, StoreError> {
        // The target of each, for its count; a record that cannot be read is deleted
        // all the same.
        let records = self.records(part, batch).await?;
        let mut invocation = self.scripts.discard.prepare_invoke();
        invocation
            .key(self.keys.dead(part))
            .key(self.keys.dead_count(part))
            .arg(batch.len());
        for (id, record) in batch.iter().zip(&records) {
            invocation
                .key(self.keys.record(part, id))
                .arg(id)
                .arg(record.as_ref().map_or("", |delivery| delivery.target.as_str()));
        }
        self.run(|mut connection| {
            let invocation = &invocation;
            async move { invocation.invoke_async(&mut connection).await }
        })
        .await
    }
}

/// A time window as sorted-set score bounds: from `since` (inclusive) to `until`
/// (exclusive).
fn window(since_ms: Option<u64>, until_ms: Option<u64>) -> (String, String) {
    (
        since_ms.map_or("-inf".to_owned(), |since| since.to_string()),
        until_ms.map_or("+inf".to_owned(), |until| format!("({until}")),
    )
}
