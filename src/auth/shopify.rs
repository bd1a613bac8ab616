//! Shopify (`- shopify: {...}`): `X-Shopify-Hmac-Sha256: <base64>`, an HMAC-SHA256 of
//! the raw body under the app's client secret. No timestamp is signed; deduplicate on
//! `X-Shopify-Webhook-Id`. After a secret rotation Shopify may sign with the old
//! secret for up to an hour, so list both until then.

use std::sync::Arc;

use http::HeaderName;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml::Value;

use super::context::Context;
use super::hmac::{preset, HmacSettings};
use super::mac::{Algorithm, Encoding};
use super::Verifier;

/// The header classic HTTPS webhook deliveries carry.
const DEFAULT_HEADER: &str = "x-shopify-hmac-sha256";

/// `- shopify: { secrets: [...] }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopifyConfig {
    /// The app's client secrets (`${ENV}` or `file:`); any one matches.
    pub secrets: Vec<String>,
    /// The signature header, default `x-shopify-hmac-sha256`; Shopify's newer Events
    /// deliveries use `shopify-hmac-sha256`.
    pub header: Option<String>,
}

/// Builds `- shopify: {...}`.
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: ShopifyConfig = cx.settings(value)?;
    let header = match config.header {
        Some(name) => cx.header("header", &name)?,
        None => HeaderName::from_static(DEFAULT_HEADER),
    };
    preset(cx, "shopify", config.secrets, settings(header))
}

fn settings(header: HeaderName) -> HmacSettings {
    // Base64 decoding ignores surrounding white space: Shopify's own Ruby tests build
    // the header with `Base64.encode64`, which appends a newline.
    HmacSettings::new(Algorithm::Sha256, header, Encoding::Base64)
}

#[cfg(test)]
mod tests {
    use super::super::hmac::testing::{borrowed, check, reason, sign};
    use super::super::hmac::HmacVerifier;
    use super::super::Reason;
    use super::*;
    use crate::model::Secret;

    fn shopify(secrets: &[&str], header: &'static str) -> HmacVerifier {
        let secrets = secrets.iter().map(|s| Secret::new(*s)).collect();
        HmacVerifier::new("shopify", secrets, settings(HeaderName::from_static(header))).unwrap()
    }

    /// Self-computed from the setup of `Shopify/shopify-api-ruby`'s registry test;
    /// Shopify publishes no fixed vector.
    const FIXTURE: &str = "+ihUB5l+D7QrohDEi/6NcBcJRyKssyWqos13LmnsBbs=";

    #[test]
    fn ruby_sdk_fixture() {
        let verifier = shopify(&["API_SECRET_KEY"], DEFAULT_HEADER);
        assert_eq!(
            check(&verifier, "/", &[(DEFAULT_HEADER, FIXTURE)], b"{}", 0),
            Ok(())
        );
        let padded = format!("{FIXTURE} ");
        assert_eq!(
            check(&verifier, "/", &[(DEFAULT_HEADER, &padded)], b"{}", 0),
            Ok(())
        );
    }

    #[test]
    fn wrong_secret_changed_body_missing_and_malformed() {
        let headers = [(DEFAULT_HEADER, FIXTURE)];
        let wrong = shopify(&["API_SECRET_KEZ"], DEFAULT_HEADER);
        assert_eq!(reason(&wrong, "/", &headers, b"{}", 0), Reason::BadSignature);
        let right = shopify(&["API_SECRET_KEY"], DEFAULT_HEADER);
        assert_eq!(reason(&right, "/", &headers, b"{ }", 0), Reason::BadSignature);
        assert_eq!(reason(&right, "/", &[], b"{}", 0), Reason::MissingCredential);
        let garbage = [(DEFAULT_HEADER, "***")];
        assert_eq!(
            reason(&right, "/", &garbage, b"{}", 0),
            Reason::MalformedCredential
        );
    }

    #[test]
    fn configured_header_and_rotation() {
        let verifier = shopify(&["rotated", "API_SECRET_KEY"], "shopify-hmac-sha256");
        let headers = [("shopify-hmac-sha256", FIXTURE)];
        assert_eq!(check(&verifier, "/", &headers, b"{}", 0), Ok(()));
        let old_header = [(DEFAULT_HEADER, FIXTURE)];
        assert_eq!(
            reason(&verifier, "/", &old_header, b"{}", 0),
            Reason::MissingCredential
        );
        let (signed, _) = sign(&shopify(&["rotated"], "shopify-hmac-sha256"), b"{}", 0);
        assert_eq!(check(&verifier, "/", &borrowed(&signed), b"{}", 0), Ok(()));
    }

    #[test]
    fn sign_reproduces_the_fixture() {
        let (headers, _) = sign(&shopify(&["API_SECRET_KEY"], DEFAULT_HEADER), b"{}", 0);
        assert_eq!(headers, [(DEFAULT_HEADER.to_owned(), FIXTURE.to_owned())]);
    }
}
