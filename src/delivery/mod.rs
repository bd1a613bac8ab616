//! Delivery: the outbound half of the data path. Builds the request each target
//! receives and sends it with the target's timeout over one pooled HTTP client; the
//! dispatcher's per-target workers drain the store through the breaker, the rate
//! limit and the concurrency limit, and [`retry`] decides what follows each attempt.

pub mod breaker;
mod client;
mod dispatcher;
pub mod guard;
pub(crate) mod log;
pub mod rate;
mod request;
pub mod retry;
mod send;

pub use client::{build_client, HttpClient};
pub use dispatcher::{Dispatcher, WorkerStatus};
pub use request::{
    delivery, event_headers, finish, is_never_forwarded, relay_headers, Inbound, Message, ATTEMPT,
    DELIVERY_ID,
};
pub use send::{send, SendError};
