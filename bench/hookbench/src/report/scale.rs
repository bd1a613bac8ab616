//! What the scale scenario found: throughput and CPU per event with 1, 2 and 3 hookgate
//! instances sharing a Redis Cluster, and its Markdown.

use std::fmt::Write as _;

use serde::Serialize;

use super::{median, Sample};
use crate::scenario::Scenario;

/// One instance count.
#[derive(Debug, Clone, Serialize)]
pub struct ScalePoint {
    /// hookgate instances sharing the cluster.
    pub instances: usize,
    /// Acknowledged events per second over all instances (median).
    pub accepted_per_s: f64,
    /// Distinct events the sink received (over all targets) per second (median).
    pub deliveries_per_s: f64,
    /// CPU seconds of all instances together per 1,000 acknowledged events (median).
    pub hookgate_cpu_s_per_1k: f64,
    /// CPU seconds of all cluster nodes together per 1,000 acknowledged events
    /// (median).
    pub redis_cpu_s_per_1k: f64,
    /// Both together (median of each repetition's sum).
    pub total_cpu_s_per_1k: f64,
    /// Total CPU per event over the first instance count's: above 1, sharing the
    /// work costs more per event.
    pub total_cpu_versus_first: f64,
    /// Acknowledged events missing at some target after the drain (total).
    pub lost: u64,
    /// Requests answered non-2xx or not at all (total).
    pub refused: u64,
    /// Every repetition.
    pub samples: Vec<Sample>,
}

/// The scale scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleResult {
    /// Scenario name.
    pub name: String,
    /// Targets per event.
    pub targets: usize,
    /// One point per instance count, in the order run.
    pub points: Vec<ScalePoint>,
}

impl ScaleResult {
    /// Medians (and totals) of each instance count's samples, CPU per event against
    /// the first count's.
    pub fn new(scenario: &Scenario, runs: Vec<(usize, Vec<Sample>)>) -> Self {
        // Every scale sample has both CPU figures.
        let hookgate = |sample: &Sample| sample.cpu_s_per_1k.unwrap_or(f64::NAN);
        let redis = |sample: &Sample| sample.redis_cpu_s_per_1k.unwrap_or(f64::NAN);
        let mut points: Vec<ScalePoint> = runs
            .into_iter()
            .map(|(instances, samples)| ScalePoint {
                instances,
                accepted_per_s: median(&samples, |sample| sample.accepted_per_s),
                deliveries_per_s: median(&samples, |sample| sample.deliveries_per_s),
                hookgate_cpu_s_per_1k: median(&samples, hookgate),
                redis_cpu_s_per_1k: median(&samples, redis),
                total_cpu_s_per_1k: median(&samples, |sample| hookgate(sample) + redis(sample)),
                total_cpu_versus_first: f64::NAN,
                lost: samples.iter().map(|sample| sample.lost).sum(),
                refused: samples
                    .iter()
                    .map(|sample| sample.refused + sample.transport_errors)
                    .sum(),
                samples,
            })
            .collect();
        let first = points.first().map_or(f64::NAN, |point| point.total_cpu_s_per_1k);
        for point in &mut points {
            point.total_cpu_versus_first = point.total_cpu_s_per_1k / first;
        }
        Self {
            name: scenario.name.clone(),
            targets: scenario.targets,
            points,
        }
    }

    /// Events lost at any instance count.
    pub fn lost(&self) -> u64 {
        self.points.iter().map(|point| point.lost).sum()
    }

    /// The Scale-out section of a mode: what was done, then one row per instance count.
    pub fn markdown(&self, md: &mut String) {
        md.push_str("### Scale-out on Redis Cluster\n\n");
        let _ = writeln!(
            md,
            "{}: 1 to {} hookgate instances (`--instance-id scale-<i>`) share a local Redis Cluster (6 nodes: 3 masters with a replica each, no persistence) with full-redis's pipeline and {} targets, a fresh key prefix per instance count; the run's connections are spread over the instances round-robin. CPU is per acknowledged event: every hookgate instance together, every Redis node together. The instances share this machine's CPUs with the cluster, the sink and the load generator: on a 2-core machine more instances show overhead, not speedup; what matters is that CPU per event does not grow with the instance count.\n",
            self.name,
            self.points.last().map_or(0, |point| point.instances),
            self.targets
        );
        md.push_str("| instances | accepted/s | deliveries/s | hookgate CPU s / 1k events | redis CPU s / 1k events | total CPU s / 1k events | total CPU per event × 1 instance | lost | refused |\n");
        md.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for point in &self.points {
            let _ = writeln!(
                md,
                "| {} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} | {:.2} | {} | {} |",
                point.instances,
                point.accepted_per_s,
                point.deliveries_per_s,
                point.hookgate_cpu_s_per_1k,
                point.redis_cpu_s_per_1k,
                point.total_cpu_s_per_1k,
                point.total_cpu_versus_first,
                point.lost,
                point.refused,
            );
        }
        md.push('\n');
    }
}
