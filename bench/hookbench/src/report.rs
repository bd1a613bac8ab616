//! Results: per-repetition samples, per-scenario medians, the goals of the benchmark, and
//! the Markdown and JSON files they are written to.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

mod backlog;
mod scale;

pub use backlog::{BacklogResult, Point};
pub use scale::ScaleResult;

use crate::load::Outcome;
use crate::run::Drained;
use crate::scenario::{Scenario, BIG_ARRAY};
use crate::sink::Stats;

/// One measured repetition.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Acknowledged (2xx) events per second (requests × events per request).
    pub accepted_per_s: f64,
    /// Latency percentiles of acknowledged requests.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Distinct events the sink received (over all targets) per second of load + drain.
    pub deliveries_per_s: f64,
    /// Distinct events received by 2 s after the load ended, over acknowledged events ×
    /// targets: whether deliveries keep pace with admission.
    pub pace: f64,
    /// Acknowledged events.
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
        drained: &Drained,
        cpu: Option<Duration>,
        redis_cpu: Option<Duration>,
    ) -> Self {
        let stats = &drained.stats;
        let paths = scenario.target_paths();
        let delivered: u64 = paths.iter().map(|path| stats.unique(path)).sum();
        let duplicates = paths
            .iter()
            .filter_map(|path| stats.paths.get(path))
            .map(|counts| counts.total - counts.unique)
            .sum();
        let events = outcome.acked * scenario.batch as u64;
        let per_1k = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / events.max(1) as f64;
        let window = outcome.elapsed + drained.took;
        Self {
            accepted_per_s: events as f64 / outcome.elapsed.as_secs_f64(),
            p50_ms: outcome.latency_ms(50.0),
            p99_ms: outcome.latency_ms(99.0),
            p999_ms: outcome.latency_ms(99.9),
            deliveries_per_s: delivered as f64 / window.as_secs_f64(),
            // Nothing accepted: nothing to keep pace with.
            pace: if events == 0 {
                1.0
            } else {
                drained.in_grace as f64 / (events * scenario.targets as u64) as f64
            },
            acked: events,
            refused: outcome.refused.values().sum(),
            transport_errors: outcome.transport_errors,
            lost: lost(scenario, events, stats),
            duplicates,
            drain_s: drained.took.as_secs_f64(),
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
            pace: median(&samples, |sample| sample.pace),
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

    /// CPU per event over nginx's CPU per request.
    fn cpu_versus(&self, nginx: Option<&ScenarioResult>) -> Option<f64> {
        Some(self.median.cpu_s_per_1k? / nginx?.median.cpu_s_per_1k?)
    }

    /// Redis's CPU per event over nginx's CPU per request.
    fn redis_versus(&self, nginx: Option<&ScenarioResult>) -> Option<f64> {
        Some(self.median.redis_cpu_s_per_1k? / nginx?.median.cpu_s_per_1k?)
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

/// The scenarios of one placement mode, as the runner returns them.
#[derive(Debug, Clone, Serialize)]
pub struct ModeResult {
    /// `unpinned` or `pinned`.
    pub mode: String,
    /// Every throughput scenario, in run order.
    pub scenarios: Vec<ScenarioResult>,
    /// Every backlog scenario, in run order.
    pub backlog: Vec<BacklogResult>,
    /// The scale scenario, when run.
    pub scale: Option<ScaleResult>,
}

impl ModeResult {
    /// Events lost in any scenario.
    pub fn lost(&self) -> u64 {
        let scenarios: u64 = self
            .scenarios
            .iter()
            .map(|result| result.median.lost + result.half_load.as_ref().map_or(0, |half| half.lost))
            .sum();
        let backlog: u64 = self.backlog.iter().map(|result| result.lost).sum();
        scenarios + backlog + self.scale.as_ref().map_or(0, ScaleResult::lost)
    }
}

/// One mode's scenarios and goals.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    /// `unpinned` or `pinned`.
    pub mode: String,
    /// Every throughput scenario.
    pub scenarios: Vec<ScenarioResult>,
    /// Every backlog scenario.
    pub backlog: Vec<BacklogResult>,
    /// The scale scenario, when run.
    pub scale: Option<ScaleResult>,
    /// The goals.
    pub goals: Vec<Goal>,
}

/// The whole run, as written to `latest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When the run finished (RFC 3339, UTC).
    pub finished_at: String,
    /// Settings of the run.
    pub settings: Settings,
    /// Each mode's results.
    pub modes: Vec<ModeReport>,
    /// full-redis accepted/s over nginx requests/s, in the first mode run.
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

fn ratio_text(value: Option<f64>) -> String {
    value.map_or("not run".into(), |value| format!("{value:.2}×"))
}

impl ModeReport {
    /// Evaluates the goals over one mode's results.
    fn new(result: ModeResult) -> Self {
        let scenarios = result.scenarios;
        let find = |name: &str| scenarios.iter().find(|result| result.name == name);
        let nginx = find("nginx");
        let rate = |name: &str| find(name).map(|result| result.median.accepted_per_s);
        let ratio = |name: &str| Some(rate(name)? / rate("nginx")?);
        let cpu = |name: &str| find(name)?.cpu_versus(nginx);
        let mut goals = Vec::new();
        let mut goal = |goal: &str, measured: String, met: Option<bool>| {
            goals.push(Goal {
                goal: goal.to_owned(),
                measured,
                met,
            })
        };

        let plain = ratio("hookgate-plain");
        goal(
            "hookgate-plain ≥ 1.0× nginx requests/s",
            ratio_text(plain),
            plain.map(|r| r >= 1.0),
        );
        let plain_cpu = cpu("hookgate-plain");
        goal(
            "hookgate-plain CPU per request ≤ 1.2× nginx's",
            ratio_text(plain_cpu),
            plain_cpu.map(|r| r <= 1.2),
        );
        let full_cpu = cpu("full-redis");
        goal(
            "full-redis hookgate CPU per event ≤ 2× nginx's per request",
            ratio_text(full_cpu),
            full_cpu.map(|r| r <= 2.0),
        );
        let redis_cpu = find("full-redis").and_then(|result| result.redis_versus(nginx));
        goal(
            "full-redis redis-server CPU per event ≤ 1× nginx's per request",
            ratio_text(redis_cpu),
            redis_cpu.map(|r| r <= 1.0),
        );
        let full = ratio("full-redis");
        goal(
            "full-redis ≥ 0.5× nginx requests/s",
            ratio_text(full),
            full.map(|r| r >= 0.5),
        );
        let embedded = find("full-embedded").and_then(|result| result.median.cpu_s_per_1k);
        let redis_total = find("full-redis")
            .and_then(|result| Some(result.median.cpu_s_per_1k? + result.median.redis_cpu_s_per_1k?));
        let embedded_versus = embedded
            .zip(redis_total)
            .map(|(embedded, redis)| embedded / redis);
        goal(
            "full-embedded CPU per event ≤ 1.3× full-redis's hookgate + redis-server",
            ratio_text(embedded_versus),
            embedded_versus.map(|r| r <= 1.3),
        );
        let big = find("big-array");
        goal(
            &format!("a {BIG_ARRAY}-event request admitted within 2 s (p99)"),
            big.map_or("not run".into(), |big| {
                let refused = big.median.refused + big.median.transport_errors;
                format!("p99 {:.0} ms, {refused} refused", big.median.p99_ms)
            }),
            big.map(|big| {
                let refused = big.median.refused + big.median.transport_errors;
                big.median.p99_ms <= 2000.0 && big.median.acked > 0 && refused == 0
            }),
        );
        for (name, bound) in [("hookgate-plain", 2.0), ("full-redis", 5.0)] {
            let half = find(name).and_then(|result| result.half_load.as_ref());
            goal(
                &format!("{name} p99 at half its peak load ≤ {bound} ms"),
                half.map_or("not run".into(), |half| {
                    format!("{:.2} ms at {:.0}/s", half.p99_ms, half.rate)
                }),
                half.map(|half| half.p99_ms <= bound),
            );
        }
        let fan_out: Vec<&ScenarioResult> = ["fan-out-1", "full-redis", "fan-out-4", "fan-out-8"]
            .iter()
            .filter_map(|name| find(name))
            .collect();
        let slowest = fan_out
            .iter()
            .map(|result| (result.targets, result.median.pace))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        goal(
            "delivered by 2 s after the load ÷ (accepted × targets) ≥ 0.95, 1 to 8 targets",
            slowest.map_or("not run".into(), |(targets, pace)| {
                format!("lowest {pace:.2} ({targets} targets)")
            }),
            slowest.map(|(_, pace)| pace >= 0.95),
        );
        let rss: Vec<(&str, u64)> = scenarios
            .iter()
            .filter_map(|result| Some((result.name.as_str(), result.peak_rss_bytes?)))
            .collect();
        let worst = rss.iter().max_by_key(|(_, bytes)| *bytes);
        goal(
            "peak RSS ≤ 64 MiB in every scenario",
            worst.map_or("not run".into(), |(name, bytes)| {
                format!("largest {:.1} MiB ({name})", mib(*bytes))
            }),
            worst.map(|(_, bytes)| *bytes <= 64 * 1024 * 1024),
        );
        let scale = result.scale.as_ref();
        let lost: u64 = scenarios
            .iter()
            .map(|result| result.median.lost + result.half_load.as_ref().map_or(0, |half| half.lost))
            .sum::<u64>()
            + scale.map_or(0, ScaleResult::lost);
        goal(
            "zero loss in every scenario",
            format!("{lost} lost"),
            (!scenarios.is_empty() || scale.is_some()).then_some(lost == 0),
        );
        goals.extend(result.backlog.iter().flat_map(BacklogResult::goals));
        Self {
            mode: result.mode,
            scenarios,
            backlog: result.backlog,
            scale: result.scale,
            goals,
        }
    }

    fn markdown(&self, md: &mut String) {
        self.scenarios_markdown(md);
        backlog::markdown(&self.backlog, md);
        if let Some(scale) = &self.scale {
            scale.markdown(md);
        }
        md.push_str("| goal | measured | met |\n|---|---|---|\n");
        for goal in &self.goals {
            let met = match goal.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            };
            let _ = writeln!(md, "| {} | {} | {met} |", goal.goal, goal.measured);
        }
    }

    /// The throughput scenarios' table and half-load lines, each block followed by a
    /// blank line; nothing when none ran.
    fn scenarios_markdown(&self, md: &mut String) {
        if self.scenarios.is_empty() {
            return;
        }
        let nginx = self.scenarios.iter().find(|result| result.name == "nginx");
        let nginx_rate = nginx.map(|result| result.median.accepted_per_s);
        md.push_str("| scenario | targets | accepted/s | × nginx | p50 ms | p99 ms | p99.9 ms | deliveries/s | pace | lost | refused | peak RSS MiB | CPU s / 1k events | × nginx CPU | redis CPU s / 1k | redis × nginx CPU |\n");
        md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for result in &self.scenarios {
            let m = &result.median;
            let optional = |value: Option<f64>, digits: usize| {
                value.map_or("–".into(), |value| format!("{value:.digits$}"))
            };
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
                result.name,
                result.targets,
                m.accepted_per_s,
                optional(nginx_rate.map(|nginx| m.accepted_per_s / nginx), 2),
                m.p50_ms,
                m.p99_ms,
                m.p999_ms,
                m.deliveries_per_s,
                m.pace,
                m.lost,
                m.refused + m.transport_errors,
                optional(result.peak_rss_bytes.map(mib), 1),
                optional(m.cpu_s_per_1k, 3),
                optional(result.cpu_versus(nginx), 2),
                optional(m.redis_cpu_s_per_1k, 3),
                optional(result.redis_versus(nginx), 2),
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
        md.push('\n');
    }
}

impl Report {
    /// Assembles the report and evaluates each mode's goals.
    pub fn new(settings: Settings, modes: Vec<ModeResult>, finished_at: String) -> Self {
        let modes: Vec<ModeReport> = modes.into_iter().map(ModeReport::new).collect();
        let full_pipeline_nginx_ratio = modes.first().and_then(|mode| {
            let rate = |name: &str| {
                mode.scenarios
                    .iter()
                    .find(|result| result.name == name)
                    .map(|result| result.median.accepted_per_s)
            };
            Some(rate("full-redis")? / rate("nginx")?)
        });
        Self {
            finished_at,
            settings,
            modes,
            full_pipeline_nginx_ratio,
        }
    }

    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut md = String::from("# hookgate benchmark\n\n");
        let s = &self.settings;
        let _ = writeln!(
            md,
            "Finished {}. {} CPUs, {}. Per scenario: {:.0} s warm-up, then {} × {:.0} s at {} connections (big-array: 1); medians shown (lost, refused: totals). accepted/s counts events (big-array: {BIG_ARRAY} per request); latencies are per request. pace: distinct deliveries by 2 s after the load ÷ (accepted × targets). CPU ratios are per event against nginx's CPU per request in the same mode.\n",
            self.finished_at, s.cpus, s.kernel, s.warmup_s, s.reps, s.duration_s, s.connections
        );
        for mode in &self.modes {
            let title = match mode.mode.as_str() {
                "pinned" => "Pinned: the system under test on CPU 0 (nginx 1 worker; hookgate 1 ingress + 1 delivery thread); load, sink and redis-server on CPU 1",
                _ => "Unpinned: every process on any CPU",
            };
            let _ = writeln!(md, "## {title}\n");
            mode.markdown(&mut md);
            md.push('\n');
        }
        if let Some(ratio) = self.full_pipeline_nginx_ratio {
            let _ = writeln!(md, "full-pipeline/nginx ratio: {ratio:.2}");
        }
        md
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
