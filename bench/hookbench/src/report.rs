//! Results: per-repetition samples, per-scenario medians, the goals of the benchmark, and
//! the Markdown and JSON files they are written to.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::load::Outcome;
use crate::scenario::Scenario;
use crate::sink::Stats;

/// One measured repetition.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Acknowledged (2xx) requests per second.
    pub accepted_per_s: f64,
    /// Latency percentiles of acknowledged requests.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Distinct events the sink received (over all targets) per second of load + drain.
    pub deliveries_per_s: f64,
    /// Acknowledged requests.
    pub acked: u64,
    /// Requests answered non-2xx.
    pub refused: u64,
    /// Requests without an answer.
    pub transport_errors: u64,
    /// Acknowledged events missing at some target after the drain.
    pub lost: u64,
    /// Requests the sink received more than once.
    pub duplicates: u64,
    /// Time from the end of the load until every target had every event.
    pub drain_s: f64,
    /// CPU seconds of the system under test per 1,000 acknowledged events.
    pub cpu_s_per_1k: Option<f64>,
    /// CPU seconds of redis-server per 1,000 acknowledged events (Redis scenarios).
    pub redis_cpu_s_per_1k: Option<f64>,
}

impl Sample {
    /// Summarises one repetition.
    pub fn new(
        scenario: &Scenario,
        outcome: &Outcome,
        stats: &Stats,
        drained: Duration,
        cpu: Option<Duration>,
        redis_cpu: Option<Duration>,
    ) -> Self {
        let paths = scenario.target_paths();
        let delivered: u64 = paths.iter().map(|path| stats.unique(path)).sum();
        let duplicates = paths
            .iter()
            .filter_map(|path| stats.paths.get(path))
            .map(|counts| counts.total - counts.unique)
            .sum();
        let per_1k = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / outcome.acked.max(1) as f64;
        let window = outcome.elapsed + drained;
        Self {
            accepted_per_s: outcome.acked_per_second(),
            p50_ms: outcome.latency_ms(50.0),
            p99_ms: outcome.latency_ms(99.0),
            p999_ms: outcome.latency_ms(99.9),
            deliveries_per_s: delivered as f64 / window.as_secs_f64(),
            acked: outcome.acked,
            refused: outcome.refused.values().sum(),
            transport_errors: outcome.transport_errors,
            lost: lost(scenario, outcome.acked, stats),
            duplicates,
            drain_s: drained.as_secs_f64(),
            cpu_s_per_1k: cpu.map(per_1k),
            redis_cpu_s_per_1k: redis_cpu.map(per_1k),
        }
    }
}

/// Acknowledged events missing at some target: Σ over targets of acked − distinct ids
/// received there.
pub fn lost(scenario: &Scenario, acked: u64, stats: &Stats) -> u64 {
    scenario
        .target_paths()
        .iter()
        .map(|path| acked.saturating_sub(stats.unique(path)))
        .sum()
}

/// Latency at a fixed rate of half the measured peak.
#[derive(Debug, Clone, Serialize)]
pub struct HalfLoad {
    /// The offered rate, requests per second.
    pub rate: f64,
    /// What was acknowledged per second.
    pub accepted_per_s: f64,
    /// Latency from when each request was due.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Acknowledged events missing at some target after the drain.
    pub lost: u64,
}

/// A scenario's samples and their medians.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Scenario name.
    pub name: String,
    /// Targets per event.
    pub targets: usize,
    /// Median of each figure over the repetitions; `lost`, `refused`, `transport_errors`
    /// and `duplicates` are totals instead.
    pub median: Sample,
    /// Every repetition.
    pub samples: Vec<Sample>,
    /// Peak resident memory of the system under test (all its processes), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Latency at half the peak rate, where measured.
    pub half_load: Option<HalfLoad>,
}

fn median(samples: &[Sample], field: impl Fn(&Sample) -> f64) -> f64 {
    let mut values: Vec<f64> = samples.iter().map(field).collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    }
}

fn median_option(samples: &[Sample], field: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
    samples.first().and_then(&field)?;
    Some(median(samples, |sample| field(sample).unwrap_or(f64::NAN)))
}

impl ScenarioResult {
    /// Medians (and totals) of `samples`.
    pub fn new(scenario: &Scenario, samples: Vec<Sample>) -> Self {
        let total = |field: fn(&Sample) -> u64| samples.iter().map(field).sum::<u64>();
        let median = Sample {
            accepted_per_s: median(&samples, |sample| sample.accepted_per_s),
            p50_ms: median(&samples, |sample| sample.p50_ms),
            p99_ms: median(&samples, |sample| sample.p99_ms),
            p999_ms: median(&samples, |sample| sample.p999_ms),
            deliveries_per_s: median(&samples, |sample| sample.deliveries_per_s),
            acked: total(|sample| sample.acked),
            refused: total(|sample| sample.refused),
            transport_errors: total(|sample| sample.transport_errors),
            lost: total(|sample| sample.lost),
            duplicates: total(|sample| sample.duplicates),
            drain_s: median(&samples, |sample| sample.drain_s),
            cpu_s_per_1k: median_option(&samples, |sample| sample.cpu_s_per_1k),
            redis_cpu_s_per_1k: median_option(&samples, |sample| sample.redis_cpu_s_per_1k),
        };
        Self {
            name: scenario.name.clone(),
            targets: scenario.targets,
            median,
            samples,
            peak_rss_bytes: None,
            half_load: None,
        }
    }

    /// Deliveries per second over what the accepted rate asks for.
    pub fn delivery_ratio(&self) -> f64 {
        self.median.deliveries_per_s / (self.median.accepted_per_s * self.targets as f64)
    }
}

/// One goal of the benchmark and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// What is asked.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Met, or not; `None` when a scenario it needs was not run.
    pub met: Option<bool>,
}

/// The whole run, as written to `latest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When the run finished (RFC 3339, UTC).
    pub finished_at: String,
    /// Settings of the run.
    pub settings: Settings,
    /// Every scenario.
    pub scenarios: Vec<ScenarioResult>,
    /// The goals.
    pub goals: Vec<Goal>,
    /// full-redis accepted/s over nginx requests/s.
    pub full_pipeline_nginx_ratio: Option<f64>,
}

/// How the run was made.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Seconds of load per repetition.
    pub duration_s: f64,
    /// Seconds of warm-up per scenario.
    pub warmup_s: f64,
    /// Repetitions per scenario.
    pub reps: usize,
    /// Load-generator connections.
    pub connections: usize,
    /// CPUs the machine has.
    pub cpus: usize,
    /// `uname -sr`.
    pub kernel: String,
}

impl Report {
    /// Assembles the report and evaluates the goals.
    pub fn new(settings: Settings, scenarios: Vec<ScenarioResult>, finished_at: String) -> Self {
        let find = |name: &str| scenarios.iter().find(|result| result.name == name);
        let rate = |name: &str| find(name).map(|result| result.median.accepted_per_s);
        let ratio = |name: &str| Some(rate(name)? / rate("nginx")?);
        let mut goals = Vec::new();

        let plain = ratio("hookgate-plain");
        goals.push(Goal {
            goal: "hookgate-plain ≥ 1.2× nginx requests/s".into(),
            measured: plain.map_or("not run".into(), |ratio| format!("{ratio:.2}×")),
            met: plain.map(|ratio| ratio >= 1.2),
        });

        let full = ratio("full-redis");
        let full_lost = find("full-redis").map(|result| result.median.lost);
        goals.push(Goal {
            goal: "full-redis ≥ 1.0× nginx requests/s, zero loss".into(),
            measured: match (full, full_lost) {
                (Some(ratio), Some(lost)) => format!("{ratio:.2}×, {lost} lost"),
                _ => "not run".into(),
            },
            met: full.zip(full_lost).map(|(ratio, lost)| ratio >= 1.0 && lost == 0),
        });

        let half = find("full-redis").and_then(|result| result.half_load.as_ref());
        goals.push(Goal {
            goal: "full-redis p99 at half its peak load ≤ 2 ms".into(),
            measured: half.map_or("not run".into(), |half| {
                format!("{:.2} ms at {:.0}/s", half.p99_ms, half.rate)
            }),
            met: half.map(|half| half.p99_ms <= 2.0),
        });

        let rss: Vec<(&str, u64)> = scenarios
            .iter()
            .filter_map(|result| Some((result.name.as_str(), result.peak_rss_bytes?)))
            .collect();
        let worst = rss.iter().max_by_key(|(_, bytes)| *bytes);
        goals.push(Goal {
            goal: "peak RSS ≤ 64 MiB in every scenario".into(),
            measured: worst.map_or("not run".into(), |(name, bytes)| {
                format!("largest {:.1} MiB ({name})", mib(*bytes))
            }),
            met: worst.map(|(_, bytes)| *bytes <= 64 * 1024 * 1024),
        });

        let fan_out: Vec<&ScenarioResult> = ["fan-out-1", "full-redis", "fan-out-4", "fan-out-8"]
            .iter()
            .filter_map(|name| find(name))
            .collect();
        let lowest = fan_out
            .iter()
            .map(|result| (result.targets, result.delivery_ratio()))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        goals.push(Goal {
            goal: "deliveries/s within 10% of accepted/s × targets, 1 to 8 targets".into(),
            measured: lowest.map_or("not run".into(), |(targets, ratio)| {
                format!("lowest {ratio:.2} ({targets} targets)")
            }),
            met: lowest.map(|(_, ratio)| ratio >= 0.9),
        });

        Self {
            finished_at,
            settings,
            full_pipeline_nginx_ratio: full,
            scenarios,
            goals,
        }
    }

    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let nginx = self
            .scenarios
            .iter()
            .find(|result| result.name == "nginx")
            .map(|result| result.median.accepted_per_s);
        let mut md = String::from("# hookgate benchmark\n\n");
        let s = &self.settings;
        let _ = writeln!(
            md,
            "Finished {}. {} CPUs, {}. Per scenario: {:.0} s warm-up, then {} × {:.0} s at {} connections; medians shown (lost, refused: totals).\n",
            self.finished_at, s.cpus, s.kernel, s.warmup_s, s.reps, s.duration_s, s.connections
        );
        md.push_str("| scenario | targets | accepted/s | × nginx | p50 ms | p99 ms | p99.9 ms | deliveries/s | delivered ÷ (accepted × targets) | lost | refused | peak RSS MiB | CPU s / 1k events | redis CPU s / 1k |\n");
        md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for result in &self.scenarios {
            let m = &result.median;
            let versus = nginx.map_or("–".into(), |nginx| format!("{:.2}", m.accepted_per_s / nginx));
            let optional = |value: Option<f64>, digits: usize| {
                value.map_or("–".into(), |value| format!("{value:.digits$}"))
            };
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {} | {} | {} | {} | {} |",
                result.name,
                result.targets,
                m.accepted_per_s,
                versus,
                m.p50_ms,
                m.p99_ms,
                m.p999_ms,
                m.deliveries_per_s,
                result.delivery_ratio(),
                m.lost,
                m.refused + m.transport_errors,
                optional(result.peak_rss_bytes.map(mib), 1),
                optional(m.cpu_s_per_1k, 3),
                optional(m.redis_cpu_s_per_1k, 3),
            );
        }
        for result in &self.scenarios {
            if let Some(half) = &result.half_load {
                let _ = writeln!(
                    md,
                    "\n{} at half its peak ({:.0} requests/s offered, {:.0} accepted): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {} lost.",
                    result.name, half.rate, half.accepted_per_s, half.p50_ms, half.p99_ms, half.p999_ms, half.lost
                );
            }
        }
        md.push_str("\n## Goals\n\n| goal | measured | met |\n|---|---|---|\n");
        for goal in &self.goals {
            let met = match goal.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            };
            let _ = writeln!(md, "| {} | {} | {met} |", goal.goal, goal.measured);
        }
        if let Some(ratio) = self.full_pipeline_nginx_ratio {
            let _ = writeln!(md, "\nfull-pipeline/nginx ratio: {ratio:.2}");
        }
        md
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
