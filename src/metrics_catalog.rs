//! Every metric hookgate exports, in one place: name, type and help text. They are
//! described to the recorder when it is installed (so `/metrics` carries `# HELP`
//! and `# TYPE` for each), and `docs/metrics.md` is checked against this list by a
//! test. Metrics with no label are set to zero at start; those labelled by route or
//! target are set to zero for each one as the config is loaded, so a dashboard sees
//! zeroes, not gaps, before the first event.

/// How a metric behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets (seconds).
    Histogram,
}

impl Kind {
    /// The Prometheus type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric: name, kind, labels, help.
pub type Metric = (&'static str, Kind, &'static [&'static str], &'static str);

/// Every metric, in the order `docs/metrics.md` lists them.
pub const METRICS: &[Metric] = &[
    (
        "hookgate_build_info",
        Kind::Gauge,
        &["version"],
        "Always 1; the version of the running hookgate.",
    ),
    (
        "hookgate_requests_total",
        Kind::Counter,
        &["route", "status"],
        "Ingress requests answered, by route (`none` when no route matched) and status.",
    ),
    (
        "hookgate_request_duration_seconds",
        Kind::Histogram,
        &["route"],
        "Time from a request's arrival to its answer, by route.",
    ),
    (
        "hookgate_admission_duration_seconds",
        Kind::Histogram,
        &["route"],
        "Time the store took to admit a request's events, by route.",
    ),
    (
        "hookgate_auth_rejections_total",
        Kind::Counter,
        &["route", "reason"],
        "Requests refused by a route's checks, by reason.",
    ),
    (
        "hookgate_events_dropped_total",
        Kind::Counter,
        &["route"],
        "Events no rule matched, dropped by `default: drop`.",
    ),
    (
        "hookgate_attempts_total",
        Kind::Counter,
        &["target", "outcome"],
        "Attempts to send a delivery, by outcome (`success` or `failure`).",
    ),
    (
        "hookgate_deliveries_total",
        Kind::Counter,
        &["target", "result"],
        "Deliveries that ended, by result (`delivered` or `dead_lettered`).",
    ),
    (
        "hookgate_delivery_latency_seconds",
        Kind::Histogram,
        &["target"],
        "Time from a delivery's admission (the sender's acknowledgement) to its successful attempt.",
    ),
    (
        "hookgate_queue_depth",
        Kind::Gauge,
        &["target"],
        "Deliveries of a target waiting or in flight, sampled every 5 s.",
    ),
    (
        "hookgate_queue_oldest_age_seconds",
        Kind::Gauge,
        &["target"],
        "How long the oldest delivery of a target waiting or in flight has been pending, since its admission (0 when none), sampled every 5 s.",
    ),
    (
        "hookgate_dead_letters",
        Kind::Gauge,
        &["target"],
        "Dead letters of a target in the store (waiting for a replay), sampled every 5 s.",
    ),
    (
        "hookgate_target_paused",
        Kind::Gauge,
        &["target"],
        "1 while an operator has a target's deliveries paused, else 0.",
    ),
    (
        "hookgate_breaker_open",
        Kind::Gauge,
        &["target"],
        "1 while a target's circuit breaker is open, else 0.",
    ),
    (
        "hookgate_store_errors_total",
        Kind::Counter,
        &["operation", "kind"],
        "Store calls that failed, by operation and kind (`unavailable`, `rejected`, `corrupt`).",
    ),
    (
        "hookgate_config_reloads_total",
        Kind::Counter,
        &["result"],
        "Config reloads, by result.",
    ),
    (
        "hookgate_config_info",
        Kind::Gauge,
        &["hash"],
        "1 for the hash of the config in use.",
    ),
    (
        "hookgate_unconfigured_targets",
        Kind::Gauge,
        &[],
        "Targets removed from the config whose queues are still being delivered.",
    ),
    (
        "hookgate_connections_open",
        Kind::Gauge,
        &["listener"],
        "Connections open, by listener.",
    ),
    (
        "hookgate_connections_refused_total",
        Kind::Counter,
        &["listener"],
        "Connections closed on arrival: past `max_connections`, or out of file descriptors.",
    ),
    (
        "hookgate_admin_operations_total",
        Kind::Counter,
        &["operation", "token"],
        "Changes made through the admin API, by operation and by the name of the token that made them.",
    ),
    (
        "hookgate_tls_handshake_errors_total",
        Kind::Counter,
        &["listener"],
        "TLS connections closed before their first request: a failed or timed-out handshake (a client certificate missing or not trusted, no shared protocol), or plain HTTP sent to the TLS listener.",
    ),
];

/// Buckets for the `_seconds` histograms: 1 ms to 5 min.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Describes every metric to the installed recorder and sets the unlabelled ones and
/// the build info.
pub fn describe() {
    for (name, kind, _, help) in METRICS {
        match kind {
            Kind::Counter => metrics::describe_counter!(*name, *help),
            Kind::Gauge => metrics::describe_gauge!(*name, *help),
            Kind::Histogram => metrics::describe_histogram!(*name, metrics::Unit::Seconds, *help),
        }
    }
    metrics::gauge!("hookgate_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::gauge!("hookgate_unconfigured_targets").set(0.0);
    for operation in ["admit", "claim_key", "claim", "complete", "ping"] {
        for kind in ["unavailable", "rejected", "corrupt"] {
            metrics::counter!("hookgate_store_errors_total", "operation" => operation, "kind" => kind)
                .increment(0);
        }
    }
}

/// Sets the metrics of a route to zero where absent (its requests at the status it
/// answers on success; its checks' rejections when it has checks).
pub fn route_zeroes(route: &crate::model::Route, checked: bool) {
    let name = || route.name.clone();
    metrics::counter!("hookgate_events_dropped_total", "route" => name()).increment(0);
    let status = route.success_status.as_str().to_owned();
    metrics::counter!("hookgate_requests_total", "route" => name(), "status" => status).increment(0);
    let _ = metrics::histogram!("hookgate_request_duration_seconds", "route" => name());
    let _ = metrics::histogram!("hookgate_admission_duration_seconds", "route" => name());
    if checked {
        for reason in crate::auth::Reason::ALL {
            metrics::counter!("hookgate_auth_rejections_total", "route" => name(), "reason" => reason.as_str())
                .increment(0);
        }
    }
}

/// Sets the admin API's counters of `token` to zero where absent.
pub fn admin_zeroes(token: &str) {
    for operation in crate::admin::api::MUTATIONS {
        metrics::counter!("hookgate_admin_operations_total", "operation" => *operation, "token" => token.to_owned())
            .increment(0);
    }
}

/// Sets the metrics of target `target` to zero where absent.
pub fn target_zeroes(target: &str) {
    let _ = metrics::histogram!("hookgate_delivery_latency_seconds", "target" => target.to_owned());
    metrics::gauge!("hookgate_breaker_open", "target" => target.to_owned()).increment(0.0);
    metrics::gauge!("hookgate_target_paused", "target" => target.to_owned()).increment(0.0);
    metrics::gauge!("hookgate_queue_depth", "target" => target.to_owned()).increment(0.0);
    metrics::gauge!("hookgate_queue_oldest_age_seconds", "target" => target.to_owned()).increment(0.0);
    metrics::gauge!("hookgate_dead_letters", "target" => target.to_owned()).increment(0.0);
    for outcome in ["success", "failure"] {
        metrics::counter!("hookgate_attempts_total", "target" => target.to_owned(), "outcome" => outcome)
            .increment(0);
    }
    for result in ["delivered", "dead_lettered"] {
        metrics::counter!("hookgate_deliveries_total", "target" => target.to_owned(), "result" => result)
            .increment(0);
    }
}

/// Counts a failed store call.
pub fn store_error(operation: &'static str, error: &crate::store::StoreError) {
    metrics::counter!("hookgate_store_errors_total", "operation" => operation, "kind" => error.kind().as_str())
        .increment(1);
}
