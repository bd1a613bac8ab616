//! The outbound HTTP client: one pool shared by every target, HTTP/1.1 and HTTP/2,
//! `https://` through rustls. Trusted roots: Mozilla's (compiled in, so a bare
//! container works) plus the host's store, which honours `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`, so backends behind an internal CA work too.
//!
//! Subscriptions' deliveries go through a second client of the same kind whose
//! connector asks the [`AddressGuard`] about every address it is about to connect
//! to, resolved or written in the URL.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::guard::AddressGuard;

/// The client every delivery goes through.
pub type HttpClient = Client<HttpsConnector<Connector>, Full<Bytes>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// Resolves names with the system resolver, keeping only the addresses the guard
/// (if any) lets through.
#[derive(Clone, Debug)]
pub struct Resolver {
    guard: Option<Arc<AddressGuard>>,
}

impl tower::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Boxed<Self::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
            let Some(guard) = guard else {
                return Ok(resolved.into_iter());
            };
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match guard.refuses(address.ip()) {
                    Some(kind) => {
                        refused.get_or_insert((address.ip(), kind));
                        false
                    }
                    None => true,
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some((ip, kind))) => Err(refusal(host, ip, kind)),
                _ => Ok(allowed.into_iter()),
            }
        })
    }
}

/// The TCP connector: hyper's, with the guard also applied to addresses written in
/// the URL (which hyper connects to without resolving).
#[derive(Clone, Debug)]
pub struct Connector {
    inner: HttpConnector<Resolver>,
    guard: Option<Arc<AddressGuard>>,
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Boxed<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let literal = uri
            .host()
            .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|host| host.parse::<IpAddr>().ok());
        if let (Some(guard), Some(ip)) = (&self.guard, literal) {
            if let Some(kind) = guard.refuses(ip) {
                let error = refusal(&ip.to_string(), ip, kind);
                return Box::pin(async move { Err(error) });
            }
        }
        let connecting = self.inner.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

fn refusal(host: &str, ip: IpAddr, kind: &str) -> BoxError {
    format!(
        "refused by the address guard: {host} resolves to {ip}, a {kind} address (list it in subscriptions.allow_addresses to allow it)"
    )
    .into()
}

/// Builds the shared client; with `guard`, one that connects only where the guard
/// lets it.
pub fn build_client(guard: Option<Arc<AddressGuard>>) -> HttpClient {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "some of the system's root certificates could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system root certificates loaded");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // The ring provider supports the safe default protocol versions; failing here
    // would be a build mistake, not a runtime condition.
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|error| unreachable!("ring supports TLS 1.2 and 1.3: {error}"));
    let mut http = HttpConnector::new_with_resolver(Resolver { guard: guard.clone() });
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(Connector { inner: http, guard });
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}
