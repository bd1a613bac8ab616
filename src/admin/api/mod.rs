//! The admin API, `/api/v1` on the admin listener: JSON, bearer tokens with roles,
//! RFC 9457 problems for every refusal. [`ENDPOINTS`] is the one list of what it
//! serves: the router dispatches from it and the OpenAPI document
//! (`/api/v1/openapi.json`) is generated from it, with the schemas of the types the
//! handlers answer with.

mod openapi;
pub mod views;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use schemars::{Schema, SchemaGenerator};
use serde::Serialize;

use self::views::{Page, RouteView, TargetView};
use super::auth::authorize;
use super::Parts;
use crate::model::{AdminToken, Role};
use crate::problem::Problem;

/// The operations that change something, as counted in
/// `hookgate_admin_operations_total` and logged with the token's name.
pub const MUTATIONS: &[&str] = &["reload"];

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
    /// Read the config file again.
    Reload,
}

/// A query parameter an endpoint takes.
#[derive(Debug)]
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
    /// The role a token needs (`None`: no token).
    pub role: Option<Role>,
    /// What it does.
    pub operation: Operation,
    /// Its `operationId` in the document.
    pub id: &'static str,
    /// A line for the document.
    pub summary: &'static str,
    /// Its query parameters; any other is refused.
    pub query: &'static [Param],
    /// The schema of a successful answer's body.
    pub response: fn(&mut SchemaGenerator) -> Schema,
}

const PAGING: &[Param] = &[
    Param {
        name: "limit",
        description: "Items per page, 1 to 1000 (default 100).",
    },
    Param {
        name: "offset",
        description: "Items to skip (default 0).",
    },
    Param {
        name: "sort",
        description: "`name` (default) or `-name`.",
    },
];

/// Every endpoint of the API.
pub static ENDPOINTS: [Endpoint; 7] = [
    Endpoint {
        method: Method::GET,
        path: "/api/v1/openapi.json",
        role: None,
        operation: Operation::OpenApi,
        id: "openApi",
        summary: "This document.",
        query: &[],
        response: |_| schemars::json_schema!({ "type": "object" }),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/routes",
        role: Some(Role::Viewer),
        operation: Operation::ListRoutes,
        id: "listRoutes",
        summary: "The routes of the config in use, paged.",
        query: PAGING,
        response: SchemaGenerator::subschema_for::<Page<RouteView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/routes/{name}",
        role: Some(Role::Viewer),
        operation: Operation::GetRoute,
        id: "getRoute",
        summary: "One route.",
        query: &[],
        response: SchemaGenerator::subschema_for::<RouteView>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/targets",
        role: Some(Role::Viewer),
        operation: Operation::ListTargets,
        id: "listTargets",
        summary: "The targets of the config in use with their breaker, queue, dead letters and last error, paged.",
        query: PAGING,
        response: SchemaGenerator::subschema_for::<Page<TargetView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/targets/{name}",
        role: Some(Role::Viewer),
        operation: Operation::GetTarget,
        id: "getTarget",
        summary: "One target with its state.",
        query: &[],
        response: SchemaGenerator::subschema_for::<TargetView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/reload",
        role: Some(Role::Admin),
        operation: Operation::Reload,
        id: "reload",
        summary: "Read the config file again; an invalid one changes nothing (422), one changing restart-only keys is refused (409).",
        query: &[],
        response: SchemaGenerator::subschema_for::<super::Reloaded>,
    },
    Endpoint {
        method: Method::POST,
        path: "/reload",
        role: Some(Role::Admin),
        operation: Operation::Reload,
        id: "reloadAtRoot",
        summary: "The same as `POST /api/v1/reload` (what `hookgate reload` calls).",
        query: &[],
        response: SchemaGenerator::subschema_for::<super::Reloaded>,
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
pub async fn handle<B>(request: &Request<B>, parts: &Parts) -> Result<Response<Full<Bytes>>, Box<Problem>> {
    let path = request.uri().path();
    let matched = router().at(path).map_err(|_| {
        Problem::new(
            "route-not-found",
            StatusCode::NOT_FOUND,
            "Not Found",
            "No admin endpoint has this path.",
        )
    })?;
    let method = if request.method() == Method::HEAD {
        Method::GET
    } else {
        request.method().clone()
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
    let caller = match endpoint.role {
        Some(role) => Some(authorize(request.headers(), tokens, role)?),
        None if tokens.is_empty() => return Err(Box::new(super::auth::disabled())),
        None => None,
    };
    let query = Query::parse(request.uri().query(), endpoint.query)?;
    let name = matched.params.get("name").unwrap_or_default();
    match endpoint.operation {
        Operation::OpenApi => json(&openapi::document()),
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
        Operation::Reload => {
            let caller = caller.map_or("", |token| token.name.as_str());
            metrics::counter!("hookgate_admin_operations_total", "operation" => "reload", "token" => caller.to_owned())
                .increment(1);
            tracing::info!(token = caller, operation = "reload", "admin operation");
            json(&super::reload(&parts.reloader).await?)
        }
    }
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

/// A list call's query: page and order.
#[derive(Debug)]
struct Query {
    limit: usize,
    offset: usize,
    descending: bool,
}

impl Query {
    /// Reads `query`, refusing parameters not in `allowed` and bad values, each named.
    fn parse(query: Option<&str>, allowed: &[Param]) -> Result<Self, Box<Problem>> {
        let mut parsed = Query {
            limit: DEFAULT_LIMIT,
            offset: 0,
            descending: false,
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
                    Ok(offset) => parsed.offset = offset,
                    Err(_) => {
                        return Err(bad_parameter(
                            "offset",
                            format!("expected a whole number, found `{value}`"),
                        ))
                    }
                },
                "sort" => match value.as_str() {
                    "name" => parsed.descending = false,
                    "-name" => parsed.descending = true,
                    _ => {
                        return Err(bad_parameter(
                            "sort",
                            format!("expected `name` or `-name`, found `{value}`"),
                        ))
                    }
                },
                _ => {}
            }
        }
        Ok(parsed)
    }

    /// The page of `items` this query asks for, ordered by `key`.
    fn page<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        items.sort_by_key(|item| key(item));
        if self.descending {
            items.reverse();
        }
        let total = items.len();
        let items = items.into_iter().skip(self.offset).take(self.limit).collect();
        Page {
            items,
            total,
            limit: self.limit,
            offset: self.offset,
        }
    }
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
