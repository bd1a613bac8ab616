//! The Redis key layout. The keyspace is split into partitions, each under a hash tag
//! of its own, `{<prefix>:pNN}:`, so each partition is one slot of a Redis Cluster
//! (and the partitions spread over its masters) while every script still touches
//! keys of one slot only. An event and its deliveries live in the partition their
//! [`Affinity`] names (see `model::id`); what belongs to no event lives under the
//! global tag `{<prefix>}:`.
//!
//! Per partition (`{p:pNN}:`):
//!
//! | key                            | type       | holds                                        |
//! |--------------------------------|------------|----------------------------------------------|
//! | `ready:<target>`               | stream     | due deliveries (`id=<delivery id>`), group `workers`: new ones from admission, others when promoted |
//! | `delayed:<target>`             | sorted set | retries, deferrals and replays not yet promoted, scored by due time |
//! | `d:<delivery id>`              | string     | the delivery ([`record`](crate::store::record) bytes) |
//! | `dedupe:<route>:<key>`         | string     | `pending` or `done`, with a TTL              |
//! | `since:<target>`               | sorted set | deliveries ready, delayed or leased, scored by admission time |
//! | `dead`                         | sorted set | dead-lettered ids, scored by dead-letter time |
//! | `dead_count`                   | hash       | target → its dead letters                    |
//! | `e:<event id>`                 | string     | a logged event, with the retention as its TTL |
//! | `a:<delivery id>`              | list       | the delivery's attempts (JSON), with the retention as its TTL |
//! | `events`                       | sorted set | logged event ids, scored by admission time   |
//!
//! Global (`{p}:`):
//!
//! | key                            | type       | holds                                        |
//! |--------------------------------|------------|----------------------------------------------|
//! | `paused`                       | hash       | paused target → when it was paused (unix ms) |
//! | `subscriptions`                | hash       | subscription id → the subscription (JSON)    |
//! | `targets`                      | hash       | target name → its last known definition (JSON) |
//! | `layout`                       | hash       | `partitions` → the partition count the data was written with |

use crate::model::Affinity;
use crate::store::StoreError;

/// A partition's number, `0..partitions`.
pub(super) type Part = u16;

/// The most partitions a store may have.
pub const MAX_PARTITIONS: u16 = 1_024;

/// Builds the keys of one key prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    /// `{<prefix>}:`
    global: String,
    /// `{<prefix>:pNN}:`, one per partition.
    parts: Vec<String>,
}

impl Keys {
    /// Keys under `prefix`, which must be a non-empty hash tag body: `{}` would not be
    /// a hash tag at all, and a brace inside would end it early; `partitions` must be
    /// 1 to [`MAX_PARTITIONS`].
    pub(super) fn new(prefix: &str, partitions: u16) -> Result<Self, StoreError> {
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            return Err(StoreError::rejected(format!(
                "invalid redis key prefix {prefix:?}: expected a non-empty name without braces, e.g. `hookgate`"
            )));
        }
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(StoreError::rejected(format!(
                "invalid redis partition count {partitions}: expected 1 to {MAX_PARTITIONS}"
            )));
        }
        Ok(Self {
            global: format!("{{{prefix}}}:"),
            parts: (0..partitions)
                .map(|part| format!("{{{prefix}:p{part:02}}}:"))
                .collect(),
        })
    }

    /// How many partitions there are.
    pub(super) fn partitions(&self) -> u16 {
        self.parts.len() as u16
    }

    /// Every partition.
    pub(super) fn all(&self) -> impl Iterator<Item = Part> + Clone {
        0..self.partitions()
    }

    /// The partition of `affinity`.
    pub(super) fn part(&self, affinity: Affinity) -> Part {
        affinity.partition(self.partitions())
    }

    /// The partition an id minted with an affinity names (a delivery's, an event's).
    pub(super) fn part_of_id(&self, id: &str) -> Part {
        self.part(Affinity::of_id(id))
    }

    /// The partition of a dedupe key.
    pub(super) fn part_of_key(&self, key: &str) -> Part {
        self.part(Affinity::of(key.as_bytes()))
    }

    fn tag(&self, part: Part) -> &str {
        &self.parts[usize::from(part)]
    }

    /// The ready stream of `target`.
    pub(super) fn ready(&self, part: Part, target: &str) -> String {
        format!("{}ready:{target}", self.tag(part))
    }

    /// The delayed set of `target`.
    pub(super) fn delayed(&self, part: Part, target: &str) -> String {
        format!("{}delayed:{target}", self.tag(part))
    }

    /// The record of delivery `id`.
    pub(super) fn record(&self, part: Part, id: &str) -> String {
        format!("{}{id}", self.record_prefix(part))
    }

    /// What every record key starts with (the claim script appends the id).
    pub(super) fn record_prefix(&self, part: Part) -> String {
        format!("{}d:", self.tag(part))
    }

    /// The dedupe key `key` of `route`.
    pub(super) fn dedupe(&self, part: Part, route: &str, key: &str) -> String {
        format!("{}dedupe:{route}:{key}", self.tag(part))
    }

    /// The pending-since set of `target`.
    pub(super) fn since(&self, part: Part, target: &str) -> String {
        format!("{}since:{target}", self.tag(part))
    }

    /// The logged event `id`.
    pub(super) fn event(&self, part: Part, id: &str) -> String {
        format!("{}e:{id}", self.tag(part))
    }

    /// The attempt log of delivery `id`.
    pub(super) fn attempts(&self, part: Part, id: &str) -> String {
        format!("{}a:{id}", self.tag(part))
    }

    /// The event log's time index.
    pub(super) fn events(&self, part: Part) -> String {
        format!("{}events", self.tag(part))
    }

    /// The dead-letter counts.
    pub(super) fn dead_count(&self, part: Part) -> String {
        format!("{}dead_count", self.tag(part))
    }

    /// The dead-letter set.
    pub(super) fn dead(&self, part: Part) -> String {
        format!("{}dead", self.tag(part))
    }

    /// The paused targets.
    pub(super) fn paused(&self) -> String {
        format!("{}paused", self.global)
    }

    /// The hash of subscriptions (id → JSON).
    pub(super) fn subscriptions(&self) -> String {
        format!("{}subscriptions", self.global)
    }

    /// The hash of target definitions (name → JSON).
    pub(super) fn targets(&self) -> String {
        format!("{}targets", self.global)
    }

    /// What the data was written with (the partition count).
    pub(super) fn layout(&self) -> String {
        format!("{}layout", self.global)
    }

    /// A key of the single-tag layout (before partitions): `{<prefix>}:<rest>`.
    pub(super) fn unpartitioned(&self, rest: &str) -> String {
        format!("{}{rest}", self.global)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_its_partition_s_hash_tag() {
        let keys = Keys::new("hg", 16).unwrap();
        for key in [
            keys.ready(7, "t"),
            keys.delayed(7, "t"),
            keys.record(7, "0190"),
            keys.dedupe(7, "r", "evt_1"),
            keys.dead(7),
            keys.events(7),
        ] {
            assert!(key.starts_with("{hg:p07}:"), "{key}");
        }
        assert!(keys.targets().starts_with("{hg}:"));
        assert_eq!(keys.record(3, "x"), format!("{}x", keys.record_prefix(3)));
        assert_eq!(keys.dedupe(0, "r", "k"), "{hg:p00}:dedupe:r:k");
    }

    #[test]
    fn ids_and_keys_name_the_same_partition() {
        let keys = Keys::new("hg", 16).unwrap();
        let affinity = Affinity::of(b"evt_1");
        assert_eq!(keys.part_of_id(&affinity.mint()), keys.part_of_key("evt_1"));
    }

    #[test]
    fn prefixes_and_counts_that_break_the_layout_are_refused() {
        for prefix in ["", "a{b", "a}b"] {
            assert!(Keys::new(prefix, 16).is_err(), "{prefix:?}");
        }
        assert!(Keys::new("hg", 0).is_err());
        assert!(Keys::new("hg", MAX_PARTITIONS + 1).is_err());
    }
}
