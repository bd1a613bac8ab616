//! The runner: for each placement mode, starts the sink and redis-server, then for each
//! scenario starts the system under test, warms it up, measures it `reps` times and
//! stops it.
//!
//! Unpinned, every process may use every CPU. Pinned, the system under test has CPU 0
//! to itself (nginx with one worker; hookgate and the stack baseline see one CPU, so
//! one ingress thread and one delivery thread) and everything else (this runner and
//! its load generator, the sink, redis-server) runs on CPU 1: a per-core comparison
//! that its neighbours disturb less.
//!
//! Backlog scenarios measure memory rather than throughput (see [`backlog`]); the
//! scale scenario runs several hookgate instances on a Redis Cluster of its own (see
//! [`scale`]). Both run unpinned only.

mod backlog;
mod scale;

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
use crate::process::{
    cpu_time, free_port, machine_cpus, peak_rss, place_self, placed, wait_listening, Cpus, Process,
};
use crate::report::{lost, HalfLoad, ModeResult, Sample, ScenarioResult};
use crate::scenario::{hookgate_config, nginx_config, Front, HookgatePorts, Kind, Scenario, KLAVI_SECRET};
use crate::sink::Stats;

/// How the processes of a run are placed on CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every process on any CPU.
    Unpinned,
    /// The system under test on CPU 0; load, sink and Redis on CPU 1.
    Pinned,
}

impl Mode {
    /// Parses `unpinned` or `pinned`.
    pub fn parse(text: &str) -> Result<Mode, String> {
        match text {
            "unpinned" => Ok(Mode::Unpinned),
            "pinned" => Ok(Mode::Pinned),
            _ => Err(format!("expected `unpinned` or `pinned`, found `{text}`")),
        }
    }

    /// Its name in the results.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Unpinned => "unpinned",
            Mode::Pinned => "pinned",
        }
    }

    /// Where the system under test runs.
    fn proxy(self) -> Cpus {
        match self {
            Mode::Unpinned => Cpus::Any,
            Mode::Pinned => Cpus::Only(0),
        }
    }

    /// Where the load generator, the sink and redis-server run.
    fn rest(self) -> Cpus {
        match self {
            Mode::Unpinned => Cpus::Any,
            Mode::Pinned => Cpus::Only(1),
        }
    }
}

/// How long deliveries may trail the load and still count as keeping pace.
const PACE_GRACE: Duration = Duration::from_secs(2);

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
    /// The placement modes to run, in order.
    pub modes: Vec<Mode>,
    /// Deliveries a backlog scenario holds pending before it drains them.
    pub backlog: u64,
}

struct Bench {
    options: Options,
    mode: Mode,
    dir: PathBuf,
    sink: SocketAddr,
    redis: SocketAddr,
    redis_pid: u32,
    runs: u64,
}

/// Runs every selected scenario in every mode; the results in run order.
pub async fn run(options: Options) -> anyhow::Result<Vec<ModeResult>> {
    let dir = std::env::temp_dir().join(format!("hookbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let selected: Vec<Scenario> = Scenario::all()
        .into_iter()
        .filter(|scenario| options.only.is_empty() || options.only.contains(&scenario.name))
        .collect();
    if selected.is_empty() {
        bail!("no scenario matches --only {:?}", options.only);
    }
    let mut results = Vec::new();
    let mut outcome = Ok(());
    for &mode in &options.modes {
        // Backlog and scale scenarios measure no per-core cost: unpinned only.
        let scenarios: Vec<&Scenario> = selected
            .iter()
            .filter(|scenario| mode == Mode::Unpinned || scenario.kind == Kind::Throughput)
            .collect();
        if scenarios.is_empty() {
            eprintln!("= {}: no scenario of the selection runs in it", mode.name());
            continue;
        }
        outcome = run_mode(options.clone(), mode, &scenarios, &dir)
            .await
            .map(|result| results.push(result));
        // Whatever happened, later work (and the caller) gets every CPU back.
        place_self(Cpus::Any)?;
        if outcome.is_err() {
            break;
        }
    }
    // A run that lost anything keeps its logs: they say what happened to it.
    let lost = results.iter().any(|mode| mode.lost() > 0);
    match outcome {
        Ok(()) if !lost => {
            let _ = std::fs::remove_dir_all(&dir);
            Ok(results)
        }
        Ok(()) => {
            eprintln!("events were lost: logs kept in {}", dir.display());
            Ok(results)
        }
        Err(error) => {
            eprintln!("logs kept in {}", dir.display());
            Err(error)
        }
    }
}

async fn run_mode(
    options: Options,
    mode: Mode,
    scenarios: &[&Scenario],
    dir: &Path,
) -> anyhow::Result<ModeResult> {
    if mode == Mode::Pinned {
        if machine_cpus() < 2 {
            bail!("the pinned mode needs two CPUs; this machine has one");
        }
        eprintln!("= pinned: system under test on CPU 0; load, sink and redis-server on CPU 1");
    } else {
        eprintln!("= unpinned");
    }
    place_self(mode.rest())?;
    let dir = &dir.join(mode.name());
    std::fs::create_dir_all(dir)?;

    let sink_addr = free_port()?;
    let mut command = placed(std::env::current_exe()?, mode.rest());
    command.args(["sink", "--listen", &sink_addr.to_string()]);
    let mut sink = Process::spawn("sink", command, &dir.join("sink.log"))?;
    wait_listening(&mut sink, sink_addr).await?;

    let redis_addr = free_port()?;
    let redis_dir = dir.join("redis");
    std::fs::create_dir_all(&redis_dir)?;
    let mut command = placed(&options.redis_server, mode.rest());
    command.args(["--bind", "127.0.0.1", "--port", &redis_addr.port().to_string()]);
    // Durable as a production Redis store should be: append-only file, fsync every second.
    command.args(["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]);
    command.arg("--dir").arg(&redis_dir);
    let mut redis = Process::spawn("redis-server", command, &dir.join("redis.log"))?;
    wait_listening(&mut redis, redis_addr).await?;

    let mut bench = Bench {
        redis_pid: redis.pid()?,
        options,
        mode,
        dir: dir.to_owned(),
        sink: sink_addr,
        redis: redis_addr,
        runs: 0,
    };
    let mut result = ModeResult {
        mode: mode.name().to_owned(),
        scenarios: Vec::new(),
        backlog: Vec::new(),
        scale: None,
    };
    for scenario in scenarios {
        eprintln!("== {}", scenario.name);
        match scenario.kind {
            Kind::Throughput => result.scenarios.push(bench.scenario(scenario).await?),
            Kind::Backlog => result.backlog.push(bench.backlog(scenario).await?),
            Kind::Scale => result.scale = Some(bench.scale(scenario).await?),
        }
    }
    redis.stop(Duration::from_secs(5)).await?;
    sink.stop(Duration::from_secs(1)).await?;
    Ok(result)
}

/// A started system under test.
struct Started {
    /// Its process; `None` for `direct`.
    process: Option<Process>,
    /// Where to send load.
    addr: SocketAddr,
    /// hookgate's admin listener.
    admin: Option<SocketAddr>,
}

/// How a load sends: at a fixed rate or as fast as answers come, how many requests
/// at most, and whether refused ones are sent again.
#[derive(Debug, Clone, Copy)]
struct Pace {
    rate: Option<f64>,
    requests: Option<u64>,
    retry: Option<Duration>,
}

impl Pace {
    /// As fast as answers come, for the whole duration.
    const FULL: Pace = Pace {
        rate: None,
        requests: None,
        retry: None,
    };
}

/// What a drain found.
pub struct Drained {
    /// The sink's counts at the end.
    pub stats: Stats,
    /// How long the drain took.
    pub took: Duration,
    /// Distinct deliveries (over all targets) that had arrived `PACE_GRACE` after
    /// the load ended.
    pub in_grace: u64,
}

impl Bench {
    async fn scenario(&mut self, scenario: &Scenario) -> anyhow::Result<ScenarioResult> {
        let Started {
            process: mut front,
            addr,
            ..
        } = self.start(scenario).await?;
        let uses_redis = scenario.uses_redis();
        let template = Arc::new(EventTemplate::klavi(KLAVI_SECRET, scenario.batch)?);
        let events = |outcome: &Outcome| outcome.acked * scenario.batch as u64;

        self.reset_sink().await?;
        let warmup = self
            .load(scenario, &template, &[addr], self.options.warmup, Pace::FULL)
            .await?;
        self.drain(scenario, events(&warmup)).await?;
        // Taken after the warm-up: nginx's master listens before it forks its workers.
        let measured_pids = match &front {
            Some(process) => process.pids()?,
            None => Vec::new(),
        };

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
            let outcome = self
                .load(scenario, &template, &[addr], self.options.duration, Pace::FULL)
                .await?;
            let drained = self.drain(scenario, events(&outcome)).await?;
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
                &drained,
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
            // Half the peak request rate (accepted/s counts events).
            let rate = result.median.accepted_per_s / scenario.batch as f64 / 2.0;
            self.reset_sink().await?;
            let outcome = self
                .load(
                    scenario,
                    &template,
                    &[addr],
                    self.options.duration,
                    Pace {
                        rate: Some(rate),
                        ..Pace::FULL
                    },
                )
                .await?;
            let drained = self.drain(scenario, events(&outcome)).await?;
            let lost = lost(scenario, events(&outcome), &drained.stats);
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

    /// Starts the system under test (nothing for `direct`) and waits until it listens.
    async fn start(&self, scenario: &Scenario) -> anyhow::Result<Started> {
        let listen = free_port()?;
        let name = &scenario.name;
        let cpus = self.mode.proxy();
        let mut admin = None;
        let mut process = match scenario.front {
            Front::Direct => {
                return Ok(Started {
                    process: None,
                    addr: self.sink,
                    admin: None,
                })
            }
            Front::Nginx => {
                let conf = self.dir.join("nginx.conf");
                let workers = cpus.threads();
                std::fs::write(&conf, nginx_config(&self.dir, listen, self.sink, workers))?;
                let mut command = placed(&self.options.nginx, cpus);
                command.arg("-p").arg(&self.dir).arg("-c").arg(&conf);
                command.arg("-e").arg(self.dir.join("nginx-error.log"));
                Process::spawn("nginx", command, &self.dir.join("nginx.log"))?
            }
            Front::Stack => {
                let mut command = placed(std::env::current_exe()?, cpus);
                command.args(["--threads", &cpus.threads().to_string(), "forward"]);
                command.args([
                    "--listen",
                    &listen.to_string(),
                    "--upstream",
                    &self.sink.to_string(),
                ]);
                Process::spawn("forward", command, &self.dir.join("forward.log"))?
            }
            Front::HookgatePlain | Front::HookgateFull(..) => {
                let ports = HookgatePorts {
                    listen,
                    admin: free_port()?,
                    sink: self.sink,
                    redis: self.redis,
                    cluster: Vec::new(),
                };
                admin = Some(ports.admin);
                let data = self.dir.join(format!("data-{name}"));
                let yaml = hookgate_config(scenario, &ports, &data);
                let config = self.dir.join(format!("{name}.yaml"));
                std::fs::write(&config, yaml)?;
                let mut command = placed(&self.options.hookgate, cpus);
                command.arg("serve").arg("--config").arg(&config);
                Process::spawn("hookgate", command, &self.dir.join(format!("{name}.log")))?
            }
        };
        wait_listening(&mut process, listen).await?;
        Ok(Started {
            process: Some(process),
            addr: listen,
            admin,
        })
    }

    async fn load(
        &mut self,
        scenario: &Scenario,
        template: &Arc<EventTemplate>,
        addrs: &[SocketAddr],
        duration: Duration,
        pace: Pace,
    ) -> anyhow::Result<Outcome> {
        self.runs += 1;
        let run_id = format!("{}-r{}-{}", scenario.name, self.runs, std::process::id());
        load::run(Load {
            addrs: addrs.to_vec(),
            path: scenario.request_path().to_owned(),
            connections: scenario.connections.unwrap_or(self.options.connections),
            duration,
            rate: pace.rate,
            requests: pace.requests,
            retry: pace.retry,
            run_id,
            template: template.clone(),
        })
        .await
    }

    /// Waits until every target has seen `acked` distinct events, or until nothing new
    /// has arrived for `stall`. Returns the sink's counts, how long the wait took, and
    /// how many had arrived `PACE_GRACE` after the load ended.
    async fn drain(&self, scenario: &Scenario, acked: u64) -> anyhow::Result<Drained> {
        let started = Instant::now();
        let mut last_progress = Instant::now();
        let mut last_total = 0;
        let mut in_grace = None;
        let paths = scenario.target_paths();
        loop {
            let stats = self.stats().await?;
            let total: u64 = paths.iter().map(|path| stats.unique(path)).sum();
            if in_grace.is_none() && started.elapsed() >= PACE_GRACE {
                in_grace = Some(total);
            }
            if paths.iter().all(|path| stats.unique(path) >= acked) {
                return Ok(Drained {
                    in_grace: in_grace.unwrap_or(total),
                    stats,
                    took: started.elapsed(),
                });
            }
            if total != last_total {
                last_total = total;
                last_progress = Instant::now();
            } else if last_progress.elapsed() > self.options.stall {
                eprintln!(
                    "   drain stalled: {total} of {} deliveries",
                    acked * scenario.targets as u64
                );
                return Ok(Drained {
                    in_grace: in_grace.unwrap_or(total),
                    stats,
                    took: started.elapsed(),
                });
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
