//! Dead letters in bulk: listed for `hookgate dlq`, and replayed or discarded by
//! filter, the same operations for the CLI (on the store directly) and the admin
//! API (on the running server's).

mod source;

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub use self::source::{DlqError, Source};
use crate::admin::api::views::DeadLetterView;
use crate::store::{DeadLetterFilter, Store, StoreError};

/// Replays are done in batches of this many.
const BATCH: usize = 500;

/// Parses `--since`/`--until`: an RFC 3339 time (`2026-11-23T10:00:00Z`) or a
/// duration ago (`2h`, `30m`).
pub fn parse_time(text: &str) -> Result<u64, String> {
    if let Ok(ago) = humantime::parse_duration(text) {
        let now = SystemTime::now();
        return Ok(millis(now.checked_sub(ago).unwrap_or(UNIX_EPOCH)));
    }
    humantime::parse_rfc3339_weak(text)
        .map(millis)
        .map_err(|_| format!("expected an RFC 3339 time such as `2026-11-23T10:00:00Z` or a duration ago such as `2h`, found `{text}`"))
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| {
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    })
}

/// Dead letters as a table, in the order given.
pub fn render(dead: &[DeadLetterView]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36}  {:<16}  {:<16}  {:>8}  {:<20}  {:>6}  REASON",
        "ID", "ROUTE", "TARGET", "ATTEMPTS", "LAST ATTEMPT", "STATUS"
    );
    for view in dead {
        let last = view.last_attempt.as_ref();
        let when = last.map(|attempt| attempt.at.clone()).unwrap_or_default();
        let status = last
            .and_then(|attempt| attempt.status)
            .map_or_else(|| "-".to_owned(), |status| status.to_string());
        let reason = view.reason.as_deref().unwrap_or("");
        let detail = last
            .and_then(|attempt| attempt.error.clone().or_else(|| attempt.excerpt.clone()))
            .map(|text| {
                format!(
                    " ({})",
                    text.chars().take(80).collect::<String>().replace('\n', " ")
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<36}  {:<16}  {:<16}  {:>8}  {:<20}  {:>6}  {reason}{detail}",
            view.id, view.route, view.target, view.attempts, when, status
        );
    }
    let _ = writeln!(
        out,
        "{} dead letter{}",
        dead.len(),
        if dead.len() == 1 { "" } else { "s" }
    );
    out
}

/// Events as a table, one per line, then how many.
pub fn render_events(events: &[crate::admin::api::views::EventView]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36}  {:<24}  {:<16}  {:<9}  {:<36}  DELIVERIES",
        "ID", "RECEIVED", "ROUTE", "STATE", "DEDUPE KEY"
    );
    for event in events {
        let state = serde_json::to_value(event.state)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        let deliveries: Vec<String> = event
            .deliveries
            .iter()
            .map(|delivery| {
                let state = serde_json::to_value(delivery.state)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_default();
                format!("{}:{state}", delivery.target)
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<36}  {:<24}  {:<16}  {:<9}  {:<36}  {}",
            event.id,
            event.received_at,
            event.route,
            state,
            event.dedupe_key.as_deref().unwrap_or("-"),
            deliveries.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{} event{}",
        events.len(),
        if events.len() == 1 { "" } else { "s" }
    );
    out
}

/// What to do with dead letters in bulk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    /// Back to their queues, attempts reset.
    Replay,
    /// Deleted for good.
    Discard,
}

/// Replays or discards every dead letter passing `filter`, reporting progress as
/// `(done, total)`; returns how many were done and the targets they belong to.
pub async fn apply(
    store: &dyn Store,
    filter: &DeadLetterFilter,
    bulk: Bulk,
    mut progress: impl FnMut(u64, u64),
) -> Result<(u64, Vec<String>), StoreError> {
    let dead = store.dead_letters(filter, usize::MAX).await?;
    let mut targets: Vec<String> = dead.iter().map(|delivery| delivery.target.clone()).collect();
    targets.sort();
    targets.dedup();
    let ids: Vec<String> = dead.into_iter().map(|delivery| delivery.id).collect();
    let total = ids.len() as u64;
    let mut done = 0;
    progress(0, total);
    for chunk in ids.chunks(BATCH) {
        done += match bulk {
            Bulk::Replay => store.replay(chunk).await?,
            Bulk::Discard => store.discard(chunk).await?,
        } as u64;
        progress(done, total);
    }
    Ok((done, targets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_absolute_or_ago() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Ok(1000));
        let ago = parse_time("1h").unwrap();
        let now = millis(SystemTime::now());
        assert!(now - ago >= 3_600_000 && now - ago < 3_660_000);
        assert!(parse_time("yesterday-ish").is_err());
    }
}
