//! GitHub (`- github: {...}`): `X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256 of
//! the raw body under the webhook secret. No timestamp is signed, so replays are
//! caught by deduplicating on `X-GitHub-Delivery`, not here.

use std::sync::Arc;

use http::HeaderName;
use serde_yaml::Value;

use super::context::{Context, SecretsConfig};
use super::hmac::{preset, HmacSettings};
use super::mac::{Algorithm, Encoding};
use super::Verifier;

/// Builds `- github: { secrets: [...] }` (the webhook secrets set at GitHub).
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: SecretsConfig = cx.settings(value)?;
    preset(cx, "github", config.secrets, settings())
}

fn settings() -> HmacSettings {
    HmacSettings {
        prefix: Some("sha256=".to_owned()),
        ..HmacSettings::new(
            Algorithm::Sha256,
            HeaderName::from_static("x-hub-signature-256"),
            Encoding::Hex,
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

    fn github(secrets: &[&str]) -> HmacVerifier {
        HmacVerifier::new(
            "github",
            secrets.iter().map(|s| Secret::new(*s)).collect(),
            settings(),
        )
        .unwrap()
    }

    const VECTOR: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_docs_vector() {
        let verifier = github(&["It's a Secret to Everybody"]);
        let headers = [("x-hub-signature-256", VECTOR)];
        assert_eq!(check(&verifier, "/", &headers, b"Hello, World!", 0), Ok(()));
        assert_eq!(verifier.scheme(), "github");
    }

    #[test]
    fn wrong_secret_or_changed_body_is_a_bad_signature() {
        let headers = [("x-hub-signature-256", VECTOR)];
        let wrong = github(&["It's a Secret to Everybody!"]);
        assert_eq!(
            reason(&wrong, "/", &headers, b"Hello, World!", 0),
            Reason::BadSignature
        );
        let right = github(&["It's a Secret to Everybody"]);
        assert_eq!(
            reason(&right, "/", &headers, b"Hello, World?", 0),
            Reason::BadSignature
        );
    }

    #[test]
    fn missing_or_malformed_header() {
        let verifier = github(&["s"]);
        assert_eq!(reason(&verifier, "/", &[], b"x", 0), Reason::MissingCredential);
        let unprefixed = [("x-hub-signature-256", &VECTOR[7..])];
        assert_eq!(
            reason(&verifier, "/", &unprefixed, b"x", 0),
            Reason::MalformedCredential
        );
        let not_hex = [("x-hub-signature-256", "sha256=not-hex")];
        assert_eq!(
            reason(&verifier, "/", &not_hex, b"x", 0),
            Reason::MalformedCredential
        );
    }

    #[test]
    fn either_secret_of_a_rotation_is_accepted() {
        let verifier = github(&["new secret", "It's a Secret to Everybody"]);
        let headers = [("x-hub-signature-256", VECTOR)];
        assert_eq!(check(&verifier, "/", &headers, b"Hello, World!", 0), Ok(()));
        let (signed, _) = sign(&github(&["new secret"]), b"Hello, World!", 0);
        assert_eq!(
            check(&verifier, "/", &borrowed(&signed), b"Hello, World!", 0),
            Ok(())
        );
    }

    #[test]
    fn sign_reproduces_the_vector() {
        let (headers, query) = sign(&github(&["It's a Secret to Everybody"]), b"Hello, World!", 0);
        assert_eq!(headers, [("x-hub-signature-256".to_owned(), VECTOR.to_owned())]);
        assert!(query.is_empty());
    }
}
