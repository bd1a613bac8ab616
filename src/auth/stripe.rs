//! Stripe (`- stripe: {...}`): `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=...][,v0=...]`,
//! each `v1` an HMAC-SHA256 of `{t}.{raw body}`. Unlike Standard Webhooks the key is
//! the whole `whsec_...` string as text, prefix included, as Stripe's SDKs use it.
//! Only `v1` counts (`v0` is a test-mode signature with a different secret); several
//! `v1` entries appear while a secret is rolled.

use std::sync::Arc;

use http::HeaderName;
use serde_yaml::Value;

use super::context::Context;
use super::timestamped::{Settings, TimestampedVerifier};
use super::Verifier;

/// Builds `- stripe: { secrets: [...], tolerance: 5m }`: endpoint signing secrets as
/// Stripe shows them, `whsec_...`; the skew allowed on `t` (default `300s`, as
/// Stripe's SDKs use).
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let (secrets, tolerance) = cx.timed(value)?;
    Some(Arc::new(TimestampedVerifier::new(settings(), secrets, tolerance)))
}

fn settings() -> Settings {
    Settings {
        scheme: "stripe",
        header: HeaderName::from_static("stripe-signature"),
        keys: &["v1"],
        compact_fallback: false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::DEFAULT_TOLERANCE;
    use super::super::hmac::testing::{borrowed, check, reason, sign};
    use super::super::Reason;
    use super::*;
    use crate::model::Secret;

    fn stripe(secrets: &[&str]) -> TimestampedVerifier {
        TimestampedVerifier::new(
            settings(),
            secrets.iter().map(|s| Secret::new(*s)).collect(),
            DEFAULT_TOLERANCE,
        )
    }

    /// `arlyon/async-stripe`, async-stripe-webhook/src/webhook.rs,
    /// `test_webhook_construct_event`: the test's `json!` event as serde_json writes it
    /// there (compact, keys sorted, since that crate does not preserve order).
    const EVENT: &[u8] = br#"{"account":"acct_123","api_version":"2017-05-25","created":1533204620,"data":{"object":{"amount":1000,"currency":"usd","customer":"cus_123","date":1533204620,"description":"Test Invoice Item","discountable":false,"id":"ii_123","invoice":"in_123","livemode":false,"metadata":{},"object":"invoiceitem","period":{"end":1533204620,"start":1533204620},"proration":false,"quantity":3,"quantity_decimal":"0"}},"id":"evt_123","livemode":false,"object":"event","pending_webhooks":1,"request":{"id":"req_123","idempotency_key":"idempotency-key-123"},"type":"invoiceitem.created"}"#;
    const EVENT_TIME: u64 = 1533204620;
    const EVENT_HEADER: &str = "t=1533204620,v1=d7373bc68f4bd320b253cd7461f87af6e1cdf1b4d7db1614d8d1d746972d2d0a,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";

    /// Self-computed: `whsec_test_secret`, the secret Stripe's own SDK tests use.
    const FIXTURE_HEADER: &str =
        "t=1492774577,v1=53140ab8fa70c511cc40d5c9198af7dde7bbaee877038c056d8250c3bd3b2e11";

    #[test]
    fn async_stripe_vector() {
        let headers = [("stripe-signature", EVENT_HEADER)];
        assert_eq!(
            check(&stripe(&["secret"]), "/", &headers, EVENT, EVENT_TIME),
            Ok(())
        );
    }

    #[test]
    fn whole_whsec_string_is_the_key() {
        let headers = [("stripe-signature", FIXTURE_HEADER)];
        assert_eq!(
            check(&stripe(&["whsec_test_secret"]), "/", &headers, b"{}", 1492774577),
            Ok(())
        );
        assert_eq!(
            reason(&stripe(&["test_secret"]), "/", &headers, b"{}", 1492774577),
            Reason::BadSignature
        );
    }

    #[test]
    fn only_v1_counts_and_any_v1_may_match() {
        let v1 = &EVENT_HEADER[16..80];
        let v0_only = "t=1533204620,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";
        assert_eq!(
            reason(
                &stripe(&["secret"]),
                "/",
                &[("stripe-signature", v0_only)],
                EVENT,
                EVENT_TIME
            ),
            Reason::MalformedCredential
        );
        let rolling = format!("t=1533204620,v1={},v1={v1}", "ab".repeat(32));
        assert_eq!(
            check(
                &stripe(&["secret"]),
                "/",
                &[("stripe-signature", &rolling)],
                EVENT,
                EVENT_TIME
            ),
            Ok(())
        );
    }

    #[test]
    fn wrong_secret_changed_body_missing_and_malformed() {
        let headers = [("stripe-signature", EVENT_HEADER)];
        assert_eq!(
            reason(&stripe(&["secreT"]), "/", &headers, EVENT, EVENT_TIME),
            Reason::BadSignature
        );
        let mut body = EVENT.to_vec();
        body[5] ^= 1;
        assert_eq!(
            reason(&stripe(&["secret"]), "/", &headers, &body, EVENT_TIME),
            Reason::BadSignature
        );
        assert_eq!(
            reason(&stripe(&["secret"]), "/", &[], EVENT, EVENT_TIME),
            Reason::MissingCredential
        );
        for garbled in [&EVENT_HEADER[13..], "t=1533204620", "garbage", "t=soon,v1=00"] {
            assert_eq!(
                reason(
                    &stripe(&["secret"]),
                    "/",
                    &[("stripe-signature", garbled)],
                    EVENT,
                    EVENT_TIME
                ),
                Reason::MalformedCredential,
                "{garbled}"
            );
        }
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_stale() {
        let headers = [("stripe-signature", EVENT_HEADER)];
        let verifier = stripe(&["secret"]);
        assert_eq!(
            reason(&verifier, "/", &headers, EVENT, EVENT_TIME + 301),
            Reason::StaleTimestamp
        );
        assert_eq!(
            reason(&verifier, "/", &headers, EVENT, EVENT_TIME - 301),
            Reason::StaleTimestamp
        );
    }

    #[test]
    fn sign_round_trips_and_rotation() {
        let (headers, _) = sign(&stripe(&["whsec_test_secret"]), b"{}", 1492774577);
        assert_eq!(borrowed(&headers), [("stripe-signature", FIXTURE_HEADER)]);
        let rotating = stripe(&["whsec_new", "whsec_test_secret"]);
        assert_eq!(
            check(&rotating, "/", &borrowed(&headers), b"{}", 1492774577),
            Ok(())
        );
        let (headers, _) = sign(&stripe(&["whsec_new"]), b"{}", 1492774577);
        assert_eq!(
            check(&rotating, "/", &borrowed(&headers), b"{}", 1492774577),
            Ok(())
        );
    }
}
