//! Telemetry: structured logs to stderr (JSON by default, filtered by `HOOKGATE_LOG`,
//! same syntax as `RUST_LOG`, default `info`) and Prometheus metrics.

use std::io::BufWriter;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// The process-wide metrics recorder, installed on first use; render it for `/metrics`.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for (name, kind, ..) in crate::metrics_catalog::METRICS {
            if *kind == crate::metrics_catalog::Kind::Histogram {
                builder = builder
                    .set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full((*name).to_owned()),
                        crate::metrics_catalog::SECONDS_BUCKETS,
                    )
                    .unwrap_or_else(|_| PrometheusBuilder::new());
            }
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed, in which case ours stays
        // unused and /metrics renders nothing; that is a programming error in tests.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        crate::metrics_catalog::describe();
        // Histogram samples wait in a buffer until they are folded into buckets, which
        // rendering does; when nothing scrapes /metrics, this does it instead, so the
        // buffer does not grow with every request and delivery.
        let upkept = handle.clone();
        let _ = std::thread::Builder::new()
            .name("hookgate-metrics".to_owned())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkept.run_upkeep();
            });
        handle
    })
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log pipelines.
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// Installs the global subscriber. Safe to call once per process. Lines are formatted
/// on the thread that logs and written by a background thread through a 64 KiB buffer,
/// flushed whenever no line is waiting: a busy server writes many lines per system
/// call instead of one each. Nothing is dropped (a full queue makes loggers wait).
/// Keep the returned guard until exit: dropping it writes what is still queued.
pub fn init(format: LogFormat) -> WorkerGuard {
    let filter = EnvFilter::try_from_env("HOOKGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("hookgate-log")
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            // Spans are never nested, so the list would repeat the current span.
            .with_span_list(false)
            .try_init(),
        // Colours only for a person at a terminal: not in files, pipes or journald,
        // and not when NO_COLOR is set (no-color.org).
        LogFormat::Text => builder
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none(),
            )
            .try_init(),
    };
    guard
}
