//! The body every scenario sends: Klavi's `consent_authorised` event in an array,
//! compact as Klavi sends it (`JSON.stringify`), with a unique `eventId` per event and
//! the `X-Klavi-Signature` (hex HMAC-SHA256 of the body) that hookgate's `klavi` check
//! wants. A batch template repeats the event, each copy with its own id.

use anyhow::{bail, Context};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const FIXTURE: &str = include_str!("../../../examples/klavi/payloads/consent_authorised.json");
const MARKER: &str = "@@EVENT_ID@@";

/// An event with a hole where its id goes, how many of them a body holds, and the
/// key that signs it.
pub struct EventTemplate {
    head: Vec<u8>,
    tail: Vec<u8>,
    batch: usize,
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
    /// The Klavi fixture's first event, `batch` of them per body, signed with `secret`.
    pub fn klavi(secret: &str, batch: usize) -> anyhow::Result<Self> {
        let events: serde_json::Value = serde_json::from_str(FIXTURE).context("parsing the Klavi fixture")?;
        let Some(mut event) = events.get(0).cloned() else {
            bail!("the Klavi fixture has no $[0]");
        };
        let Some(id) = event.get_mut("eventId") else {
            bail!("the Klavi fixture has no $[0].eventId");
        };
        *id = serde_json::Value::String(MARKER.to_owned());
        let compact = serde_json::to_string(&event)?;
        let Some((head, tail)) = compact.split_once(MARKER) else {
            bail!("event id marker lost in serialisation");
        };
        let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
        Ok(Self {
            head: head.as_bytes().to_vec(),
            tail: tail.as_bytes().to_vec(),
            batch: batch.max(1),
            mac,
        })
    }

    /// The body for request `id` (which must not need JSON escaping) and its
    /// signature. Its one event has the id `id`; a batch's events have `id-e0`,
    /// `id-e1`, and so on.
    pub fn render(&self, id: &str) -> Signed {
        let each = self.head.len() + id.len() + self.tail.len() + 8;
        let mut body = Vec::with_capacity(2 + each * self.batch);
        body.push(b'[');
        for index in 0..self.batch {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&self.head);
            body.extend_from_slice(id.as_bytes());
            if self.batch > 1 {
                body.extend_from_slice(format!("-e{index}").as_bytes());
            }
            body.extend_from_slice(&self.tail);
        }
        body.push(b']');
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
        let template = EventTemplate::klavi("s3cret", 1).unwrap();
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
    fn a_batch_holds_distinct_ids() {
        let template = EventTemplate::klavi("s3cret", 3).unwrap();
        let signed = template.render("r1");
        let value: serde_json::Value = serde_json::from_slice(&signed.body).unwrap();
        let ids: Vec<&str> = (0..3).map(|i| value[i]["eventId"].as_str().unwrap()).collect();
        assert_eq!(ids, ["r1-e0", "r1-e1", "r1-e2"]);
        assert_eq!(value.as_array().unwrap().len(), 3);
    }

    #[test]
    fn event_id_is_found_compact_or_pretty() {
        assert_eq!(event_id(br#"[{"a":1,"eventId":"x-1"}]"#), Some(&b"x-1"[..]));
        assert_eq!(event_id(b"{\n  \"eventId\" : \"y\"\n}"), Some(&b"y"[..]));
        assert_eq!(event_id(br#"{"eventId":1}"#), None);
        assert_eq!(event_id(b"{}"), None);
    }
}
