//! `routes[].auth[]`: one entry per check, keyed by scheme
//! (`- github: { secrets: [...] }`). Each scheme's settings live beside its verifier
//! in `ingress/auth/`; this file only dispatches.

use std::sync::Arc;

use serde::Deserialize;

use super::error::Collector;
use crate::ingress::auth::Verifier;

/// One check as written in the file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {}

impl AuthConfig {
    /// Parses and builds the check at `path`, reporting problems there.
    pub(crate) fn build(
        value: serde_yaml::Value,
        path: &str,
        errors: &mut Collector<'_>,
    ) -> Option<Arc<dyn Verifier>> {
        let config: AuthConfig = super::section(Some(value), path, errors)?;
        match config {}
    }
}
