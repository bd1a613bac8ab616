//! `routes[].auth[]`: one entry per check, keyed by scheme
//! (`- github: { secrets: [...] }`). Each scheme's settings live beside its verifier
//! in `ingress/auth/`; this file only dispatches on the key.

use std::sync::Arc;

use serde_yaml::Value;

use super::error::Collector;
use super::section;
use crate::ingress::auth::betterez::BetterezConfig;
use crate::ingress::auth::github::GithubConfig;
use crate::ingress::auth::hmac::HmacConfig;
use crate::ingress::auth::ip::IpAllowConfig;
use crate::ingress::auth::jwt::JwtConfig;
use crate::ingress::auth::klavi::KlaviConfig;
use crate::ingress::auth::shopify::ShopifyConfig;
use crate::ingress::auth::slack::SlackConfig;
use crate::ingress::auth::square::SquareConfig;
use crate::ingress::auth::standard_webhooks::StandardWebhooksConfig;
use crate::ingress::auth::stripe::StripeConfig;
use crate::ingress::auth::token::{BasicConfig, BearerConfig, HeaderConfig, UrlTokenConfig};
use crate::ingress::auth::twilio::TwilioConfig;
use crate::ingress::auth::Verifier;

/// The scheme names an `auth` entry may use.
pub const SCHEMES: [&str; 16] = [
    "hmac",
    "standard_webhooks",
    "stripe",
    "github",
    "shopify",
    "slack",
    "square",
    "twilio",
    "klavi",
    "betterez",
    "jwt",
    "header",
    "bearer",
    "basic",
    "url_token",
    "ip_allow",
];

/// Parses and builds the check at `path` (`routes[i].auth[j]`), reporting problems
/// there.
pub(crate) fn build(value: Value, path: &str, errors: &mut Collector<'_>) -> Option<Arc<dyn Verifier>> {
    let entry = match value {
        Value::Mapping(map) if map.len() == 1 => map.into_iter().next(),
        _ => None,
    };
    let Some((Value::String(scheme), settings)) = entry else {
        errors.at(
            path,
            format!(
                "expected one scheme with its settings, e.g. `- github: {{ secrets: [\"${{GITHUB_SECRET}}\"] }}`; schemes: {}",
                SCHEMES.join(", ")
            ),
        );
        return None;
    };
    let at = format!("{path}.{scheme}");
    macro_rules! scheme {
        ($config:ty) => {
            section::<$config>(Some(settings), &at, errors)?.build(&at, errors)
        };
    }
    match scheme.as_str() {
        "hmac" => scheme!(HmacConfig),
        "standard_webhooks" => scheme!(StandardWebhooksConfig),
        "stripe" => scheme!(StripeConfig),
        "github" => scheme!(GithubConfig),
        "shopify" => scheme!(ShopifyConfig),
        "slack" => scheme!(SlackConfig),
        "square" => scheme!(SquareConfig),
        "twilio" => scheme!(TwilioConfig),
        "klavi" => scheme!(KlaviConfig),
        "betterez" => scheme!(BetterezConfig),
        "jwt" => scheme!(JwtConfig),
        "header" => scheme!(HeaderConfig),
        "bearer" => scheme!(BearerConfig),
        "basic" => scheme!(BasicConfig),
        "url_token" => scheme!(UrlTokenConfig),
        "ip_allow" => scheme!(IpAllowConfig),
        other => {
            errors.at_key(
                &at,
                format!(
                    "unknown scheme `{other}`, expected one of: {}",
                    SCHEMES.join(", ")
                ),
            );
            None
        }
    }
}
