//! Finding one pending delivery by id. Queues are keyed by target and due time, so
//! the target comes first: the `pending` counts name every target with work, and
//! `pending_since` says (by key) whether this id is one of its. Then that target's
//! ready queue, or its leases, is scanned for the id. The read path (the admin API's
//! delivery view) and the write path (retrying one now) share it.

use redb::{ReadableTable, StorageError};

/// Where a pending delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Located {
    /// Waiting in its target's ready queue, due at this time.
    Ready {
        target: String,
        due_at_ms: u64,
        record: Vec<u8>,
    },
    /// Leased to a worker (being attempted).
    Leased { record: Vec<u8> },
}

/// Finds pending delivery `id`, if it is one.
pub(super) fn pending(
    pending: &impl ReadableTable<&'static str, u64>,
    since: &impl ReadableTable<(&'static str, &'static str), u64>,
    ready: &impl ReadableTable<(&'static str, u64, &'static str), &'static [u8]>,
    leased: &impl ReadableTable<(&'static str, u64, u64, &'static str), &'static [u8]>,
    id: &str,
) -> Result<Option<Located>, StorageError> {
    let mut target = None;
    for entry in pending.iter()? {
        let (name, _) = entry?;
        let name = name.value().to_owned();
        if since.get((name.as_str(), id))?.is_some() {
            target = Some(name);
            break;
        }
    }
    let Some(target) = target else {
        return Ok(None);
    };
    for entry in ready.range((target.as_str(), 0, "")..)? {
        let (key, value) = entry?;
        let (of, due_at_ms, found) = key.value();
        if of != target {
            break;
        }
        if found == id {
            return Ok(Some(Located::Ready {
                due_at_ms,
                record: value.value().to_vec(),
                target,
            }));
        }
    }
    for entry in leased.range((target.as_str(), 0, 0, "")..)? {
        let (key, value) = entry?;
        let (of, _, _, found) = key.value();
        if of != target {
            break;
        }
        if found == id {
            return Ok(Some(Located::Leased {
                record: value.value().to_vec(),
            }));
        }
    }
    Ok(None)
}

/// The smallest UUIDv7 text minted at `unix_ms`: every id minted earlier sorts
/// before it (the first 48 bits are the time, in lowercase hex).
pub(super) fn uuid_v7_floor(unix_ms: u64) -> String {
    format!("{:08x}-{:04x}", (unix_ms >> 16) & 0xffff_ffff, unix_ms & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_sorts_between_ids_of_earlier_and_later_milliseconds() {
        let ms = 1_767_225_600_123;
        let id_at = |ms: u64| {
            uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                ms / 1000,
                (ms % 1000) as u32 * 1_000_000,
            ))
            .to_string()
        };
        let floor = uuid_v7_floor(ms);
        assert!(id_at(ms - 1) < floor);
        assert!(id_at(ms) > floor);
        assert!(id_at(ms + 1) > floor);
    }
}
