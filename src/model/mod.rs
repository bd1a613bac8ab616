//! The model: what the running system is made of. Routes and targets (with their
//! policies as plain data), dedupe specs, the values a request carries through the
//! stack (path parameters, the peer), the events a request becomes, and the
//! deliveries and attempts the store keeps.
//!
//! This module is the bottom of the crate: it imports nothing else from it, and
//! every other module may import it. The YAML front end (`config`) builds these
//! types; nothing here knows about files.

mod admin;
mod dedupe;
mod delivery;
mod event;
mod id;
pub mod mask;
pub mod path;
pub mod percent;
mod policy;
mod request;
mod route;
mod secret;
mod settings;
mod subscription;
mod target;
pub mod template;
pub mod trace;

pub use admin::{AdminToken, Role};
pub use dedupe::{Dedupe, DedupeSource};
pub use delivery::{now_ms, Attempt, Delivery, EXCERPT_LIMIT};
pub use event::{Destination, Event, Rewrite};
pub use id::Affinity;
pub use policy::{BreakerPolicy, RetryPolicy};
pub use request::{PathParams, PeerAddr};
pub use route::{ContentType, Mode, QueueAfter, Route};
pub use secret::{resolve as resolve_secret, Secret};
pub use settings::{AdminSettings, Limits, OtlpSettings, Settings, StoreKind, StoreSettings, TlsSettings};
pub use subscription::{
    is_subscription_target, Subscription, SubscriptionPolicy, DEFAULT_MAX_SUBSCRIPTIONS,
    SUBSCRIPTION_METHODS, SUBSCRIPTION_TARGET_PREFIX,
};
pub use target::{Marks, Target, TargetRecord};
