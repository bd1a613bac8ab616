//! The scale scenario: the full pipeline on 1, 2, then 3 hookgate instances sharing one
//! Redis Cluster, loaded together (the run's connections spread over them
//! round-robin), to see whether CPU per event, hookgate's and Redis's, stays flat as
//! instances are added.
//!
//! The cluster is started once and kept across instance counts; each count runs as a
//! scenario of its own name (`scale-<N>`), so under a key prefix of its own, on an
//! empty store. The instances of one count are stopped before the next count starts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Bench, Pace};
use crate::cluster::Cluster;
use crate::event::EventTemplate;
use crate::load::Outcome;
use crate::process::{cpu_time, free_port, placed, wait_listening, Process};
use crate::report::{Sample, ScaleResult};
use crate::scenario::{hookgate_config, HookgatePorts, Scenario, KLAVI_SECRET};

/// The instance counts measured, in order; the first is the baseline of the others.
const INSTANCES: [usize; 3] = [1, 2, 3];

impl Bench {
    /// Runs the scale `scenario`: the cluster started, each instance count measured,
    /// the cluster stopped.
    pub(super) async fn scale(&mut self, scenario: &Scenario) -> anyhow::Result<ScaleResult> {
        let dir = self.dir.join(format!("{}-cluster", scenario.name));
        let mut cluster = Cluster::start(&self.options.redis_server, &dir, self.mode.rest()).await?;
        let mut points = Vec::with_capacity(INSTANCES.len());
        for instances in INSTANCES {
            let samples = self.instances(scenario, &mut cluster, instances).await?;
            points.push((instances, samples));
        }
        cluster.stop().await?;
        Ok(ScaleResult::new(scenario, points))
    }

    /// `instances` instances started, warmed up, measured `reps` times and stopped.
    async fn instances(
        &mut self,
        scenario: &Scenario,
        cluster: &mut Cluster,
        instances: usize,
    ) -> anyhow::Result<Vec<Sample>> {
        let scenario = &Scenario {
            name: format!("{}-{instances}", scenario.name),
            ..scenario.clone()
        };
        eprintln!("   instances: {instances}");
        let mut running = Vec::with_capacity(instances);
        let mut addrs = Vec::with_capacity(instances);
        for instance in 1..=instances {
            let (process, addr) = self.start_instance(scenario, cluster, instance).await?;
            running.push(process);
            addrs.push(addr);
        }
        let template = Arc::new(EventTemplate::klavi(KLAVI_SECRET, scenario.batch)?);
        let events = |outcome: &Outcome| outcome.acked * scenario.batch as u64;

        self.reset_sink().await?;
        let warmup = self
            .load(scenario, &template, &addrs, self.options.warmup, Pace::FULL)
            .await?;
        self.drain(scenario, events(&warmup)).await?;
        let mut hookgate_pids = Vec::new();
        for process in &running {
            hookgate_pids.extend(process.pids()?);
        }
        let redis_pids = cluster.pids()?;

        let mut samples = Vec::with_capacity(self.options.reps);
        for rep in 1..=self.options.reps {
            self.reset_sink().await?;
            let cpu_before = cpu_time(&hookgate_pids);
            let redis_before = cpu_time(&redis_pids);
            let outcome = self
                .load(scenario, &template, &addrs, self.options.duration, Pace::FULL)
                .await?;
            let drained = self.drain(scenario, events(&outcome)).await?;
            let cpu = cpu_time(&hookgate_pids).saturating_sub(cpu_before);
            let redis_cpu = cpu_time(&redis_pids).saturating_sub(redis_before);
            for process in &mut running {
                process.check_running()?;
            }
            cluster.check_running()?;
            let sample = Sample::new(scenario, &outcome, &drained, Some(cpu), Some(redis_cpu));
            eprintln!(
                "   rep {rep}: {:.0} acked/s, {:.0} deliveries/s, CPU s / 1k events hookgate {:.3} redis {:.3}, lost {}, refused {}, errors {}",
                sample.accepted_per_s,
                sample.deliveries_per_s,
                sample.cpu_s_per_1k.unwrap_or(f64::NAN),
                sample.redis_cpu_s_per_1k.unwrap_or(f64::NAN),
                sample.lost,
                sample.refused,
                sample.transport_errors
            );
            samples.push(sample);
        }
        for process in running {
            process.stop(Duration::from_secs(10)).await?;
        }
        Ok(samples)
    }

    /// Starts instance `instance` (from 1) of `scenario` on `cluster`, with a listener
    /// and an admin listener of its own, and waits until it listens.
    async fn start_instance(
        &self,
        scenario: &Scenario,
        cluster: &Cluster,
        instance: usize,
    ) -> anyhow::Result<(Process, SocketAddr)> {
        let ports = HookgatePorts {
            listen: free_port()?,
            admin: free_port()?,
            sink: self.sink,
            redis: self.redis,
            cluster: cluster.addrs().to_vec(),
        };
        let name = format!("{}-i{instance}", scenario.name);
        let yaml = hookgate_config(scenario, &ports, &self.dir.join(format!("data-{name}")));
        let config = self.dir.join(format!("{name}.yaml"));
        std::fs::write(&config, yaml)?;
        let mut command = placed(&self.options.hookgate, self.mode.proxy());
        command.arg("serve").arg("--config").arg(&config);
        // Its consumer name in the delivery streams: unique among the instances.
        command.args(["--instance-id", &format!("scale-{instance}")]);
        let mut process = Process::spawn("hookgate", command, &self.dir.join(format!("{name}.log")))?;
        wait_listening(&mut process, ports.listen).await?;
        Ok((process, ports.listen))
    }
}
