//! Square (`- square: {...}`): `X-Square-Hmacsha256-Signature: <base64>`, an
//! HMAC-SHA256 under the subscription's signature key of the notification URL exactly
//! as configured at Square followed by the raw body. The URL is configured here too,
//! because the URL hookgate sees behind a load balancer is not the one Square signed.
//! No timestamp is signed; deduplicate on the body's `event_id`.

use std::sync::Arc;

use http::HeaderName;
use serde_yaml::Value;

use super::context::{Context, UrlConfig};
use super::hmac::{preset, HmacSettings, Part, Template};
use super::mac::{Algorithm, Encoding};
use super::Verifier;

/// Builds `- square: { secrets: [...], url: ... }`: the subscription's signature
/// keys, and the notification URL character for character as entered at Square.
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: UrlConfig = cx.settings(value)?;
    let url = cx.public_url("url", &config.url);
    let verifier = preset(
        cx,
        "square",
        config.secrets,
        settings(url.clone().unwrap_or_default()),
    );
    url.and(verifier)
}

fn settings(url: String) -> HmacSettings {
    HmacSettings {
        content: Template::new(vec![Part::Url, Part::Body]),
        url: Some(url),
        ..HmacSettings::new(
            Algorithm::Sha256,
            HeaderName::from_static("x-square-hmacsha256-signature"),
            Encoding::Base64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::hmac::testing::{borrowed, check, reason, sign};
    use super::super::hmac::HmacVerifier;
    use super::super::Reason;
    use super::*;
    use crate::model::Secret;

    const HEADER: &str = "x-square-hmacsha256-signature";

    fn square(secrets: &[&str], url: &str) -> HmacVerifier {
        let secrets = secrets.iter().map(|s| Secret::new(*s)).collect();
        HmacVerifier::new("square", secrets, settings(url.to_owned())).unwrap()
    }

    // `square/square-python-sdk`, tests/integration/test_webhooks_helper.py.
    const URL_7: &str = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";
    const BODY_7: &[u8] = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
    const SIGNATURE_7: &str = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";

    #[test]
    fn square_sdk_vectors() {
        let verifier = square(&["Ibxx_5AKakO-3qeNVR61Dw"], URL_7);
        // The path hookgate sees does not matter: the configured URL is signed.
        assert_eq!(
            check(&verifier, "/internal/square", &[(HEADER, SIGNATURE_7)], BODY_7, 0),
            Ok(())
        );

        let verifier = square(&["signature-key"], "https://webhook.site/webhooks");
        let body = br#"{"data":{"type":"webhooks","id":">id<"}}"#;
        let headers = [(HEADER, "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U=")];
        assert_eq!(check(&verifier, "/", &headers, body, 0), Ok(()));
    }

    #[test]
    fn another_url_wrong_secret_or_changed_body_is_a_bad_signature() {
        let headers = [(HEADER, SIGNATURE_7)];
        let other_url = square(&["Ibxx_5AKakO-3qeNVR61Dw"], "https://webhook.site/other");
        assert_eq!(reason(&other_url, "/", &headers, BODY_7, 0), Reason::BadSignature);
        let wrong = square(&["Ibxx_5AKakO-3qeNVR61Dx"], URL_7);
        assert_eq!(reason(&wrong, "/", &headers, BODY_7, 0), Reason::BadSignature);
        let mut body = BODY_7.to_vec();
        body[2] ^= 1;
        let right = square(&["Ibxx_5AKakO-3qeNVR61Dw"], URL_7);
        assert_eq!(reason(&right, "/", &headers, &body, 0), Reason::BadSignature);
    }

    #[test]
    fn missing_or_malformed_header() {
        let verifier = square(&["k"], URL_7);
        assert_eq!(reason(&verifier, "/", &[], BODY_7, 0), Reason::MissingCredential);
        assert_eq!(
            reason(&verifier, "/", &[(HEADER, "%%%")], BODY_7, 0),
            Reason::MalformedCredential
        );
    }

    #[test]
    fn sign_round_trips_and_rotation() {
        let (headers, _) = sign(&square(&["Ibxx_5AKakO-3qeNVR61Dw"], URL_7), BODY_7, 0);
        assert_eq!(borrowed(&headers), [(HEADER, SIGNATURE_7)]);
        let rotating = square(&["next", "Ibxx_5AKakO-3qeNVR61Dw"], URL_7);
        assert_eq!(check(&rotating, "/", &borrowed(&headers), BODY_7, 0), Ok(()));
        let (headers, _) = sign(&square(&["next"], URL_7), BODY_7, 0);
        assert_eq!(check(&rotating, "/", &borrowed(&headers), BODY_7, 0), Ok(()));
    }
}
