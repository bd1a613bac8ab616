//! The route table: path patterns indexed for matching (matchit, axum's router), each
//! pattern holding the routes that share it with disjoint methods.

use std::sync::Arc;

use http::Method;

use super::snapshot::LiveRoute;
use crate::model::PathParams;

/// Routes indexed by path pattern.
#[derive(Debug, Default)]
pub(super) struct RouteTable {
    router: matchit::Router<usize>,
    /// Per distinct pattern, the routes sharing it.
    patterns: Vec<Vec<Arc<LiveRoute>>>,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A route accepts this path and method.
    Found {
        /// The route.
        route: Arc<LiveRoute>,
        /// Its path parameters.
        params: PathParams,
    },
    /// Routes exist for this path, with these methods only.
    MethodNotAllowed {
        /// The methods they accept.
        allow: Vec<Method>,
        /// The path with the segments that carry a secret of those routes (a URL
        /// token) masked, for logs; `None` when nothing needs masking.
        masked: Option<String>,
    },
    /// No route has this path.
    NotFound,
}

/// A route that cannot be indexed: its index in the list, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConflict {
    /// Index of the route in the config's list.
    pub index: usize,
    /// What collides.
    pub message: String,
}

impl RouteTable {
    /// Indexes `routes`.
    pub(super) fn build(routes: &[Arc<LiveRoute>]) -> Result<Self, Vec<RouteConflict>> {
        let mut table = RouteTable::default();
        let mut conflicts = Vec::new();
        let mut slots: Vec<(&str, usize)> = Vec::new();
        for (index, live) in routes.iter().enumerate() {
            let route = &live.route;
            if let Some((_, slot)) = slots.iter().find(|(pattern, _)| *pattern == route.path) {
                let sharing = &mut table.patterns[*slot];
                if let Some(other) = sharing
                    .iter()
                    .find(|other| other.route.methods.iter().any(|m| route.methods.contains(m)))
                {
                    conflicts.push(RouteConflict {
                        index,
                        message: format!(
                            "route `{}` accepts the same path and a method of route `{}`; give each path-and-method pair one route",
                            route.name, other.route.name
                        ),
                    });
                } else {
                    sharing.push(live.clone());
                }
                continue;
            }
            let slot = table.patterns.len();
            match table.router.insert(route.path.clone(), slot) {
                Ok(()) => {
                    table.patterns.push(vec![live.clone()]);
                    slots.push((&route.path, slot));
                }
                Err(error) => conflicts.push(RouteConflict {
                    index,
                    message: format!("path `{}` cannot be routed: {error}", route.path),
                }),
            }
        }
        if conflicts.is_empty() {
            Ok(table)
        } else {
            Err(conflicts)
        }
    }

    /// Finds the route for `method` and `path`.
    pub(super) fn lookup(&self, method: &Method, path: &str) -> Lookup {
        let Ok(found) = self.router.at(path) else {
            return Lookup::NotFound;
        };
        let routes = &self.patterns[*found.value];
        match routes.iter().find(|live| live.route.methods.contains(method)) {
            Some(live) => Lookup::Found {
                route: live.clone(),
                params: PathParams(
                    found
                        .params
                        .iter()
                        .map(|(key, value)| (key.to_owned(), value.to_owned()))
                        .collect(),
                ),
            },
            None => {
                let params = PathParams(
                    found
                        .params
                        .iter()
                        .map(|(key, value)| (key.to_owned(), value.to_owned()))
                        .collect(),
                );
                Lookup::MethodNotAllowed {
                    allow: routes
                        .iter()
                        .flat_map(|live| live.route.methods.iter().cloned())
                        .collect(),
                    masked: routes
                        .iter()
                        .find_map(|live| live.route.masked_path(path, &params)),
                }
            }
        }
    }
}
