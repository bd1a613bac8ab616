//! The admin listener: operational endpoints on their own address (loopback by
//! default), away from the ingress listener providers can reach: `/metrics`
//! (Prometheus text format), `/healthz` (the process is up) and `/readyz` (config
//! loaded and the store answers).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::problem::Problem;
use crate::store::Store;

/// Serves admin requests on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, store: Arc<dyn Store>, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "admin accept failed");
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let store = store.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let store = store.clone();
                async move { Ok::<_, Infallible>(handle(&request, store.as_ref()).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: &Request<Incoming>, store: &dyn Store) -> Response<Full<Bytes>> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/readyz") => {
            match tokio::time::timeout(std::time::Duration::from_secs(2), store.ping()).await {
                Ok(Ok(())) => text("ready\n".to_owned(), "text/plain; charset=utf-8"),
                _ => Problem::new(
                    "store-unavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    "The store does not answer.",
                )
                .into_response(Some("/readyz"), None),
            }
        }
        (&Method::GET, "/metrics") => text(
            crate::telemetry::metrics().render(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (&Method::GET, "/healthz") => text("ok\n".to_owned(), "text/plain; charset=utf-8"),
        (_, path) => Problem::new(
            "route-not-found",
            StatusCode::NOT_FOUND,
            "Not Found",
            "No admin endpoint has this path.",
        )
        .into_response(Some(path), None),
    }
}

fn text(body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
