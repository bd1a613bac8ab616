//! Group commit of admissions: requests admitted while a call to Redis is in flight
//! wait together and go in the next call, one script invocation for all of them, as
//! the embedded store's writer commits them in one transaction. Under load Redis then
//! runs one script per group instead of one per request, and each request still
//! succeeds or fails on its own (see `admit.lua`).
//!
//! The calls run on a task of their own, so a request that gives up waiting (its
//! `admit_timeout` passed) does not cancel the others' call; a request that has given
//! up before its group is sent is left out of it. One that gives up while its group
//! is in flight may still be stored: its 503 acknowledged nothing, and the sender's
//! retry is a duplicate its dedupe key absorbs.
//!
//! A group is split by partition: one script call per partition it touches, all
//! sent at once. A request whose events fall in several partitions is admitted
//! partition by partition, each part atomically. If one part fails, the request
//! fails (503: nothing is acknowledged) although other parts may be stored; the
//! provider's retry is then admitted only where nothing was stored, since the
//! stored parts' dedupe keys answer it as a duplicate. (An event without a dedupe
//! key has nothing to recognise it by, in one partition or many.)
//!
//! With `min_replica_acks`, each call is followed, on the same connection to the
//! same master, by `WAIT`: a part is stored only once that many replicas have it,
//! so a failover cannot lose what was acknowledged.
//!
//! The call is written straight into one `EVALSHA` command, keys then arguments,
//! sized up front: a 10,000-event request is tens of megabytes of arguments, and
//! building them as separate buffers first (as a `ScriptInvocation` does) held
//! two more copies of it.

use std::collections::BTreeMap;

use ::redis::{Cmd, ErrorKind, RedisResult, Script, ServerErrorKind, Value};
use tokio::sync::{mpsc, oneshot};

use super::connection::Connection;
use super::keys::{Keys, Part};
use super::queue::{hint, Claims};
use super::{classify, deadline, millis, Replicas, StoreError};
use crate::model::now_ms;
use crate::store::{record, Admission, Admitted, EventAdmission};

/// The most requests one call admits.
const MAX_REQUESTS: usize = 128;
/// Deliveries and events beyond which a group takes no further request (a request
/// larger than this goes alone), bounding how long one script holds Redis.
const MAX_ITEMS: usize = 4_096;

/// Room for one key (or id) in a command's size estimate.
const KEY_ROOM: usize = 96;

type Reply = oneshot::Sender<Result<Vec<Admitted>, StoreError>>;

/// The sending side: cheap to clone, shared by every caller of `admit`.
#[derive(Debug, Clone)]
pub(super) struct Admitter {
    queue: mpsc::UnboundedSender<(Admission, Reply)>,
}

/// What the calling task needs.
pub(super) struct Committer {
    pub(super) connection: Connection,
    /// Where admissions leave hints for this instance's claims.
    pub(super) claims: Claims,
    pub(super) keys: Keys,
    pub(super) script: Script,
    pub(super) retention_ms: u64,
    pub(super) replicas: Option<Replicas>,
}

/// The events of one request that fall in one partition.
struct Piece<'a> {
    /// Which request of the group.
    request: usize,
    route: &'a str,
    /// Each event with its place in the request.
    events: Vec<(usize, &'a EventAdmission)>,
}

impl Admitter {
    /// Starts the task that sends the groups; it ends when every `Admitter` is dropped.
    pub(super) fn start(committer: Committer) -> Self {
        let (queue, requests) = mpsc::unbounded_channel();
        tokio::spawn(committer.run(requests));
        Self { queue }
    }

    /// Admits `admission` in the next group.
    pub(super) async fn admit(&self, admission: Admission) -> Result<Vec<Admitted>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((admission, reply))
            .map_err(|_| StoreError::unavailable("redis admission has stopped"))?;
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::unavailable("redis admission has stopped")))
    }
}

impl Committer {
    async fn run(self, mut requests: mpsc::UnboundedReceiver<(Admission, Reply)>) {
        let mut group = Vec::new();
        while let Some(first) = requests.recv().await {
            let mut items = size(&first.0);
            group.push(first);
            while group.len() < MAX_REQUESTS && items < MAX_ITEMS {
                let Ok(next) = requests.try_recv() else {
                    break;
                };
                items += size(&next.0);
                group.push(next);
            }
            // Those already answered (timed out) are not admitted.
            group.retain(|(_, reply)| !reply.is_closed());
            if !group.is_empty() {
                self.commit(std::mem::take(&mut group)).await;
            }
            group.clear();
        }
    }

    /// One script call per partition of `group`, all sent at once; each request gets
    /// its own answer: its outcomes, or the error of a part that failed.
    async fn commit(&self, group: Vec<(Admission, Reply)>) {
        let mut parts: BTreeMap<Part, Vec<Piece<'_>>> = BTreeMap::new();
        for (request, (admission, _)) in group.iter().enumerate() {
            let mut pieces: BTreeMap<Part, Vec<(usize, &EventAdmission)>> = BTreeMap::new();
            for (place, event) in admission.events.iter().enumerate() {
                pieces.entry(self.part(event)).or_default().push((place, event));
            }
            for (part, events) in pieces {
                parts.entry(part).or_default().push(Piece {
                    request,
                    route: &admission.route,
                    events,
                });
            }
        }
        let calls = parts
            .iter()
            .map(|(part, pieces)| self.call(self.command(*part, pieces)));
        let answers = futures_util::future::join_all(calls).await;
        // This instance's claims look in these partitions first (whatever the
        // outcome: a hint only costs a look).
        for (part, pieces) in &parts {
            let mut targets: Vec<&str> = pieces
                .iter()
                .flat_map(|piece| &piece.events)
                .flat_map(|(_, event)| &event.deliveries)
                .map(|delivery| delivery.target.as_str())
                .collect();
            targets.sort_unstable();
            targets.dedup();
            for target in targets {
                hint(&self.claims, self.keys.partitions(), target, *part);
            }
        }

        let mut outcomes: Vec<Vec<Option<Admitted>>> = group
            .iter()
            .map(|(admission, _)| vec![None; admission.events.len()])
            .collect();
        let mut failures: Vec<Option<StoreError>> = group.iter().map(|_| None).collect();
        for (pieces, answer) in parts.values().zip(answers) {
            match answer {
                Ok(replies) if replies.len() == pieces.len() => {
                    for (piece, reply) in pieces.iter().zip(replies) {
                        match parse(piece.events.len(), reply) {
                            Ok(admitted) => {
                                for ((place, _), admitted) in piece.events.iter().zip(admitted) {
                                    outcomes[piece.request][*place] = Some(admitted);
                                }
                            }
                            Err(error) => failures[piece.request] = Some(error),
                        }
                    }
                }
                Ok(replies) => {
                    let error = format!(
                        "admit answered {} results for {} requests",
                        replies.len(),
                        pieces.len()
                    );
                    for piece in pieces {
                        failures[piece.request] =
                            Some(StoreError::unavailable("redis").because(error.clone()));
                    }
                }
                Err(error) => {
                    let (kind, text) = (classify(&error), error.to_string());
                    for piece in pieces {
                        failures[piece.request] = Some(StoreError::new(kind, "redis").because(text.clone()));
                    }
                }
            }
        }
        for (((_, reply), outcomes), failure) in group.into_iter().zip(outcomes).zip(failures) {
            let answer = match failure {
                Some(error) => Err(error),
                None => outcomes
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| StoreError::unavailable("redis").because("an event had no outcome")),
            };
            let _ = reply.send(answer);
        }
    }

    /// The partition `event` is stored in: its dedupe key's, so a duplicate meets
    /// its first copy; else the one its ids carry.
    fn part(&self, event: &EventAdmission) -> Part {
        match (&event.dedupe, &event.record, event.deliveries.first()) {
            (Some(claim), _, _) => self.keys.part_of_key(&claim.key),
            (None, Some(record), _) => self.keys.part_of_id(&record.id),
            (None, None, Some(delivery)) => self.keys.part_of_id(&delivery.id),
            (None, None, None) => 0,
        }
    }

    /// Sends one partition's command (then `WAIT`, if replicas must confirm) within
    /// the deadline; its replies, one per piece.
    async fn call(&self, command: Cmd) -> RedisResult<Vec<Value>> {
        let mut pipe = ::redis::pipe();
        pipe.add_command(command);
        if let Some(replicas) = &self.replicas {
            pipe.cmd("WAIT").arg(replicas.acks).arg(replicas.timeout_ms);
        }
        let replied: Vec<Value> = deadline(async {
            let mut connection = self.connection.clone();
            match pipe.query_async(&mut connection).await {
                // Refused: never sent, and the manager is reconnecting; once more.
                Err(error) if error.is_connection_refusal() => pipe.query_async(&mut connection).await,
                // A Redis restarted (or flushed, or a replica promoted) without the
                // script: load it, once more.
                Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    self.script.load_async(&mut connection).await?;
                    pipe.query_async(&mut connection).await
                }
                result => result,
            }
        })
        .await?;
        let mut replied = replied.into_iter();
        let replies = match replied.next() {
            Some(Value::Array(replies)) => replies,
            Some(Value::ServerError(error)) => return Err(error.into()),
            _ => return Err((ErrorKind::Parse, "malformed admit reply").into()),
        };
        if let Some(replicas) = &self.replicas {
            let acked = match replied.next() {
                Some(Value::Int(acked)) => acked,
                _ => 0,
            };
            if acked < i64::from(replicas.acks) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "{acked} of {} replicas confirmed the admission within {} ms",
                        replicas.acks, replicas.timeout_ms
                    ),
                )
                .into());
            }
        }
        Ok(replies)
    }

    /// `EVALSHA` for the `pieces` of partition `part`: every key in the order the
    /// script reads them, then every argument, in the same walk over the pieces.
    fn command(&self, part: Part, pieces: &[Piece<'_>]) -> Cmd {
        let events = || {
            pieces
                .iter()
                .flat_map(|piece| piece.events.iter().map(|(_, event)| *event))
        };
        let keys: usize = events()
            .map(|event| {
                usize::from(event.dedupe.is_some())
                    + 2 * usize::from(event.record.is_some())
                    + 4 * event.deliveries.len()
            })
            .sum();
        // Sized a little over what is written (bodies, headers and URLs as they are,
        // room for keys, ids and the rest of each record), since a command that
        // outgrows its buffer doubles it.
        let bytes: usize = events()
            .map(|event| {
                let logged = event.record.as_ref().map_or(0, |record| {
                    record.body.len() + 3 * KEY_ROOM + 64 * record.deliveries.len()
                });
                let sent: usize = event
                    .deliveries
                    .iter()
                    .map(|delivery| {
                        let headers: usize = delivery
                            .headers
                            .iter()
                            .map(|(name, value)| name.len() + value.len() + 8)
                            .sum();
                        delivery.body.len() + delivery.url.len() + headers + 4 * KEY_ROOM + 512
                    })
                    .sum();
                logged + sent
            })
            .sum();
        let mut command = Cmd::with_capacity(3 + 2 * keys + pieces.len() + 2, bytes);
        command.arg("EVALSHA").arg(self.script.get_hash()).arg(keys);
        let keys = &self.keys;
        for piece in pieces {
            for (_, event) in &piece.events {
                if let Some(claim) = &event.dedupe {
                    command.arg(keys.dedupe(part, piece.route, &claim.key));
                }
                if let Some(record) = &event.record {
                    command.arg(keys.event(part, &record.id)).arg(keys.events(part));
                }
                for delivery in &event.deliveries {
                    command
                        .arg(keys.record(part, &delivery.id))
                        .arg(keys.delayed(part, &delivery.target))
                        .arg(keys.since(part, &delivery.target))
                        .arg(keys.ready(part, &delivery.target));
                }
            }
        }
        command.arg(pieces.len()).arg(now_ms());
        for piece in pieces {
            command.arg(piece.events.len());
            for (_, event) in &piece.events {
                match &event.dedupe {
                    Some(claim) => command.arg(millis(claim.ttl)),
                    None => command.arg(""),
                };
                command.arg(event.deliveries.len());
                match &event.record {
                    Some(record) => command
                        .arg(&record.id)
                        .arg(record::encode_event(record))
                        .arg(record.received_ms)
                        .arg(self.retention_ms),
                    None => command.arg("").arg("").arg(0).arg(0),
                };
                for delivery in &event.deliveries {
                    command
                        .arg(&delivery.id)
                        .arg(record::encode(delivery))
                        .arg(delivery.due_at_ms)
                        .arg(delivery.created_at_ms);
                }
            }
        }
        command
    }
}

/// How much of a group `admission` takes: its events and deliveries.
fn size(admission: &Admission) -> usize {
    admission
        .events
        .iter()
        .map(|event| 1 + event.deliveries.len())
        .sum()
}

/// One piece's answer, for its `events`: `{1, outcome...}` or `{0, error}`.
fn parse(events: usize, answer: Value) -> Result<Vec<Admitted>, StoreError> {
    let malformed = || StoreError::unavailable("redis").because("malformed admit reply");
    let Value::Array(items) = answer else {
        return Err(malformed());
    };
    match items.first() {
        Some(Value::Int(1)) => {
            let outcomes: Vec<Admitted> = items[1..]
                .iter()
                .map(|item| match item {
                    Value::Int(1) => Admitted::Stored,
                    _ => Admitted::Duplicate,
                })
                .collect();
            if outcomes.len() == events {
                Ok(outcomes)
            } else {
                Err(malformed())
            }
        }
        Some(Value::Int(0)) => {
            let text = match items.get(1) {
                Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
                Some(Value::SimpleString(text)) => text.clone(),
                _ => "a write was refused".to_owned(),
            };
            let kind = super::classify_text(&text);
            Err(StoreError::new(kind, "redis").because(text))
        }
        _ => Err(malformed()),
    }
}
