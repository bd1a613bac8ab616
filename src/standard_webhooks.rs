//! Standard Webhooks (standardwebhooks.com), the signature both sides of hookgate
//! speak: inbound routes verify it (`auth: [standard_webhooks: ...]`), outbound
//! targets are signed with it (`sign: { standard_webhooks: ... }`).
//!
//! `webhook-signature: v1,<base64>` is an HMAC-SHA256 of `{id}.{timestamp}.{body}`
//! under the key a `whsec_<base64>` secret decodes to, `webhook-id` and
//! `webhook-timestamp` (unix seconds) carrying the other two parts.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use http::HeaderName;
use sha2::Sha256;

/// The message id header.
pub const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
/// The unix-seconds timestamp header.
pub const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
/// The signature list header.
pub const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// The key bytes of a `whsec_<base64>` secret (prefix optional); `None` when it is
/// not base64 or is empty.
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let encoded = text.trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .ok()
        .filter(|key| !key.is_empty())
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
        mac.update(part);
    }
    mac
}

/// The `webhook-signature` value, `v1,<base64>`, for `body` sent as message `id` at
/// `timestamp` (unix seconds) under the decoded `key`.
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let signature = mac(key, id, &timestamp.to_string(), body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(signature))
}

/// The three headers of a signed message: id, timestamp, signature.
pub fn headers(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> [(HeaderName, String); 3] {
    [
        (WEBHOOK_ID, id.to_owned()),
        (WEBHOOK_TIMESTAMP, timestamp.to_string()),
        (WEBHOOK_SIGNATURE, sign(key, id, timestamp, body)),
    ]
}

/// The decoded `v1` signatures of a `webhook-signature` value. Other versions (`v1a`
/// is ed25519) are skipped, as the reference libraries do.
pub fn v1_signatures(value: &str) -> Vec<Vec<u8>> {
    value
        .split_ascii_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, signature)| {
            let signature = signature.trim();
            STANDARD
                .decode(signature)
                .or_else(|_| STANDARD_NO_PAD.decode(signature))
                .ok()
        })
        .collect()
}

/// Whether any of `signatures` signs `{id}.{timestamp}.{body}` under any of `keys`,
/// compared in constant time (each key's MAC computed once).
pub fn verify<'a>(
    keys: impl IntoIterator<Item = &'a [u8]>,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &[Vec<u8>],
) -> bool {
    keys.into_iter().any(|key| {
        let mac = mac(key, id, timestamp, body);
        signatures
            .iter()
            .any(|signature| mac.clone().verify_slice(signature).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_library_vector() {
        // standard-webhooks libraries/rust/src/lib.rs `test_sign`.
        let key = decode_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let signature = sign(&key, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body);
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        let candidates = v1_signatures(&format!("v1a,AAAA {signature}"));
        assert!(verify(
            [key.as_slice()],
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            body,
            &candidates
        ));
        assert!(!verify(
            [&b"other"[..]],
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            body,
            &candidates
        ));
    }

    #[test]
    fn secrets_decode_with_or_without_the_prefix() {
        assert_eq!(
            decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        );
        assert_eq!(decode_secret("whsec_not base64!"), None);
        assert_eq!(decode_secret("whsec_"), None);
    }
}
