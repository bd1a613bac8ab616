//! A snapshot's subscriptions: each stored subscription with its filter compiled
//! and its target built from the config's `subscriptions:` policy.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::model::{PathParams, Subscription, SubscriptionPolicy, Target};
use crate::rules::condition::Condition;

/// One subscription, ready to match events.
#[derive(Debug)]
pub struct LiveSubscription {
    /// As stored.
    pub subscription: Subscription,
    /// Its target.
    pub target: Arc<Target>,
    filter: Option<Condition>,
}

impl LiveSubscription {
    /// Compiles `subscription` under `policy`; the error names the field at fault.
    pub fn build(subscription: Subscription, policy: &SubscriptionPolicy) -> Result<Self, (String, String)> {
        let target = policy.target(&subscription)?;
        let filter = subscription
            .filter
            .as_deref()
            .map(|filter| Condition::compile(Some(filter), Vec::new(), Vec::new()))
            .transpose()
            .map_err(|message| ("filter".to_owned(), message))?;
        Ok(Self {
            subscription,
            target: Arc::new(target),
            filter,
        })
    }

    /// Whether `event` goes to it (`None`: the event is not JSON, which only a
    /// subscription without a filter receives).
    pub fn wants(&self, event: Option<&Value>) -> bool {
        match (&self.filter, event) {
            (None, _) => true,
            (Some(filter), Some(event)) => {
                filter.matches(event, &http::HeaderMap::new(), &PathParams::default())
            }
            (Some(_), None) => false,
        }
    }
}

/// The subscriptions of one snapshot.
#[derive(Debug, Default)]
pub struct Subscribed {
    /// Every one (active or not), in creation order.
    pub all: Vec<Arc<LiveSubscription>>,
    /// The active ones by route.
    active: HashMap<String, Vec<Arc<LiveSubscription>>>,
    /// As read from the store, by id, those left out included.
    stored: Vec<Subscription>,
}

impl Subscribed {
    /// Compiles `subscriptions` of the routes in `routes`; one that no longer
    /// compiles under `policy` (its route gone, the policy changed) is logged and
    /// left out, and kept in the store.
    pub fn build(mut subscriptions: Vec<Subscription>, policy: &SubscriptionPolicy, routes: &[&str]) -> Self {
        subscriptions.sort_by(|a, b| a.id.cmp(&b.id));
        let mut subscribed = Subscribed {
            stored: subscriptions.clone(),
            ..Subscribed::default()
        };
        for subscription in subscriptions {
            if !routes.contains(&subscription.route.as_str()) {
                tracing::warn!(
                    subscription = %subscription.id,
                    route = %subscription.route,
                    "subscription of a route not in the config; it receives nothing until the route is back"
                );
                continue;
            }
            match LiveSubscription::build(subscription.clone(), policy) {
                Ok(live) => {
                    let live = Arc::new(live);
                    if live.subscription.is_active {
                        subscribed
                            .active
                            .entry(live.subscription.route.clone())
                            .or_default()
                            .push(live.clone());
                    }
                    subscribed.all.push(live);
                }
                Err((field, message)) => tracing::warn!(
                    subscription = %subscription.id,
                    field,
                    message,
                    "subscription left out: it is not valid under the config's subscriptions policy"
                ),
            }
        }
        subscribed
    }

    /// The active subscriptions of `route`.
    pub fn of(&self, route: &str) -> &[Arc<LiveSubscription>] {
        self.active.get(route).map_or(&[], Vec::as_slice)
    }

    /// The subscriptions as read from the store, by id (those left out included).
    pub fn stored(&self) -> &[Subscription] {
        &self.stored
    }

    /// The one with id `id`, if it is live.
    pub fn get(&self, id: &str) -> Option<&Arc<LiveSubscription>> {
        self.all.iter().find(|live| live.subscription.id == id)
    }
}
