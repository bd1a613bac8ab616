//! The dispatcher: one worker per target drains that target's queue in the store.
//!
//! A worker claims only as many deliveries as its target can take now (free
//! concurrency permits; one probe while the breaker is half-open; none while it is
//! open), so a slow or failing target never holds other targets' work, and no lease
//! is held while waiting on a breaker. Each claimed delivery is rate-limited, signed,
//! sent with the target's timeout, classified by [`retry::classify`], and completed
//! in the store.
//!
//! (This is the per-target pipeline the design describes as a tower stack. It is
//! written out because the worker must size each claim to the capacity a tower stack
//! would hide inside `poll_ready`.)

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::{Method, Request, Response, Uri};
use http_body_util::Full;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::breaker::{Breaker, Permit};
use super::rate::RateLimit;
use super::retry::{self, Decision, Outcome};
use super::{send, HttpClient, SendError};
use crate::config::Target;
use crate::ingress::auth::standard_webhooks::sign_standard_webhooks;
use crate::store::{now_ms, AttemptRecord, Completion, Lease, Store, EXCERPT_LIMIT};

/// How often an idle worker looks for due retries and other instances' admissions.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Pause after a store error before a worker claims again.
const STORE_BACKOFF: Duration = Duration::from_secs(1);

/// The running workers.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    workers: Arc<HashMap<String, Arc<Worker>>>,
    /// Where workers and attempts run; kept alive by every clone.
    _runtime: Arc<DeliveryRuntime>,
    /// Cancelled at shutdown: no more claims.
    stop: CancellationToken,
    /// Cancelled when the grace period ends: attempts still in flight give their
    /// leases back instead of leaving them to expire.
    abandon: CancellationToken,
    tracker: TaskTracker,
}

/// The delivery runtime: threads of its own, so a burst of claimed deliveries never
/// queues in front of ingress tasks. On a shared runtime, a claim of 64 deliveries
/// became 64 tasks ahead of the requests waiting to be acknowledged; the operating
/// system now shares the CPU between the two by thread instead.
#[derive(Debug)]
struct DeliveryRuntime(Option<tokio::runtime::Runtime>);

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
    target: Arc<Target>,
    store: Arc<dyn Store>,
    client: HttpClient,
    breaker: Breaker,
    rate: Option<RateLimit>,
    permits: Arc<Semaphore>,
    wake: Notify,
    max_response_body: usize,
    /// Outcomes waiting to be recorded in the store.
    finished: std::sync::Mutex<Finished>,
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
            .field("target", &self.target.name)
            .field("breaker", &self.breaker.state())
            .field("free_permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Starts one worker per target, on a runtime of its own.
    pub fn start(
        targets: &[Arc<Target>],
        store: Arc<dyn Store>,
        client: HttpClient,
        max_response_body: usize,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("hookgate-delivery")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let stop = CancellationToken::new();
        let abandon = CancellationToken::new();
        let tracker = TaskTracker::new();
        let workers: HashMap<_, _> = targets
            .iter()
            .map(|target| {
                let worker = Arc::new(Worker {
                    target: target.clone(),
                    store: store.clone(),
                    client: client.clone(),
                    breaker: Breaker::new(target.breaker),
                    rate: target.rate_limit.map(RateLimit::new),
                    permits: Arc::new(Semaphore::new(target.max_concurrency)),
                    wake: Notify::new(),
                    max_response_body,
                    finished: std::sync::Mutex::default(),
                });
                (target.name.clone(), worker)
            })
            .collect();
        for worker in workers.values() {
            tracker.spawn_on(
                worker.clone().run(stop.clone(), abandon.clone(), tracker.clone()),
                &handle,
            );
        }
        Ok(Self {
            workers: Arc::new(workers),
            _runtime: Arc::new(DeliveryRuntime(Some(runtime))),
            stop,
            abandon,
            tracker,
        })
    }

    /// Tells `target`'s worker that new deliveries were just admitted here.
    pub fn wake(&self, target: &str) {
        if let Some(worker) = self.workers.get(target) {
            worker.wake.notify_one();
        }
    }

    /// Stops claiming, returns the leases of deliveries not yet attempted at once,
    /// lets attempts in flight finish within `grace`, and then returns their leases
    /// too, so another instance (or the restart) takes them without waiting for the
    /// lease timeout.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!("grace period over with deliveries in flight; returning their leases");
            self.abandon.cancel();
            self.tracker.wait().await;
        }
    }
}

impl Worker {
    async fn run(self: Arc<Self>, stop: CancellationToken, abandon: CancellationToken, tracker: TaskTracker) {
        loop {
            if stop.is_cancelled() {
                return;
            }
            let wanted = match self.breaker.permit(Instant::now()) {
                Permit::Send => {
                    // Wait for at least one free slot before claiming anything.
                    let Some(first) = self.acquire(&stop).await else {
                        return;
                    };
                    let more = self.permits.available_permits();
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
            let leases = match self.store.claim(&self.target.name, wanted).await {
                Ok(leases) => leases,
                Err(error) => {
                    tracing::warn!(target_name = %self.target.name, %error, "claiming deliveries failed");
                    tokio::select! {
                        () = tokio::time::sleep(STORE_BACKOFF) => continue,
                        () = stop.cancelled() => return,
                    }
                }
            };
            if leases.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                    () = stop.cancelled() => return,
                }
                continue;
            }
            for lease in leases {
                let Some(permit) = self.acquire(&stop).await else {
                    // Shutting down: hand the rest back untouched.
                    let _ = self.store.release(vec![lease]).await;
                    continue;
                };
                let span = tracing::info_span!(
                    "delivery",
                    delivery_id = %lease.delivery.id,
                    request_id = %lease.delivery.request_id,
                    route = %lease.delivery.route,
                    target_name = %self.target.name,
                );
                tracker.spawn(
                    self.clone()
                        .attempt(lease, permit, stop.clone(), abandon.clone())
                        .instrument(span),
                );
            }
        }
    }

    async fn acquire(&self, stop: &CancellationToken) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            permit = self.permits.clone().acquire_owned() => permit.ok(),
            () = stop.cancelled() => None,
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
        if let Some(rate) = &self.rate {
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
            if let Err(error) = self.store.complete(lease, completion).await {
                tracing::warn!(%error, "deferring a delivery failed; it is retried after its lease");
            }
            return;
        }
        let started = Instant::now();
        let sent = async {
            match self.request(&lease) {
                Ok(request) => send(&self.client, request, self.target.timeout, self.max_response_body).await,
                Err(error) => Err(error),
            }
        };
        let result = tokio::select! {
            result = sent => result,
            () = abandon.cancelled() => {
                // Shutdown ran out of grace: the target may or may not have it; sending
                // again later keeps the at-least-once promise.
                if let Err(error) = self.store.release(vec![lease]).await {
                    tracing::warn!(%error, "returning a lease at shutdown failed; it expires instead");
                }
                return;
            }
        };
        let latency = started.elapsed();
        let (outcome, record) = observe(&result, latency);
        // Record before freeing the slot, so the next claim sees an opened breaker.
        self.breaker.record(outcome.is_success(), Instant::now());
        drop(permit);
        let delivery = &lease.delivery;
        let attempts = delivery.attempts + 1;
        let age = Duration::from_millis(now_ms().saturating_sub(delivery.created_at_ms));
        let decision = retry::classify(&outcome, &self.target.retry, attempts, age, retry::full_jitter);
        let status = record.status;
        let completion = match decision {
            Decision::Done => {
                tracing::info!(attempts, status, latency_ms = record.latency_ms, "delivered");
                metrics::counter!("hookgate_deliveries_total", "target" => self.target.name.clone(), "result" => "delivered").increment(1);
                Completion::Delivered
            }
            Decision::RetryAfter(delay) => {
                tracing::info!(
                    attempts,
                    status,
                    error = record.error.as_deref(),
                    retry_in_ms = delay.as_millis() as u64,
                    "attempt failed; will retry"
                );
                metrics::counter!("hookgate_deliveries_total", "target" => self.target.name.clone(), "result" => "retried").increment(1);
                Completion::Retry {
                    due_at_ms: now_ms() + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    record,
                }
            }
            Decision::DeadLetter(reason) => {
                tracing::error!(attempts, status, error = record.error.as_deref(), %reason, "delivery dead-lettered");
                metrics::counter!("hookgate_deliveries_total", "target" => self.target.name.clone(), "result" => "dead").increment(1);
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
            if let Err(error) = self.store.complete_all(batch).await {
                // The leases expire and the deliveries are attempted again: at least once.
                tracing::warn!(%error, count, "recording attempts failed; those deliveries will be retried after their lease");
            }
        }
    }

    fn request(&self, lease: &Lease) -> Result<Request<Full<Bytes>>, SendError> {
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
        if let Some(key) = &self.target.signing_key {
            let timestamp = now_ms() / 1000;
            let signature = sign_standard_webhooks(key.expose(), &delivery.id, timestamp, &delivery.body);
            for (name, value) in [
                ("webhook-id", delivery.id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ] {
                if let Ok(value) = HeaderValue::try_from(value) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
        }
        Ok(request)
    }
}

/// Turns a send result into the policy's view and the record kept with the delivery.
fn observe(result: &Result<Response<Bytes>, SendError>, latency: Duration) -> (Outcome, AttemptRecord) {
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
                AttemptRecord {
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
                AttemptRecord {
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
