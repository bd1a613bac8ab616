//! The admin API, `/api/v1` on the admin listener: JSON, bearer tokens with roles,
//! RFC 9457 problems for every refusal. [`ENDPOINTS`] is the one list of what it
//! serves: the router dispatches from it and the OpenAPI document
//! (`/api/v1/openapi.json`) is generated from it, with the schemas of the types the
//! handlers answer with.

mod openapi;
pub mod subscriptions;
pub mod views;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use schemars::{Schema, SchemaGenerator};
use serde::Serialize;

use self::subscriptions::{NewSubscription, SubscriptionChange, SubscriptionView};
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

/// Which operation an endpoint performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// The OpenAPI document.
    OpenApi,
    /// Routes, paged.
    ListRoutes,
    /// One route.
    GetRoute,
    /// Targets with their state, paged.
    ListTargets,
    /// One target with its state.
    GetTarget,
    /// Deliveries to a target wait.
    PauseTarget,
    /// Deliveries to a target go again.
    ResumeTarget,
    /// Read the config file again.
    Reload,
    /// Logged events, paged.
    ListEvents,
    /// One logged event.
    GetEvent,
    /// Dead letters, paged.
    ListDeadLetters,
    /// One dead letter.
    GetDeadLetter,
    /// One dead letter back to its queue.
    ReplayDeadLetter,
    /// Dead letters passing a filter back to their queues.
    ReplayDeadLetters,
    /// One dead letter deleted.
    DiscardDeadLetter,
    /// Dead letters passing a filter deleted.
    DiscardDeadLetters,
    /// One delivery with its attempts.
    GetDelivery,
    /// One delivery tried now.
    RetryDelivery,
    /// Subscriptions, paged.
    ListSubscriptions,
    /// One subscription.
    GetSubscription,
    /// A new subscription.
    CreateSubscription,
    /// A subscription changed (enabled, disabled, pointed elsewhere).
    UpdateSubscription,
    /// A subscription deleted.
    DeleteSubscription,
}

/// A query parameter an endpoint takes.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// One endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// Its method.
    pub method: Method,
    /// Its path under the listener, `{name}` for a path parameter.
    pub path: &'static str,
    /// The roles a token needs one of (none: no token is needed).
    pub roles: &'static [Role],
    /// What it does.
    pub operation: Operation,
    /// Its `operationId` in the document.
    pub id: &'static str,
    /// A line for the document.
    pub summary: &'static str,
    /// Its query parameters; any other is refused.
    pub query: &'static [Param],
    /// The schema of the request's JSON body, when it takes one.
    pub request: Option<fn(&mut SchemaGenerator) -> Schema>,
    /// The schema of a successful answer's body.
    pub response: fn(&mut SchemaGenerator) -> Schema,
}

/// `limit` of every list.
pub(super) const LIMIT: Param = Param {
    name: "limit",
    description: "Items per page, 1 to 1000 (default 100).",
};

/// `offset` of every list.
pub(super) const OFFSET: Param = Param {
    name: "offset",
    description: "Items to skip (default 0, at most 100000).",
};

const EVENT_LIST: &[Param] = &[
    Param {
        name: "route",
        description: "Only this route's.",
    },
    Param {
        name: "since",
        description: "Received at or after: RFC 3339, or a duration ago (`2h`).",
    },
    Param {
        name: "until",
        description: "Received before: RFC 3339, or a duration ago.",
    },
    Param {
        name: "state",
        description: "`pending`, `delivered` or `dead`.",
    },
    Param {
        name: "dedupe_key",
        description: "Only the event with this dedupe key.",
    },
    LIMIT,
    OFFSET,
    Param {
        name: "sort",
        description: "`received_at` (default: oldest first) or `-received_at`.",
    },
];

const DEAD_LETTER_FILTER: [Param; 5] = [
    Param {
        name: "route",
        description: "Only this route's.",
    },
    Param {
        name: "target",
        description: "Only this target's.",
    },
    Param {
        name: "since",
        description: "Dead-lettered at or after: RFC 3339, or a duration ago (`2h`).",
    },
    Param {
        name: "until",
        description: "Dead-lettered before: RFC 3339, or a duration ago.",
    },
    Param {
        name: "reason",
        description: "Only those whose reason contains this text (any case).",
    },
];

const DEAD_LETTER_LIST: &[Param] = &[
    DEAD_LETTER_FILTER[0],
    DEAD_LETTER_FILTER[1],
    DEAD_LETTER_FILTER[2],
    DEAD_LETTER_FILTER[3],
    DEAD_LETTER_FILTER[4],
    LIMIT,
    OFFSET,
    Param {
        name: "sort",
        description: "`dead_at` (default: oldest first) or `-dead_at`.",
    },
];

const DEAD_LETTER_BULK: &[Param] = &[
    DEAD_LETTER_FILTER[0],
    DEAD_LETTER_FILTER[1],
    DEAD_LETTER_FILTER[2],
    DEAD_LETTER_FILTER[3],
    DEAD_LETTER_FILTER[4],
    Param {
        name: "all",
        description: "`true` to act on every dead letter when no filter is given.",
    },
];

const PAGING: &[Param] = &[
    LIMIT,
    OFFSET,
    Param {
        name: "sort",
        description: "`name` (default) or `-name`.",
    },
];

/// Every endpoint of the API.
pub static ENDPOINTS: [Endpoint; 24] = [
    Endpoint {
        method: Method::GET,
        path: "/api/v1/openapi.json",
        roles: &[],
        operation: Operation::OpenApi,
        id: "openApi",
        summary: "This document.",
        query: &[],
        request: None,
        response: |_| schemars::json_schema!({ "type": "object" }),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/routes",
        roles: &[Role::Viewer],
        operation: Operation::ListRoutes,
        id: "listRoutes",
        summary: "The routes of the config in use, paged.",
        query: PAGING,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<RouteView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/routes/{name}",
        roles: &[Role::Viewer],
        operation: Operation::GetRoute,
        id: "getRoute",
        summary: "One route.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<RouteView>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/targets",
        roles: &[Role::Viewer],
        operation: Operation::ListTargets,
        id: "listTargets",
        summary: "The targets of the config in use with their breaker, queue, dead letters and last error, paged.",
        query: PAGING,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<TargetView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/targets/{name}",
        roles: &[Role::Viewer],
        operation: Operation::GetTarget,
        id: "getTarget",
        summary: "One target with its state.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<TargetView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/targets/{name}/pause",
        roles: &[Role::Operator],
        operation: Operation::PauseTarget,
        id: "pauseTarget",
        summary: "Deliveries to the target wait, spending no attempts, on every instance sharing the store (within a second), across restarts; attempts in flight finish.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<TargetView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/targets/{name}/resume",
        roles: &[Role::Operator],
        operation: Operation::ResumeTarget,
        id: "resumeTarget",
        summary: "Deliveries to the target go again, oldest due first.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<TargetView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/reload",
        roles: &[Role::Admin],
        operation: Operation::Reload,
        id: "reload",
        summary: "Read the config file again; an invalid one changes nothing (422), one changing restart-only keys is refused (409).",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<super::Reloaded>,
    },
    Endpoint {
        method: Method::POST,
        path: "/reload",
        roles: &[Role::Admin],
        operation: Operation::Reload,
        id: "reloadAtRoot",
        summary: "The same as `POST /api/v1/reload` (what `hookgate reload` calls).",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<super::Reloaded>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/events",
        roles: &[Role::Viewer],
        operation: Operation::ListEvents,
        id: "listEvents",
        summary: "Admitted events in the log (kept for `store.retention`), oldest first, with their deliveries' states; bodies for the operator role only.",
        query: EVENT_LIST,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<EventView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/events/{id}",
        roles: &[Role::Viewer],
        operation: Operation::GetEvent,
        id: "getEvent",
        summary: "One logged event.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<EventView>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/dead-letters",
        roles: &[Role::Viewer],
        operation: Operation::ListDeadLetters,
        id: "listDeadLetters",
        summary: "Dead letters passing the filter, paged; bodies and answer excerpts for the operator role only.",
        query: DEAD_LETTER_LIST,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<DeadLetterView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/dead-letters/{id}",
        roles: &[Role::Viewer],
        operation: Operation::GetDeadLetter,
        id: "getDeadLetter",
        summary: "One dead letter.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<DeadLetterView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/dead-letters/{id}/replay",
        roles: &[Role::Operator],
        operation: Operation::ReplayDeadLetter,
        id: "replayDeadLetter",
        summary: "Put one dead letter back in its queue, due now, attempts reset.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/dead-letters/replay",
        roles: &[Role::Operator],
        operation: Operation::ReplayDeadLetters,
        id: "replayDeadLetters",
        summary: "Put every dead letter passing the filter back in its queue (`all=true` without a filter).",
        query: DEAD_LETTER_BULK,
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
    Endpoint {
        method: Method::DELETE,
        path: "/api/v1/dead-letters/{id}",
        roles: &[Role::Operator],
        operation: Operation::DiscardDeadLetter,
        id: "discardDeadLetter",
        summary: "Delete one dead letter for good.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/dead-letters/discard",
        roles: &[Role::Operator],
        operation: Operation::DiscardDeadLetters,
        id: "discardDeadLetters",
        summary: "Delete every dead letter passing the filter for good (`all=true` without a filter).",
        query: DEAD_LETTER_BULK,
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/deliveries/{id}",
        roles: &[Role::Viewer],
        operation: Operation::GetDelivery,
        id: "getDelivery",
        summary: "One delivery (ids are in events and dead letters): its state, next attempt and every attempt made, with time, status, duration, error and (for operators) the answer's start.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<DeliveryView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/deliveries/{id}/retry",
        roles: &[Role::Operator],
        operation: Operation::RetryDelivery,
        id: "retryDelivery",
        summary: "Try a delivery now: one waiting out a retry's backoff becomes due at once, a dead one is replayed (attempts reset). A delivery already due or delivered is 409.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<DeliveryView>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/subscriptions",
        roles: &[Role::Viewer, Role::Subscriptions],
        operation: Operation::ListSubscriptions,
        id: "listSubscriptions",
        summary: "Subscriptions (of the token's routes, for a scoped `subscriptions` token), oldest first, paged.",
        query: subscriptions::LIST,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<SubscriptionView>>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/subscriptions",
        roles: &[Role::Subscriptions],
        operation: Operation::CreateSubscription,
        id: "createSubscription",
        summary: "Register a subscription (201): every later event of its route passing its filter is delivered to its URL, on every instance within a second. The URL must be https and resolve to public addresses (or allowed ones).",
        query: &[],
        request: Some(SchemaGenerator::subschema_for::<NewSubscription>),
        response: SchemaGenerator::subschema_for::<SubscriptionView>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/subscriptions/{id}",
        roles: &[Role::Viewer, Role::Subscriptions],
        operation: Operation::GetSubscription,
        id: "getSubscription",
        summary: "One subscription.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<SubscriptionView>,
    },
    Endpoint {
        method: Method::PATCH,
        path: "/api/v1/subscriptions/{id}",
        roles: &[Role::Subscriptions],
        operation: Operation::UpdateSubscription,
        id: "updateSubscription",
        summary: "Change a subscription: enable or disable it (`is_active`), or give it a new URL, method, headers, filter or description.",
        query: &[],
        request: Some(SchemaGenerator::subschema_for::<SubscriptionChange>),
        response: SchemaGenerator::subschema_for::<SubscriptionView>,
    },
    Endpoint {
        method: Method::DELETE,
        path: "/api/v1/subscriptions/{id}",
        roles: &[Role::Subscriptions],
        operation: Operation::DeleteSubscription,
        id: "deleteSubscription",
        summary: "Delete a subscription: it receives no new events; what is queued for it is still sent.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
];

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

/// A call's query: page, order and filters.
#[derive(Debug)]
struct Query {
    limit: usize,
    offset: usize,
    descending: bool,
    /// Parameters other than paging, as given.
    values: Vec<(String, String)>,
}

/// The deepest page a list may be asked for.
const MAX_OFFSET: usize = 100_000;

impl Query {
    /// Reads `query`, refusing parameters not in `allowed` and bad values, each
    /// named; `sort_key` is what `sort` may name (`-` first: descending).
    fn parse(query: Option<&str>, allowed: &[Param], sort_key: &str) -> Result<Self, Box<Problem>> {
        let mut parsed = Query {
            limit: DEFAULT_LIMIT,
            offset: 0,
            descending: false,
            values: Vec::new(),
        };
        for (name, value) in crate::model::percent::query_pairs(query.unwrap_or("")) {
            if !allowed.iter().any(|param| param.name == name) {
                let known: Vec<&str> = allowed.iter().map(|param| param.name).collect();
                return Err(bad_parameter(
                    &name,
                    if known.is_empty() {
                        "this endpoint takes no query parameters".to_owned()
                    } else {
                        format!("unknown parameter; this endpoint takes: {}", known.join(", "))
                    },
                ));
            }
            match name.as_str() {
                "limit" => match value.parse::<usize>() {
                    Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => parsed.limit = limit,
                    _ => {
                        return Err(bad_parameter(
                            "limit",
                            format!("expected 1 to {MAX_LIMIT}, found `{value}`"),
                        ))
                    }
                },
                "offset" => match value.parse::<usize>() {
                    Ok(offset) if offset <= MAX_OFFSET => parsed.offset = offset,
                    _ => {
                        return Err(bad_parameter(
                            "offset",
                            format!("expected a whole number up to {MAX_OFFSET}, found `{value}`"),
                        ))
                    }
                },
                "sort" => match value.strip_prefix('-') {
                    Some(key) if key == sort_key => parsed.descending = true,
                    None if value == sort_key => parsed.descending = false,
                    _ => {
                        return Err(bad_parameter(
                            "sort",
                            format!("expected `{sort_key}` or `-{sort_key}`, found `{value}`"),
                        ))
                    }
                },
                "sort_direction" => match value.as_str() {
                    "asc" => parsed.descending = false,
                    "desc" => parsed.descending = true,
                    _ => {
                        return Err(bad_parameter(
                            "sort_direction",
                            format!("expected `asc` or `desc`, found `{value}`"),
                        ))
                    }
                },
                _ => parsed.values.push((name, value)),
            }
        }
        Ok(parsed)
    }

    /// The value of parameter `name`, if given.
    fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(given, _)| given == name)
            .map(|(_, value)| value.as_str())
    }

    /// The dead-letter filter of the query.
    fn dead_letters(&self) -> Result<DeadLetterFilter, Box<Problem>> {
        let time = |name: &str| -> Result<Option<u64>, Box<Problem>> {
            self.value(name)
                .map(|text| crate::dlq::parse_time(text).map_err(|message| bad_parameter(name, message)))
                .transpose()
        };
        Ok(DeadLetterFilter {
            ids: Vec::new(),
            route: self.value("route").map(str::to_owned),
            target: self.value("target").map(str::to_owned),
            since_ms: time("since")?,
            until_ms: time("until")?,
            reason: self.value("reason").map(str::to_owned),
        })
    }

    /// The event filter of the query.
    fn events(&self) -> Result<EventFilter, Box<Problem>> {
        let time = |name: &str| -> Result<Option<u64>, Box<Problem>> {
            self.value(name)
                .map(|text| crate::dlq::parse_time(text).map_err(|message| bad_parameter(name, message)))
                .transpose()
        };
        let state = match self.value("state") {
            None => None,
            Some("pending") => Some(DeliveryState::Pending),
            Some("delivered") => Some(DeliveryState::Delivered),
            Some("dead") => Some(DeliveryState::Dead),
            Some(other) => {
                return Err(bad_parameter(
                    "state",
                    format!("expected `pending`, `delivered` or `dead`, found `{other}`"),
                ))
            }
        };
        Ok(EventFilter {
            route: self.value("route").map(str::to_owned),
            since_ms: time("since")?,
            until_ms: time("until")?,
            dedupe_key: self.value("dedupe_key").map(str::to_owned),
            state,
        })
    }

    /// Whether `all=true` was given.
    fn all(&self) -> Result<bool, Box<Problem>> {
        match self.value("all") {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(bad_parameter(
                "all",
                format!("expected `true` or `false`, found `{other}`"),
            )),
        }
    }

    /// How many items to read from a store that lists oldest first: up to this page,
    /// and one more to tell whether more follow; newest first reads up to the
    /// deepest page allowed, to turn it around.
    fn read(&self) -> usize {
        if self.descending {
            MAX_OFFSET + MAX_LIMIT + 1
        } else {
            self.offset + self.limit + 1
        }
    }

    /// The page this query asks for of `found` (read as [`Query::read`] says,
    /// oldest first), each shown by `view`.
    fn window<T, V>(&self, mut found: Vec<T>, view: impl Fn(&T) -> V) -> Page<V> {
        let total = (found.len() < self.read()).then_some(found.len());
        if self.descending {
            found.reverse();
        }
        let has_more = found.len() > self.offset + self.limit;
        let items = found
            .iter()
            .skip(self.offset)
            .take(self.limit)
            .map(view)
            .collect();
        Page {
            items,
            total,
            has_more,
            limit: self.limit,
            offset: self.offset,
        }
    }

    /// The page of `items` this query asks for, ordered by `key`.
    fn page<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        items.sort_by_key(|item| key(item));
        if self.descending {
            items.reverse();
        }
        let total = items.len();
        let items: Vec<T> = items.into_iter().skip(self.offset).take(self.limit).collect();
        Page {
            has_more: self.offset + items.len() < total,
            items,
            total: Some(total),
            limit: self.limit,
            offset: self.offset,
        }
    }
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
