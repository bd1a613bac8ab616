//! The server: opens the store, starts the delivery workers for the config's
//! targets, and serves the ingress stack (and the admin endpoints) with
//! [`serve`](crate::serve::serve). Shutdown is graceful: stop accepting, let
//! in-flight requests finish (so every admission completes), then let in-flight
//! deliveries finish and return unstarted leases, all within the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::delivery::{build_client, Dispatcher};
use crate::ingress::{self, IngressService};
use crate::registry::{Registry, Snapshot};
use crate::reload::{Reloader, Source};
use crate::serve::{self, Drained};
use crate::store::{Store, StoreError, StoreHealth};

/// How often target definitions are saved again (see
/// [`Reloader::keep_definitions`]).
const KEEP_DEFINITIONS: std::time::Duration = std::time::Duration::from_secs(60);

/// Most admin connections open at once (operators and scrapers, not providers).
const ADMIN_CONNECTIONS: usize = 256;

/// The most the admin listener's connections get to finish at shutdown.
const ADMIN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How often the subscriptions are read from the store: one written through another
/// instance is served here within this.
const SUBSCRIPTION_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// How often logged events past the retention are forgotten.
const SWEEP_EVENTS: std::time::Duration = std::time::Duration::from_secs(60);

/// Forgets logged events older than `retention`, every [`SWEEP_EVENTS`], until
/// `stop`: a batch at a time (so admissions interleave with it) until none is left,
/// however high the admission rate.
async fn sweep_events(store: Arc<dyn Store>, retention: std::time::Duration, stop: CancellationToken) {
    loop {
        let before =
            crate::model::now_ms().saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
        while !stop.is_cancelled() {
            match store.sweep_events(before).await {
                Ok(0) => break,
                Ok(_) => continue,
                Err(error) => {
                    crate::metrics_catalog::store_error("sweep_events", &error);
                    tracing::warn!(%error, "forgetting old logged events failed; tried again shortly");
                    break;
                }
            }
        }
        if !crate::reload::tick(SWEEP_EVENTS, &stop).await {
            return;
        }
    }
}

/// This instance's name to a shared store when `--instance-id` does not give one:
/// the host name and the listen port, stable across restarts (so a restart does not
/// add a consumer to every stream) and distinct between instances on one host.
fn default_instance_id(port: u16) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "hookgate".to_owned());
    format!("{host}:{port}")
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not bind.
    #[error("cannot listen on {0}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// The store could not be opened.
    #[error("cannot open the store")]
    Store(#[from] StoreError),
    /// The delivery workers' threads could not start.
    #[error("cannot start the delivery workers")]
    Dispatcher(#[source] std::io::Error),
}

/// A bound, not yet running, hookgate server.
pub struct Server {
    listener: TcpListener,
    admin: Option<TcpListener>,
    service: IngressService,
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    health: Arc<StoreHealth>,
    dispatcher: Dispatcher,
    reloader: Arc<Reloader>,
}

impl Server {
    /// Opens the store, binds the listeners of `snapshot`'s settings and starts the
    /// delivery workers of its targets. Reloads read `source`.
    pub async fn bind(snapshot: Snapshot, source: Arc<dyn Source>) -> Result<Server, StartError> {
        // Install the recorder before the first request can count anything.
        crate::telemetry::metrics();
        if let Some(otlp) = &snapshot.settings.otlp {
            match crate::otlp::install(otlp, tokio::runtime::Handle::current()) {
                Ok(()) => tracing::info!(endpoint = %otlp.endpoint, "exporting trace spans over OTLP"),
                Err(error) => tracing::warn!(%error, "trace spans are not exported"),
            }
        }
        let settings = &snapshot.settings;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|error| StartError::Bind(settings.listen, error))?;
        let admin = match &settings.admin {
            Some(admin) => Some(
                TcpListener::bind(admin.listen)
                    .await
                    .map_err(|error| StartError::Bind(admin.listen, error))?,
            ),
            None => None,
        };
        let consumer = match &settings.instance_id {
            Some(id) => id.clone(),
            None => default_instance_id(listener.local_addr().map_or(0, |addr| addr.port())),
        };
        let store = crate::store::open::open(&settings.store, &consumer).await?;
        let client = build_client(None);
        let dispatcher = Dispatcher::start(store.clone(), client.clone()).map_err(StartError::Dispatcher)?;
        // Paused targets are known before any worker claims.
        dispatcher.watch_pauses().await;
        let registry = Arc::new(Registry::new(snapshot));
        let reloader = Arc::new(Reloader::new(
            source,
            registry.clone(),
            dispatcher.clone(),
            store.clone(),
        ));
        reloader.start().await;
        let health = StoreHealth::new(store.clone());
        let service = ingress::build(ingress::stack::Parts {
            registry: registry.clone(),
            store: store.clone(),
            health: health.clone(),
            dispatcher: dispatcher.clone(),
            client,
        });
        Ok(Server {
            listener,
            admin,
            service,
            registry,
            store,
            health,
            dispatcher,
            reloader,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The store this server admits to.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The live routes and targets.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// What reloads the config (for `SIGHUP`).
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// The address the admin listener bound, if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then drains.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let snapshot = self.registry.snapshot();
        let grace = snapshot.settings.shutdown_grace;
        let limits = serve::Limits {
            listener: "ingress",
            header_read_timeout: snapshot.settings.limits.header_read_timeout,
            max_connections: snapshot.settings.limits.max_connections,
            grace,
        };
        drop(snapshot);
        let stop_admin = CancellationToken::new();
        let keeper = tokio::spawn(
            self.reloader
                .clone()
                .keep_definitions(KEEP_DEFINITIONS, stop_admin.clone()),
        );
        let watcher = tokio::spawn(
            self.reloader
                .clone()
                .watch_subscriptions(SUBSCRIPTION_POLL, stop_admin.clone()),
        );
        let sweeper = tokio::spawn(sweep_events(
            self.store.clone(),
            self.registry.snapshot().settings.store.retention,
            stop_admin.clone(),
        ));
        let admin = self.admin.map(|listener| {
            let service = crate::admin::service(crate::admin::Parts {
                health: self.health.clone(),
                reloader: self.reloader.clone(),
                registry: self.registry.clone(),
                store: self.store.clone(),
                dispatcher: self.dispatcher.clone(),
            });
            let stop = stop_admin.clone();
            // Operators' connections (a scrape, a reload) are short: their drain does
            // not need the whole grace period, which the data path has just used.
            let limits = serve::Limits {
                listener: "admin",
                max_connections: ADMIN_CONNECTIONS,
                grace: limits.grace.min(ADMIN_GRACE),
                ..limits
            };
            tokio::spawn(async move {
                serve::serve(listener, service, limits, None, stop.cancelled_owned()).await
            })
        });
        let started = std::sync::OnceLock::new();
        let shutdown = async {
            shutdown.await;
            let _ = started.set(std::time::Instant::now());
            tracing::info!(
                grace_s = grace.as_secs_f64(),
                "shutting down: no longer accepting, draining in-flight requests"
            );
        };
        // Each new connection takes the TLS settings of the config in use, so a reload
        // rotates the certificate.
        let registry = self.registry.clone();
        let tls: serve::TlsSource = Arc::new(move || {
            let snapshot = registry.snapshot();
            snapshot.settings.tls.as_ref().map(|tls| tls.server.clone())
        });
        if serve::serve(self.listener, self.service, limits, Some(tls), shutdown).await
            == Drained::GraceExpired
        {
            tracing::warn!("grace period over; closing connections with requests in flight");
        }
        // Admissions are over; let attempts in flight finish, return the rest.
        let elapsed = started
            .get()
            .map_or_else(Default::default, std::time::Instant::elapsed);
        self.dispatcher.shutdown(grace.saturating_sub(elapsed)).await;
        stop_admin.cancel();
        let _ = keeper.await;
        let _ = sweeper.await;
        let _ = watcher.await;
        if let Some(admin) = admin {
            let _ = admin.await;
        }
        crate::otlp::shutdown().await;
        tracing::info!("shutdown complete");
    }
}
