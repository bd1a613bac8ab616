//! The runner: starts the sink and redis-server, then for each scenario starts the system
//! under test, warms it up, measures it `reps` times and stops it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use http::{Method, StatusCode};
use tokio::process::Command;

use crate::client::call;
use crate::event::EventTemplate;
use crate::load::{self, Load, Outcome};
use crate::process::{cpu_time, free_port, peak_rss, wait_listening, Process};
use crate::report::{lost, HalfLoad, Sample, ScenarioResult};
use crate::scenario::{hookgate_config, nginx_config, Front, HookgatePorts, Scenario, Store, KLAVI_SECRET};
use crate::sink::Stats;

/// How to run the benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// The hookgate binary under test.
    pub hookgate: PathBuf,
    /// The nginx binary.
    pub nginx: PathBuf,
    /// The redis-server binary.
    pub redis_server: PathBuf,
    /// Load per measured repetition.
    pub duration: Duration,
    /// Load before measuring, discarded.
    pub warmup: Duration,
    /// Measured repetitions per scenario.
    pub reps: usize,
    /// Load-generator connections.
    pub connections: usize,
    /// Run only these scenarios (all when empty).
    pub only: Vec<String>,
    /// Longest wait for a queue to drain without any delivery arriving.
    pub stall: Duration,
    /// Record a CPU profile of the system under test during the first repetition,
    /// with `perf record`, into this directory (one `<scenario>.perf.data` each).
    pub perf: Option<PathBuf>,
}

struct Bench {
    options: Options,
    dir: PathBuf,
    sink: SocketAddr,
    redis: SocketAddr,
    redis_pid: u32,
    template: Arc<EventTemplate>,
    runs: u64,
}

/// Runs every selected scenario; the results in run order.
pub async fn run(options: Options) -> anyhow::Result<Vec<ScenarioResult>> {
    let dir = std::env::temp_dir().join(format!("hookbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(options, &dir).await;
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("logs kept in {}", dir.display());
    }
    result
}

async fn run_in(options: Options, dir: &Path) -> anyhow::Result<Vec<ScenarioResult>> {
    let scenarios: Vec<Scenario> = Scenario::all()
        .into_iter()
        .filter(|scenario| options.only.is_empty() || options.only.contains(&scenario.name))
        .collect();
    if scenarios.is_empty() {
        bail!("no scenario matches --only {:?}", options.only);
    }

    let sink_addr = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["sink", "--listen", &sink_addr.to_string()]);
    let mut sink = Process::spawn("sink", command, &dir.join("sink.log"))?;
    wait_listening(&mut sink, sink_addr).await?;

    let redis_addr = free_port()?;
    let redis_dir = dir.join("redis");
    std::fs::create_dir_all(&redis_dir)?;
    let mut command = Command::new(&options.redis_server);
    command.args(["--bind", "127.0.0.1", "--port", &redis_addr.port().to_string()]);
    // Durable as a production Redis store should be: append-only file, fsync every second.
    command.args(["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]);
    command.arg("--dir").arg(&redis_dir);
    let mut redis = Process::spawn("redis-server", command, &dir.join("redis.log"))?;
    wait_listening(&mut redis, redis_addr).await?;

    let mut bench = Bench {
        redis_pid: redis.pid()?,
        options,
        dir: dir.to_owned(),
        sink: sink_addr,
        redis: redis_addr,
        template: Arc::new(EventTemplate::klavi(KLAVI_SECRET)?),
        runs: 0,
    };
    let mut results = Vec::new();
    for scenario in &scenarios {
        eprintln!("== {}", scenario.name);
        results.push(bench.scenario(scenario).await?);
    }
    redis.stop(Duration::from_secs(5)).await?;
    sink.stop(Duration::from_secs(1)).await?;
    Ok(results)
}

impl Bench {
    async fn scenario(&mut self, scenario: &Scenario) -> anyhow::Result<ScenarioResult> {
        let (mut front, addr) = self.start(scenario).await?;
        let measured_pids = match &front {
            Some(process) => process.pids()?,
            None => Vec::new(),
        };
        let uses_redis = scenario.front == Front::HookgateFull(Store::Redis);

        self.reset_sink().await?;
        let warmup = self.load(scenario, addr, self.options.warmup, None).await?;
        self.drain(scenario, warmup.acked).await?;

        let mut samples = Vec::new();
        for rep in 1..=self.options.reps {
            self.reset_sink().await?;
            let cpu_before = cpu_time(&measured_pids);
            let redis_before = cpu_time(&[self.redis_pid]);
            let profiler = match (&self.options.perf, rep) {
                (Some(dir), 1) if !measured_pids.is_empty() => {
                    Some(self.profile(dir, scenario, &measured_pids)?)
                }
                _ => None,
            };
            let outcome = self.load(scenario, addr, self.options.duration, None).await?;
            let (stats, drained) = self.drain(scenario, outcome.acked).await?;
            let cpu = cpu_time(&measured_pids).saturating_sub(cpu_before);
            let redis_cpu = cpu_time(&[self.redis_pid]).saturating_sub(redis_before);
            if let Some(profiler) = profiler {
                profiler.stop(Duration::from_secs(60)).await?;
            }
            if let Some(process) = front.as_mut() {
                process.check_running()?;
            }
            let sample = Sample::new(
                scenario,
                &outcome,
                &stats,
                drained,
                (!measured_pids.is_empty()).then_some(cpu),
                uses_redis.then_some(redis_cpu),
            );
            eprintln!(
                "   rep {rep}: {:.0} acked/s, p99 {:.2} ms, {:.0} deliveries/s, lost {}, refused {}, errors {}",
                sample.accepted_per_s, sample.p99_ms, sample.deliveries_per_s, sample.lost, sample.refused, sample.transport_errors
            );
            samples.push(sample);
        }

        let mut result = ScenarioResult::new(scenario, samples);
        if scenario.half_load {
            let rate = result.median.accepted_per_s / 2.0;
            self.reset_sink().await?;
            let outcome = self
                .load(scenario, addr, self.options.duration, Some(rate))
                .await?;
            let (stats, _) = self.drain(scenario, outcome.acked).await?;
            let lost = lost(scenario, outcome.acked, &stats);
            let half = HalfLoad {
                rate,
                accepted_per_s: outcome.acked_per_second(),
                p50_ms: outcome.latency_ms(50.0),
                p99_ms: outcome.latency_ms(99.0),
                p999_ms: outcome.latency_ms(99.9),
                lost,
            };
            eprintln!(
                "   half load ({rate:.0}/s): p99 {:.2} ms, lost {lost}",
                half.p99_ms
            );
            result.half_load = Some(half);
        }
        if let Some(process) = front.take() {
            result.peak_rss_bytes = Some(peak_rss(&process.pids()?));
            process.stop(Duration::from_secs(10)).await?;
        }
        Ok(result)
    }

    /// `perf record` (call graphs, 999 Hz) attached to `pids` until stopped.
    fn profile(&self, dir: &Path, scenario: &Scenario, pids: &[u32]) -> anyhow::Result<Process> {
        std::fs::create_dir_all(dir)?;
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let mut command = Command::new("perf");
        command.args(["record", "-F", "999", "-g", "-p", &pids.join(",")]);
        command
            .arg("-o")
            .arg(dir.join(format!("{}.perf.data", scenario.name)));
        Process::spawn(
            "perf",
            command,
            &self.dir.join(format!("{}.perf.log", scenario.name)),
        )
    }

    /// Starts the system under test; `None` for `direct`. Returns where to send load.
    async fn start(&self, scenario: &Scenario) -> anyhow::Result<(Option<Process>, SocketAddr)> {
        let listen = free_port()?;
        let name = &scenario.name;
        let mut process = match scenario.front {
            Front::Direct => return Ok((None, self.sink)),
            Front::Nginx => {
                let conf = self.dir.join("nginx.conf");
                std::fs::write(&conf, nginx_config(&self.dir, listen, self.sink))?;
                let mut command = Command::new(&self.options.nginx);
                command.arg("-p").arg(&self.dir).arg("-c").arg(&conf);
                command.arg("-e").arg(self.dir.join("nginx-error.log"));
                Process::spawn("nginx", command, &self.dir.join("nginx.log"))?
            }
            Front::HookgatePlain | Front::HookgateFull(_) => {
                let ports = HookgatePorts {
                    listen,
                    admin: free_port()?,
                    sink: self.sink,
                    redis: self.redis,
                };
                let data = self.dir.join(format!("data-{name}"));
                let yaml = hookgate_config(scenario, &ports, &data);
                let config = self.dir.join(format!("{name}.yaml"));
                std::fs::write(&config, yaml)?;
                let mut command = Command::new(&self.options.hookgate);
                command.arg("serve").arg("--config").arg(&config);
                Process::spawn("hookgate", command, &self.dir.join(format!("{name}.log")))?
            }
        };
        wait_listening(&mut process, listen).await?;
        Ok((Some(process), listen))
    }

    async fn load(
        &mut self,
        scenario: &Scenario,
        addr: SocketAddr,
        duration: Duration,
        rate: Option<f64>,
    ) -> anyhow::Result<Outcome> {
        self.runs += 1;
        let run_id = format!("{}-r{}-{}", scenario.name, self.runs, std::process::id());
        load::run(Load {
            addr,
            path: scenario.request_path().to_owned(),
            connections: self.options.connections,
            duration,
            rate,
            run_id,
            template: self.template.clone(),
        })
        .await
    }

    /// Waits until every target has seen `acked` distinct events, or until nothing new
    /// has arrived for `stall`. Returns the sink's counts and how long the wait took.
    async fn drain(&self, scenario: &Scenario, acked: u64) -> anyhow::Result<(Stats, Duration)> {
        let started = Instant::now();
        let mut last_progress = Instant::now();
        let mut last_total = 0;
        loop {
            let stats = self.stats().await?;
            let paths = scenario.target_paths();
            if paths.iter().all(|path| stats.unique(path) >= acked) {
                return Ok((stats, started.elapsed()));
            }
            let total: u64 = paths.iter().map(|path| stats.unique(path)).sum();
            if total != last_total {
                last_total = total;
                last_progress = Instant::now();
            } else if last_progress.elapsed() > self.options.stall {
                eprintln!(
                    "   drain stalled: {total} of {} deliveries",
                    acked * scenario.targets as u64
                );
                return Ok((stats, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stats(&self) -> anyhow::Result<Stats> {
        let (status, body) = call(self.sink, Method::GET, "/_stats").await?;
        if status != StatusCode::OK {
            bail!("sink stats: {status}");
        }
        serde_json::from_slice(&body).context("sink stats")
    }

    async fn reset_sink(&self) -> anyhow::Result<()> {
        let (status, _) = call(self.sink, Method::POST, "/_reset").await?;
        if status != StatusCode::NO_CONTENT {
            bail!("sink reset: {status}");
        }
        Ok(())
    }
}
