//! hookbench: the benchmark harness behind `bench/run`. A load generator that posts signed
//! Klavi events, a sink that counts what arrives, and a runner that measures nginx and
//! hookgate doing the same job on one machine in one run.

mod admin;
mod client;
mod cluster;
mod event;
mod forward;
mod load;
mod process;
mod report;
mod run;
mod scenario;
mod sink;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmark harness for hookgate")]
struct Cli {
    /// Runtime worker threads for this process.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Count the events posted to each path (the downstream of every scenario).
    Sink {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: SocketAddr,
    },
    /// Forward every request to one upstream: the bare-stack baseline.
    Forward {
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
        /// Where to forward to.
        #[arg(long)]
        upstream: SocketAddr,
    },
    /// Post signed Klavi events to one URL and print what happened as JSON.
    Load {
        /// Server address.
        #[arg(long)]
        addr: SocketAddr,
        /// Request path.
        #[arg(long, default_value = "/hooks/klavi")]
        path: String,
        /// Kept-alive connections, one request in flight on each.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// How long to send for.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Fixed total rate (requests/s) instead of closed loop.
        #[arg(long)]
        rate: Option<f64>,
        /// Secret of X-Klavi-Signature.
        #[arg(long, default_value = scenario::KLAVI_SECRET)]
        secret: String,
        /// Events per request.
        #[arg(long, default_value_t = 1)]
        batch: usize,
    },
    /// Run the scenarios and write the results.
    Run {
        /// hookgate binary under test.
        #[arg(long, default_value = "target/release/hookgate")]
        hookgate: PathBuf,
        /// nginx binary.
        #[arg(long, default_value = "nginx")]
        nginx: PathBuf,
        /// redis-server binary.
        #[arg(long, default_value = "redis-server")]
        redis_server: PathBuf,
        /// Directory for latest.md and latest.json.
        #[arg(long, default_value = "bench/results")]
        out: PathBuf,
        /// Also save the results as NAME.md and NAME.json there.
        #[arg(long)]
        save: Option<String>,
        /// Load per measured repetition.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Warm-up load per scenario, discarded.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        warmup: Duration,
        /// Measured repetitions per scenario.
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Load-generator connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Only these scenarios (comma-separated names, e.g.
        /// `backlog-redis,backlog-embedded`).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Profile each system under test with `perf record` during its first
        /// repetition, writing `<scenario>.perf.data` into this directory.
        #[arg(long)]
        perf: Option<PathBuf>,
        /// Placement modes, in order: `unpinned` (any process on any CPU) and
        /// `pinned` (the system under test on CPU 0, the rest on CPU 1).
        #[arg(long, value_delimiter = ',', default_value = "unpinned,pinned", value_parser = run::Mode::parse)]
        modes: Vec<run::Mode>,
        /// Deliveries the backlog scenarios (unpinned only) hold pending behind a
        /// paused target before draining them; rounded up to whole requests.
        #[arg(long, default_value_t = 1_000_000)]
        backlog: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Commands::Sink { listen } => sink::serve(listen).await,
            Commands::Forward { listen, upstream } => forward::serve(listen, upstream).await,
            Commands::Load {
                addr,
                path,
                connections,
                duration,
                rate,
                secret,
                batch,
            } => {
                let outcome = load::run(load::Load {
                    addrs: vec![addr],
                    path,
                    connections,
                    duration,
                    rate,
                    requests: None,
                    retry: None,
                    run_id: format!("load-{}", std::process::id()),
                    template: Arc::new(event::EventTemplate::klavi(&secret, batch)?),
                })
                .await?;
                let summary = serde_json::json!({
                    "acked": outcome.acked,
                    "acked_per_s": outcome.acked_per_second(),
                    "refused": outcome.refused,
                    "transport_errors": outcome.transport_errors,
                    "p50_ms": outcome.latency_ms(50.0),
                    "p99_ms": outcome.latency_ms(99.0),
                    "p999_ms": outcome.latency_ms(99.9),
                });
                println!("{summary:#}");
                Ok(())
            }
            Commands::Run {
                hookgate,
                nginx,
                redis_server,
                out,
                save,
                duration,
                warmup,
                reps,
                connections,
                only,
                perf,
                modes,
                backlog,
            } => {
                let options = run::Options {
                    hookgate,
                    nginx,
                    redis_server,
                    duration,
                    warmup,
                    reps,
                    connections,
                    only,
                    stall: Duration::from_secs(15),
                    perf,
                    modes,
                    backlog,
                };
                let settings = report::Settings {
                    duration_s: duration.as_secs_f64(),
                    warmup_s: warmup.as_secs_f64(),
                    reps,
                    connections,
                    cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
                    kernel: command_output("uname", &["-sr"]),
                };
                let results = run::run(options).await?;
                let finished = command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]);
                let report = report::Report::new(settings, results, finished);
                let markdown = report.markdown();
                let json = serde_json::to_string_pretty(&report)?;
                std::fs::create_dir_all(&out)?;
                let mut names = vec!["latest".to_owned()];
                names.extend(save);
                for name in names {
                    std::fs::write(out.join(format!("{name}.md")), &markdown)
                        .with_context(|| format!("writing {name}.md"))?;
                    std::fs::write(out.join(format!("{name}.json")), &json)?;
                }
                // The Markdown ends with the ratio line, so it is the last line printed.
                print!("{markdown}");
                if report.full_pipeline_nginx_ratio.is_none() {
                    println!("full-pipeline/nginx ratio: n/a (full-redis or nginx not run)");
                }
                Ok(())
            }
        }
    })
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |text| text.trim().to_owned())
}
