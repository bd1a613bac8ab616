//! hookgate's admin API, as much of it as the backlog scenarios use: pausing and
//! resuming a target, and reading its state (paused, pending deliveries).

use std::net::SocketAddr;

use anyhow::{bail, Context};
use http::{Method, StatusCode};
use serde::Deserialize;

use crate::client::call_as;

/// A target's state as `GET /api/v1/targets/{name}` shows it (the fields used here).
#[derive(Debug, Clone, Deserialize)]
pub struct TargetState {
    /// Deliveries waiting or in flight, as the store counts them.
    pub pending: u64,
    /// Whether an operator paused its deliveries.
    pub paused: bool,
}

#[derive(Deserialize)]
struct TargetView {
    state: TargetState,
}

/// The admin listener of one hookgate, called with one bearer token.
pub struct Admin {
    addr: SocketAddr,
    token: &'static str,
}

impl Admin {
    /// The admin API at `addr`, called as `token`.
    pub fn new(addr: SocketAddr, token: &'static str) -> Self {
        Self { addr, token }
    }

    /// Pauses `target`: its deliveries wait in the store, unclaimed. Its state after.
    pub async fn pause(&self, target: &str) -> anyhow::Result<TargetState> {
        self.target_call(Method::POST, &format!("/api/v1/targets/{target}/pause"))
            .await
    }

    /// Resumes `target`. Its state after.
    pub async fn resume(&self, target: &str) -> anyhow::Result<TargetState> {
        self.target_call(Method::POST, &format!("/api/v1/targets/{target}/resume"))
            .await
    }

    /// `target`'s state now.
    pub async fn target(&self, target: &str) -> anyhow::Result<TargetState> {
        self.target_call(Method::GET, &format!("/api/v1/targets/{target}"))
            .await
    }

    async fn target_call(&self, method: Method, path: &str) -> anyhow::Result<TargetState> {
        let (status, body) = call_as(self.addr, method.clone(), path, Some(self.token)).await?;
        if status != StatusCode::OK {
            bail!("{method} {path}: {status} {}", String::from_utf8_lossy(&body));
        }
        let view: TargetView =
            serde_json::from_slice(&body).with_context(|| format!("{method} {path}: the answer"))?;
        Ok(view.state)
    }
}
