//! Route match: the inbound path and method select a route and its path parameters.
//! Unknown path → 404; known path with another method → 405 with `Allow`.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{ready, Either, Ready};
use http::{Method, Request};
use tower::{Layer, Service};

use super::error::IngressError;
use crate::config::Route;

/// Path parameters of a matched route, in pattern order, as sent (not decoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(pub Vec<(String, String)>);

impl PathParams {
    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The route a request matched, placed in the request's extensions.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    /// The route.
    pub route: Arc<Route>,
    /// Its path parameters.
    pub params: PathParams,
}

impl RouteMatch {
    /// The path with segments that carry a secret (a URL token) replaced by `***`,
    /// for logs; `None` when nothing needs masking.
    pub fn masked_path(&self, path: &str) -> Option<String> {
        let secrets: Vec<&str> = self
            .route
            .auth
            .iter()
            .filter_map(|check| check.secret_path_param())
            .filter_map(|name| self.params.get(name))
            .collect();
        if secrets.is_empty() {
            return None;
        }
        let masked = path
            .split('/')
            .map(|segment| {
                if secrets.contains(&segment) {
                    "***"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        Some(masked)
    }
}

/// Routes indexed by path pattern.
#[derive(Debug, Default)]
pub struct RouteTable {
    router: matchit::Router<usize>,
    /// Per distinct pattern, the routes sharing it (with disjoint methods).
    patterns: Vec<Vec<Arc<Route>>>,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A route accepts this path and method.
    Found(RouteMatch),
    /// Routes exist for this path, with these methods only.
    MethodNotAllowed(Vec<Method>),
    /// No route has this path.
    NotFound,
}

impl RouteTable {
    /// Indexes `routes`. Errors name the index of the offending route.
    pub fn build(routes: &[Arc<Route>]) -> Result<Self, Vec<(usize, String)>> {
        let mut table = RouteTable::default();
        let mut errors = Vec::new();
        let mut slots: Vec<(String, usize)> = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            if let Some((_, slot)) = slots.iter().find(|(pattern, _)| *pattern == route.path) {
                let sharing = &mut table.patterns[*slot];
                if let Some(other) = sharing
                    .iter()
                    .find(|other| other.methods.iter().any(|m| route.methods.contains(m)))
                {
                    errors.push((
                        index,
                        format!(
                            "route `{}` accepts the same path and a method of route `{}`; give each path-and-method pair one route",
                            route.name, other.name
                        ),
                    ));
                } else {
                    sharing.push(route.clone());
                }
                continue;
            }
            let slot = table.patterns.len();
            match table.router.insert(route.path.clone(), slot) {
                Ok(()) => {
                    table.patterns.push(vec![route.clone()]);
                    slots.push((route.path.clone(), slot));
                }
                Err(error) => {
                    errors.push((index, format!("path `{}` cannot be routed: {error}", route.path)))
                }
            }
        }
        if errors.is_empty() {
            Ok(table)
        } else {
            Err(errors)
        }
    }

    /// Finds the route for `method` and `path`.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup {
        let Ok(found) = self.router.at(path) else {
            return Lookup::NotFound;
        };
        let routes = &self.patterns[*found.value];
        match routes.iter().find(|route| route.methods.contains(method)) {
            Some(route) => Lookup::Found(RouteMatch {
                route: route.clone(),
                params: PathParams(
                    found
                        .params
                        .iter()
                        .map(|(key, value)| (key.to_owned(), value.to_owned()))
                        .collect(),
                ),
            }),
            None => Lookup::MethodNotAllowed(
                routes
                    .iter()
                    .flat_map(|route| route.methods.iter().cloned())
                    .collect(),
            ),
        }
    }
}

/// Matches each request to a route; see the module docs.
#[derive(Debug, Clone)]
pub struct RouteLayer {
    table: Arc<RouteTable>,
}

impl RouteLayer {
    /// A layer routing by `table`.
    pub fn new(table: Arc<RouteTable>) -> Self {
        Self { table }
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = Routing<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Routing {
            inner,
            table: self.table.clone(),
        }
    }
}

/// The service made by [`RouteLayer`].
#[derive(Debug, Clone)]
pub struct Routing<S> {
    inner: S,
    table: Arc<RouteTable>,
}

impl<S, B> Service<Request<B>> for Routing<S>
where
    S: Service<Request<B>, Error = IngressError>,
{
    type Response = S::Response;
    type Error = IngressError;
    type Future = Either<Ready<Result<S::Response, IngressError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match self.table.lookup(request.method(), request.uri().path()) {
            Lookup::Found(found) => {
                let span = tracing::Span::current();
                span.record("route", found.route.name.as_str());
                if let Some(masked) = found.masked_path(request.uri().path()) {
                    span.record("path", masked.as_str());
                }
                request.extensions_mut().insert(found);
                Either::Right(self.inner.call(request))
            }
            Lookup::MethodNotAllowed(allow) => {
                Either::Left(ready(Err(IngressError::MethodNotAllowed { allow })))
            }
            Lookup::NotFound => Either::Left(ready(Err(IngressError::RouteNotFound))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn table(routes: &str) -> Config {
        let yaml = format!("targets:\n  t: {{ url: \"http://127.0.0.1:1/\" }}\nroutes:\n{routes}");
        Config::parse(&yaml, "t.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn extracts_path_parameters_in_order() {
        let config =
            table("  - { name: a, path: \"/c/{customerId}/p/{productId}\", mode: sync, targets: [t] }\n");
        match config.route_table.lookup(&Method::POST, "/c/cus_1/p/prod_9") {
            Lookup::Found(found) => {
                assert_eq!(found.route.name, "a");
                assert_eq!(found.params.get("customerId"), Some("cus_1"));
                assert_eq!(found.params.get("productId"), Some("prod_9"));
                assert_eq!(found.params.0.len(), 2);
            }
            other => panic!("expected a match, got {other:?}"),
        }
        assert!(matches!(
            config.route_table.lookup(&Method::POST, "/c/cus_1/p"),
            Lookup::NotFound
        ));
        assert!(matches!(
            config.route_table.lookup(&Method::POST, "/c/cus_1/p/x/y"),
            Lookup::NotFound
        ));
    }

    #[test]
    fn routes_may_share_a_path_with_disjoint_methods() {
        let config = table(
            "  - { name: a, path: /x, methods: [POST], mode: sync, targets: [t] }\n  - { name: b, path: /x, methods: [PUT], mode: sync, targets: [t] }\n",
        );
        let name = |method| match config.route_table.lookup(&method, "/x") {
            Lookup::Found(found) => found.route.name.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(name(Method::POST), "a");
        assert_eq!(name(Method::PUT), "b");
        match config.route_table.lookup(&Method::GET, "/x") {
            Lookup::MethodNotAllowed(allow) => assert_eq!(allow, vec![Method::POST, Method::PUT]),
            other => panic!("{other:?}"),
        }
    }
}
