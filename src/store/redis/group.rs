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
//! The call is written straight into one `EVALSHA` command, keys then arguments,
//! sized up front: a 10,000-event request is tens of megabytes of arguments, and
//! building them as separate buffers first (as a `ScriptInvocation` does) held
//! two more copies of it.

use ::redis::aio::ConnectionManager;
use ::redis::{Cmd, ErrorKind, Script, ServerErrorKind, Value};
use tokio::sync::{mpsc, oneshot};

use super::keys::Keys;
use super::{classify, deadline, millis, StoreError};
use crate::model::now_ms;
use crate::store::{record, Admission, Admitted};

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
    pub(super) connection: ConnectionManager,
    pub(super) keys: Keys,
    pub(super) script: Script,
    pub(super) retention_ms: u64,
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

    /// One script call for `group`; each request gets its own answer.
    async fn commit(&self, group: Vec<(Admission, Reply)>) {
        let command = self.command(&group);
        let called: Result<Vec<Value>, _> = deadline(async {
            let mut connection = self.connection.clone();
            match command.query_async(&mut connection).await {
                // Refused: never sent, and the manager is reconnecting; once more.
                Err(error) if error.is_connection_refusal() => {
                    let mut connection = self.connection.clone();
                    command.query_async(&mut connection).await
                }
                // A Redis restarted (or flushed) without the script: load it, once more.
                Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    let mut connection = self.connection.clone();
                    self.script.load_async(&mut connection).await?;
                    command.query_async(&mut connection).await
                }
                result => result,
            }
        })
        .await;
        match called {
            Ok(replies) if replies.len() == group.len() => {
                for ((admission, reply), answer) in group.into_iter().zip(replies) {
                    let _ = reply.send(outcomes(&admission, answer));
                }
            }
            Ok(replies) => {
                let error = format!(
                    "admit answered {} results for {} requests",
                    replies.len(),
                    group.len()
                );
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::unavailable("redis").because(error.clone())));
                }
            }
            Err(error) => {
                let (kind, text) = (classify(&error), error.to_string());
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::new(kind, "redis").because(text.clone())));
                }
            }
        }
    }

    /// `EVALSHA` for `group`: every key in the order the script reads them, then
    /// every argument, in the same walk over the group.
    fn command(&self, group: &[(Admission, Reply)]) -> Cmd {
        let events = || group.iter().flat_map(|(admission, _)| &admission.events);
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
        let mut command = Cmd::with_capacity(3 + 2 * keys + group.len() + 2, bytes);
        command.arg("EVALSHA").arg(self.script.get_hash()).arg(keys);
        for (admission, _) in group {
            for event in &admission.events {
                if let Some(claim) = &event.dedupe {
                    command.arg(self.keys.dedupe(&admission.route, &claim.key));
                }
                if let Some(record) = &event.record {
                    command.arg(self.keys.event(&record.id)).arg(self.keys.events());
                }
                for delivery in &event.deliveries {
                    command
                        .arg(self.keys.record(&delivery.id))
                        .arg(self.keys.delayed(&delivery.target))
                        .arg(self.keys.since(&delivery.target))
                        .arg(self.keys.ready(&delivery.target));
                }
            }
        }
        command.arg(group.len()).arg(now_ms());
        for (admission, _) in group {
            command.arg(admission.events.len());
            for event in &admission.events {
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

/// One request's answer: `{1, outcome...}` or `{0, error}`.
fn outcomes(admission: &Admission, answer: Value) -> Result<Vec<Admitted>, StoreError> {
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
            if outcomes.len() == admission.events.len() {
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
