//! Standard Webhooks (`- standard_webhooks: {...}`), also Svix: `webhook-id`,
//! `webhook-timestamp` and `webhook-signature: v1,<base64> [v1,<base64> ...]`, as
//! [`crate::standard_webhooks`] describes. The list lets a sender sign with old and new
//! keys during a rotation; any `v1` entry matching any secret passes. Svix-branded
//! senders use `svix-*` headers with the same meaning.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use serde_yaml::Value;

use super::context::{Context, TimedConfig};
use super::{check_timestamp, header, AuthRequest, Reason, Rejection, SignRequest, Verifier};
use crate::model::Secret;
use crate::standard_webhooks::{
    self as scheme, decode_secret, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};

const SVIX_ID: HeaderName = HeaderName::from_static("svix-id");
const SVIX_TIMESTAMP: HeaderName = HeaderName::from_static("svix-timestamp");
const SVIX_SIGNATURE: HeaderName = HeaderName::from_static("svix-signature");

/// A built Standard Webhooks check.
#[derive(Debug)]
pub struct StandardWebhooksVerifier {
    keys: Vec<Secret>,
    tolerance: Duration,
}

/// Builds `- standard_webhooks: { secrets: [...], tolerance: 5m }`: endpoint secrets,
/// `whsec_` followed by base64 (the prefix may be left off).
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: TimedConfig = cx.settings(value)?;
    let before = cx.problems();
    // Each secret is resolved and then decoded, so a bad one is reported at its index.
    let secrets = cx.secrets(config.secrets.clone());
    let mut keys = Vec::new();
    if secrets.len() == config.secrets.len() {
        for (index, secret) in secrets.iter().enumerate() {
            match decode_secret(secret.expose_str()) {
                Some(key) => keys.push(Secret::new(key)),
                // Never echo the value: it is the secret, or most of it.
                None => cx.report(
                    &format!("secrets[{index}]"),
                    "expected a Standard Webhooks secret, `whsec_` followed by base64 (e.g. \
                     `${WEBHOOK_SECRET}` holding `whsec_<base64 of 24 to 64 random bytes>`), \
                     found a value that is not valid base64",
                ),
            }
        }
    }
    let tolerance = cx.tolerance(config.tolerance);
    cx.done(before, StandardWebhooksVerifier::new(keys, tolerance))
}

impl StandardWebhooksVerifier {
    /// A check accepting signatures under any of the decoded `keys` (see
    /// [`decode_secret`]) with timestamps within `tolerance` of now.
    pub fn new(keys: Vec<Secret>, tolerance: Duration) -> Self {
        Self { keys, tolerance }
    }
}

/// Header `primary`, or `fallback` when only that one is present (Svix's names).
fn either<'a>(
    request: &AuthRequest<'a>,
    primary: &HeaderName,
    fallback: &HeaderName,
) -> Result<&'a str, Rejection> {
    if request.headers.contains_key(primary) || !request.headers.contains_key(fallback) {
        header(request, primary)
    } else {
        header(request, fallback)
    }
}

impl Verifier for StandardWebhooksVerifier {
    fn scheme(&self) -> &'static str {
        "standard_webhooks"
    }

    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        let id = either(request, &WEBHOOK_ID, &SVIX_ID)?;
        let timestamp = either(request, &WEBHOOK_TIMESTAMP, &SVIX_TIMESTAMP)?;
        let signatures = either(request, &WEBHOOK_SIGNATURE, &SVIX_SIGNATURE)?;
        check_timestamp(timestamp, request.now, self.tolerance, "`webhook-timestamp`")?;
        let candidates = scheme::v1_signatures(signatures);
        if candidates.is_empty() {
            return Err(Rejection::new(
                Reason::MalformedCredential,
                "`webhook-signature` has no `v1,<base64>` entry",
            ));
        }
        let keys = self.keys.iter().map(Secret::expose);
        if scheme::verify(keys, id, timestamp.trim(), request.body, &candidates) {
            Ok(())
        } else {
            Err(Rejection::new(
                Reason::BadSignature,
                format!(
                    "none of the {} `v1` signatures matches under any of the {} configured secrets",
                    candidates.len(),
                    self.keys.len()
                ),
            ))
        }
    }

    fn sign(&self, request: &mut SignRequest<'_>) -> Result<(), String> {
        let key = self.keys.first().ok_or("no secret configured")?;
        for (name, value) in scheme::headers(key.expose(), &request.id, request.now, request.body) {
            request.headers.push((name.to_string(), value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::DEFAULT_TOLERANCE;
    use super::super::hmac::testing::{borrowed, check, reason, sign};
    use super::*;

    fn verifier(secrets: &[&str]) -> StandardWebhooksVerifier {
        let keys = secrets
            .iter()
            .map(|s| Secret::new(decode_secret(s).unwrap()))
            .collect();
        StandardWebhooksVerifier::new(keys, DEFAULT_TOLERANCE)
    }

    // `standard-webhooks/standard-webhooks`, libraries/python/tests/test_webhooks.py.
    const SECRET_1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID_1: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP_1: u64 = 1614265330;
    const BODY_1: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE_1: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers_1(signature: &str) -> [(&'static str, String); 3] {
        [
            ("webhook-id", ID_1.to_owned()),
            ("webhook-timestamp", TIMESTAMP_1.to_string()),
            ("webhook-signature", signature.to_owned()),
        ]
    }

    fn as_refs<'a>(headers: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
        headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect()
    }

    #[test]
    fn reference_library_vectors() {
        let key = decode_secret(SECRET_1).unwrap();
        assert_eq!(scheme::sign(&key, ID_1, TIMESTAMP_1, BODY_1), SIGNATURE_1);
        let headers = headers_1(SIGNATURE_1);
        assert_eq!(
            check(
                &verifier(&[SECRET_1]),
                "/",
                &as_refs(&headers),
                BODY_1,
                TIMESTAMP_1
            ),
            Ok(())
        );
    }

    #[test]
    fn any_v1_entry_may_match_and_other_versions_are_ignored() {
        let listed = format!("v1a,{} v1,AAAA {SIGNATURE_1}", &SIGNATURE_1[3..]);
        let headers = headers_1(&listed);
        assert_eq!(
            check(
                &verifier(&[SECRET_1]),
                "/",
                &as_refs(&headers),
                BODY_1,
                TIMESTAMP_1
            ),
            Ok(())
        );
        let only_v1a = headers_1(&format!("v1a,{}", &SIGNATURE_1[3..]));
        assert_eq!(
            reason(
                &verifier(&[SECRET_1]),
                "/",
                &as_refs(&only_v1a),
                BODY_1,
                TIMESTAMP_1
            ),
            Reason::MalformedCredential
        );
    }

    #[test]
    fn svix_headers_are_accepted_when_webhook_ones_are_absent() {
        let headers = [
            ("svix-id", ID_1),
            ("svix-timestamp", "1614265330"),
            ("svix-signature", SIGNATURE_1),
        ];
        assert_eq!(
            check(&verifier(&[SECRET_1]), "/", &headers, BODY_1, TIMESTAMP_1),
            Ok(())
        );
    }

    #[test]
    fn wrong_secret_changed_body_missing_and_malformed() {
        let headers = headers_1(SIGNATURE_1);
        let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        assert_eq!(
            reason(&verifier(&[other]), "/", &as_refs(&headers), BODY_1, TIMESTAMP_1),
            Reason::BadSignature
        );
        let mut body = BODY_1.to_vec();
        body[3] ^= 1;
        assert_eq!(
            reason(
                &verifier(&[SECRET_1]),
                "/",
                &as_refs(&headers),
                &body,
                TIMESTAMP_1
            ),
            Reason::BadSignature
        );
        for missing in 0..3 {
            let mut partial = as_refs(&headers);
            partial.remove(missing);
            assert_eq!(
                reason(&verifier(&[SECRET_1]), "/", &partial, BODY_1, TIMESTAMP_1),
                Reason::MissingCredential
            );
        }
        let garbled = headers_1("v1;abc");
        assert_eq!(
            reason(
                &verifier(&[SECRET_1]),
                "/",
                &as_refs(&garbled),
                BODY_1,
                TIMESTAMP_1
            ),
            Reason::MalformedCredential
        );
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_stale() {
        let headers = headers_1(SIGNATURE_1);
        let check_ = verifier(&[SECRET_1]);
        assert_eq!(
            reason(&check_, "/", &as_refs(&headers), BODY_1, TIMESTAMP_1 + 301),
            Reason::StaleTimestamp
        );
        assert_eq!(
            reason(&check_, "/", &as_refs(&headers), BODY_1, TIMESTAMP_1 - 301),
            Reason::StaleTimestamp
        );
        assert_eq!(
            check(&check_, "/", &as_refs(&headers), BODY_1, TIMESTAMP_1 - 300),
            Ok(())
        );
    }

    #[test]
    fn sign_round_trips_and_rotation() {
        let old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let (headers, _) = sign(&verifier(&[SECRET_1]), BODY_1, TIMESTAMP_1);
        let names: Vec<_> = headers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["webhook-id", "webhook-timestamp", "webhook-signature"]);
        let rotating = verifier(&[old, SECRET_1]);
        assert_eq!(
            check(&rotating, "/", &borrowed(&headers), BODY_1, TIMESTAMP_1),
            Ok(())
        );
        let (headers, _) = sign(&verifier(&[old]), BODY_1, TIMESTAMP_1);
        assert_eq!(
            check(&rotating, "/", &borrowed(&headers), BODY_1, TIMESTAMP_1),
            Ok(())
        );
    }
}
