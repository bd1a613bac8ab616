//! The Lua scripts of the Redis store, one file each next to this one. Each runs
//! atomically in one round trip; see the header of each file for its keys and
//! arguments.

use redis::Script;

/// The store's scripts, hashed once at connect.
#[derive(Debug, Clone)]
pub(super) struct Scripts {
    /// Dedupe + enqueue of a group of admissions.
    pub(super) admit: Script,
    /// Reclaim, promote, read and fetch for one target.
    pub(super) claim: Script,
    /// Complete or release leases.
    pub(super) finish: Script,
    /// Dead letters back to their queues.
    pub(super) replay: Script,
    /// Dead letters deleted for good.
    pub(super) discard: Script,
    /// Compare-and-delete of a pending dedupe key.
    pub(super) release_key: Script,
    /// Compare-and-delete of a target definition.
    pub(super) forget_target: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            admit: Script::new(include_str!("admit.lua")),
            claim: Script::new(include_str!("claim.lua")),
            finish: Script::new(include_str!("finish.lua")),
            replay: Script::new(include_str!("replay.lua")),
            discard: Script::new(include_str!("discard.lua")),
            release_key: Script::new(include_str!("release_key.lua")),
            forget_target: Script::new(include_str!("forget_target.lua")),
        }
    }

    /// Every script, to load them at connect.
    pub(super) fn all(&self) -> [&Script; 7] {
        [
            &self.admit,
            &self.claim,
            &self.finish,
            &self.replay,
            &self.discard,
            &self.release_key,
            &self.forget_target,
        ]
    }
}
