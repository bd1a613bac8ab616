//! hookgate: a webhook forwarding proxy.
//!
//! The data path, in the order a webhook travels it:
//!
//! - [`server`] accepts connections and serves the ingress stack over HTTP/1.1 and h2c.
//! - [`ingress`] is that stack: request id, tracing, route match, body limit, decode,
//!   then forwarding; its failures become RFC 9457 [`problem`]s.
//! - [`delivery`] builds the request each target receives and sends it.
//! - [`config`] turns the YAML file into the validated types all of the above use.
//!
//! [`admin`] serves `/metrics` and `/healthz` on its own listener; [`telemetry`] sets
//! up logging and metrics; [`receiver`] is a printing backend for trying
//! hookgate out.

pub mod admin;
pub mod config;
pub mod delivery;
pub mod dlq;
pub mod ingress;
pub mod problem;
pub mod receiver;
pub mod rules;
pub mod secret;
pub mod server;
pub mod sign;
pub mod telemetry;

pub use config::Config;
pub use server::Server;
pub mod store;
