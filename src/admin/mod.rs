//! The admin listener: operational endpoints on their own address (loopback by
//! default), away from the ingress listener providers can reach: `/metrics`
//! (Prometheus text format), `/healthz` (the process is up) and `/readyz` (config
//! loaded and the store answers), open to any caller; and the admin API (`/api/v1`,
//! and `POST /reload`), for bearer tokens with roles (see [`api`]).

pub mod api;
mod auth;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use schemars::JsonSchema;
use serde::Serialize;
use tower::util::BoxCloneService;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::delivery::Dispatcher;
use crate::ingress::{request_id, REQUEST_ID};
use crate::problem::Problem;
use crate::registry::Registry;
use crate::reload::{ReloadError, Reloader};
use crate::store::{Store, StoreHealth};

/// What the admin endpoints work on.
pub struct Parts {
    /// Whether the store answers.
    pub health: Arc<StoreHealth>,
    /// Reads the config again.
    pub reloader: Arc<Reloader>,
    /// The config in use (its tokens, routes and targets).
    pub registry: Arc<Registry>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The delivery workers.
    pub dispatcher: Dispatcher,
}

/// The admin endpoints as one service.
pub type AdminService = BoxCloneService<Request<Incoming>, Response<Full<Bytes>>, Infallible>;

/// The admin endpoints over `parts`. Every answer carries an `x-request-id` (the
/// caller's, or a new one), as ingress answers do.
pub fn service(parts: Parts) -> AdminService {
    let snapshot = parts.registry.snapshot();
    for token in snapshot.settings.admin.iter().flat_map(|admin| &admin.tokens) {
        crate::metrics_catalog::admin_zeroes(&token.name);
    }
    drop(snapshot);
    let parts = Arc::new(parts);
    let endpoints = tower::service_fn(move |request: Request<Incoming>| {
        let parts = parts.clone();
        async move { Ok::<_, Infallible>(handle(request, &parts).await) }
    });
    BoxCloneService::new(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
            .service(endpoints),
    )
}

async fn handle(request: Request<Incoming>, parts: &Parts) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let path = path.as_str();
    let id = request_id(request.headers()).map(str::to_owned);
    let id = id.as_deref();
    let problem = |problem: Problem| problem.into_response(Some(path), id);
    // HEAD is GET without the body (hyper leaves it out), as probes expect.
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    match (request.method(), path) {
        (_, "/readyz") if read => match parts.health.ready().await {
            true => text("ready\n", "text/plain; charset=utf-8"),
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
        (_, "/healthz") if read => text("ok\n", "text/plain; charset=utf-8"),
        (_, "/readyz" | "/metrics" | "/healthz") => problem(method_not_allowed("GET, HEAD")),
        (_, path) if api::serves(path) => api::handle(request, parts)
            .await
            .unwrap_or_else(|refused| problem(*refused)),
        _ => problem(Problem::new(
            "route-not-found",
            StatusCode::NOT_FOUND,
            "Not Found",
            "No admin endpoint has this path.",
        )),
    }
}

/// What a reload did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Reloaded {
    /// Always `reloaded`.
    pub status: String,
    /// The short hash of the file now in use.
    pub hash: String,
    /// Whether the file differs from the one before.
    pub changed: bool,
    /// Targets out of the config whose workers finish what they still have.
    pub retired_targets: Vec<String>,
}

/// What a reload did, or the problem why it changed nothing.
async fn reload(reloader: &Reloader) -> Result<Reloaded, Problem> {
    match reloader.reload("POST /reload").await {
        Ok(reloaded) => Ok(Reloaded {
            status: "reloaded".to_owned(),
            hash: reloaded.hash,
            changed: reloaded.changed,
            retired_targets: reloaded.retired,
        }),
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

fn method_not_allowed(allow: &str) -> Problem {
    let problem = Problem::new(
        "method-not-allowed",
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        format!("This endpoint accepts {allow}."),
    );
    match HeaderValue::from_str(allow) {
        Ok(value) => problem.with_header(ALLOW, value),
        Err(_) => problem,
    }
}

fn text(body: impl Into<Bytes>, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
