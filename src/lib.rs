//! hookgate: a webhook forwarding proxy.
//!
//! The data path, in the order a webhook travels it:
//!
//! - [`serve`] accepts connections and serves HTTP/1.1 and h2c on them.
//! - [`ingress`] is the tower stack each request goes through, one layer per stage:
//!   route → body → auth ([`auth`]) → decode → evaluate ([`rules`]) → admit | relay.
//!   Its refusals become RFC 9457 [`problem`]s.
//! - [`store`] keeps admitted deliveries (embedded or Redis, one contract).
//! - [`delivery`]'s per-target workers send them, retry them, dead-letter them.
//!
//! Beneath them, [`model`] holds what the running system is made of (routes,
//! targets, events, deliveries) and imports nothing else of the crate; [`registry`]
//! holds the live snapshot of routes and targets, which [`reload`] swaps. [`config`]
//! is the YAML front end that builds snapshots; nothing at run time imports it.
//!
//! [`server`] wires it together; [`admin`] serves `/metrics`, `/healthz`, `/readyz`
//! and `POST /reload` on its own listener; [`telemetry`] sets up logging and
//! metrics; [`receiver`] is a printing backend for trying hookgate out.

pub mod admin;
pub mod auth;
pub mod config;
pub mod delivery;
pub mod diagnostics;
pub mod dlq;
pub mod ingress;
pub mod metrics_catalog;
pub mod model;
pub mod otlp;
pub mod problem;
pub mod receiver;
pub mod registry;
pub mod reload;
pub mod rules;
pub mod serve;
pub mod server;
pub mod sign;
pub mod standard_webhooks;
pub mod store;
pub mod telemetry;

pub use server::Server;
