//! The registry: the live snapshot of routes, targets, their verifiers and compiled
//! rules, and the settings they run under. A reload builds a new [`Snapshot`] and
//! swaps it in atomically; a request reads the current one without a lock and keeps
//! it until it is answered, so it is handled by one config from start to end.

use std::sync::Arc;

use arc_swap::ArcSwap;

mod snapshot;
mod subscribed;
mod table;

pub use snapshot::{LiveRoute, Snapshot};
pub use subscribed::{LiveSubscription, Subscribed};
pub use table::{Lookup, RouteConflict};

/// Holds the current snapshot.
#[derive(Debug)]
pub struct Registry {
    current: ArcSwap<Snapshot>,
}

impl Registry {
    /// A registry serving `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        zeroes(&snapshot);
        Self {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current snapshot (a lock-free read).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Makes `next` current and returns the one it replaces; requests that began on
    /// the old one finish on it.
    pub fn swap(&self, next: Arc<Snapshot>) -> Arc<Snapshot> {
        zeroes(&next);
        self.current.swap(next)
    }
}

/// The metrics of every route and target of `snapshot`, at zero where absent.
fn zeroes(snapshot: &Snapshot) {
    for route in &snapshot.routes {
        crate::metrics_catalog::route_zeroes(&route.route, !route.verifiers.is_empty());
    }
    for target in snapshot
        .targets
        .iter()
        .filter(|target| !crate::model::is_subscription_target(&target.name))
    {
        crate::metrics_catalog::target_zeroes(&target.name);
    }
}
