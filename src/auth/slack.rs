//! Slack (`- slack: {...}`): `X-Slack-Signature: v0=<hex>`, an HMAC-SHA256 under the
//! signing secret of `v0:{X-Slack-Request-Timestamp}:{raw body}`. The timestamp is
//! signed, so requests outside the tolerance are refused as replays.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use serde_yaml::Value;

use super::context::{Context, TimedConfig};
use super::hmac::{preset, HmacSettings, Part, Template};
use super::mac::{Algorithm, Encoding};
use super::Verifier;

/// Builds `- slack: { secrets: [...], tolerance: 5m }` (the app's signing secrets;
/// the skew allowed on `X-Slack-Request-Timestamp`, default `300s` as Slack's SDKs
/// use).
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: TimedConfig = cx.settings(value)?;
    let tolerance = cx.tolerance(config.tolerance);
    preset(cx, "slack", config.secrets, settings(tolerance))
}

fn settings(tolerance: Duration) -> HmacSettings {
    HmacSettings {
        prefix: Some("v0=".to_owned()),
        content: Template::new(vec![
            Part::literal("v0:"),
            Part::Timestamp,
            Part::literal(":"),
            Part::Body,
        ]),
        timestamp_header: Some(HeaderName::from_static("x-slack-request-timestamp")),
        tolerance,
        ..HmacSettings::new(
            Algorithm::Sha256,
            HeaderName::from_static("x-slack-signature"),
            Encoding::Hex,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::DEFAULT_TOLERANCE;
    use super::super::hmac::testing::{borrowed, check, reason, sign};
    use super::super::hmac::HmacVerifier;
    use super::super::Reason;
    use super::*;
    use crate::model::Secret;

    fn slack(secrets: &[&str]) -> HmacVerifier {
        let secrets = secrets.iter().map(|s| Secret::new(*s)).collect();
        HmacVerifier::new("slack", secrets, settings(DEFAULT_TOLERANCE)).unwrap()
    }

    // `slackapi/python-slack-sdk`, tests/signature/test_signature_verifier.py.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: u64 = 1531420618;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const HEADERS: [(&str, &str); 2] = [
        ("x-slack-signature", SIGNATURE),
        ("x-slack-request-timestamp", "1531420618"),
    ];

    #[test]
    fn slack_sdk_vector() {
        assert_eq!(check(&slack(&[SECRET]), "/", &HEADERS, BODY, TIMESTAMP), Ok(()));
    }

    #[test]
    fn wrong_secret_or_changed_body_is_a_bad_signature() {
        let wrong = slack(&["8f742231b10e8888abcd99yyyzzz85a6"]);
        assert_eq!(
            reason(&wrong, "/", &HEADERS, BODY, TIMESTAMP),
            Reason::BadSignature
        );
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(
            reason(&slack(&[SECRET]), "/", &HEADERS, &body, TIMESTAMP),
            Reason::BadSignature
        );
    }

    #[test]
    fn missing_or_malformed_headers() {
        let verifier = slack(&[SECRET]);
        assert_eq!(
            reason(&verifier, "/", &HEADERS[1..], BODY, TIMESTAMP),
            Reason::MissingCredential
        );
        assert_eq!(
            reason(&verifier, "/", &HEADERS[..1], BODY, TIMESTAMP),
            Reason::MissingCredential
        );
        let unprefixed = [("x-slack-signature", &SIGNATURE[3..]), HEADERS[1]];
        assert_eq!(
            reason(&verifier, "/", &unprefixed, BODY, TIMESTAMP),
            Reason::MalformedCredential
        );
        let bad_time = [HEADERS[0], ("x-slack-request-timestamp", "yesterday")];
        assert_eq!(
            reason(&verifier, "/", &bad_time, BODY, TIMESTAMP),
            Reason::MalformedCredential
        );
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_stale() {
        let verifier = slack(&[SECRET]);
        assert_eq!(check(&verifier, "/", &HEADERS, BODY, TIMESTAMP + 300), Ok(()));
        assert_eq!(
            reason(&verifier, "/", &HEADERS, BODY, TIMESTAMP + 301),
            Reason::StaleTimestamp
        );
        assert_eq!(
            reason(&verifier, "/", &HEADERS, BODY, TIMESTAMP - 301),
            Reason::StaleTimestamp
        );
    }

    #[test]
    fn sign_round_trips_and_rotation() {
        let (headers, _) = sign(&slack(&[SECRET]), BODY, TIMESTAMP);
        assert_eq!(borrowed(&headers), HEADERS);
        let (headers, _) = sign(&slack(&["next"]), b"{}", 1_700_000_000);
        let rotating = slack(&[SECRET, "next"]);
        assert_eq!(
            check(&rotating, "/", &borrowed(&headers), b"{}", 1_700_000_000),
            Ok(())
        );
        assert_eq!(check(&rotating, "/", &HEADERS, BODY, TIMESTAMP), Ok(()));
    }
}
