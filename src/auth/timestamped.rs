//! Timestamped signature lists: `<header>: t=<unix s>,<key>=<hex>[,<key>=<hex>...]`,
//! each signature an HMAC-SHA256 of `{t}.{body}`, `t` checked against a tolerance.
//! Stripe and Betterez are presets of this verifier; only the header, the entry
//! keys that count, and whether the body's compact JSON form is tried differ.

use std::time::Duration;

use http::HeaderName;

use super::hmac::any_matches;
use super::mac::{self, Algorithm, Encoding};
use super::{check_timestamp, compact_json, header, AuthRequest, Reason, Rejection, SignRequest, Verifier};
use crate::model::Secret;

/// What tells one preset from another.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The scheme's name, for logs and metrics.
    pub scheme: &'static str,
    /// The header carrying the list.
    pub header: HeaderName,
    /// The entry keys whose signatures count; the first is the one `sign` writes.
    pub keys: &'static [&'static str],
    /// Whether to try the body re-serialised as compact JSON when the raw bytes fail
    /// (for senders that sign `JSON.stringify(payload)`).
    pub compact_fallback: bool,
}

/// A built check.
#[derive(Debug)]
pub struct TimestampedVerifier {
    settings: Settings,
    secrets: Vec<Secret>,
    tolerance: Duration,
}

impl TimestampedVerifier {
    /// A check accepting signatures under any of `secrets` with `t` within
    /// `tolerance` of now.
    pub fn new(settings: Settings, secrets: Vec<Secret>, tolerance: Duration) -> Self {
        Self {
            settings,
            secrets,
            tolerance,
        }
    }

    fn matches(&self, timestamp: &str, body: &[u8], signatures: &[Vec<u8>]) -> bool {
        let parts: [&[u8]; 3] = [timestamp.as_bytes(), b".", body];
        any_matches(Algorithm::Sha256, &self.secrets, &parts, signatures)
    }
}

/// `t` and the decoded signatures under `keys` of a `t=...,v1=...` list.
pub(crate) fn parse_signed_header<'a>(
    value: &'a str,
    name: &HeaderName,
    keys: &[&str],
) -> Result<(&'a str, Vec<Vec<u8>>), Rejection> {
    let malformed =
        |what: &str| Rejection::new(Reason::MalformedCredential, format!("header `{name}` {what}"));
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in value.split(',') {
        let (key, text) = item
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("is not a list of `key=value`"))?;
        if key == "t" {
            timestamp = Some(text);
        } else if keys.contains(&key) {
            // An entry that is not hex cannot match; the others still may.
            signatures.extend(Encoding::Hex.decode(text));
        }
    }
    let timestamp = timestamp.ok_or_else(|| malformed("has no `t=`"))?;
    if signatures.is_empty() {
        let wanted = keys
            .iter()
            .map(|key| format!("`{key}=<hex>`"))
            .collect::<Vec<_>>();
        return Err(malformed(&format!("has no {}", wanted.join(" or "))));
    }
    Ok((timestamp, signatures))
}

impl Verifier for TimestampedVerifier {
    fn scheme(&self) -> &'static str {
        self.settings.scheme
    }

    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        let name = &self.settings.header;
        let value = header(request, name)?;
        let (timestamp, signatures) = parse_signed_header(value, name, self.settings.keys)?;
        check_timestamp(
            timestamp,
            request.now,
            self.tolerance,
            &format!("`t` in `{name}`"),
        )?;
        let compact = || {
            self.settings
                .compact_fallback
                .then(|| compact_json(request.body))
                .flatten()
        };
        if self.matches(timestamp, request.body, &signatures)
            || compact().is_some_and(|compact| self.matches(timestamp, &compact, &signatures))
        {
            return Ok(());
        }
        Err(Rejection::new(
            Reason::BadSignature,
            format!(
                "none of the {} `{}` signatures matches under any of the {} configured secrets",
                signatures.len(),
                self.settings.keys.join("`/`"),
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
        let key = self.settings.keys.first().copied().unwrap_or("v1");
        request.headers.push((
            self.settings.header.to_string(),
            format!("t={timestamp},{key}={}", Encoding::Hex.encode(&signature)),
        ));
        Ok(())
    }
}
