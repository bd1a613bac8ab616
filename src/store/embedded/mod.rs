//! The embedded store: redb, in one file in the data directory; the default when no
//! Redis is configured. Ingress admits into it, the dispatcher's per-target workers
//! claim from it, and the admin API lists and replays its dead letters.
//!
//! Every change goes through one writer thread that group-commits whatever is waiting
//! (`writer.rs`): each admit is fsynced before it is acknowledged, yet concurrent
//! admits share one fsync. Pending work lives on disk, never in an in-memory queue;
//! a claim is a range scan of one target's queue (`tables.rs`). Reads (dead letters,
//! pending counts, pings) use their own read transactions and never wait for the
//! writer.

mod codec;
mod handle;
mod locate;
mod ops;
mod reads;
mod tables;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use redb::Database;
use tokio::sync::{mpsc, oneshot};

use self::handle::Handle;
use self::tables::unavailable;
use self::writer::{Done, Finish, Op, Request, Writer};
use super::{
    record, Admission, Admitted, Backlog, Completion, DeadLetterFilter, DeliveryReport, EventFilter,
    Hastened, KeyClaim, Lease, LoggedAttempt, LoggedEvent, Store, StoreError,
};
use crate::model::{now_ms, Delivery, Subscription, TargetRecord};

/// Requests waiting for the writer before callers wait to enqueue (backpressure).
const QUEUE_DEPTH: usize = 8192;

/// How the embedded store behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// How long a claimed delivery stays invisible to other claims before it is
    /// presumed abandoned and claimable again.
    pub lease_timeout: Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            lease_timeout: Duration::from_secs(30),
        }
    }
}

/// The embedded (redb) [`Store`]. Dropping it closes the database and releases the
/// data directory once the writer has finished its current batch.
pub struct EmbeddedStore {
    requests: mpsc::Sender<Request>,
    handle: Arc<Handle>,
    writer: Option<JoinHandle<()>>,
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (creating if missing) the store in the data directory `path`. Leases
    /// held when the previous process stopped become claimable at once. Fails with
    /// an unavailable [`StoreError`] if another process has the directory open.
    pub async fn open(path: &Path, options: EmbeddedOptions) -> Result<EmbeddedStore, StoreError> {
        let dir = path.to_owned();
        let handle = tokio::task::spawn_blocking(move || Handle::open(&dir))
            .await
            .map_err(unavailable("opening"))??;
        let handle = Arc::new(handle);
        let commits = Arc::new(AtomicU64::new(0));
        let (requests, receiver) = mpsc::channel(QUEUE_DEPTH);
        let writer = Writer {
            handle: handle.clone(),
            lease_timeout: options.lease_timeout,
            commits: commits.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("hookgate-store".to_owned())
            .spawn(move || writer.run(receiver))
            .map_err(unavailable("starting the writer thread"))?;
        Ok(EmbeddedStore {
            requests,
            handle,
            writer: Some(writer),
            commits,
        })
    }

    /// Write transactions committed so far (one per group of requests); lets tests
    /// and metrics see how well commits are grouped.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Hands `op` to the writer and waits until the batch holding it is committed.
    async fn write(&self, op: Op) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::unavailable("embedded store: the writer has stopped".to_owned());
        self.requests
            .send(Request { op, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Finishes `lease` as `completion` says; only a retried or dead delivery is
    /// copied, to record its attempt.
    async fn finish(&self, lease: &Lease, completion: &Completion) -> Result<(), StoreError> {
        let logged = completion.attempt().map(|attempt| {
            let entry = LoggedAttempt::of(&lease.delivery, attempt);
            (entry.number, entry.encode())
        });
        let finish = match completion {
            Completion::Delivered { .. } => Finish::Forget,
            Completion::Defer { due_at_ms } => Finish::Requeue {
                due_at_ms: *due_at_ms,
                record: None,
            },
            Completion::Retry { due_at_ms, record } => {
                let mut delivery = lease.delivery.clone();
                delivery.attempts = delivery.attempts.saturating_add(1);
                delivery.last_attempt = Some(record.clone());
                delivery.due_at_ms = *due_at_ms;
                Finish::Requeue {
                    due_at_ms: *due_at_ms,
                    record: Some(codec::encode(&delivery)?),
                }
            }
            Completion::Dead { reason, record } => {
                let mut delivery = lease.delivery.clone();
                delivery.attempts = delivery.attempts.saturating_add(1);
                delivery.last_attempt = Some(record.clone());
                delivery.dead_reason = Some(reason.clone());
                Finish::Bury {
                    record: codec::encode(&delivery)?,
                }
            }
        };
        let lease = codec::lease_key(lease)?;
        self.write(Op::Complete {
            lease,
            finish,
            logged,
        })
        .await
        .map(drop)
    }

    /// Runs a read transaction off the async threads (a read may wait for the disk).
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.handle.current()?;
        tokio::task::spawn_blocking(move || read(&db))
            .await
            .map_err(unavailable("reading"))?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the channel (by swapping in a sender of a dead one) makes the writer
        // return after its current batch; joining it means the file lock is released
        // by the time the last handle is gone, so a reopen succeeds at once.
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.requests, closed));
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("The embedded store's writer thread panicked.");
            }
        }
    }
}

fn unexpected() -> StoreError {
    StoreError::unavailable("embedded store: the writer answered with the wrong outcome".to_owned())
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn admit(&self, admission: Admission) -> Result<Vec<Admitted>, StoreError> {
        // Encoded here, on the caller's thread, so the writer only copies bytes.
        let records = admission
            .events
            .iter()
            .map(|event| {
                event
                    .deliveries
                    .iter()
                    .map(codec::encode)
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        let logged = admission
            .events
            .iter()
            .map(|event| event.record.as_ref().map(record::encode_event))
            .collect();
        let op = Op::Admit {
            admission,
            records,
            logged,
        };
        match self.write(op).await? {
            Done::Admitted(admitted) => Ok(admitted),
            _ => Err(unexpected()),
        }
    }

    async fn claim(&self, target: &str, max: usize) -> Result<Vec<Lease>, StoreError> {
        if max == 0 || !reads::has_due(&*self.handle.current()?, target, now_ms())? {
            return Ok(Vec::new());
        }
        let op = Op::Claim {
            target: target.to_owned(),
            max,
        };
        let Done::Claimed(claimed) = self.write(op).await? else {
            return Err(unexpected());
        };
        let mut leases = Vec::with_capacity(claimed.len());
        for claimed in claimed {
            match codec::lease(claimed) {
                Ok(lease) => leases.push(lease),
                // Skipped rather than failing the claim, so one bad record cannot stall
                // its target; it stays leased, and comes back (and is reported again)
                // after each lease timeout.
                Err(error) => tracing::error!(target, %error, "Stored delivery is corrupt."),
            }
        }
        Ok(leases)
    }

    async fn complete(&self, lease: Lease, completion: Completion) -> Result<(), StoreError> {
        self.finish(&lease, &completion).await
    }

    async fn complete_all(&self, completions: &[(Lease, Completion)]) -> Result<(), StoreError> {
        let calls = completions
            .iter()
            .map(|(lease, completion)| self.finish(lease, completion));
        futures_util::future::join_all(calls).await.into_iter().collect()
    }

    async fn release(&self, leases: Vec<Lease>) -> Result<(), StoreError> {
        if leases.is_empty() {
            return Ok(());
        }
        let leases = leases.iter().map(codec::lease_key).collect::<Result<_, _>>()?;
        self.write(Op::Release(leases)).await.map(drop)
    }

    async fn claim_key(&self, route: &str, key: &str, ttl: Duration) -> Result<KeyClaim, StoreError> {
        let op = Op::ClaimKey {
            route: route.to_owned(),
            key: key.to_owned(),
            ttl,
        };
        match self.write(op).await? {
            Done::KeyClaim(claim) => Ok(claim),
            _ => Err(unexpected()),
        }
    }

    async fn release_key(&self, route: &str, key: &str) -> Result<(), StoreError> {
        let op = Op::ReleaseKey {
            route: route.to_owned(),
            key: key.to_owned(),
        };
        self.write(op).await.map(drop)
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let filter = filter.clone();
        self.read(move |db| reads::dead_letters(db, &filter, limit)).await
    }

    async fn replay(&self, ids: &[String]) -> Result<usize, StoreError> {
        match self.write(Op::Replay(ids.to_vec())).await? {
            Done::Replayed(moved) => Ok(moved),
            _ => Err(unexpected()),
        }
    }

    async fn events(&self, filter: &EventFilter, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        let filter = filter.clone();
        self.read(move |db| reads::events(db, &filter, limit)).await
    }

    async fn event(&self, id: &str) -> Result<Option<LoggedEvent>, StoreError> {
        let id = id.to_owned();
        self.read(move |db| reads::event(db, &id)).await
    }

    async fn sweep_events(&self, before_ms: u64) -> Result<usize, StoreError> {
        match self.write(Op::SweepEvents(before_ms)).await? {
            Done::Replayed(swept) => Ok(swept),
            _ => Err(unexpected()),
        }
    }

    async fn set_paused(&self, target: &str, paused: bool) -> Result<(), StoreError> {
        self.write(Op::SetPaused(target.to_owned(), paused))
            .await
            .map(drop)
    }

    async fn paused(&self) -> Result<Vec<String>, StoreError> {
        self.read(reads::paused).await
    }

    async fn delivery(&self, id: &str) -> Result<Option<DeliveryReport>, StoreError> {
        let id = id.to_owned();
        self.read(move |db| reads::delivery(db, &id)).await
    }

    async fn hasten(&self, id: &str) -> Result<Hastened, StoreError> {
        match self.write(Op::Hasten(id.to_owned())).await? {
            Done::Hastened(hastened) => Ok(hastened),
            _ => Err(unexpected()),
        }
    }

    async fn put_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        let encoded = record::encode_subscription(subscription);
        self.write(Op::PutSubscription(subscription.id.clone(), Some(encoded)))
            .await
            .map(drop)
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        match self.write(Op::PutSubscription(id.to_owned(), None)).await? {
            Done::Replayed(existed) => Ok(existed > 0),
            _ => Err(unexpected()),
        }
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        self.read(reads::subscriptions).await
    }

    async fn discard(&self, ids: &[String]) -> Result<usize, StoreError> {
        match self.write(Op::Discard(ids.to_vec())).await? {
            Done::Replayed(deleted) => Ok(deleted),
            _ => Err(unexpected()),
        }
    }

    async fn backlog(&self, target: &str) -> Result<Backlog, StoreError> {
        let target = target.to_owned();
        self.read(move |db| reads::backlog(db, &target)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.handle.is_broken() {
            // Only a write shows it can write again (and the writer reopens it first).
            return self.write(Op::Nothing).await.map(drop);
        }
        self.read(reads::ping).await
    }

    async fn save_targets(&self, targets: &[TargetRecord]) -> Result<(), StoreError> {
        let encoded = targets
            .iter()
            .map(|target| (target.name.clone(), record::encode_target(target)))
            .collect();
        self.write(Op::SaveTargets(encoded)).await.map(drop)
    }

    async fn targets(&self) -> Result<Vec<TargetRecord>, StoreError> {
        self.read(reads::targets).await
    }

    async fn forget_target(&self, target: &TargetRecord) -> Result<(), StoreError> {
        let op = Op::ForgetTarget(target.name.clone(), record::encode_target(target));
        self.write(op).await.map(drop)
    }
}
