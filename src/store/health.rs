//! Whether the store answers, as the request path sees it. A store that gave no
//! answer in time (frozen, partitioned) or refused the connection is marked down:
//! admissions then fail at once (503 with `Retry-After`) instead of each waiting the
//! whole `admit_timeout`, so a frozen store cannot tie up every connection. A probe
//! pings it in the background every [`PROBE_EVERY`] and marks it up again as soon as
//! it answers. `/readyz` reports the same state.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Store, StoreError};

/// How often a store marked down is pinged.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The store's health; see the module docs.
pub struct StoreHealth {
    store: Arc<dyn Store>,
    down: AtomicBool,
}

impl std::fmt::Debug for StoreHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHealth")
            .field("down", &self.is_down())
            .finish_non_exhaustive()
    }
}

impl StoreHealth {
    /// The health of `store`, up to begin with.
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            store,
            down: AtomicBool::new(false),
        })
    }

    /// Whether the store is known to be down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Runs `call` on the store within `timeout`; fails at once while the store is
    /// known to be down, and marks it down when it gives no answer in time or is
    /// unreachable.
    pub async fn call<T>(
        self: &Arc<Self>,
        operation: &'static str,
        timeout: Duration,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.is_down() {
            return Err(StoreError::unavailable(
                "the store did not answer lately; waiting for it to come back",
            ));
        }
        let result = match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(format!("no answer within {timeout:?}"))),
        };
        if let Err(error) = &result {
            crate::metrics_catalog::store_error(operation, error);
        }
        if result.as_ref().is_err_and(StoreError::is_retryable) {
            self.mark_down();
        }
        result
    }

    /// Answers whether the store is up now: known down, or pinged.
    pub async fn ready(self: &Arc<Self>) -> bool {
        !self.is_down() && self.call("ping", PROBE_TIMEOUT, self.store.ping()).await.is_ok()
    }

    fn mark_down(self: &Arc<Self>) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!("the store does not answer; admissions fail at once until it does");
        let health = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let pong = tokio::time::timeout(PROBE_TIMEOUT, health.store.ping()).await;
                if matches!(pong, Ok(Ok(()))) {
                    health.down.store(false, Ordering::Release);
                    tracing::info!("the store answers again");
                    return;
                }
            }
        });
    }
}
