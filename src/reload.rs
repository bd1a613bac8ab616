//! Reload: a new config, validated exactly as `hookgate check` does, swapped in
//! without a restart (on `SIGHUP`, `POST /reload` or `hookgate reload`).
//!
//! An invalid file changes nothing: the old config keeps serving, and the problems,
//! with their locations, are logged and returned. A file that changes what only a
//! restart can (the listeners, the store) is refused and says so. Otherwise the
//! targets' definitions are saved in the store, the dispatcher's workers follow the
//! new targets (removed targets keep delivering what is queued, with their last
//! definition), and the snapshot is swapped: requests already in flight finish on
//! the old one, later requests get the new one.

use std::sync::Arc;
use std::time::Duration;

use crate::delivery::Dispatcher;
use crate::diagnostics::ConfigErrors;
use crate::model::Target;
use crate::registry::{Registry, Snapshot};
use crate::store::Store;

/// How long saving target definitions may take before a reload goes on without it
/// (it is tried again by [`Reloader::keep_definitions`]).
const SAVE_DEADLINE: Duration = Duration::from_secs(2);

/// Waits `interval`; false when `stop` comes first (the caller's loop ends).
pub async fn tick(interval: Duration, stop: &tokio_util::sync::CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(interval) => true,
        () = stop.cancelled() => false,
    }
}

/// Where configs come from.
pub trait Source: Send + Sync {
    /// Reads and validates the config.
    fn load(&self) -> Result<Snapshot, ConfigErrors>;
    /// What it is, for logs (a file path).
    fn describe(&self) -> String;
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid.
    #[error("the new config is invalid; the old one keeps serving\n{0}")]
    Invalid(ConfigErrors),
    /// The new config changes keys that need a restart.
    #[error(
        "the new config changes {}, which take effect only after a restart; the old config keeps serving",
        .0.join(", ")
    )]
    RestartNeeded(Vec<&'static str>),
}

/// What a reload did.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The new config's hash.
    pub hash: String,
    /// Whether the file differs from the one serving before.
    pub changed: bool,
    /// Targets removed by this reload, still delivering what is queued.
    pub retired: Vec<String>,
}

/// Applies configs to a running server.
pub struct Reloader {
    source: Arc<dyn Source>,
    registry: Arc<Registry>,
    dispatcher: Dispatcher,
    store: Arc<dyn Store>,
    /// One reload at a time.
    running: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader of `registry` from `source`.
    pub fn new(
        source: Arc<dyn Source>,
        registry: Arc<Registry>,
        dispatcher: Dispatcher,
        store: Arc<dyn Store>,
    ) -> Self {
        Self {
            source,
            registry,
            dispatcher,
            store,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Puts the registry's first snapshot to work: saves its targets' definitions,
    /// starts their workers, and reports (and keeps delivering for) targets the store
    /// knows that the config does not name.
    pub async fn start(&self) {
        let _running = self.running.lock().await;
        // Present from the start, at zero, so a dashboard can tell "no reload yet".
        for result in ["ok", "error"] {
            metrics::counter!("hookgate_config_reloads_total", "result" => result).increment(0);
        }
        let subscriptions = match self.store.subscriptions().await {
            Ok(subscriptions) => subscriptions,
            Err(error) => {
                tracing::warn!(%error, "reading the subscriptions failed; they are read again shortly");
                Vec::new()
            }
        };
        let snapshot = Arc::new(self.registry.snapshot().subscribed(subscriptions));
        self.follow(&snapshot).await;
        self.registry.swap(snapshot.clone());
        config_info(None, &snapshot.hash);
    }

    /// Reads the subscriptions from the store and, if they changed, puts them to
    /// work: a new snapshot of the same config, whose workers follow as at a reload.
    pub async fn refresh_subscriptions(&self) -> Result<(), crate::store::StoreError> {
        let mut subscriptions = self.store.subscriptions().await?;
        subscriptions.sort_by(|a, b| a.id.cmp(&b.id));
        let _running = self.running.lock().await;
        let current = self.registry.snapshot();
        if current.subscriptions.stored() == subscriptions.as_slice() {
            return Ok(());
        }
        let next = Arc::new(current.subscribed(subscriptions));
        self.follow(&next).await;
        self.registry.swap(next);
        Ok(())
    }

    /// Calls [`Reloader::refresh_subscriptions`] every `interval` until `stop`, so a
    /// subscription written through another instance is served here within it.
    pub async fn watch_subscriptions(
        self: Arc<Self>,
        interval: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        while tick(interval, &stop).await {
            if let Err(error) = self.refresh_subscriptions().await {
                crate::metrics_catalog::store_error("subscriptions", &error);
                tracing::debug!(%error, "reading the subscriptions failed; the last known ones hold");
            }
        }
    }

    /// Loads the source again and swaps it in; see the module docs.
    pub async fn reload(&self, trigger: &'static str) -> Result<Reloaded, ReloadError> {
        let _running = self.running.lock().await;
        let result = self.swap(trigger).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("hookgate_config_reloads_total", "result" => outcome).increment(1);
        match &result {
            Ok(reloaded) => tracing::info!(
                trigger,
                config = %self.source.describe(),
                hash = %reloaded.hash,
                changed = reloaded.changed,
                tls_certificate_sha256 = self.registry.snapshot().settings.tls.as_ref().map(|tls| tls.fingerprint.clone()),
                "config reloaded"
            ),
            Err(error) => {
                tracing::error!(trigger, config = %self.source.describe(), %error, "config reload refused")
            }
        }
        result
    }

    async fn swap(&self, trigger: &'static str) -> Result<Reloaded, ReloadError> {
        tracing::info!(trigger, config = %self.source.describe(), "reloading the config");
        // Reading files and building verifiers (JWKS, secret files) may block.
        let source = self.source.clone();
        let next = tokio::task::spawn_blocking(move || source.load())
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
            .map_err(ReloadError::Invalid)?;
        let current = self.registry.snapshot();
        let changes = current.settings.restart_only_changes(&next.settings);
        if !changes.is_empty() {
            return Err(ReloadError::RestartNeeded(changes));
        }
        // Subscriptions carry over, compiled under the new config's policy.
        let next = Arc::new(next.subscribed(current.subscriptions.stored().to_vec()));
        let retired = self.follow(&next).await;
        self.registry.swap(next.clone());
        config_info(Some(&current.hash), &next.hash);
        Ok(Reloaded {
            changed: next.hash != current.hash,
            hash: next.hash.clone(),
            retired,
        })
    }

    /// Makes the workers follow `next` and saves the definitions of every target
    /// that has one (configured or still delivering), then reports the targets that
    /// are out of the config but still have work. Returns the targets it retires.
    async fn follow(&self, next: &Arc<Snapshot>) -> Vec<String> {
        let unconfigured = self.unconfigured(next).await;
        let changes = self.dispatcher.changes().await;
        let retired = self.dispatcher.apply(&changes, next, &unconfigured);
        self.save(&self.dispatcher.definitions()).await;
        let running = self.dispatcher.retired();
        if !running.is_empty() {
            tracing::warn!(
                targets = %running.join(", "),
                "targets not in the config still have deliveries or dead letters; they are sent with their last definition"
            );
        }
        metrics::gauge!("hookgate_unconfigured_targets").set(running.len() as f64);
        drop(changes);
        retired
    }

    /// Saves the definitions of every target with a worker again, every
    /// `interval`, until `stop`: a save that failed is made up for, and a definition
    /// another instance forgot while this one still uses it is restored.
    pub async fn keep_definitions(
        self: Arc<Self>,
        interval: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        while tick(interval, &stop).await {
            let changes = self.dispatcher.changes().await;
            self.save(&self.dispatcher.definitions()).await;
            let running = self.dispatcher.retired();
            metrics::gauge!("hookgate_unconfigured_targets").set(running.len() as f64);
            drop(changes);
        }
    }

    async fn save(&self, records: &[crate::model::TargetRecord]) {
        match tokio::time::timeout(SAVE_DEADLINE, self.store.save_targets(records)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "saving the targets' definitions failed; it is tried again shortly")
            }
            Err(_) => tracing::warn!("saving the targets' definitions timed out; it is tried again shortly"),
        }
    }

    /// Targets whose definitions the store keeps but `next` does not name.
    async fn unconfigured(&self, next: &Snapshot) -> Vec<Arc<Target>> {
        let stored = match tokio::time::timeout(SAVE_DEADLINE, self.store.targets()).await {
            Ok(Ok(stored)) => stored,
            Ok(Err(error)) => {
                tracing::warn!(%error, "reading the stored target definitions failed");
                return Vec::new();
            }
            Err(_) => {
                tracing::warn!("reading the stored target definitions timed out");
                return Vec::new();
            }
        };
        stored
            .into_iter()
            .filter(|record| next.target(&record.name).is_none())
            .filter_map(|record| match record.target() {
                Ok(target) => Some(Arc::new(target)),
                Err(error) => {
                    tracing::error!(target_name = %record.name, %error, "a stored target definition is unreadable");
                    None
                }
            })
            .collect()
    }
}

/// `hookgate_config_info{hash}`: 1 for the config serving, 0 for the one it replaced.
fn config_info(previous: Option<&str>, current: &str) {
    if let Some(previous) = previous.filter(|previous| *previous != current) {
        metrics::gauge!("hookgate_config_info", "hash" => previous.to_owned()).set(0.0);
    }
    metrics::gauge!("hookgate_config_info", "hash" => current.to_owned()).set(1.0);
}
