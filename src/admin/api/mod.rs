//! The admin API, `/api/v1` on the admin listener: JSON, bearer tokens with roles,
//! RFC 9457 problems for every refusal. [`ENDPOINTS`] is the one list of what it
//! serves: the router dispatches from it and the OpenAPI document
//! (`/api/v1/openapi.json`) is generated from it, with the schemas of the types the
//! handlers answer with.

mod endpoints;
mod openapi;
mod query;
pub mod subscriptions;
pub mod views;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

pub use self::endpoints::{Endpoint, Operation, Param, ENDPOINTS};
use self::query::Query;
use self::views::{Count, DeadLetterView, DeliveryView, EventView, Page, RouteView, TargetView};
use super::auth::authorize;
use super::Parts;
use crate::dlq::Bulk;
use crate::model::{AdminToken, Role};
use crate::problem::Problem;
use crate::registry::Snapshot;
use crate::store::{DeadLetterFilter, DeliveryState, EventFilter, Hastened};

/// The operations that change something, as counted in
/// `hookgate_admin_operations_total` and logged with the token's name.
pub const MUTATIONS: &[&str] = &[
    "reload",
    "replay",
    "discard",
    "pause",
    "resume",
    "retry",
    "subscription",
];

/// The largest request body the API reads.
const MAX_BODY: usize = 64 * 1024;

/// How long a request body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What every endpoint may be asked for at most per page.
pub const MAX_LIMIT: usize = 1000;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 100;

/// The router over [`ENDPOINTS`]: path → the indexes of its endpoints.
fn router() -> &'static matchit::Router<Vec<usize>> {
    static ROUTER: std::sync::OnceLock<matchit::Router<Vec<usize>>> = std::sync::OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut paths: Vec<(&str, Vec<usize>)> = Vec::new();
        for (index, endpoint) in ENDPOINTS.iter().enumerate() {
            match paths.iter_mut().find(|(path, _)| *path == endpoint.path) {
                Some((_, indexes)) => indexes.push(index),
                None => paths.push((endpoint.path, vec![index])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, indexes) in paths {
            router
                .insert(path, indexes)
                .unwrap_or_else(|error| unreachable!("the endpoint table's paths are distinct: {error}"));
        }
        router
    })
}

/// Whether `path` is one the API serves (whatever the method).
pub fn serves(path: &str) -> bool {
    router().at(path).is_ok()
}

/// Answers `request`, whose path [`serves`] accepted.
pub async fn handle(
    request: Request<hyper::body::Incoming>,
    parts: &Parts,
) -> Result<Response<Full<Bytes>>, Box<Problem>> {
    let (request, body) = request.into_parts();
    let path = request.uri.path();
    let matched = router().at(path).map_err(|_| {
        Problem::new(
            "route-not-found",
            StatusCode::NOT_FOUND,
            "Not Found",
            "No admin endpoint has this path.",
        )
    })?;
    let method = if request.method == Method::HEAD {
        Method::GET
    } else {
        request.method.clone()
    };
    let Some(endpoint) = matched
        .value
        .iter()
        .map(|&index| &ENDPOINTS[index])
        .find(|e| e.method == method)
    else {
        let allow: Vec<&str> = matched
            .value
            .iter()
            .map(|&index| ENDPOINTS[index].method.as_str())
            .collect();
        return Err(Box::new(super::method_not_allowed(&allow.join(", "))));
    };
    let snapshot = parts.registry.snapshot();
    let tokens: &[AdminToken] = snapshot
        .settings
        .admin
        .as_ref()
        .map_or(&[], |admin| admin.tokens.as_slice());
    // Without tokens the API is off altogether, its document included.
    let caller = match endpoint.roles {
        [] if tokens.is_empty() => return Err(Box::new(super::auth::disabled())),
        [] => None,
        roles => Some(authorize(&request.headers, tokens, roles)?),
    };
    let sort_key = match endpoint.operation {
        Operation::ListDeadLetters => "dead_at",
        Operation::ListEvents => "received_at",
        Operation::ListSubscriptions => "created_at",
        _ => "name",
    };
    let query = Query::parse(request.uri.query(), endpoint.query, sort_key)?;
    let name = matched.params.get("name").unwrap_or_default();
    let id = matched.params.get("id").unwrap_or_default();
    let caller_name = caller.map_or("", |token| token.name.as_str());
    let bodies = caller.is_some_and(|token| token.allows(Role::Operator));
    match endpoint.operation {
        Operation::ListSubscriptions
        | Operation::GetSubscription
        | Operation::CreateSubscription
        | Operation::UpdateSubscription
        | Operation::DeleteSubscription => {
            let caller = caller.ok_or_else(|| Box::new(super::auth::disabled()))?;
            let body = match endpoint.request {
                Some(_) => read_body(body).await?,
                None => Bytes::new(),
            };
            subscriptions::handle(endpoint.operation, parts, caller, &query, id, &body).await
        }
        Operation::OpenApi => json(&openapi::document()),
        Operation::GetDelivery => {
            let report = delivery(parts, id).await?;
            json(&DeliveryView::of(id, &report, bodies))
        }
        Operation::RetryDelivery => {
            let report = delivery(parts, id).await?;
            let target = DeliveryView::of(id, &report, false).target;
            match report.state {
                DeliveryState::Dead => {
                    parts
                        .store
                        .replay(&[id.to_owned()])
                        .await
                        .map_err(store_problem)?;
                }
                DeliveryState::Pending => {
                    match parts.store.hasten(id).await.map_err(store_problem)? {
                        Hastened::Now => {}
                        Hastened::AlreadyDue => return Err(conflict(
                            "delivery-already-due",
                            "The delivery is due already: it is queued for its worker or being attempted.",
                        )),
                        Hastened::NotPending => {
                            return Err(conflict("delivery-finished", "The delivery finished meanwhile."))
                        }
                    }
                }
                DeliveryState::Delivered => {
                    return Err(conflict(
                        "delivery-finished",
                        "The delivery was delivered (or discarded); it is not sent again.",
                    ))
                }
            }
            parts.dispatcher.wake(&target);
            changed(caller_name, "retry", id);
            let report = delivery(parts, id).await?;
            json(&DeliveryView::of(id, &report, bodies))
        }
        Operation::ListRoutes => {
            let routes: Vec<RouteView> = snapshot.routes.iter().map(|route| RouteView::of(route)).collect();
            json(&query.page(routes, |route| route.name.clone()))
        }
        Operation::GetRoute => {
            let route = snapshot
                .routes
                .iter()
                .find(|route| route.route.name == name)
                .ok_or_else(|| not_found("route", name))?;
            json(&RouteView::of(route))
        }
        Operation::ListTargets => {
            let mut targets = Vec::with_capacity(snapshot.targets.len());
            for target in &snapshot.targets {
                targets.push(target_view(parts, target).await);
            }
            json(&query.page(targets, |target| target.name.clone()))
        }
        Operation::GetTarget => {
            let target = snapshot.target(name).ok_or_else(|| not_found("target", name))?;
            json(&target_view(parts, target).await)
        }
        Operation::PauseTarget | Operation::ResumeTarget => {
            let target = snapshot.target(name).ok_or_else(|| not_found("target", name))?;
            let (paused, operation) = if endpoint.operation == Operation::PauseTarget {
                (true, "pause")
            } else {
                (false, "resume")
            };
            parts
                .dispatcher
                .set_paused(name, paused)
                .await
                .map_err(store_problem)?;
            changed(caller_name, operation, name);
            json(&target_view(parts, target).await)
        }
        Operation::Reload => {
            changed(caller_name, "reload", "");
            json(&super::reload(&parts.reloader).await?)
        }
        Operation::ListEvents => {
            let filter = query.events()?;
            json(&event_page(parts, &query, &filter, bodies).await?)
        }
        Operation::GetEvent => {
            let event = parts
                .store
                .event(id)
                .await
                .map_err(store_problem)?
                .ok_or_else(|| Box::new(not_found("event", id)))?;
            json(&EventView::of(&event, bodies))
        }
        Operation::ListDeadLetters => {
            let filter = query.dead_letters()?;
            json(&dead_letter_page(parts, &snapshot, &query, &filter, bodies).await?)
        }
        Operation::GetDeadLetter => {
            let delivery = dead_letter(parts, id).await?;
            json(&DeadLetterView::of(
                &delivery,
                bodies,
                redact(&snapshot, &delivery.route),
            ))
        }
        Operation::ReplayDeadLetter | Operation::DiscardDeadLetter => {
            let delivery = dead_letter(parts, id).await?;
            let ids = [delivery.id.clone()];
            let (operation, count) = if endpoint.operation == Operation::ReplayDeadLetter {
                let count = parts.store.replay(&ids).await.map_err(store_problem)?;
                parts.dispatcher.wake(&delivery.target);
                ("replay", count)
            } else {
                ("discard", parts.store.discard(&ids).await.map_err(store_problem)?)
            };
            changed(caller_name, operation, id);
            json(&Count { count: count as u64 })
        }
        Operation::ReplayDeadLetters | Operation::DiscardDeadLetters => {
            let filter = query.dead_letters()?;
            if filter == DeadLetterFilter::default() && !query.all()? {
                return Err(bad_parameter(
                    "all",
                    "name what to act on (route, target, since, until, reason) or pass all=true".to_owned(),
                ));
            }
            let (bulk, operation) = if endpoint.operation == Operation::ReplayDeadLetters {
                (Bulk::Replay, "replay")
            } else {
                (Bulk::Discard, "discard")
            };
            let (count, targets) = crate::dlq::apply(parts.store.as_ref(), &filter, bulk, |_, _| {})
                .await
                .map_err(store_problem)?;
            if bulk == Bulk::Replay {
                for target in &targets {
                    parts.dispatcher.wake(target);
                }
            }
            changed(caller_name, operation, &format!("{count} by filter"));
            json(&Count { count })
        }
    }
}

/// Logs and counts a change made by token `token`.
fn changed(token: &str, operation: &'static str, what: &str) {
    metrics::counter!("hookgate_admin_operations_total", "operation" => operation, "token" => token.to_owned())
        .increment(1);
    tracing::info!(token, operation, what, "admin operation");
}

/// What the store knows of delivery `id`, or 404.
async fn delivery(parts: &Parts, id: &str) -> Result<crate::store::DeliveryReport, Box<Problem>> {
    parts
        .store
        .delivery(id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Box::new(not_found("delivery", id)))
}

fn conflict(slug: &'static str, detail: &'static str) -> Box<Problem> {
    Box::new(Problem::new(slug, StatusCode::CONFLICT, "Conflict", detail))
}

/// The dead letter `id`, or 404.
async fn dead_letter(parts: &Parts, id: &str) -> Result<crate::model::Delivery, Box<Problem>> {
    let filter = DeadLetterFilter {
        ids: vec![id.to_owned()],
        ..DeadLetterFilter::default()
    };
    let mut found = parts
        .store
        .dead_letters(&filter, 1)
        .await
        .map_err(store_problem)?;
    found.pop().ok_or_else(|| Box::new(not_found("dead letter", id)))
}

/// A page of dead letters (see [`Query::read`]).
async fn dead_letter_page(
    parts: &Parts,
    snapshot: &Snapshot,
    query: &Query,
    filter: &DeadLetterFilter,
    bodies: bool,
) -> Result<Page<DeadLetterView>, Box<Problem>> {
    let found = parts
        .store
        .dead_letters(filter, query.read())
        .await
        .map_err(store_problem)?;
    Ok(query.window(found, |delivery| {
        DeadLetterView::of(delivery, bodies, redact(snapshot, &delivery.route))
    }))
}

/// A page of logged events (see [`Query::read`]).
async fn event_page(
    parts: &Parts,
    query: &Query,
    filter: &EventFilter,
    bodies: bool,
) -> Result<Page<EventView>, Box<Problem>> {
    let found = parts
        .store
        .events(filter, query.read())
        .await
        .map_err(store_problem)?;
    Ok(query.window(found, |event| EventView::of(event, bodies)))
}

/// The `redact` paths of route `route`, if it is still configured.
fn redact<'a>(snapshot: &'a Snapshot, route: &str) -> &'a [crate::model::mask::Mask] {
    snapshot
        .routes
        .iter()
        .find(|live| live.route.name == route)
        .map_or(&[], |live| live.route.redact.as_slice())
}

fn store_problem(error: crate::store::StoreError) -> Box<Problem> {
    Box::new(Problem::new(
        "store-unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        format!("The store did not answer: {error}"),
    ))
}

async fn target_view(parts: &Parts, target: &crate::model::Target) -> TargetView {
    let backlog = parts.store.backlog(&target.name).await.ok();
    TargetView::of(target, parts.dispatcher.status(&target.name), backlog)
}

fn not_found(kind: &str, name: &str) -> Problem {
    Problem::new(
        "not-found",
        StatusCode::NOT_FOUND,
        "Not Found",
        format!("No {kind} is named `{name}`."),
    )
}

fn json(value: &impl Serialize) -> Result<Response<Full<Bytes>>, Box<Problem>> {
    let body = serde_json::to_vec(value).map_err(|error| {
        Box::new(Problem::new(
            "internal-error",
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Error",
            format!("The answer could not be encoded: {error}"),
        ))
    })?;
    Ok(super::text(body, "application/json"))
}

/// The request's body, at most [`MAX_BODY`] bytes, within [`BODY_TIMEOUT`].
async fn read_body(body: hyper::body::Incoming) -> Result<Bytes, Box<Problem>> {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(Box::new(Problem::new(
            "body-too-large",
            StatusCode::PAYLOAD_TOO_LARGE,
            "Content Too Large",
            format!("The admin API reads at most {MAX_BODY} bytes of body."),
        ))),
        Ok(Err(error)) => Err(bad_field("body", format!("the body could not be read: {error}"))),
        Err(_) => Err(Box::new(Problem::new(
            "body-timeout",
            StatusCode::REQUEST_TIMEOUT,
            "Request Timeout",
            format!("The body did not arrive within {}s.", BODY_TIMEOUT.as_secs()),
        ))),
    }
}

/// A 400 naming the body's field at fault.
fn bad_field(field: &str, message: String) -> Box<Problem> {
    Box::new(
        Problem::new(
            "invalid-body",
            StatusCode::BAD_REQUEST,
            "Invalid Body",
            format!("`{field}`: {message}"),
        )
        .with_extension("field", serde_json::Value::String(field.to_owned())),
    )
}

fn bad_parameter(name: &str, message: String) -> Box<Problem> {
    Box::new(
        Problem::new(
            "invalid-parameter",
            StatusCode::BAD_REQUEST,
            "Invalid Parameter",
            format!("`{name}`: {message}"),
        )
        .with_extension("parameter", serde_json::Value::String(name.to_owned())),
    )
}

/// The endpoints, for the document and tests.
pub fn endpoints() -> &'static [Endpoint] {
    &ENDPOINTS
}
