//! Betterez (`- betterez: {...}`): `x-btrz-signature: t=<ts>,s=<old>,s2=<sig>`, an
//! HMAC-SHA256 under the betterez-webhooks application's private key of
//! `{t}.{JSON payload}`. Betterez's docs sign `JSON.stringify(payload)`, so the raw
//! body is tried first and then its compact re-serialisation. `s2` is the current
//! signature; the deprecated `s` is accepted too when it verifies the same way.
//!
//! Unconfirmed by Betterez: that `t` is unix seconds (milliseconds would be refused as
//! far in the future) and that signatures are hex; both are assumptions.

use std::sync::Arc;

use http::HeaderName;
use serde_yaml::Value;

use super::context::Context;
use super::timestamped::{Settings, TimestampedVerifier};
use super::Verifier;

/// Builds `- betterez: { secrets: [...], tolerance: 5m }`: private keys of the
/// betterez-webhooks application (Admin > Integrations > Applications); the skew
/// allowed on `t` (default `300s`; Betterez leaves the choice to the receiver).
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let (secrets, tolerance) = cx.timed(value)?;
    Some(Arc::new(TimestampedVerifier::new(settings(), secrets, tolerance)))
}

fn settings() -> Settings {
    Settings {
        scheme: "betterez",
        header: HeaderName::from_static("x-btrz-signature"),
        keys: &["s2", "s"],
        compact_fallback: true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::DEFAULT_TOLERANCE;
    use super::super::hmac::testing::{borrowed, check, reason, sign};
    use super::super::mac::{self, Algorithm};
    use super::super::Reason;
    use super::*;
    use crate::model::Secret;

    // Betterez publishes no vector; these are computed here.
    const COMPACT: &[u8] = br#"{"id":"f7cf105e-e83d-4986-8171-70ba5c6c57cd","event":"transaction.completed","data":{"note":"a\nb"}}"#;
    const PRETTY: &[u8] = b"{\n  \"id\": \"f7cf105e-e83d-4986-8171-70ba5c6c57cd\",\n  \"event\": \"transaction.completed\",\n  \"data\": { \"note\": \"a\\nb\" }\n}";
    const NOW: u64 = 1623794394;

    fn betterez(secrets: &[&str]) -> TimestampedVerifier {
        TimestampedVerifier::new(
            settings(),
            secrets.iter().map(|s| Secret::new(*s)).collect(),
            DEFAULT_TOLERANCE,
        )
    }

    fn signature(secret: &str, body: &[u8]) -> String {
        hex::encode(mac::compute(
            Algorithm::Sha256,
            secret.as_bytes(),
            &[b"1623794394.", body],
        ))
    }

    #[test]
    fn s2_over_the_raw_body() {
        let value = format!("t={NOW},s={},s2={}", "00".repeat(32), signature("key", COMPACT));
        let headers = [("x-btrz-signature", value.as_str())];
        assert_eq!(check(&betterez(&["key"]), "/", &headers, COMPACT, NOW), Ok(()));
    }

    #[test]
    fn deprecated_s_is_accepted_when_it_verifies() {
        let value = format!("t={NOW},s={}", signature("key", COMPACT));
        let headers = [("x-btrz-signature", value.as_str())];
        assert_eq!(check(&betterez(&["key"]), "/", &headers, COMPACT, NOW), Ok(()));
    }

    #[test]
    fn pretty_body_whose_compact_form_was_signed_verifies() {
        let value = format!("t={NOW},s2={}", signature("key", COMPACT));
        let headers = [("x-btrz-signature", value.as_str())];
        assert_eq!(check(&betterez(&["key"]), "/", &headers, PRETTY, NOW), Ok(()));
    }

    #[test]
    fn wrong_secret_changed_body_missing_and_malformed() {
        let value = format!("t={NOW},s2={}", signature("key", COMPACT));
        let headers = [("x-btrz-signature", value.as_str())];
        assert_eq!(
            reason(&betterez(&["kez"]), "/", &headers, COMPACT, NOW),
            Reason::BadSignature
        );
        let mut body = COMPACT.to_vec();
        body[8] ^= 1;
        assert_eq!(
            reason(&betterez(&["key"]), "/", &headers, &body, NOW),
            Reason::BadSignature
        );
        assert_eq!(
            reason(&betterez(&["key"]), "/", &[], COMPACT, NOW),
            Reason::MissingCredential
        );
        let no_t = format!("s2={}", signature("key", COMPACT));
        for garbled in [no_t.as_str(), "t=1623794394", "t=1623794394,s2=zz", "junk"] {
            assert_eq!(
                reason(
                    &betterez(&["key"]),
                    "/",
                    &[("x-btrz-signature", garbled)],
                    COMPACT,
                    NOW
                ),
                Reason::MalformedCredential,
                "{garbled}"
            );
        }
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_stale() {
        let value = format!("t={NOW},s2={}", signature("key", COMPACT));
        let headers = [("x-btrz-signature", value.as_str())];
        assert_eq!(
            reason(&betterez(&["key"]), "/", &headers, COMPACT, NOW + 301),
            Reason::StaleTimestamp
        );
        assert_eq!(
            reason(&betterez(&["key"]), "/", &headers, COMPACT, NOW - 301),
            Reason::StaleTimestamp
        );
    }

    #[test]
    fn sign_round_trips_and_rotation() {
        let (headers, _) = sign(&betterez(&["new"]), COMPACT, NOW);
        let rotating = betterez(&["old", "new"]);
        assert_eq!(check(&rotating, "/", &borrowed(&headers), COMPACT, NOW), Ok(()));
        let (headers, _) = sign(&betterez(&["old"]), COMPACT, NOW);
        assert_eq!(check(&rotating, "/", &borrowed(&headers), COMPACT, NOW), Ok(()));
    }
}
