//! The body every scenario sends: Klavi's `consent_authorised` event, compact as Klavi
//! sends it (`JSON.stringify`), with a unique `eventId` per request and the
//! `X-Klavi-Signature` (hex HMAC-SHA256 of the body) that hookgate's `klavi` check wants.

use anyhow::{bail, Context};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const FIXTURE: &str = include_str!("../../../examples/klavi/payloads/consent_authorised.json");
const MARKER: &str = "@@EVENT_ID@@";

/// A request body with a hole where the event id goes, and the key that signs it.
pub struct EventTemplate {
    head: Vec<u8>,
    tail: Vec<u8>,
    mac: Hmac<Sha256>,
}

/// One rendered request: its body and signature.
pub struct Signed {
    /// The compact JSON body.
    pub body: Vec<u8>,
    /// Hex HMAC-SHA256 of `body`.
    pub signature: String,
}

impl EventTemplate {
    /// The Klavi fixture, signed with `secret`.
    pub fn klavi(secret: &str) -> anyhow::Result<Self> {
        let mut events: serde_json::Value =
            serde_json::from_str(FIXTURE).context("parsing the Klavi fixture")?;
        let Some(first) = events.get_mut(0).and_then(|event| event.get_mut("eventId")) else {
            bail!("the Klavi fixture has no $[0].eventId");
        };
        *first = serde_json::Value::String(MARKER.to_owned());
        let compact = serde_json::to_string(&events)?;
        let Some((head, tail)) = compact.split_once(MARKER) else {
            bail!("event id marker lost in serialisation");
        };
        let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
        Ok(Self {
            head: head.as_bytes().to_vec(),
            tail: tail.as_bytes().to_vec(),
            mac,
        })
    }

    /// The body for event `id` (which must not need JSON escaping) and its signature.
    pub fn render(&self, id: &str) -> Signed {
        let mut body = Vec::with_capacity(self.head.len() + id.len() + self.tail.len());
        body.extend_from_slice(&self.head);
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(&self.tail);
        let mut mac = self.mac.clone();
        mac.update(&body);
        let signature = hex::encode(mac.finalize().into_bytes());
        Signed { body, signature }
    }
}

/// The `eventId` string in a JSON body, found without parsing the whole body. Only the
/// first occurrence counts; ids are assumed not to contain escapes (ours never do).
pub fn event_id(body: &[u8]) -> Option<&[u8]> {
    let key = memchr::memmem::find(body, b"\"eventId\"")?;
    let rest = &body[key + b"\"eventId\"".len()..];
    let rest = trim_start(rest).strip_prefix(b":")?;
    let rest = trim_start(rest).strip_prefix(b"\"")?;
    let end = memchr::memchr(b'"', rest)?;
    Some(&rest[..end])
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_body_carries_the_id_and_a_verifiable_signature() {
        let template = EventTemplate::klavi("s3cret").unwrap();
        let signed = template.render("run1-c2-s3");
        let value: serde_json::Value = serde_json::from_slice(&signed.body).unwrap();
        assert_eq!(value[0]["eventId"], "run1-c2-s3");
        assert_eq!(value[0]["eventName"], "consent_authorised");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(&signed.body);
        assert_eq!(signed.signature, hex::encode(mac.finalize().into_bytes()));
        assert!(!signed.body.contains(&b'\n'), "Klavi sends compact JSON");
    }

    #[test]
    fn event_id_is_found_compact_or_pretty() {
        assert_eq!(event_id(br#"[{"a":1,"eventId":"x-1"}]"#), Some(&b"x-1"[..]));
        assert_eq!(event_id(b"{\n  \"eventId\" : \"y\"\n}"), Some(&b"y"[..]));
        assert_eq!(event_id(br#"{"eventId":1}"#), None);
        assert_eq!(event_id(b"{}"), None);
    }
}
