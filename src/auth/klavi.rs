//! Klavi (`- klavi: {...}`): `X-Klavi-Signature: <hex>`, an HMAC-SHA256 of the body
//! under the console's `secretKey`. Klavi's own example signs
//! `JSON.stringify(request.body)`, i.e. the parsed body re-serialised compactly, so
//! when the raw bytes do not verify the compact form is tried. `X-Klavi-Timestamp` is
//! not signed and so is not checked: it would stop no replay. Deduplicate on each
//! event's `eventId` instead.

use std::sync::Arc;

use http::HeaderName;
use serde_yaml::Value;

use super::context::{Context, SecretsConfig};
use super::hmac::{preset, HmacSettings};
use super::mac::{Algorithm, Encoding};
use super::Verifier;

/// Builds `- klavi: { secrets: [...] }` (the `secretKey`s from the Klavi console).
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: SecretsConfig = cx.settings(value)?;
    preset(cx, "klavi", config.secrets, settings())
}

fn settings() -> HmacSettings {
    HmacSettings {
        compact_fallback: true,
        ..HmacSettings::new(
            Algorithm::Sha256,
            HeaderName::from_static("x-klavi-signature"),
            Encoding::Hex,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::hmac::testing::{borrowed, check, reason, sign};
    use super::super::hmac::HmacVerifier;
    use super::super::mac;
    use super::super::Reason;
    use super::*;
    use crate::model::Secret;

    // Klavi publishes no vector (its sample header comes without secret or body), so
    // these are computed here.
    const COMPACT: &[u8] = br#"[{"eventId":"1495468585434-0e73d1719173766fe4dfe1a8","eventName":"consent_authorised","payload":{"linkId":"l-1"}}]"#;
    const PRETTY: &[u8] = b"[\n  {\n    \"eventId\": \"1495468585434-0e73d1719173766fe4dfe1a8\",\n    \"eventName\": \"consent_authorised\",\n    \"payload\": { \"linkId\": \"l-1\" }\n  }\n]\n";

    fn klavi(secrets: &[&str]) -> HmacVerifier {
        let secrets = secrets.iter().map(|s| Secret::new(*s)).collect();
        HmacVerifier::new("klavi", secrets, settings()).unwrap()
    }

    fn signature(secret: &str, body: &[u8]) -> String {
        hex::encode(mac::compute(Algorithm::Sha256, secret.as_bytes(), &[body]))
    }

    #[test]
    fn raw_body_verifies() {
        let signature = signature("partner-secret", PRETTY);
        let headers = [
            ("x-klavi-signature", signature.as_str()),
            ("x-klavi-timestamp", "1740716924"),
        ];
        assert_eq!(
            check(&klavi(&["partner-secret"]), "/", &headers, PRETTY, 0),
            Ok(())
        );
    }

    #[test]
    fn pretty_body_whose_compact_form_was_signed_verifies() {
        let signature = signature("partner-secret", COMPACT);
        let headers = [("x-klavi-signature", signature.as_str())];
        assert_eq!(
            check(&klavi(&["partner-secret"]), "/", &headers, PRETTY, 0),
            Ok(())
        );
        // Re-serialising keeps the sender's key order: a reordered signature fails.
        let reordered = br#"[{"eventName":"consent_authorised","eventId":"1495468585434-0e73d1719173766fe4dfe1a8","payload":{"linkId":"l-1"}}]"#;
        let signature = self::signature("partner-secret", reordered);
        let headers = [("x-klavi-signature", signature.as_str())];
        assert_eq!(
            reason(&klavi(&["partner-secret"]), "/", &headers, PRETTY, 0),
            Reason::BadSignature
        );
    }

    #[test]
    fn wrong_secret_changed_body_missing_and_malformed() {
        let signature = signature("partner-secret", COMPACT);
        let headers = [("x-klavi-signature", signature.as_str())];
        assert_eq!(
            reason(&klavi(&["other"]), "/", &headers, COMPACT, 0),
            Reason::BadSignature
        );
        let mut body = COMPACT.to_vec();
        body[20] ^= 1;
        assert_eq!(
            reason(&klavi(&["partner-secret"]), "/", &headers, &body, 0),
            Reason::BadSignature
        );
        assert_eq!(
            reason(&klavi(&["partner-secret"]), "/", &[], COMPACT, 0),
            Reason::MissingCredential
        );
        let garbage = [("x-klavi-signature", "not hex")];
        assert_eq!(
            reason(&klavi(&["partner-secret"]), "/", &garbage, COMPACT, 0),
            Reason::MalformedCredential
        );
    }

    #[test]
    fn sign_round_trips_and_rotation() {
        let (headers, _) = sign(&klavi(&["new"]), COMPACT, 0);
        assert_eq!(headers.len(), 1, "the timestamp is unsigned, so sign adds none");
        let rotating = klavi(&["old", "new"]);
        assert_eq!(check(&rotating, "/", &borrowed(&headers), COMPACT, 0), Ok(()));
        let (headers, _) = sign(&klavi(&["old"]), COMPACT, 0);
        assert_eq!(check(&rotating, "/", &borrowed(&headers), COMPACT, 0), Ok(()));
    }
}
