//! Delivery: the outbound half of the data path. Builds the request each target
//! receives and sends it with the target's timeout over one pooled HTTP client.

mod client;
mod request;
mod send;

pub use client::{build_client, HttpClient};
pub use request::{is_never_forwarded, outbound_request, relay_headers, Inbound};
pub use send::{send, SendError};
