//! The scenarios, and the nginx and hookgate configurations each one runs.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// Where hookgate keeps deliveries in a full-pipeline scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The Redis store, against the run's own redis-server.
    Redis,
    /// The embedded (redb) store in the run's temporary directory.
    Embedded,
    /// The Redis store on the scale scenario's Redis Cluster.
    Cluster,
}

/// What stands between the load generator and the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// Nothing: the load generator posts to the sink.
    Direct,
    /// nginx as a keep-alive reverse proxy.
    Nginx,
    /// The stack baseline: a bare hyper forwarder on hookgate's crates (no tower, no
    /// logging), doing nginx's job; the gap to hookgate-plain is what hookgate adds.
    Stack,
    /// hookgate, sync mode, no checks: the same job as nginx.
    HookgatePlain,
    /// hookgate's full pipeline: Klavi HMAC, dedupe on eventId, rules, fan-out, queue.
    HookgateFull(Store, Rules),
}

/// The rule set of a full-pipeline scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// One rule (`eventName == 'consent_authorised'`, one `set`) forwarding to every target.
    One,
    /// The Klavi example's rule set (examples/klavi): validation, `search()` rules,
    /// `set`, and `redact` paths; consents reach the one target.
    KlaviExample,
}

/// One scenario of the run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name in the results.
    pub name: String,
    /// The system under test.
    pub front: Front,
    /// Targets each event is delivered to.
    pub targets: usize,
    /// Also measure latency at half the measured peak rate.
    pub half_load: bool,
    /// Events in each request (a JSON array of them).
    pub batch: usize,
    /// Load-generator connections, when not the run's setting.
    pub connections: Option<usize>,
    /// What it measures.
    pub kind: Kind,
}

/// What a scenario measures, and so how it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Throughput, latency and CPU per event of one system under test, in every
    /// placement mode.
    Throughput,
    /// Instead of measuring throughput, it pauses the target, admits the run's
    /// backlog of events while watching hookgate's memory, then resumes and drains
    /// it. Memory is not a per-core figure: unpinned only.
    Backlog,
    /// The full pipeline on 1, 2, then 3 hookgate instances sharing a Redis Cluster
    /// of the run's own: whether CPU per event stays flat as instances are added.
    /// Several instances on a few CPUs is no per-core placement: unpinned only.
    Scale,
}

impl Scenario {
    fn new(name: &str, front: Front, targets: usize) -> Self {
        Self {
            name: name.to_owned(),
            front,
            targets,
            half_load: false,
            batch: 1,
            connections: None,
            kind: Kind::Throughput,
        }
    }

    /// A backlog scenario on `store`: the full pipeline into one target, sent as
    /// arrays of [`BACKLOG_BATCH`] events a few at a time (admission is only the way
    /// to get there). Not big arrays: what a 10,000-event request costs in memory is
    /// `big-array`'s measure, and here it would hide what pending deliveries cost.
    fn backlog(name: &str, store: Store) -> Self {
        let mut scenario = Scenario::new(name, Front::HookgateFull(store, Rules::One), 1);
        scenario.batch = BACKLOG_BATCH;
        scenario.connections = Some(BACKLOG_CONNECTIONS);
        scenario.kind = Kind::Backlog;
        scenario
    }

    /// The scale scenario: full-redis's pipeline and two targets, on a Redis Cluster.
    fn scale(name: &str) -> Self {
        let mut scenario = Scenario::new(name, Front::HookgateFull(Store::Cluster, Rules::One), 2);
        scenario.kind = Kind::Scale;
        scenario
    }

    /// Every scenario the issue asks for, in the order they run. `full-redis` doubles as
    /// the 2-target point of the fan-out series.
    pub fn all() -> Vec<Scenario> {
        // Latency at half load is the goal for full-redis; direct, nginx and
        // hookgate-plain show what the machine and the harness give at all.
        let half = |mut scenario: Scenario| {
            scenario.half_load = true;
            scenario
        };
        let full = |store| Front::HookgateFull(store, Rules::One);
        // 10,000 events per request, one request at a time: the goal is how long
        // one such request takes to be admitted (two at once on two cores would
        // each take about twice as long).
        let mut big_array = Scenario::new("big-array", full(Store::Redis), 1);
        big_array.batch = BIG_ARRAY;
        big_array.connections = Some(1);
        vec![
            half(Scenario::new("direct", Front::Direct, 1)),
            half(Scenario::new("nginx", Front::Nginx, 1)),
            half(Scenario::new("stack", Front::Stack, 1)),
            half(Scenario::new("hookgate-plain", Front::HookgatePlain, 1)),
            half(Scenario::new("full-redis", full(Store::Redis), 2)),
            Scenario::new("full-embedded", full(Store::Embedded), 2),
            Scenario::new("rules", Front::HookgateFull(Store::Redis, Rules::KlaviExample), 1),
            big_array,
            Scenario::new("fan-out-1", full(Store::Redis), 1),
            Scenario::new("fan-out-4", full(Store::Redis), 4),
            Scenario::new("fan-out-8", full(Store::Redis), 8),
            Scenario::backlog("backlog-redis", Store::Redis),
            Scenario::backlog("backlog-embedded", Store::Embedded),
            Scenario::scale("scale"),
        ]
    }

    /// Whether hookgate keeps this scenario's deliveries in the run's redis-server.
    pub fn uses_redis(&self) -> bool {
        matches!(self.front, Front::HookgateFull(Store::Redis, _))
    }

    /// The path the load generator posts to.
    pub fn request_path(&self) -> &'static str {
        match self.front {
            Front::Direct | Front::Nginx | Front::Stack => "/t1",
            Front::HookgatePlain | Front::HookgateFull(..) => "/hooks/klavi",
        }
    }

    /// The sink path of target `index` (from 1).
    pub fn target_path(index: usize) -> String {
        format!("/t{index}")
    }

    /// The sink paths of all its targets.
    pub fn target_paths(&self) -> Vec<String> {
        (1..=self.targets).map(Self::target_path).collect()
    }
}

/// The HMAC secret shared by the load generator and hookgate's `klavi` check.
pub const KLAVI_SECRET: &str = "bench-klavi-secret";

/// Events per request in the `big-array` scenario.
pub const BIG_ARRAY: usize = 10_000;

/// Events per request in the backlog scenarios.
pub const BACKLOG_BATCH: usize = 100;

/// Load-generator connections of the backlog scenarios.
pub const BACKLOG_CONNECTIONS: usize = 4;

/// The admin API token of backlog scenarios (an operator: it pauses and resumes).
pub const ADMIN_TOKEN: &str = "bench-operator-token-0123456789abcdef";

/// nginx with `workers` workers proxying everything to the sink over kept-alive
/// connections.
pub fn nginx_config(dir: &Path, listen: SocketAddr, sink: SocketAddr, workers: usize) -> String {
    let dir = dir.display();
    format!(
        r#"daemon off;
master_process on;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log {dir}/nginx-access.log;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    keepalive_requests 1000000;
    upstream sink {{
        server {sink};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#
    )
}

/// Addresses a hookgate configuration points at.
pub struct HookgatePorts {
    /// Where hookgate listens for webhooks.
    pub listen: SocketAddr,
    /// Its admin listener (`/readyz`, and the admin API in backlog scenarios).
    pub admin: SocketAddr,
    /// The sink.
    pub sink: SocketAddr,
    /// The run's redis-server.
    pub redis: SocketAddr,
    /// The nodes of the scale scenario's Redis Cluster (none for other scenarios).
    pub cluster: Vec<SocketAddr>,
}

/// hookgate's configuration for `scenario`.
pub fn hookgate_config(scenario: &Scenario, ports: &HookgatePorts, data: &Path) -> String {
    let mut yaml = format!("listen: {}\nadmin:\n  listen: {}\n", ports.listen, ports.admin);
    if scenario.kind == Kind::Backlog {
        let _ = writeln!(
            yaml,
            "  tokens: [{{ name: bench, token: {ADMIN_TOKEN}, roles: [operator] }}]"
        );
    }
    match scenario.front {
        Front::HookgateFull(Store::Redis, _) => {
            // Each scenario keeps its own keys in the shared redis-server.
            let _ = writeln!(
                yaml,
                "store:\n  redis: {{ url: \"redis://{}\", key_prefix: bench-{} }}",
                ports.redis, scenario.name
            );
        }
        Front::HookgateFull(Store::Cluster, _) => {
            // Every node as a seed; instances sharing work share the key prefix.
            let seeds: Vec<String> = ports
                .cluster
                .iter()
                .map(|node| format!("\"redis://{node}\""))
                .collect();
            let _ = writeln!(
                yaml,
                "store:\n  redis: {{ cluster: [{}], key_prefix: bench-{} }}",
                seeds.join(", "),
                scenario.name
            );
        }
        _ => {
            let _ = writeln!(yaml, "store:\n  embedded: {{ path: \"{}\" }}", data.display());
        }
    }
    yaml.push_str("targets:\n");
    for index in 1..=scenario.targets {
        let _ = writeln!(
            yaml,
            "  t{index}: {{ url: \"http://{}{}\", max_concurrency: 64 }}",
            ports.sink,
            Scenario::target_path(index)
        );
    }
    let targets: Vec<String> = (1..=scenario.targets).map(|index| format!("t{index}")).collect();
    let targets = targets.join(", ");
    yaml.push_str("routes:\n");
    match scenario.front {
        Front::HookgateFull(_, rules) => {
            let _ = write!(
                yaml,
                r#"  - name: klavi
    path: /hooks/klavi
    mode: queue
    auth:
      - klavi: {{ secrets: ["{KLAVI_SECRET}"] }}
    split: "$[*]"
"#
            );
            match rules {
                Rules::One => {
                    let _ = write!(
                        yaml,
                        r#"    dedupe: {{ key: "$.eventId", ttl: 1h }}
    rules:
      - when: "@.eventName == 'consent_authorised'"
        transform:
          - set: {{ "$.source": klavi }}
        forward: [{targets}]
    default: drop
"#
                    );
                }
                // As examples/klavi/hookgate.yaml, its three targets one sink path.
                Rules::KlaviExample => yaml.push_str(
                    r#"    redact: ["$..personalTaxId", "$..businessTaxId", "$..taxId"]
    dedupe: { key: "$.eventId", ttl: 72h }
    validate:
      required: ["$.eventId", "$.eventName", "$.eventTime"]
      formats: { "$.eventTime": date-time }
    rules:
      - when: "search(@.eventName, '^consent_')"
        transform:
          - set: { "$.source": klavi }
        forward: [t1]
      - when: "search(@.eventName, '^product_')"
        transform:
          - set: { "$.source": klavi }
        forward: [t1]
      - when: "@.eventName == 'link_created'"
        transform:
          - set: { "$.source": klavi }
        forward: [t1]
    default: drop
"#,
                ),
            }
            if scenario.batch > 1 {
                let _ = writeln!(yaml, "    max_events: {}\n    max_body: 64MiB", scenario.batch);
            }
        }
        _ => {
            let _ = writeln!(
                yaml,
                "  - name: plain\n    path: /hooks/klavi\n    mode: sync\n    targets: [{targets}]"
            );
        }
    }
    yaml
}
