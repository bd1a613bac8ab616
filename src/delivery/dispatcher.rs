//! The dispatcher: one worker per target drains that target's queue in the store.
//!
//! A worker claims only as many deliveries as its target can take now (free
//! concurrency permits; one probe while the breaker is half-open; none while it is
//! open), so a slow or failing target never holds other targets' work, and no lease
//! is held while waiting on a breaker. Each claimed delivery is rate-limited, given
//! its target's headers and signature from the target's current definition, sent
//! with the target's timeout, classified by [`retry::classify`], and completed in
//! the store.
//!
//! Workers follow the config: [`Dispatcher::apply`] starts workers for added
//! targets and hands existing ones their new definition. A target removed from the
//! config keeps its worker, with its last definition, until nothing of it is left:
//! no request still served by a snapshot naming it (it could admit more), nothing
//! queued, no dead letter (a replay would queue it again). Then its definition is
//! forgotten by the store too.
//!
//! (This is the per-target pipeline the design describes as a tower stack. It is
//! written out because the worker must size each claim to the capacity a tower stack
//! would hide inside `poll_ready`.)

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::{Method, Request, Response, Uri};
use http_body_util::Full;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Level};

use super::breaker::{Breaker, Permit, State};
use super::guard::AddressGuard;
use super::log::{delivery_log, TraceIdIn};
use super::rate::RateLimit;
use super::retry::{self, Decision, Outcome};
use super::{build_client, finish, send, HttpClient, Message, SendError};
use crate::model::{is_subscription_target, now_ms, Attempt, Target, TargetRecord, EXCERPT_LIMIT};
use crate::registry::Snapshot;
use crate::store::{Completion, DeadLetterFilter, Lease, Store};

/// How often an idle worker looks for due retries and other instances' admissions.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Pause after a store error before a worker claims again.
const STORE_BACKOFF: Duration = Duration::from_secs(1);

/// How often a worker samples its queue's depth for `hookgate_queue_depth`.
const QUEUE_SAMPLE: Duration = Duration::from_secs(5);

/// Pause before writing attempt outcomes again after the store failed to take them.
const RECORD_RETRY: Duration = Duration::from_millis(250);

/// How long outcomes are written again before they are left to their leases.
const RECORD_GIVE_UP: Duration = Duration::from_secs(10);

/// How often the paused targets are read from the store: a pause made through
/// another instance takes effect here within this.
const PAUSE_POLL: Duration = Duration::from_millis(500);

/// How often an idle retired worker asks whether its queue is drained.
const DRAIN_CHECK: Duration = Duration::from_secs(1);

/// How often a drained retired worker looks again for dead letters of its target
/// (a scan of the dead letters, so not every second).
const DEAD_CHECK: Duration = Duration::from_secs(60);

/// The running workers.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

struct Shared {
    /// Read on every admission (to wake a worker), written on reloads.
    workers: ArcSwap<HashMap<String, Arc<Worker>>>,
    /// Held while the workers and the stored target definitions change together (a
    /// reload's save and apply; a retired worker's removal and forgetting), so
    /// neither undoes the other.
    changing: tokio::sync::Mutex<()>,
    store: Arc<dyn Store>,
    client: HttpClient,
    /// The client of subscriptions' targets: it connects only where `guard` lets it.
    guarded: HttpClient,
    guard: Arc<AddressGuard>,
    /// Where workers and attempts run.
    runtime: DeliveryRuntime,
    /// Cancelled at shutdown: no more claims.
    stop: CancellationToken,
    /// Cancelled when the grace period ends: attempts still in flight give their
    /// leases back instead of leaving them to expire.
    abandon: CancellationToken,
    tracker: TaskTracker,
    /// The paused targets, as last read from the store.
    paused: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("workers", &self.workers.load().len())
            .finish_non_exhaustive()
    }
}

/// The delivery runtime: threads of its own, so a burst of claimed deliveries never
/// queues in front of ingress tasks. On a shared runtime, a claim of 64 deliveries
/// became 64 tasks ahead of the requests waiting to be acknowledged; the operating
/// system now shares the CPU between the two by thread instead.
#[derive(Debug)]
struct DeliveryRuntime(Option<tokio::runtime::Runtime>);

impl DeliveryRuntime {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }
}

impl Drop for DeliveryRuntime {
    fn drop(&mut self) {
        // Shutdown has already drained the work; this only stops the threads, and
        // must not block (the last clone may be dropped inside async code).
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// One target's worker state.
struct Worker {
    name: String,
    /// The definition deliveries are sent with: the config's, or the last one known
    /// once the target is removed from it.
    target: ArcSwap<Target>,
    store: Arc<dyn Store>,
    client: HttpClient,
    breaker: Breaker,
    rate: ArcSwapOption<RateLimit>,
    permits: ArcSwap<Semaphore>,
    wake: Notify,
    max_response_body: std::sync::atomic::AtomicUsize,
    /// Whether the target is out of the config.
    retired: std::sync::atomic::AtomicBool,
    /// Every snapshot that named the target and may still serve a request (a request
    /// on one of them can still admit to it).
    named_by: Mutex<Vec<Weak<Snapshot>>>,
    /// When a drained retired worker may next look for dead letters.
    next_dead_check: Mutex<Option<Instant>>,
    /// The last failed attempt: when (unix ms) and why.
    last_error: Mutex<Option<(u64, String)>>,
    /// Whether deliveries wait (an operator paused the target).
    paused: std::sync::atomic::AtomicBool,
    /// Outcomes waiting to be recorded in the store.
    finished: Mutex<Finished>,
}

/// How a target's worker is doing (see [`Dispatcher::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    /// `closed`, `open` or `half_open`.
    pub breaker: &'static str,
    /// Attempts in flight.
    pub in_flight: usize,
    /// The last failed attempt: when (unix ms) and why.
    pub last_error: Option<(u64, String)>,
    /// Whether the target is out of the config (delivering what it still has).
    pub retired: bool,
    /// Whether an operator paused it.
    pub paused: bool,
}

/// Completions not yet recorded, and whether an attempt is recording them now.
#[derive(Default)]
struct Finished {
    completions: Vec<(Lease, Completion)>,
    recording: bool,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("target", &self.name)
            .field("breaker", &self.breaker.state())
            .field("free_permits", &self.permits.load().available_permits())
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher with no workers yet, on a runtime of its own.
    pub fn start(store: Arc<dyn Store>, client: HttpClient) -> std::io::Result<Self> {
        let guard = AddressGuard::new(Vec::new());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("hookgate-delivery")
            .enable_all()
            .build()?;
        Ok(Self {
            shared: Arc::new(Shared {
                workers: ArcSwap::default(),
                changing: tokio::sync::Mutex::new(()),
                store,
                client,
                guarded: build_client(Some(guard.clone())),
                guard,
                runtime: DeliveryRuntime(Some(runtime)),
                stop: CancellationToken::new(),
                abandon: CancellationToken::new(),
                tracker: TaskTracker::new(),
                paused: Mutex::default(),
            }),
        })
    }

    /// Reads the paused targets now, then every [`PAUSE_POLL`] until shutdown.
    pub async fn watch_pauses(&self) {
        self.read_pauses().await;
        let dispatcher = self.clone();
        let watch = async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(PAUSE_POLL) => dispatcher.read_pauses().await,
                    () = dispatcher.shared.stop.cancelled() => return,
                }
            }
        };
        if let Some(handle) = self.shared.runtime.handle() {
            handle.spawn(watch);
        }
    }

    async fn read_pauses(&self) {
        match self.shared.store.paused().await {
            Ok(paused) => self.apply_pauses(paused.into_iter().collect()),
            Err(error) => {
                crate::metrics_catalog::store_error("paused", &error);
                tracing::debug!(%error, "reading the paused targets failed; the last known state holds");
            }
        }
    }

    /// Pauses deliveries to `target` (`paused`) or resumes them, here at once and,
    /// through the store, on every instance sharing it.
    pub async fn set_paused(&self, target: &str, paused: bool) -> Result<(), crate::store::StoreError> {
        self.shared.store.set_paused(target, paused).await?;
        let mut set = self
            .shared
            .paused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if paused {
            set.insert(target.to_owned());
        } else {
            set.remove(target);
        }
        self.apply_pauses(set);
        Ok(())
    }

    /// Makes the workers follow `paused`: a paused worker claims nothing; a resumed
    /// one is woken.
    fn apply_pauses(&self, paused: HashSet<String>) {
        for (name, worker) in self.shared.workers.load().iter() {
            let now = paused.contains(name);
            let before = worker.paused.swap(now, Ordering::SeqCst);
            metrics::gauge!("hookgate_target_paused", "target" => name.clone()).set(if now {
                1.0
            } else {
                0.0
            });
            match (before, now) {
                (false, true) => tracing::warn!(target_name = %name, "target paused: its deliveries wait"),
                (true, false) => {
                    tracing::info!(target_name = %name, "target resumed");
                    worker.wake.notify_one();
                }
                _ => {}
            }
        }
        *self.shared.paused.lock().unwrap_or_else(PoisonError::into_inner) = paused;
    }

    /// Takes the lock under which workers and stored definitions change together;
    /// [`Dispatcher::apply`] needs it.
    pub async fn changes(&self) -> Changes<'_> {
        Changes(self.shared.changing.lock().await)
    }

    /// Makes the workers follow `next`: one per target of the config (started, or
    /// given its new definition), and one per target of `unconfigured` (targets the
    /// store knows that the config does not name) with that definition. Workers of
    /// targets in neither are retired: they keep sending what is queued with their
    /// last definition until nothing of the target is left (see the module docs).
    /// Returns the names of the targets this retires.
    pub fn apply(
        &self,
        _changes: &Changes<'_>,
        next: &Arc<Snapshot>,
        unconfigured: &[Arc<Target>],
    ) -> Vec<String> {
        let shared = &self.shared;
        shared.guard.set_allowed(next.policy.allowed.clone());
        let max_response_body = next.settings.limits.max_response_body;
        let mut workers: HashMap<String, Arc<Worker>> = (**shared.workers.load()).clone();
        for target in &next.targets {
            match workers.get(&target.name) {
                Some(worker) => {
                    worker.update(target.clone(), max_response_body);
                    if worker.retired.swap(false, Ordering::SeqCst) {
                        tracing::info!(target_name = %target.name, "target is in the config again");
                    }
                    worker.named_by(next);
                }
                None => {
                    let worker = self.spawn(target.clone(), max_response_body, false);
                    worker.named_by(next);
                    workers.insert(target.name.clone(), worker);
                }
            }
        }
        let mut retiring = Vec::new();
        for (name, worker) in &workers {
            if next.target(name).is_none() && !worker.retired.swap(true, Ordering::SeqCst) {
                retiring.push(name.clone());
                tracing::warn!(
                    target_name = %name,
                    "target removed from the config; its queued deliveries are still sent, with its last definition"
                );
            }
        }
        for target in unconfigured {
            if !workers.contains_key(&target.name) {
                let worker = self.spawn(target.clone(), max_response_body, true);
                workers.insert(target.name.clone(), worker);
            }
        }
        shared.workers.store(Arc::new(workers));
        retiring
    }

    /// The definitions of every target with a worker (configured, or retired and
    /// still delivering): what the store must keep.
    pub fn definitions(&self) -> Vec<TargetRecord> {
        self.shared
            .workers
            .load()
            .values()
            .map(|worker| worker.target.load().record())
            .collect()
    }

    fn spawn(&self, target: Arc<Target>, max_response_body: usize, retired: bool) -> Arc<Worker> {
        let paused = self
            .shared
            .paused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&target.name);
        let shared = &self.shared;
        metrics::gauge!("hookgate_breaker_open", "target" => target.name.clone()).set(0.0);
        let name = target.name.clone();
        let worker = Arc::new(Worker {
            name: target.name.clone(),
            breaker: Breaker::new(target.breaker, probe_timeout(&target)),
            rate: ArcSwapOption::new(target.rate_limit.map(|rate| Arc::new(RateLimit::new(rate)))),
            permits: ArcSwap::from_pointee(Semaphore::new(target.max_concurrency)),
            target: ArcSwap::new(target),
            store: shared.store.clone(),
            client: if is_subscription_target(&name) {
                shared.guarded.clone()
            } else {
                shared.client.clone()
            },
            wake: Notify::new(),
            max_response_body: max_response_body.into(),
            retired: retired.into(),
            named_by: Mutex::default(),
            next_dead_check: Mutex::default(),
            last_error: Mutex::default(),
            paused: paused.into(),
            finished: Mutex::default(),
        });
        if let Some(handle) = shared.runtime.handle() {
            shared
                .tracker
                .spawn_on(worker.clone().run(Arc::downgrade(shared)), handle);
        }
        worker
    }

    /// The guard subscriptions' addresses are checked by.
    pub fn guard(&self) -> &Arc<AddressGuard> {
        &self.shared.guard
    }

    /// Tells `target`'s worker that new deliveries were just admitted here.
    pub fn wake(&self, target: &str) {
        if let Some(worker) = self.shared.workers.load().get(target) {
            worker.wake.notify_one();
        }
    }

    /// How the worker of `target` is doing, if it has one.
    pub fn status(&self, target: &str) -> Option<WorkerStatus> {
        let worker = self.shared.workers.load().get(target)?.clone();
        let breaker = match worker.breaker.state() {
            crate::delivery::breaker::State::Closed => "closed",
            crate::delivery::breaker::State::Open(_) => "open",
            crate::delivery::breaker::State::HalfOpen(_) => "half_open",
        };
        let definition = worker.target.load();
        let free = worker.permits.load().available_permits();
        let last_error = worker
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Some(WorkerStatus {
            breaker,
            in_flight: definition.max_concurrency.saturating_sub(free),
            last_error,
            retired: worker.retired.load(Ordering::SeqCst),
            paused: worker.paused.load(Ordering::SeqCst),
        })
    }

    /// Targets whose workers run for deliveries of a target the config no longer
    /// names.
    pub fn retired(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shared
            .workers
            .load()
            .values()
            .filter(|worker| worker.retired.load(Ordering::SeqCst))
            .map(|worker| worker.name.clone())
            .collect();
        names.sort();
        names
    }

    /// Stops claiming, returns the leases of deliveries not yet attempted at once,
    /// lets attempts in flight finish within `grace`, and then returns their leases
    /// too, so another instance (or the restart) takes them without waiting for the
    /// lease timeout.
    pub async fn shutdown(&self, grace: Duration) {
        let shared = &self.shared;
        shared.stop.cancel();
        shared.tracker.close();
        if tokio::time::timeout(grace, shared.tracker.wait()).await.is_err() {
            tracing::warn!("grace period over with deliveries in flight; returning their leases");
            shared.abandon.cancel();
            shared.tracker.wait().await;
        }
    }
}

impl Shared {
    /// Removes `worker` once it is retired and done; false when it is in use again.
    /// The caller holds `changing`.
    fn remove(&self, worker: &Arc<Worker>) -> bool {
        if !worker.retired.load(Ordering::SeqCst) {
            return false;
        }
        let mut workers: HashMap<String, Arc<Worker>> = (**self.workers.load()).clone();
        if workers
            .get(&worker.name)
            .is_some_and(|current| Arc::ptr_eq(current, worker))
        {
            workers.remove(&worker.name);
            self.workers.store(Arc::new(workers));
        }
        true
    }
}

/// The lock under which workers and stored target definitions change together.
pub struct Changes<'a>(#[allow(dead_code)] tokio::sync::MutexGuard<'a, ()>);

impl Worker {
    /// Takes `target` as the definition to send with from now on.
    fn update(&self, target: Arc<Target>, max_response_body: usize) {
        let previous = self.target.swap(target.clone());
        self.max_response_body
            .store(max_response_body, std::sync::atomic::Ordering::Relaxed);
        if previous.breaker != target.breaker || previous.timeout != target.timeout {
            self.breaker.set_policy(target.breaker, probe_timeout(&target));
        }
        if previous.rate_limit != target.rate_limit {
            self.rate
                .store(target.rate_limit.map(|rate| Arc::new(RateLimit::new(rate))));
        }
        if previous.max_concurrency != target.max_concurrency {
            // Attempts in flight keep their permits of the old limit.
            self.permits
                .store(Arc::new(Semaphore::new(target.max_concurrency)));
            self.wake.notify_one();
        }
    }

    /// Remembers that `snapshot` names this target, forgetting snapshots no request
    /// holds any more.
    fn named_by(&self, snapshot: &Arc<Snapshot>) {
        let mut named_by = self.named_by.lock().unwrap_or_else(PoisonError::into_inner);
        named_by.retain(|weak| weak.strong_count() > 0);
        named_by.push(Arc::downgrade(snapshot));
    }

    /// Whether a retired worker may stop: no request can admit to its target any
    /// more, and nothing of it is left in the store (queued, or dead and replayable).
    async fn drained(&self) -> bool {
        if !self.retired.load(Ordering::SeqCst) {
            return false;
        }
        let named = {
            let mut named_by = self.named_by.lock().unwrap_or_else(PoisonError::into_inner);
            named_by.retain(|weak| weak.strong_count() > 0);
            !named_by.is_empty()
        };
        if named
            || !self
                .store
                .pending(&self.name)
                .await
                .is_ok_and(|pending| pending == 0)
        {
            return false;
        }
        let now = Instant::now();
        {
            let mut next = self
                .next_dead_check
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if next.is_some_and(|at| now < at) {
                return false;
            }
            *next = Some(now + DEAD_CHECK);
        }
        let filter = DeadLetterFilter {
            target: Some(self.name.clone()),
            ..DeadLetterFilter::default()
        };
        self.store
            .dead_letters(&filter, 1)
            .await
            .is_ok_and(|dead| dead.is_empty())
    }

    /// Sets the target's backlog gauges every [`QUEUE_SAMPLE`] until `stop`.
    async fn sample(self: Arc<Self>, stop: CancellationToken) {
        loop {
            if let Ok(backlog) = self.store.backlog(&self.name).await {
                let gauge = |name: &'static str, value: f64| {
                    metrics::gauge!(name, "target" => self.name.clone()).set(value);
                };
                gauge("hookgate_queue_depth", backlog.pending as f64);
                let age = backlog
                    .oldest_ms
                    .map_or(0, |oldest| crate::model::now_ms().saturating_sub(oldest));
                gauge("hookgate_queue_oldest_age_seconds", age as f64 / 1000.0);
                gauge("hookgate_dead_letters", backlog.dead as f64);
            }
            tokio::select! {
                () = tokio::time::sleep(QUEUE_SAMPLE) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    async fn run(self: Arc<Self>, dispatcher: Weak<Shared>) {
        let Some((stop, abandon, tracker)) = dispatcher.upgrade().map(|shared| {
            (
                shared.stop.clone(),
                shared.abandon.clone(),
                shared.tracker.clone(),
            )
        }) else {
            return;
        };
        // Sampled on its own, so the gauges keep moving while this loop waits on an
        // open breaker or a hung target's slots; it ends with the loop.
        let sampling = stop.child_token();
        let _sampling = sampling.clone().drop_guard();
        tokio::spawn(self.clone().sample(sampling));
        let mut checked = Instant::now();
        loop {
            if stop.is_cancelled() {
                return;
            }
            if self.paused.load(Ordering::SeqCst) {
                // Nothing is claimed, so nothing spends an attempt; resuming wakes us.
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(PAUSE_POLL) => {}
                    () = stop.cancelled() => return,
                }
                continue;
            }
            let permit = self.breaker.permit(Instant::now());
            let wanted = match permit {
                Permit::Send => {
                    // Wait for at least one free slot before claiming anything.
                    let permits = self.permits.load_full();
                    let Some(first) = acquire(&permits, &stop).await else {
                        return;
                    };
                    let more = permits.available_permits();
                    drop(first);
                    1 + more
                }
                Permit::Probe => 1,
                Permit::WaitUntil(until) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until.into()) => continue,
                        () = stop.cancelled() => return,
                    }
                }
            };
            let claimed = self.store.claim(&self.name, wanted).await;
            if permit == Permit::Probe && !claimed.as_ref().is_ok_and(|leases| !leases.is_empty()) {
                // No probe to send: give it back, or the breaker would wait on it.
                self.breaker.release_probe(Instant::now());
            }
            let leases = match claimed {
                Ok(leases) => leases,
                Err(error) => {
                    crate::metrics_catalog::store_error("claim", &error);
                    tracing::warn!(target_name = %self.name, %error, "claiming deliveries failed");
                    tokio::select! {
                        () = tokio::time::sleep(STORE_BACKOFF) => continue,
                        () = stop.cancelled() => return,
                    }
                }
            };
            if leases.is_empty() {
                if checked.elapsed() >= DRAIN_CHECK {
                    checked = Instant::now();
                    if self.drained().await && self.stop_retired(&dispatcher).await {
                        return;
                    }
                }
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                    () = stop.cancelled() => return,
                }
                continue;
            }
            for lease in leases {
                let permits = self.permits.load_full();
                let Some(permit) = acquire(&permits, &stop).await else {
                    // Shutting down: hand the rest back untouched.
                    let _ = self.store.release(vec![lease]).await;
                    continue;
                };
                // At info, the lines about a delivery name it themselves
                // (`delivery_log!`): a span per delivery would cost more than they do.
                let span = tracing::debug_span!(
                    "delivery",
                    delivery_id = %lease.delivery.id,
                    trace_id = %TraceIdIn(&lease.delivery.headers),
                    request_id = %lease.delivery.request_id,
                    route = %lease.delivery.route,
                    target_name = %self.name,
                );
                tracker.spawn(
                    self.clone()
                        .attempt(lease, permit, stop.clone(), abandon.clone())
                        .instrument(span),
                );
            }
        }
    }

    /// Ends a drained retired worker: leaves the dispatcher and has the store forget
    /// its target's definition (unless another instance saved a different one
    /// meanwhile). False when the target came back meanwhile.
    async fn stop_retired(self: &Arc<Self>, dispatcher: &Weak<Shared>) -> bool {
        let Some(shared) = dispatcher.upgrade() else {
            return true;
        };
        let _changing = shared.changing.lock().await;
        if !shared.remove(self) {
            return false;
        }
        let definition = self.target.load().record();
        if let Err(error) = self.store.forget_target(&definition).await {
            tracing::warn!(target_name = %self.name, %error, "forgetting a drained target's definition failed");
        }
        tracing::info!(target_name = %self.name, "removed target drained; its worker stops");
        true
    }

    /// Records an attempt's result on the breaker; logs and counts it opening and
    /// closing (`hookgate_breaker_open` is 1 from the one until the other).
    fn record_breaker(&self, success: bool) {
        let (before, after) = self.breaker.transition(success, Instant::now());
        match (before, after) {
            (State::Closed, State::Open(_)) => {
                let cool_down = self.breaker.cool_down();
                tracing::warn!(
                    target_name = %self.name,
                    cool_down_ms = cool_down.as_millis() as u64,
                    "circuit breaker opened: deliveries wait without spending attempts"
                );
                metrics::gauge!("hookgate_breaker_open", "target" => self.name.clone()).set(1.0);
            }
            (State::Open(_) | State::HalfOpen(_), State::Closed) => {
                tracing::info!(target_name = %self.name, "circuit breaker closed");
                metrics::gauge!("hookgate_breaker_open", "target" => self.name.clone()).set(0.0);
            }
            _ => {}
        }
    }

    /// One attempt: rate limit, sign, send, classify, complete.
    async fn attempt(
        self: Arc<Self>,
        lease: Lease,
        permit: OwnedSemaphorePermit,
        stop: CancellationToken,
        abandon: CancellationToken,
    ) {
        if let Some(rate) = self.rate.load_full() {
            tokio::select! {
                () = rate.take() => {}
                () = stop.cancelled() => {
                    let _ = self.store.release(vec![lease]).await;
                    return;
                }
            }
        }
        // Claimed just before the breaker opened: wait with it, spending no attempt.
        if let Some(until) = self.breaker.open_until(Instant::now()) {
            let wait = u64::try_from(until.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(u64::MAX);
            let completion = Completion::Defer {
                due_at_ms: now_ms() + wait,
            };
            let delivery = lease.delivery.clone();
            if let Err(error) = self.store.complete(lease, completion).await {
                delivery_log!(Level::WARN, self, delivery, %error, "deferring a delivery failed; it is retried after its lease");
            }
            return;
        }
        let target = self.target.load_full();
        let max_response_body = self.max_response_body.load(std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let sent = async {
            match request(&lease, &target) {
                Ok(request) => send(&self.client, request, target.timeout, max_response_body).await,
                Err(error) => Err(error),
            }
        };
        let result = tokio::select! {
            result = sent => result,
            () = abandon.cancelled() => {
                // Shutdown ran out of grace: the target may or may not have it; sending
                // again later keeps the at-least-once promise.
                let delivery = lease.delivery.clone();
                if let Err(error) = self.store.release(vec![lease]).await {
                    delivery_log!(Level::WARN, self, delivery, %error, "returning a lease at shutdown failed; it expires instead");
                }
                return;
            }
        };
        let latency = started.elapsed();
        let (outcome, record) = observe(&result, latency);
        // Record before freeing the slot, so the next claim sees an opened breaker.
        self.record_breaker(outcome.is_success());
        drop(permit);
        let delivery = &lease.delivery;
        let attempts = delivery.attempts + 1;
        let age = Duration::from_millis(now_ms().saturating_sub(delivery.created_at_ms));
        let decision = retry::classify(&outcome, &target.retry, attempts, age, retry::full_jitter);
        let counted = if outcome.is_success() {
            "success"
        } else {
            "failure"
        };
        metrics::counter!("hookgate_attempts_total", "target" => self.name.clone(), "outcome" => counted)
            .increment(1);
        let status = record.status;
        if !outcome.is_success() {
            let why = match (&record.error, status) {
                (Some(error), _) => error.clone(),
                (None, Some(status)) => format!("status {status}"),
                (None, None) => "no answer".to_owned(),
            };
            *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some((now_ms(), why));
        }
        let completion = match decision {
            Decision::Done => {
                delivery_log!(
                    Level::INFO,
                    self,
                    delivery,
                    attempts,
                    status,
                    latency_ms = record.latency_ms,
                    "delivered"
                );
                metrics::counter!("hookgate_deliveries_total", "target" => self.name.clone(), "result" => "delivered").increment(1);
                let since_ack = now_ms().saturating_sub(delivery.created_at_ms);
                metrics::histogram!("hookgate_delivery_latency_seconds", "target" => self.name.clone())
                    .record(since_ack as f64 / 1000.0);
                Completion::Delivered { record }
            }
            Decision::RetryAfter(delay) => {
                delivery_log!(
                    Level::INFO,
                    self,
                    delivery,
                    attempts,
                    status,
                    error = record.error.as_deref(),
                    retry_in_ms = delay.as_millis() as u64,
                    "attempt failed; will retry"
                );
                Completion::Retry {
                    due_at_ms: now_ms() + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    record,
                }
            }
            Decision::DeadLetter(reason) => {
                delivery_log!(Level::ERROR, self, delivery, attempts, status, error = record.error.as_deref(), %reason, "delivery dead-lettered");
                metrics::counter!("hookgate_deliveries_total", "target" => self.name.clone(), "result" => "dead_lettered").increment(1);
                Completion::Dead { reason, record }
            }
        };
        self.record(lease, completion).await;
    }

    /// Records an attempt's outcome. Outcomes that finish while another attempt is
    /// writing to the store are queued and written by that attempt in one batch
    /// afterwards: under load a target's completions cost one store round trip per
    /// batch rather than one each, and none waits longer than one write for its turn.
    async fn record(&self, lease: Lease, completion: Completion) {
        {
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            finished.completions.push((lease, completion));
            if finished.recording {
                return;
            }
            finished.recording = true;
        }
        let mut failing_since = None;
        loop {
            let batch = {
                let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
                if finished.completions.is_empty() {
                    finished.recording = false;
                    return;
                }
                std::mem::take(&mut finished.completions)
            };
            let count = batch.len();
            let Err(error) = self.store.complete_all(&batch).await else {
                failing_since = None;
                continue;
            };
            crate::metrics_catalog::store_error("complete", &error);
            let failing_for = failing_since.get_or_insert_with(Instant::now).elapsed();
            if !error.is_retryable() || failing_for >= RECORD_GIVE_UP {
                // The leases expire and the deliveries are attempted again: at least once.
                tracing::warn!(target_name = %self.name, %error, count, "recording attempts failed; those deliveries will be retried after their lease");
                continue;
            }
            // The store is down for now (full disk, outage): write the outcomes again
            // shortly, rather than sending the deliveries again after their leases.
            // Completing is idempotent: outcomes already written are not applied twice.
            tracing::warn!(target_name = %self.name, %error, count, "recording attempts failed; trying again");
            {
                let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
                let later = std::mem::replace(&mut finished.completions, batch);
                finished.completions.extend(later);
            }
            tokio::time::sleep(RECORD_RETRY).await;
        }
    }
}

/// How long a probe's outcome may take: the target's timeout, and a margin for the
/// rate limit and recording.
fn probe_timeout(target: &Target) -> Duration {
    target.timeout + Duration::from_secs(1)
}

async fn acquire(permits: &Arc<Semaphore>, stop: &CancellationToken) -> Option<OwnedSemaphorePermit> {
    tokio::select! {
        permit = permits.clone().acquire_owned() => permit.ok(),
        () = stop.cancelled() => None,
    }
}

/// The request for a leased delivery: as admitted, finished with `target`'s headers
/// and signature.
fn request(lease: &Lease, target: &Target) -> Result<Request<Full<Bytes>>, SendError> {
    let delivery = &lease.delivery;
    let method = Method::from_bytes(delivery.method.as_bytes()).unwrap_or(Method::POST);
    let uri: Uri = delivery
        .url
        .parse()
        .map_err(|error: http::uri::InvalidUri| SendError::Invalid(error.into()))?;
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(delivery.body.clone()))
        .map_err(SendError::Invalid)?;
    let headers = request.headers_mut();
    for (name, value) in &delivery.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    let message = Message {
        id: &delivery.id,
        attempt: delivery.attempts.saturating_add(1),
    };
    finish(&mut request, target, message, &delivery.body);
    Ok(request)
}

/// Turns a send result into the policy's view and the record kept with the delivery.
fn observe(result: &Result<Response<Bytes>, SendError>, latency: Duration) -> (Outcome, Attempt) {
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(response) => {
            let body = response.body();
            let excerpt = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_LIMIT)]).into_owned();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| retry::parse_retry_after(value, now_ms() / 1000));
            (
                Outcome::Response {
                    status: response.status().as_u16(),
                    retry_after,
                },
                Attempt {
                    at_ms: now_ms(),
                    status: Some(response.status().as_u16()),
                    latency_ms,
                    error: None,
                    excerpt: (!excerpt.is_empty()).then_some(excerpt),
                },
            )
        }
        Err(error) => {
            let outcome = if error.is_timeout() {
                Outcome::Timeout
            } else {
                Outcome::Failed
            };
            let detail = match std::error::Error::source(error) {
                Some(cause) => format!("{error}: {cause}"),
                None => error.to_string(),
            };
            (
                outcome,
                Attempt {
                    at_ms: now_ms(),
                    status: None,
                    latency_ms,
                    error: Some(detail),
                    excerpt: None,
                },
            )
        }
    }
}
