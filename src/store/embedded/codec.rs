//! How the embedded store's records and leases map to the API's types: deliveries
//! are encoded by callers (so the writer thread only copies bytes), claimed records
//! become leases without copying their bodies, and a lease's token says where the
//! writer finds it again.

use bytes::Bytes;

use super::writer::{Claimed, LeaseKey};
use crate::model::Delivery;
use crate::store::{record, Lease, StoreError};

/// Largest stored delivery. redb refuses values over 3 GiB; refusing earlier keeps
/// one oversized request from failing the others in its batch.
const MAX_RECORD_BYTES: usize = 1 << 30;

/// Decodes a claimed record without copying its body: the body is a slice of the
/// record's own buffer. Same format as [`record::decode`], which reads the metadata.
pub(super) fn lease(claimed: Claimed) -> Result<Lease, StoreError> {
    let Claimed {
        id,
        due_at_ms,
        deadline_ms,
        record,
    } = claimed;
    let meta_end = record
        .first_chunk::<4>()
        .map(|length| 4 + u32::from_le_bytes(*length) as usize)
        .filter(|end| *end <= record.len());
    let mut delivery = match meta_end {
        Some(meta_end) => {
            let mut delivery = record::decode(&id, &record[..meta_end])?;
            delivery.body = Bytes::from(record).slice(meta_end..);
            delivery
        }
        // Malformed: let `decode` say how.
        None => record::decode(&id, &record)?,
    };
    // The key's due time is authoritative: deferred and released deliveries move
    // without being re-encoded.
    delivery.due_at_ms = due_at_ms;
    Ok(Lease {
        delivery,
        token: format!("{deadline_ms}:{due_at_ms}"),
    })
}

/// Parses a lease back into where the writer finds it, before anything is written.
pub(super) fn lease_key(lease: &Lease) -> Result<LeaseKey, StoreError> {
    let parsed = lease
        .token
        .split_once(':')
        .and_then(|(deadline, due)| Some((deadline.parse().ok()?, due.parse().ok()?)));
    let Some((deadline_ms, due_at_ms)) = parsed else {
        return Err(StoreError::corrupt(
            &lease.delivery.id,
            format!("lease token {:?} is not from the embedded store", lease.token),
        ));
    };
    Ok(LeaseKey {
        target: lease.delivery.target.clone(),
        id: lease.delivery.id.clone(),
        deadline_ms,
        due_at_ms,
    })
}

/// Encodes a delivery for storage, refusing what redb would refuse mid-batch.
pub(super) fn encode(delivery: &Delivery) -> Result<Vec<u8>, StoreError> {
    let encoded = record::encode(delivery);
    if encoded.len() > MAX_RECORD_BYTES {
        return Err(StoreError::rejected(format!(
            "embedded store: delivery {} is {} bytes, over the {MAX_RECORD_BYTES}-byte limit",
            delivery.id,
            encoded.len()
        )));
    }
    Ok(encoded)
}
