//! One snapshot: everything a request needs, built once per config load.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;

use super::subscribed::Subscribed;
use super::table::{Lookup, RouteConflict, RouteTable};
use crate::auth::Verifier;
use crate::model::{Route, Secret, Settings, SubscriptionPolicy, Target};
use crate::rules::RouteRules;

/// A route with its checks and compiled rules.
#[derive(Debug)]
pub struct LiveRoute {
    /// The route.
    pub route: Arc<Route>,
    /// Checks that must all pass, in order.
    pub verifiers: Vec<Arc<dyn Verifier>>,
    /// Split, validation, rules and output (the identity rule set when the route
    /// has none).
    pub rules: RouteRules,
    reads_event: bool,
}

impl LiveRoute {
    /// A route with its checks and rules.
    pub fn new(route: Route, verifiers: Vec<Arc<dyn Verifier>>, rules: RouteRules) -> Self {
        let reads_event = !rules.is_identity()
            || route.dedupe.as_ref().is_some_and(|dedupe| dedupe.reads_event())
            || route.targets.iter().any(|target| target.reads_event());
        Self {
            route: Arc::new(route),
            verifiers,
            rules,
            reads_event,
        }
    }

    /// Whether anything done with a request needs its body as parsed JSON: rules, a
    /// JSONPath dedupe key, or a target template reading the event. Other JSON
    /// routes only check that the body is JSON.
    pub fn reads_event(&self) -> bool {
        self.reads_event
    }
}

/// Routes, targets and settings of one config.
#[derive(Debug)]
pub struct Snapshot {
    /// Everything of the config but its routes and targets.
    pub settings: Settings,
    /// Routes, in file order.
    pub routes: Vec<Arc<LiveRoute>>,
    /// Targets: the config's in file order, then the subscriptions'.
    pub targets: Vec<Arc<Target>>,
    /// How subscriptions are sent (`subscriptions:`).
    pub policy: Arc<SubscriptionPolicy>,
    /// The subscriptions in the store when it was built.
    pub subscriptions: Arc<Subscribed>,
    /// How many of `targets` are the config's.
    configured: usize,
    /// A short hash of the config file, to tell loads apart.
    pub hash: String,
    /// Secrets whose value is a `${VAR:-default}` default written in the config, by
    /// path, with the variables left unset: anyone who can read the config knows them.
    pub default_secrets: Vec<(String, Vec<String>)>,
    table: RouteTable,
    by_name: HashMap<String, Arc<Target>>,
    /// Secrets that travel in paths (URL tokens), masked in any logged path.
    path_secrets: Vec<Secret>,
}

impl Snapshot {
    /// Indexes `routes` for matching; the error lists each route (by index) whose
    /// path and methods collide with another's.
    pub fn new(
        settings: Settings,
        routes: Vec<Arc<LiveRoute>>,
        targets: Vec<Arc<Target>>,
        policy: Arc<SubscriptionPolicy>,
        hash: String,
    ) -> Result<Snapshot, Vec<RouteConflict>> {
        let table = RouteTable::build(&routes)?;
        let by_name = targets
            .iter()
            .map(|target| (target.name.clone(), target.clone()))
            .collect();
        let path_secrets = routes
            .iter()
            .flat_map(|live| &live.verifiers)
            .flat_map(|verifier| verifier.path_secrets())
            .cloned()
            .collect();
        Ok(Snapshot {
            settings,
            routes,
            configured: targets.len(),
            targets,
            policy,
            subscriptions: Arc::default(),
            hash,
            default_secrets: Vec::new(),
            table,
            by_name,
            path_secrets,
        })
    }

    /// The same config with `subscriptions` (as read from the store) compiled under
    /// its policy: their targets join the config's.
    pub fn subscribed(&self, subscriptions: Vec<crate::model::Subscription>) -> Snapshot {
        let routes: Vec<&str> = self.routes.iter().map(|live| live.route.name.as_str()).collect();
        let subscribed = Subscribed::build(subscriptions, &self.policy, &routes);
        let targets = self.targets[..self.configured]
            .iter()
            .cloned()
            .chain(subscribed.all.iter().map(|live| live.target.clone()))
            .collect();
        let mut next = Snapshot::new(
            self.settings.clone(),
            self.routes.clone(),
            targets,
            self.policy.clone(),
            self.hash.clone(),
        )
        .unwrap_or_else(|_| unreachable!("the routes did not conflict when this snapshot was built"));
        next.configured = self.configured;
        next.subscriptions = Arc::new(subscribed);
        next.default_secrets = self.default_secrets.clone();
        next
    }

    /// The config's own targets.
    pub fn configured_targets(&self) -> &[Arc<Target>] {
        &self.targets[..self.configured]
    }

    /// Whether events of `route` must be parsed for a subscription's filter.
    pub fn filters_events(&self, route: &str) -> bool {
        self.subscriptions
            .of(route)
            .iter()
            .any(|live| live.subscription.filter.is_some())
    }

    /// The route for `method` and `path`.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup {
        self.table.lookup(method, path)
    }

    /// The route named `name`.
    pub fn route(&self, name: &str) -> Option<&Arc<LiveRoute>> {
        self.routes.iter().find(|live| live.route.name == name)
    }

    /// `path` with every segment that is a configured URL token masked as `***`, for
    /// logs of requests that matched no route; `None` when nothing needs masking.
    /// Segments are compared in constant time (whole segments, percent-decoded).
    pub fn masked_path(&self, path: &str) -> Option<String> {
        if self.path_secrets.is_empty() {
            return None;
        }
        let is_secret = |segment: &str| {
            let decoded = crate::model::percent::decode(segment.as_bytes(), false);
            self.path_secrets
                .iter()
                .fold(false, |found, secret| found | secret.ct_eq(&decoded))
        };
        let segments: Vec<&str> = path.split('/').collect();
        if !segments.iter().any(|segment| is_secret(segment)) {
            return None;
        }
        let masked: Vec<&str> = segments
            .into_iter()
            .map(|segment| if is_secret(segment) { "***" } else { segment })
            .collect();
        Some(masked.join("/"))
    }

    /// The target named `name`.
    pub fn target(&self, name: &str) -> Option<&Arc<Target>> {
        self.by_name.get(name)
    }
}
