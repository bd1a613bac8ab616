//! The embedded store's single writer: every change to the store (admissions,
//! claims, completions, dedupe keys, replays) is a request on one channel, and one
//! thread applies everything waiting in it in ONE write transaction and ONE fsync
//! (group commit), then answers each caller. N concurrent admits cost one fsync,
//! and ordering between, say, a claim and an admit of the same target is simply the
//! channel's order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, StorageError};
use tokio::sync::{mpsc, oneshot};

use super::handle::Handle;
use super::ops::{self, Tables};
use super::tables::unavailable;
use crate::model::now_ms;
use crate::store::{Admission, Admitted, Hastened, KeyClaim, StoreError};

/// Most requests applied in one transaction: bounds how long the first caller of a
/// burst waits behind the others.
const MAX_BATCH: usize = 512;

/// Most expired dedupe keys deleted per batch, so a sweep never stalls admissions.
const SWEEP_CAP: usize = 1024;

/// How often expired dedupe keys are swept when the last sweep found fewer than
/// [`SWEEP_CAP`] (when it found that many, the next batch sweeps again).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A lease as the writer finds it in `LEASED`, parsed from [`crate::store::Lease`].
pub(super) struct LeaseKey {
    pub target: String,
    pub id: String,
    pub deadline_ms: u64,
    pub due_at_ms: u64,
}

/// How a lease ends, with the delivery already re-encoded by the caller where it
/// changed (so the writer thread does no serialisation).
pub(super) enum Finish {
    /// Delivered: delete it.
    Forget,
    /// Back to `READY` at `due_at_ms`: re-encoded for a retry (attempts, last
    /// attempt), `None` for a deferral (the stored bytes move as they are).
    Requeue { due_at_ms: u64, record: Option<Vec<u8>> },
    /// To `DEAD`, re-encoded with the reason and last attempt.
    Bury { record: Vec<u8> },
}

/// One change to the store.
pub(super) enum Op {
    /// `records[e][d]` is `admission.events[e].deliveries[d]` encoded.
    Admit {
        admission: Admission,
        records: Vec<Vec<Vec<u8>>>,
        /// `logged[e]` is `admission.events[e].record` encoded.
        logged: Vec<Option<Vec<u8>>>,
    },
    /// (name, encoded definition).
    SaveTargets(Vec<(String, Vec<u8>)>),
    /// (name, the encoded definition it must still be).
    ForgetTarget(String, Vec<u8>),
    Claim {
        target: String,
        max: usize,
    },
    Complete {
        lease: LeaseKey,
        finish: Finish,
        /// (attempt number, the attempt encoded) for the attempt log.
        logged: Option<(u32, Vec<u8>)>,
    },
    Hasten(String),
    Release(Vec<LeaseKey>),
    ClaimKey {
        route: String,
        key: String,
        ttl: Duration,
    },
    ReleaseKey {
        route: String,
        key: String,
    },
    Replay(Vec<String>),
    Discard(Vec<String>),
    SetPaused(String, bool),
    /// (id, the encoded subscription, or none to delete it).
    PutSubscription(String, Option<Vec<u8>>),
    SweepEvents(u64),
    /// Changes nothing: a commit that shows the store can write.
    Nothing,
}

/// A claimed delivery, still encoded: the caller decodes it, off the writer thread.
pub(super) struct Claimed {
    pub id: String,
    pub due_at_ms: u64,
    pub deadline_ms: u64,
    pub record: Vec<u8>,
}

/// What an [`Op`] did.
pub(super) enum Done {
    Admitted(Vec<Admitted>),
    Claimed(Vec<Claimed>),
    KeyClaim(KeyClaim),
    Replayed(usize),
    Hastened(Hastened),
    Nothing,
}

/// An [`Op`] and where its outcome goes once the batch holding it is committed.
/// Only a storage error can fail a request inside a batch, and it fails them all
/// (the transaction may be half-applied, so it is not committed).
pub(super) struct Request {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// The write side of the database, run on its own thread by [`Writer::run`].
pub(super) struct Writer {
    pub handle: Arc<Handle>,
    pub lease_timeout: Duration,
    pub commits: Arc<AtomicU64>,
}

/// Creates every table (so readers never find one missing) and returns the leases of
/// the previous process to `READY`: only one process can hold the data directory, so
/// whoever held them is gone. Returns how many there were.
pub(super) fn recover(db: &Database) -> Result<usize, StoreError> {
    let txn = db.begin_write().map_err(unavailable("starting recovery"))?;
    let returned = {
        let mut tables = Tables::open(&txn).map_err(unavailable("creating tables"))?;
        ops::requeue_expired(&mut tables, None, u64::MAX).map_err(unavailable("returning leases"))?
    };
    txn.commit().map_err(unavailable("committing recovery"))?;
    Ok(returned)
}

impl Writer {
    /// Applies batches until every sender is gone (the store was dropped).
    pub fn run(self, mut requests: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut next_sweep = Instant::now();
        while let Some(first) = requests.blocking_recv() {
            batch.push(first);
            // Whatever arrived while the last batch was being fsynced rides on this one.
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            let sweep = Instant::now() >= next_sweep;
            let applied = if self.handle.is_broken() {
                self.handle.reopen().and_then(|()| self.apply(&batch, sweep))
            } else {
                self.apply(&batch, sweep)
            };
            match applied {
                Ok((outcomes, swept)) => {
                    self.commits.fetch_add(1, Ordering::Relaxed);
                    for (request, outcome) in batch.drain(..).zip(outcomes) {
                        // A caller that stopped waiting does not care.
                        let _ = request.reply.send(Ok(outcome));
                    }
                    if sweep {
                        next_sweep = if swept < SWEEP_CAP {
                            Instant::now() + SWEEP_EVERY
                        } else {
                            Instant::now()
                        };
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, requests = batch.len(), "Store batch failed.");
                    self.handle.broke();
                    let reason = error.to_string();
                    for request in batch.drain(..) {
                        let _ = request
                            .reply
                            .send(Err(StoreError::new(error.kind(), reason.clone())));
                    }
                }
            }
        }
    }

    /// Applies `batch` in one transaction and commits it: each request's outcome, and
    /// how many expired dedupe keys were swept.
    fn apply(&self, batch: &[Request], sweep: bool) -> Result<(Vec<Done>, usize), StoreError> {
        let db = self.handle.current()?;
        let txn = db.begin_write().map_err(unavailable("starting a write"))?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut swept = 0;
        {
            let mut tables = Tables::open(&txn).map_err(unavailable("opening tables"))?;
            let now = now_ms();
            for request in batch {
                let done = self.apply_one(&mut tables, now, &request.op);
                outcomes.push(done.map_err(unavailable("writing"))?);
            }
            if sweep {
                swept = ops::sweep_dedupe(&mut tables, now, SWEEP_CAP)
                    .map_err(unavailable("sweeping dedupe keys"))?;
            }
        }
        txn.commit().map_err(unavailable("committing"))?;
        Ok((outcomes, swept))
    }

    fn apply_one(&self, tables: &mut Tables<'_>, now: u64, op: &Op) -> Result<Done, StorageError> {
        match op {
            Op::Admit {
                admission,
                records,
                logged,
            } => ops::admit(tables, now, admission, records, logged),
            Op::Claim { target, max } => {
                let lease_ms = u64::try_from(self.lease_timeout.as_millis()).unwrap_or(u64::MAX);
                ops::claim(tables, now, now.saturating_add(lease_ms), target, *max)
            }
            Op::Complete {
                lease,
                finish,
                logged,
            } => ops::complete(tables, now, lease, finish, logged.as_ref()),
            Op::Hasten(id) => ops::hasten(tables, now, id),
            Op::Release(leases) => ops::release(tables, now, leases),
            Op::ClaimKey { route, key, ttl } => ops::claim_key(tables, now, route, key, *ttl),
            Op::ReleaseKey { route, key } => ops::release_key(tables, now, route, key),
            Op::Replay(ids) => ops::replay(tables, now, ids),
            Op::Discard(ids) => ops::discard(tables, ids),
            Op::SetPaused(target, paused) => ops::set_paused(tables, now, target, *paused),
            Op::PutSubscription(id, encoded) => ops::put_subscription(tables, id, encoded.as_deref()),
            Op::SweepEvents(before_ms) => ops::sweep_events(tables, *before_ms, SWEEP_CAP),
            Op::SaveTargets(targets) => ops::save_targets(tables, targets),
            Op::ForgetTarget(name, expected) => ops::forget_target(tables, name, expected),
            Op::Nothing => Ok(Done::Nothing),
        }
    }
}

#[cfg(test)]
mod tests {
    use redb::{ReadableDatabase, ReadableTableMetadata};

    use super::*;
    use crate::store::embedded::tables::{DEDUPE, DEDUPE_EXPIRY};
    use crate::store::{DedupeClaim, EventAdmission};

    fn keyed(key: &str, ttl: Duration) -> Admission {
        Admission {
            route: "r".into(),
            events: vec![EventAdmission {
                dedupe: Some(DedupeClaim { key: key.into(), ttl }),
                deliveries: vec![],
                record: None,
            }],
        }
    }

    fn request(op: Op) -> Request {
        Request {
            op,
            reply: oneshot::channel().0,
        }
    }

    fn keys_left(db: &Database) -> (u64, u64) {
        let txn = db.begin_read().unwrap();
        (
            txn.open_table(DEDUPE).unwrap().len().unwrap(),
            txn.open_table(DEDUPE_EXPIRY).unwrap().len().unwrap(),
        )
    }

    #[test]
    fn the_sweep_deletes_expired_keys_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.redb");
        let handle = Arc::new(Handle::new(file.clone(), Database::create(&file).unwrap()));
        let db = handle.current().unwrap();
        recover(&db).unwrap();
        let writer = Writer {
            handle,
            lease_timeout: Duration::from_secs(30),
            commits: Arc::default(),
        };
        let short = Duration::from_millis(1);
        let batch = [
            request(Op::Admit {
                admission: keyed("expires", short),
                records: vec![vec![]],
                logged: vec![None],
            }),
            request(Op::Admit {
                admission: keyed("lives", Duration::from_secs(60)),
                records: vec![vec![]],
                logged: vec![None],
            }),
            request(Op::ClaimKey {
                route: "r".into(),
                key: "pending".into(),
                ttl: short,
            }),
            request(Op::Admit {
                admission: keyed("reclaimed", short),
                records: vec![vec![]],
                logged: vec![None],
            }),
        ];
        writer.apply(&batch, false).unwrap();
        assert_eq!(keys_left(&db), (4, 4));
        std::thread::sleep(Duration::from_millis(5));

        // Reclaiming an expired key replaces its index entry rather than adding one.
        let again = [request(Op::Admit {
            admission: keyed("reclaimed", Duration::from_secs(60)),
            records: vec![vec![]],
            logged: vec![None],
        })];
        let (outcomes, _) = writer.apply(&again, false).unwrap();
        assert!(matches!(&outcomes[0], Done::Admitted(admitted) if admitted == &[Admitted::Stored]));
        assert_eq!(keys_left(&db), (4, 4));

        let (_, swept) = writer.apply(&[], true).unwrap();
        assert_eq!(swept, 2);
        assert_eq!(keys_left(&db), (2, 2), "`lives` and `reclaimed` stay");
    }
}
