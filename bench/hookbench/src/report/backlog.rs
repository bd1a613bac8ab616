//! What a backlog scenario found: hookgate's memory as deliveries pile up behind a
//! paused target, then the drain once it is resumed; its goals and its Markdown.

use std::fmt::Write as _;

use serde::Serialize;

use super::{mib, Goal};
use crate::scenario::{BACKLOG_BATCH, BACKLOG_CONNECTIONS};

/// How much hookgate's resident set may grow from the first tenth of the backlog to
/// all of it and still count as flat.
pub const FLAT_SLACK_BYTES: u64 = 16 * 1024 * 1024;

/// The peak resident set hookgate should stay within.
pub const PEAK_BYTES: u64 = 64 * 1024 * 1024;

/// Memory with `pending` deliveries waiting.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Events accepted (2xx) so far, each one delivery to the paused target.
    pub pending: u64,
    /// Pending deliveries as hookgate's admin API counted them (the store's count).
    pub store_pending: u64,
    /// hookgate's resident set (VmRSS), bytes.
    pub rss_bytes: u64,
    /// redis-server's resident set, bytes (Redis scenarios).
    pub redis_rss_bytes: Option<u64>,
}

/// One backlog scenario.
#[derive(Debug, Clone, Serialize)]
pub struct BacklogResult {
    /// Scenario name.
    pub name: String,
    /// Events accepted, all pending before the resume.
    pub pending: u64,
    /// Memory before any load (target paused), then after each tenth of the backlog.
    pub curve: Vec<Point>,
    /// Seconds spent admitting (sending and waiting to send refusals again, not
    /// sampling).
    pub admission_s: f64,
    /// Events accepted per second of admission.
    pub admitted_per_s: f64,
    /// Answers other than 2xx while admitting; each such request was sent again.
    pub refused: u64,
    /// Requests without an answer while admitting; each was sent again.
    pub transport_errors: u64,
    /// Requests the sink received while the target was paused (should be none).
    pub delivered_while_paused: u64,
    /// From the resume until the sink had every event.
    pub drain_s: f64,
    /// Distinct events the sink received per second of the drain.
    pub drain_per_s: f64,
    /// hookgate's largest resident set sampled during the drain, bytes.
    pub drain_peak_rss_bytes: u64,
    /// hookgate's peak resident set (VmHWM) over its whole life, bytes.
    pub peak_rss_bytes: u64,
    /// Pending deliveries the store still counted after the drain.
    pub pending_after: u64,
    /// Accepted events the sink never received.
    pub lost: u64,
    /// Requests the sink received more than once.
    pub duplicates: u64,
}

impl BacklogResult {
    /// The point after the first tenth of the backlog (the first one with load).
    fn first(&self) -> Option<&Point> {
        self.curve.iter().find(|point| point.pending > 0)
    }

    /// The point with the whole backlog.
    fn last(&self) -> Option<&Point> {
        self.curve.last().filter(|point| point.pending > 0)
    }

    /// Its goals: flat memory, bounded peak, nothing lost.
    pub fn goals(&self) -> Vec<Goal> {
        let (first, last) = (self.first(), self.last());
        let flat = first.zip(last);
        vec![
            Goal {
                goal: format!(
                    "{}: flat RSS with {} pending: RSS at {} ≤ RSS at {} + {} MiB",
                    self.name,
                    count(self.pending),
                    count(last.map_or(0, |point| point.pending)),
                    count(first.map_or(0, |point| point.pending)),
                    FLAT_SLACK_BYTES / (1024 * 1024),
                ),
                measured: flat.map_or("not run".into(), |(first, last)| {
                    format!(
                        "{:.1} → {:.1} MiB ({:+.1})",
                        mib(first.rss_bytes),
                        mib(last.rss_bytes),
                        mib(last.rss_bytes) - mib(first.rss_bytes)
                    )
                }),
                met: flat.map(|(first, last)| last.rss_bytes <= first.rss_bytes + FLAT_SLACK_BYTES),
            },
            Goal {
                goal: format!("{}: peak RSS ≤ {} MiB", self.name, PEAK_BYTES / (1024 * 1024)),
                measured: format!(
                    "{:.1} MiB (drain {:.1} MiB)",
                    mib(self.peak_rss_bytes),
                    mib(self.drain_peak_rss_bytes)
                ),
                met: Some(self.peak_rss_bytes <= PEAK_BYTES),
            },
            Goal {
                goal: format!("{}: every pending delivery drained, none lost", self.name),
                measured: format!("{} lost, {} duplicates", self.lost, self.duplicates),
                met: Some(self.lost == 0 && self.pending > 0),
            },
        ]
    }

    /// Its table (one row per point, then the drain's peak) and a summary line.
    pub fn markdown(&self, md: &mut String) {
        let _ = writeln!(md, "#### {}\n", self.name);
        md.push_str("| pending | store's count | hookgate RSS MiB | redis-server RSS MiB |\n");
        md.push_str("|---:|---:|---:|---:|\n");
        for point in &self.curve {
            let label = if point.pending == 0 {
                "0 (idle, paused)".to_owned()
            } else {
                count(point.pending)
            };
            let _ = writeln!(
                md,
                "| {label} | {} | {:.1} | {} |",
                count(point.store_pending),
                mib(point.rss_bytes),
                point
                    .redis_rss_bytes
                    .map_or("–".into(), |bytes| format!("{:.1}", mib(bytes)))
            );
        }
        let _ = writeln!(
            md,
            "| peak during the drain | – | {:.1} | – |\n",
            mib(self.drain_peak_rss_bytes)
        );
        let _ = writeln!(
            md,
            "Admitted {} events in {:.1} s ({:.0}/s; refused {} times, unanswered {} times, each request sent again until accepted); {} delivered while paused. Drained in {:.1} s ({:.0} deliveries/s); {} lost, {} duplicates, {} still pending. Peak RSS (VmHWM) {:.1} MiB.\n",
            count(self.pending),
            self.admission_s,
            self.admitted_per_s,
            self.refused,
            self.transport_errors,
            self.delivered_while_paused,
            self.drain_s,
            self.drain_per_s,
            self.lost,
            self.duplicates,
            self.pending_after,
            mib(self.peak_rss_bytes),
        );
    }
}

/// The Backlog section of a mode: what was done, then each store's table.
pub fn markdown(results: &[BacklogResult], md: &mut String) {
    if results.is_empty() {
        return;
    }
    md.push_str("### Backlog\n\n");
    let _ = writeln!(
        md,
        "One target, paused through the admin API; events are admitted ({} per request, {BACKLOG_CONNECTIONS} connections) until the backlog is pending, and hookgate's RSS (VmRSS) is read after each tenth. Then the target is resumed and the sink waited for until it has every event.\n",
        count(BACKLOG_BATCH as u64)
    );
    for result in results {
        result.markdown(md);
    }
}

/// `n` with thousands separated by commas.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(count(100_000), "100,000");
    }
}
