//! The Redis key layout. Every key starts with one hash tag, `{<prefix>}:`, so all of
//! them live in one slot of a Redis Cluster and every script may touch any of them.
//!
//! | key                            | type       | holds                                        |
//! |--------------------------------|------------|----------------------------------------------|
//! | `{p}:ready:<target>`           | stream     | due deliveries (`id=<delivery id>`), group `workers`: new ones from admission, others when promoted |
//! | `{p}:delayed:<target>`         | sorted set | retries, deferrals and replays not yet promoted, scored by due time |
//! | `{p}:d:<delivery id>`          | string     | the delivery ([`record`](crate::store::record) bytes) |
//! | `{p}:dedupe:<route>:<key>`     | string     | `pending` or `done`, with a TTL              |
//! | `{p}:since:<target>`           | sorted set | deliveries ready, delayed or leased, scored by admission time |
//! | `{p}:dead`                     | sorted set | dead-lettered ids, scored by dead-letter time |
//! | `{p}:dead_count`               | hash       | target → its dead letters                    |
//! | `{p}:paused`                   | hash       | paused target → when it was paused (unix ms) |
//! | `{p}:e:<event id>`             | string     | a logged event, with the retention as its TTL |
//! | `{p}:a:<delivery id>`         | list       | the delivery's attempts (JSON), with the retention as its TTL |
//! | `{p}:events`                   | sorted set | logged event ids, scored by admission time   |
//! | `{p}:subscriptions`           | hash       | subscription id → the subscription (JSON)    |
//! | `{p}:targets`                  | hash       | target name → its last known definition (JSON) |

use crate::store::StoreError;

/// Builds the keys of one key prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    /// `{<prefix>}:`
    tag: String,
}

impl Keys {
    /// Keys under `prefix`, which must be a non-empty hash tag body: `{}` would not be
    /// a hash tag at all, and a brace inside would end it early.
    pub(super) fn new(prefix: &str) -> Result<Self, StoreError> {
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            return Err(StoreError::rejected(format!(
                "invalid redis key prefix {prefix:?}: expected a non-empty name without braces, e.g. `hookgate`"
            )));
        }
        Ok(Self {
            tag: format!("{{{prefix}}}:"),
        })
    }

    /// The ready stream of `target`.
    pub(super) fn ready(&self, target: &str) -> String {
        format!("{}ready:{target}", self.tag)
    }

    /// The delayed set of `target`.
    pub(super) fn delayed(&self, target: &str) -> String {
        format!("{}delayed:{target}", self.tag)
    }

    /// The record of delivery `id`.
    pub(super) fn record(&self, id: &str) -> String {
        format!("{}{id}", self.record_prefix())
    }

    /// What every record key starts with (the claim script appends the id).
    pub(super) fn record_prefix(&self) -> String {
        format!("{}d:", self.tag)
    }

    /// The dedupe key `key` of `route`.
    pub(super) fn dedupe(&self, route: &str, key: &str) -> String {
        format!("{}dedupe:{route}:{key}", self.tag)
    }

    /// The pending-since set of `target`.
    pub(super) fn since(&self, target: &str) -> String {
        format!("{}since:{target}", self.tag)
    }

    /// The logged event `id`.
    pub(super) fn event(&self, id: &str) -> String {
        format!("{}e:{id}", self.tag)
    }

    /// The attempt log of delivery `id`.
    pub(super) fn attempts(&self, id: &str) -> String {
        format!("{}a:{id}", self.tag)
    }

    /// The event log's time index.
    pub(super) fn events(&self) -> String {
        format!("{}events", self.tag)
    }

    /// The paused targets.
    pub(super) fn paused(&self) -> String {
        format!("{}paused", self.tag)
    }

    /// The dead-letter counts.
    pub(super) fn dead_count(&self) -> String {
        format!("{}dead_count", self.tag)
    }

    /// The dead-letter set.
    pub(super) fn dead(&self) -> String {
        format!("{}dead", self.tag)
    }

    /// The hash of subscriptions (id → JSON).
    pub(super) fn subscriptions(&self) -> String {
        format!("{}subscriptions", self.tag)
    }

    /// The hash of target definitions (name → JSON).
    pub(super) fn targets(&self) -> String {
        format!("{}targets", self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_shares_the_hash_tag() {
        let keys = Keys::new("hg").unwrap();
        for key in [
            keys.ready("t"),
            keys.delayed("t"),
            keys.record("0190"),
            keys.dedupe("r", "evt_1"),
            keys.dead(),
            keys.targets(),
        ] {
            assert!(key.starts_with("{hg}:"), "{key}");
        }
        assert_eq!(keys.record("x"), format!("{}x", keys.record_prefix()));
        assert_eq!(keys.dedupe("r", "k"), "{hg}:dedupe:r:k");
    }

    #[test]
    fn prefixes_that_break_the_hash_tag_are_refused() {
        for prefix in ["", "a{b", "a}b"] {
            assert!(Keys::new(prefix).is_err(), "{prefix:?}");
        }
    }
}
