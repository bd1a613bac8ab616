//! HMAC primitives every signature scheme shares: the algorithms, the encodings a
//! signature travels in, and a constant-time check over content given in parts.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::Deserialize;

/// A MAC hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// HMAC-SHA1 (legacy; Twilio).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How a signature is written in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Hexadecimal, either case.
    #[default]
    Hex,
    /// Standard base64 with padding (padding optional when reading).
    Base64,
    /// URL-safe base64 without padding.
    Base64url,
}

impl Encoding {
    /// Decodes `text` (surrounding white space ignored); `None` when malformed.
    pub fn decode(self, text: &str) -> Option<Vec<u8>> {
        let text = text.trim();
        match self {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::Base64 => STANDARD
                .decode(text)
                .ok()
                .or_else(|| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text).ok()),
            Encoding::Base64url => URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok(),
        }
    }

    /// Encodes `bytes` (hex in lower case).
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => STANDARD.encode(bytes),
            Encoding::Base64url => URL_SAFE_NO_PAD.encode(bytes),
        }
    }
}

/// The MAC of the concatenation of `parts` under `key`.
pub fn compute(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length.
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Whether `expected` is the MAC of `parts` under `key`, compared in constant time.
pub fn verify(algorithm: Algorithm, key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(expected).is_ok()
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts, expected),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts, expected),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts, expected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        let mac = compute(
            Algorithm::Sha256,
            b"Jefe",
            &[b"what do ya want ", b"for nothing?"],
        );
        assert_eq!(
            hex::encode(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(
            Algorithm::Sha256,
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &mac
        ));
        assert!(!verify(
            Algorithm::Sha256,
            b"Jefe",
            &[b"what do ya want for nothing!"],
            &mac
        ));
    }

    #[test]
    fn encodings_round_trip_and_reject_garbage() {
        for encoding in [Encoding::Hex, Encoding::Base64, Encoding::Base64url] {
            let text = encoding.encode(b"\x00\xff signature");
            assert_eq!(
                encoding.decode(&text).as_deref(),
                Some(&b"\x00\xff signature"[..])
            );
        }
        assert_eq!(
            Encoding::Base64.decode("QWxhZGRpbg==\n").as_deref(),
            Some(&b"Aladdin"[..])
        );
        assert!(Encoding::Hex.decode("zz").is_none());
        assert!(Encoding::Base64.decode("***").is_none());
    }
}
