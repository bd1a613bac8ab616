//! The server: opens the store, starts the delivery workers, accepts connections and
//! serves HTTP/1.1 and HTTP/2 (h2c) on each with the ingress stack. Shutdown is
//! graceful: stop accepting, let in-flight requests finish (so every admission
//! completes), then let in-flight deliveries finish and return unstarted leases, all
//! within the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::Config;
use crate::delivery::{build_client, Dispatcher};
use crate::ingress::forward::Shared;
use crate::ingress::{self, IngressService, PeerAddr};
use crate::store::{Store, StoreError};

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
    store: Arc<dyn Store>,
    dispatcher: Dispatcher,
    header_read_timeout: Duration,
    grace: Duration,
}

impl Server {
    /// Opens the store, starts the delivery workers and binds the listeners of
    /// `config`.
    pub async fn bind(config: &Config) -> Result<Server, StartError> {
        // Install the recorder before the first request can count anything.
        crate::telemetry::metrics();
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|error| StartError::Bind(config.listen, error))?;
        let admin = match config.admin {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .map_err(|error| StartError::Bind(address, error))?,
            ),
            None => None,
        };
        let consumer = format!("hookgate-{}", uuid::Uuid::new_v4().simple());
        let store = crate::store::open::open(&config.store, &consumer).await?;
        let client = build_client();
        let dispatcher = Dispatcher::start(
            &config.targets,
            store.clone(),
            client.clone(),
            config.limits.max_response_body,
        )
        .map_err(StartError::Dispatcher)?;
        let service = ingress::build(
            config.route_table.clone(),
            &config.limits,
            Shared {
                client,
                store: store.clone(),
                dispatcher: dispatcher.clone(),
                admit_timeout: config.store.admit_timeout,
                max_response_body: config.limits.max_response_body,
            },
        );
        Ok(Server {
            listener,
            admin,
            service,
            store,
            dispatcher,
            header_read_timeout: config.limits.header_read_timeout,
            grace: config.shutdown_grace,
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

    /// The address the admin listener bound, if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then drains.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let stop_admin = CancellationToken::new();
        if let Some(admin) = self.admin.take() {
            tokio::spawn(crate::admin::serve(admin, self.store.clone(), stop_admin.clone()));
        }
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        builder.http2().timer(TokioTimer::new());
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let service = self
                .service
                .clone()
                .map_request(move |mut request: Request<Incoming>| {
                    request.extensions_mut().insert(PeerAddr(peer));
                    request
                });
            let connection = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, error = %error, "connection ended with an error");
                }
            });
        }
        drop(self.listener);
        tracing::info!(
            grace_s = self.grace.as_secs_f64(),
            "shutting down: no longer accepting, draining in-flight requests"
        );
        let started = std::time::Instant::now();
        let deadline = tokio::time::sleep(self.grace);
        tokio::pin!(deadline);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = &mut deadline => tracing::warn!("grace period over; closing connections with requests in flight"),
        }
        // Admissions are over; let attempts in flight finish, return the rest.
        let left = self.grace.saturating_sub(started.elapsed());
        self.dispatcher.shutdown(left).await;
        stop_admin.cancel();
        tracing::info!("shutdown complete");
    }
}
