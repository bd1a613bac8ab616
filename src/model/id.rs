//! Ids that say where they live. A shared store splits its keyspace into partitions,
//! and an event is stored in the partition its [`Affinity`] names: a stable hash of
//! its dedupe key, so a duplicate always meets its first copy. Every id minted for
//! the event (its own and its deliveries') carries that affinity in its last 16 bits,
//! so the store finds a delivery or an event from its id alone.

/// A stable 16-bit hash naming an event's partition (modulo the partition count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Affinity(u16);

impl Affinity {
    /// The affinity of `bytes`: FNV-1a, folded to 16 bits. Stable across versions
    /// and machines, since stores depend on it.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        let folded = (hash ^ (hash >> 16) ^ (hash >> 32) ^ (hash >> 48)) & 0xffff;
        Self(folded as u16)
    }

    /// The affinity `id` carries: the last 16 bits of an id [`mint`](Self::mint)ed
    /// here, or the hash of any other id (one given from outside).
    pub fn of_id(id: &str) -> Self {
        let tail = id.len().checked_sub(4).and_then(|start| id.get(start..));
        match tail.map(|tail| (tail, u16::from_str_radix(tail, 16))) {
            Some((tail, Ok(value))) if is_uuid(id) && !tail.starts_with('+') => Self(value),
            _ => Self::of(id.as_bytes()),
        }
    }

    /// A new UUIDv7 (time-ordered) carrying this affinity in its last 16 bits, which
    /// are random bits in a UUIDv7: it keeps its version, its variant, its order and
    /// 58 random bits per millisecond.
    pub fn mint(self) -> String {
        let mut bytes = uuid::Uuid::now_v7().into_bytes();
        bytes[14..].copy_from_slice(&self.0.to_be_bytes());
        uuid::Uuid::from_bytes(bytes).to_string()
    }

    /// The partition of `partitions` (at least 1) this affinity names.
    pub fn partition(self, partitions: u16) -> u16 {
        self.0 % partitions.max(1)
    }
}

/// Whether `id` is a hyphenated UUID, as minted here.
fn is_uuid(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_carry_their_affinity_and_stay_ordered_v7_uuids() {
        let affinity = Affinity::of(b"evt_123");
        let first = affinity.mint();
        let second = affinity.mint();
        assert_eq!(Affinity::of_id(&first), affinity);
        assert_eq!(Affinity::of_id(&second), affinity);
        assert!(first < second, "{first} then {second}");
        let parsed = uuid::Uuid::parse_str(&first).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn the_hash_is_stable() {
        // Stores place data by it: a change would strand every stored event.
        assert_eq!(Affinity::of(b""), Affinity(0xf011));
        assert_eq!(Affinity::of(b"evt_1"), Affinity(0x24de));
        assert_ne!(Affinity::of(b"evt_1"), Affinity::of(b"evt_2"));
    }

    #[test]
    fn other_ids_hash_to_an_affinity() {
        assert_eq!(Affinity::of_id("not-a-uuid"), Affinity::of(b"not-a-uuid"));
        assert_eq!(Affinity::of_id(""), Affinity::of(b""));
    }

    #[test]
    fn affinities_spread_over_partitions() {
        let mut seen = [0u32; 16];
        for n in 0..1_600 {
            seen[usize::from(Affinity::of(format!("evt_{n}").as_bytes()).partition(16))] += 1;
        }
        assert!(seen.iter().all(|count| (50..=150).contains(count)), "{seen:?}");
    }
}
