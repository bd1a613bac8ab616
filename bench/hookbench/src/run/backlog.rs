//! A backlog scenario: does hookgate's memory stay flat while deliveries pile up, and
//! does the pile drain whole?
//!
//! The one target is paused through the admin API, so every accepted event waits in
//! the store as a pending delivery nobody claims. Big-array requests are sent, a tenth
//! of the backlog at a time, until the backlog is pending (a refused request is sent
//! again after its Retry-After, as a sender would); after each tenth (no request in
//! flight) hookgate's resident set is read, with the store's own pending count
//! beside it. Then the target is resumed and the sink waited for, with the
//! resident set watched, until it has every event or the drain stalls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use super::{Bench, Pace, Started};
use crate::admin::Admin;
use crate::event::EventTemplate;
use crate::process::{peak_rss, rss, wait_listening};
use crate::report::{lost, BacklogResult, Point};
use crate::scenario::{Scenario, ADMIN_TOKEN, KLAVI_SECRET};

/// The most one tenth of the backlog may take to admit.
const STEP_LIMIT: Duration = Duration::from_secs(600);

/// How long to wait before sending a refused request again (same events, so a
/// refusal that was stored after all is deduplicated): the `Retry-After` of
/// hookgate's 503 `store-unavailable`.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How often the resident set is read during the drain.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// How long the store may take to count as done what the sink has received.
const SETTLE: Duration = Duration::from_secs(5);

impl Bench {
    /// Runs backlog `scenario`: hookgate started, paused, loaded, resumed, drained.
    pub(super) async fn backlog(&mut self, scenario: &Scenario) -> anyhow::Result<BacklogResult> {
        let Started {
            process, addr, admin, ..
        } = self.start(scenario).await?;
        let (Some(mut process), Some(admin)) = (process, admin) else {
            bail!("{} needs hookgate with its admin listener", scenario.name);
        };
        wait_listening(&mut process, admin).await?;
        let admin = Admin::new(admin, ADMIN_TOKEN);
        let target = "t1";
        let pids = process.pids()?;
        let redis = scenario.uses_redis().then_some(self.redis_pid);
        let point = |pending: u64, store_pending: u64| Point {
            pending,
            store_pending,
            rss_bytes: rss(&pids),
            redis_rss_bytes: redis.map(|pid| rss(&[pid])),
        };

        self.reset_sink().await?;
        let paused = admin.pause(target).await?;
        let state = admin.target(target).await?;
        if !paused.paused || !state.paused {
            bail!("{target} does not report paused after the pause");
        }
        let mut curve = vec![point(0, state.pending)];

        let batch = scenario.batch as u64;
        let requests = self.options.backlog.div_ceil(batch).max(1);
        let step = requests.div_ceil(10);
        let template = Arc::new(EventTemplate::klavi(KLAVI_SECRET, scenario.batch)?);
        let (mut pending, mut refused, mut transport_errors) = (0, 0, 0);
        let mut admission = Duration::ZERO;
        while pending < requests * batch {
            let left = requests - pending / batch;
            let step_requests = left.min(step);
            let pace = Pace {
                rate: None,
                requests: Some(step_requests),
                retry: Some(RETRY_AFTER),
            };
            let outcome = self.load(scenario, &template, &[addr], STEP_LIMIT, pace).await?;
            admission += outcome.elapsed;
            refused += outcome.refused.values().sum::<u64>();
            transport_errors += outcome.transport_errors;
            process.check_running()?;
            if outcome.acked < step_requests {
                bail!(
                    "hookgate accepted {} of {step_requests} requests within {STEP_LIMIT:?} with {pending} pending: refused {:?}, {} transport errors",
                    outcome.acked,
                    outcome.refused,
                    outcome.transport_errors
                );
            }
            // A request is accepted whole or not at all.
            pending += outcome.acked * batch;
            let state = admin.target(target).await?;
            let point = point(pending, state.pending);
            eprintln!(
                "   {pending} pending (store: {}): RSS {:.1} MiB",
                point.store_pending,
                point.rss_bytes as f64 / (1024.0 * 1024.0)
            );
            curve.push(point);
        }
        let delivered_while_paused = self
            .stats()
            .await?
            .paths
            .get(&Scenario::target_path(1))
            .map_or(0, |counts| counts.total);

        let watch = Watch::start(pids.clone());
        if admin.resume(target).await?.paused {
            bail!("{target} still reports paused after the resume");
        }
        let drained = self.drain(scenario, pending).await?;
        let drain_peak_rss_bytes = watch.stop();
        let pending_after = settle(&admin, target).await?;
        let lost = lost(scenario, pending, &drained.stats);
        let delivered = drained.stats.unique(&Scenario::target_path(1));
        let duplicates = drained
            .stats
            .paths
            .get(&Scenario::target_path(1))
            .map_or(0, |counts| counts.total - counts.unique);
        let peak_rss_bytes = peak_rss(&pids);
        eprintln!(
            "   drained {delivered} in {:.1} s; peak RSS {:.1} MiB; lost {lost}",
            drained.took.as_secs_f64(),
            peak_rss_bytes as f64 / (1024.0 * 1024.0)
        );
        process.check_running()?;
        process.stop(Duration::from_secs(10)).await?;
        Ok(BacklogResult {
            name: scenario.name.clone(),
            pending,
            curve,
            admission_s: admission.as_secs_f64(),
            admitted_per_s: pending as f64 / admission.as_secs_f64(),
            refused,
            transport_errors,
            delivered_while_paused,
            drain_s: drained.took.as_secs_f64(),
            drain_per_s: delivered as f64 / drained.took.as_secs_f64(),
            drain_peak_rss_bytes,
            peak_rss_bytes,
            pending_after,
            lost,
            duplicates,
        })
    }
}

/// The store's pending count for `target` once it reaches zero, or after `SETTLE`:
/// a delivery the sink has is counted done only when its answer is back.
async fn settle(admin: &Admin, target: &str) -> anyhow::Result<u64> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let pending = admin.target(target).await?.pending;
        if pending == 0 || tokio::time::Instant::now() > deadline {
            return Ok(pending);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The largest resident set of some processes, read every `WATCH_EVERY` until stopped.
struct Watch {
    largest: Arc<AtomicU64>,
    pids: Vec<u32>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    fn start(pids: Vec<u32>) -> Self {
        let largest = Arc::new(AtomicU64::new(rss(&pids)));
        let task = tokio::spawn({
            let (largest, pids) = (largest.clone(), pids.clone());
            async move {
                loop {
                    largest.fetch_max(rss(&pids), Ordering::Relaxed);
                    tokio::time::sleep(WATCH_EVERY).await;
                }
            }
        });
        Self { largest, pids, task }
    }

    /// The largest resident set read, bytes (a last reading included).
    fn stop(self) -> u64 {
        self.task.abort();
        self.largest.fetch_max(rss(&self.pids), Ordering::Relaxed);
        self.largest.load(Ordering::Relaxed)
    }
}
