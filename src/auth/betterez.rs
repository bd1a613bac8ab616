//! Betterez (`- betterez: {...}`): `x-btrz-signature: t=<ts>,s=<old>,s2=<sig>`, an
//! HMAC-SHA256 under the betterez-webhooks application's private key of
//! `{t}.{JSON payload}`. Betterez's docs sign `JSON.stringify(payload)`, so the raw
//! body is tried first and then its compact re-serialisation. `s2` is the current
//! signature; the deprecated `s` is accepted too when it verifies the same way.
//!
//! Unconfirmed by Betterez: that `t` is unix seconds (milliseconds would be refused as
//! far in the future) and that signatures are hex; both are assumptions.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use serde_yaml::Value;

use super::context::Context;
use super::hmac::any_matches;
use super::mac::{self, Algorithm, Encoding};
use super::stripe::parse_signed_header;
use super::{check_timestamp, compact_json, header, AuthRequest, Reason, Rejection, SignRequest, Verifier};
use crate::model::Secret;

const BTRZ_SIGNATURE: HeaderName = HeaderName::from_static("x-btrz-signature");

/// A built Betterez check.
#[derive(Debug)]
pub struct BetterezVerifier {
    secrets: Vec<Secret>,
    tolerance: Duration,
}

/// Builds `- betterez: { secrets: [...], tolerance: 5m }`: private keys of the
/// betterez-webhooks application (Admin > Integrations > Applications); the skew
/// allowed on `t` (default `300s`; Betterez leaves the choice to the receiver).
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let (secrets, tolerance) = cx.timed(value)?;
    Some(Arc::new(BetterezVerifier::new(secrets, tolerance)))
}

impl BetterezVerifier {
    /// A check accepting signatures under any of `secrets` with `t` within
    /// `tolerance` of now.
    pub fn new(secrets: Vec<Secret>, tolerance: Duration) -> Self {
        Self { secrets, tolerance }
    }

    fn matches(&self, timestamp: &str, body: &[u8], signatures: &[Vec<u8>]) -> bool {
        let parts: [&[u8]; 3] = [timestamp.as_bytes(), b".", body];
        any_matches(Algorithm::Sha256, &self.secrets, &parts, signatures)
    }
}

impl Verifier for BetterezVerifier {
    fn scheme(&self) -> &'static str {
        "betterez"
    }

    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        let value = header(request, &BTRZ_SIGNATURE)?;
        let (timestamp, signatures) = parse_signed_header(value, &BTRZ_SIGNATURE, &["s2", "s"])?;
        check_timestamp(
            timestamp,
            request.now,
            self.tolerance,
            "`t` in `x-btrz-signature`",
        )?;
        if self.matches(timestamp, request.body, &signatures)
            || compact_json(request.body)
                .is_some_and(|compact| self.matches(timestamp, &compact, &signatures))
        {
            return Ok(());
        }
        Err(Rejection::new(
            Reason::BadSignature,
            format!(
                "none of the {} signatures matches the body or its compact form under any of the {} configured secrets",
                signatures.len(),
                self.secrets.len()
            ),
        ))
    }

    fn sign(&self, request: &mut SignRequest<'_>) -> Result<(), String> {
        let secret = self.secrets.first().ok_or("no secret configured")?;
        let timestamp = request.now.to_string();
        let signature = mac::compute(
            Algorithm::Sha256,
            secret.expose(),
            &[timestamp.as_bytes(), b".", request.body],
        );
        request.headers.push((
            BTRZ_SIGNATURE.to_string(),
            format!("t={timestamp},s2={}", Encoding::Hex.encode(&signature)),
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::DEFAULT_TOLERANCE;
    use super::super::hmac::testing::{borrowed, check, reason, sign};
    use super::*;

    // Betterez publishes no vector; these are computed here.
    const COMPACT: &[u8] = br#"{"id":"f7cf105e-e83d-4986-8171-70ba5c6c57cd","event":"transaction.completed","data":{"note":"a\nb"}}"#;
    const PRETTY: &[u8] = b"{\n  \"id\": \"f7cf105e-e83d-4986-8171-70ba5c6c57cd\",\n  \"event\": \"transaction.completed\",\n  \"data\": { \"note\": \"a\\nb\" }\n}";
    const NOW: u64 = 1623794394;

    fn betterez(secrets: &[&str]) -> BetterezVerifier {
        BetterezVerifier::new(
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
