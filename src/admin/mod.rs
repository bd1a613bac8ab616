//! The admin listener: operational endpoints on their own address (loopback by
//! default), away from the ingress listener providers can reach: `/metrics`
//! (Prometheus text format), `/healthz` (the process is up), `/readyz` (config
//! loaded and the store answers) and `POST /reload` (the config file read again).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tower::util::BoxCloneService;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::ingress::{request_id, REQUEST_ID};
use crate::problem::Problem;
use crate::reload::{ReloadError, Reloader};
use crate::store::StoreHealth;

/// The admin endpoints as one service.
pub type AdminService = BoxCloneService<Request<Incoming>, Response<Full<Bytes>>, Infallible>;

/// The admin endpoints over the store's `health` and `reloader`. Every answer
/// carries an `x-request-id` (the caller's, or a new one), as ingress answers do.
pub fn service(health: Arc<StoreHealth>, reloader: Arc<Reloader>) -> AdminService {
    let endpoints = tower::service_fn(move |request: Request<Incoming>| {
        let (health, reloader) = (health.clone(), reloader.clone());
        async move { Ok::<_, Infallible>(handle(&request, &health, &reloader).await) }
    });
    BoxCloneService::new(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
            .service(endpoints),
    )
}

async fn handle(
    request: &Request<Incoming>,
    health: &Arc<StoreHealth>,
    reloader: &Reloader,
) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    let id = request_id(request.headers());
    let problem = |problem: Problem| problem.into_response(Some(path), id);
    // HEAD is GET without the body (hyper leaves it out), as probes expect.
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    match (request.method(), path) {
        (_, "/readyz") if read => match health.ready().await {
            true => text("ready\n".to_owned(), "text/plain; charset=utf-8"),
            false => problem(Problem::new(
                "store-unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "The store does not answer.",
            )),
        },
        (_, "/metrics") if read => text(
            crate::telemetry::metrics().render(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (_, "/healthz") if read => text("ok\n".to_owned(), "text/plain; charset=utf-8"),
        (&Method::POST, "/reload") => match reload(reloader).await {
            Ok(body) => text(body.to_string(), "application/json"),
            Err(refused) => problem(refused),
        },
        (_, "/reload") => problem(method_not_allowed("POST")),
        (_, "/readyz" | "/metrics" | "/healthz") => problem(method_not_allowed("GET, HEAD")),
        _ => problem(Problem::new(
            "route-not-found",
            StatusCode::NOT_FOUND,
            "Not Found",
            "No admin endpoint has this path.",
        )),
    }
}

/// What a reload did, or the problem why it changed nothing.
async fn reload(reloader: &Reloader) -> Result<serde_json::Value, Problem> {
    match reloader.reload("POST /reload").await {
        Ok(reloaded) => Ok(serde_json::json!({
            "status": "reloaded",
            "hash": reloaded.hash,
            "changed": reloaded.changed,
            "retired_targets": reloaded.retired,
        })),
        Err(ReloadError::Invalid(errors)) => Err(Problem::new(
            "config-invalid",
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid Config",
            format!(
                "{} has {} problem{}; the running config keeps serving.",
                errors.file,
                errors.errors.len(),
                if errors.errors.len() == 1 { "" } else { "s" }
            ),
        )
        .with_extension("errors", serde_json::to_value(&errors.errors).unwrap_or_default())),
        Err(error @ ReloadError::RestartNeeded(_)) => Err(Problem::new(
            "restart-needed",
            StatusCode::CONFLICT,
            "Restart Needed",
            error.to_string(),
        )),
    }
}

fn method_not_allowed(allow: &'static str) -> Problem {
    Problem::new(
        "method-not-allowed",
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        format!("This endpoint accepts {allow}."),
    )
    .with_header(ALLOW, HeaderValue::from_static(allow))
}

fn text(body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
