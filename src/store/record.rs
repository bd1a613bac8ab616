//! The stored form of a delivery, shared by both stores: a little-endian `u32`
//! length, the JSON metadata, then the body bytes as they are (no base64).

use bytes::Bytes;

use super::StoreError;
use crate::model::{Delivery, Subscription, TargetRecord};

/// Encodes `delivery` for storage.
pub fn encode(delivery: &Delivery) -> Vec<u8> {
    // Serialising plain strings, numbers and options cannot fail.
    frame(&serde_json::to_vec(delivery).unwrap_or_default(), &delivery.body)
}

/// Decodes a stored delivery; `id` names it in errors.
pub fn decode(id: &str, bytes: &[u8]) -> Result<Delivery, StoreError> {
    let (mut delivery, body): (Delivery, _) = unframe(id, bytes)?;
    delivery.body = body;
    Ok(delivery)
}

/// Encodes a logged event: the same framing as a delivery.
pub fn encode_event(event: &super::EventRecord) -> Vec<u8> {
    frame(&serde_json::to_vec(event).unwrap_or_default(), &event.body)
}

/// Decodes a logged event; `id` names it in errors.
pub fn decode_event(id: &str, bytes: &[u8]) -> Result<super::EventRecord, StoreError> {
    let (mut event, body): (super::EventRecord, _) = unframe(id, bytes)?;
    event.body = body;
    Ok(event)
}

/// `meta` and `body` framed: `meta`'s length, `meta`, then `body`.
fn frame(meta: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + meta.len() + body.len());
    out.extend_from_slice(&u32::try_from(meta.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(meta);
    out.extend_from_slice(body);
    out
}

/// The metadata (read as `T`) and body of `bytes`; `id` names it in errors.
fn unframe<T: serde::de::DeserializeOwned>(id: &str, bytes: &[u8]) -> Result<(T, Bytes), StoreError> {
    let corrupt = |reason: &str| StoreError::corrupt(id, reason);
    let (length, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("shorter than its header"))?;
    let length = u32::from_le_bytes(*length) as usize;
    if rest.len() < length {
        return Err(corrupt("metadata truncated"));
    }
    let (meta, body) = rest.split_at(length);
    let meta = serde_json::from_slice(meta).map_err(|error| corrupt(&format!("metadata: {error}")))?;
    Ok((meta, Bytes::copy_from_slice(body)))
}

/// Encodes a target definition for storage (JSON).
pub fn encode_target(target: &TargetRecord) -> Vec<u8> {
    // Plain strings, numbers and options: serialising cannot fail.
    serde_json::to_vec(target).unwrap_or_default()
}

/// Decodes a stored target definition; `name` names it in errors.
pub fn decode_target(name: &str, bytes: &[u8]) -> Result<TargetRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::corrupt(&format!("target {name}"), error))
}

/// Encodes a subscription.
pub fn encode_subscription(subscription: &Subscription) -> Vec<u8> {
    // Plain strings, numbers and maps: serialising cannot fail.
    serde_json::to_vec(subscription).unwrap_or_default()
}

/// Decodes a stored subscription; one that cannot be read is logged and skipped
/// (`None`), so one bad entry does not hide the others.
pub fn decode_subscription(id: &str, bytes: &[u8]) -> Option<Subscription> {
    match serde_json::from_slice(bytes) {
        Ok(subscription) => Some(subscription),
        Err(error) => {
            let error = StoreError::corrupt(&format!("subscription {id}"), error);
            tracing::error!(%error, "skipping an unreadable subscription");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attempt;

    #[test]
    fn round_trips_binary_bodies() {
        let delivery = Delivery {
            id: "0190-a".into(),
            route: "r".into(),
            target: "t".into(),
            event_key: Some("evt_1".into()),
            event_id: Some("0190-e".into()),
            request_id: "req".into(),
            method: "POST".into(),
            url: "http://127.0.0.1:1/x".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from_static(b"\x00\xff{\"a\":1}"),
            attempts: 2,
            created_at_ms: 1,
            due_at_ms: 2,
            last_attempt: Some(Attempt {
                at_ms: 3,
                status: Some(503),
                latency_ms: 4,
                error: None,
                excerpt: Some("busy".into()),
            }),
            dead_reason: None,
        };
        assert_eq!(decode("x", &encode(&delivery)).unwrap(), delivery);
        assert!(decode("x", b"\x05\x00").is_err());
        assert!(decode("x", b"\xff\x00\x00\x00{}").is_err());
    }
}
