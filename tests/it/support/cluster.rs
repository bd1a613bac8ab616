//! A real Redis Cluster for a test: 6 `redis-server --cluster-enabled yes` nodes on
//! free ports, joined by `redis-cli --cluster create` as 3 masters with one replica
//! each. Killed when dropped. A test may kill a master (SIGKILL) and watch its
//! replica take over, then restart the killed node (it rejoins as a replica).
//!
//! `.ci/run` starts one cluster for the whole run and names it in
//! `HOOKGATE_TEST_CLUSTER` (its seed URLs, comma-separated); [`RedisCluster::shared`]
//! uses that one when set (tests sharing it keep to their own key prefix) and
//! starts one of the test's own otherwise.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a master may be unreachable before its replica is promoted.
pub const NODE_TIMEOUT_MS: u64 = 1_000;

/// A running cluster, or a handle on the shared one.
pub struct RedisCluster {
    ports: Vec<u16>,
    nodes: Vec<Option<Child>>,
    dir: Option<tempfile::TempDir>,
}

impl RedisCluster {
    /// The run's cluster when `.ci/run` started one, else one of this test's own.
    pub fn shared() -> Self {
        match std::env::var("HOOKGATE_TEST_CLUSTER") {
            Ok(seeds) if !seeds.trim().is_empty() => Self {
                ports: seeds
                    .split(',')
                    .map(|seed| {
                        seed.trim()
                            .rsplit(':')
                            .next()
                            .and_then(|port| port.trim_end_matches('/').parse().ok())
                            .unwrap_or_else(|| panic!("HOOKGATE_TEST_CLUSTER: bad seed {seed:?}"))
                    })
                    .collect(),
                nodes: Vec::new(),
                dir: None,
            },
            _ => Self::start(),
        }
    }

    /// Starts a cluster of this test's own. Fails the test (never skips it) when
    /// redis-server or redis-cli is missing.
    pub fn start() -> Self {
        let ports = free_ports(6);
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = Self {
            nodes: ports.iter().map(|_| None).collect(),
            ports,
            dir: Some(dir),
        };
        for node in 0..cluster.ports.len() {
            cluster.launch(node);
        }
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}); install redis-tools — .ci/run does"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_until_settled();
        cluster
    }

    /// The seed URLs of every node.
    pub fn seeds(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect()
    }

    /// The seeds as YAML, `["redis://...", ...]`.
    pub fn seeds_yaml(&self) -> String {
        let quoted: Vec<String> = self.seeds().iter().map(|seed| format!("\"{seed}\"")).collect();
        format!("[{}]", quoted.join(", "))
    }

    /// The port of each node serving as a master now.
    pub fn masters(&self) -> Vec<u16> {
        self.ports
            .iter()
            .copied()
            .filter(|port| info(*port, "replication").is_some_and(|text| text.contains("role:master")))
            .collect()
    }

    /// The number of keys each master holds.
    pub fn keys_per_master(&self) -> Vec<(u16, u64)> {
        self.masters()
            .into_iter()
            .map(|port| {
                let keys = redis_cli(port, &["DBSIZE"]).trim().parse().unwrap_or(0);
                (port, keys)
            })
            .collect()
    }

    /// The port of the replica of the master on `master`.
    pub fn replica_of(&self, master: u16) -> u16 {
        info(master, "replication")
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("slave0:"))
                    .and_then(|line| line.split(',').find_map(|field| field.strip_prefix("port=")))
                    .and_then(|port| port.parse().ok())
            })
            .unwrap_or_else(|| panic!("the master on {master} has no replica"))
    }

    /// Freezes (SIGSTOP) the node on `port`: it holds its connections and answers
    /// nothing, as a replica behind a congested link would.
    pub fn freeze(&self, port: u16) {
        self.signal(port, "-STOP");
    }

    /// Lets a frozen node go on (SIGCONT).
    pub fn thaw(&self, port: u16) {
        self.signal(port, "-CONT");
    }

    fn signal(&self, port: u16, signal: &str) {
        let node = self.node(port);
        let pid = self.nodes[node].as_ref().expect("the node is running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Kills (SIGKILL) the node on `port`, which must be one of this cluster's own.
    pub fn kill(&mut self, port: u16) {
        let node = self.node(port);
        let mut child = self.nodes[node].take().expect("the node is running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Restarts the killed node on `port` with its cluster config, so it rejoins.
    pub fn restart(&mut self, port: u16) {
        let node = self.node(port);
        self.launch(node);
    }

    /// Waits until every running node sees the cluster whole (`cluster_state:ok`),
    /// with 3 masters each replicated by a connected replica.
    pub fn wait_until_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let running: Vec<u16> = self
                .ports
                .iter()
                .zip(&self.nodes)
                .filter(|(_, child)| child.is_some())
                .map(|(port, _)| *port)
                .collect();
            let ok = running.iter().all(|port| {
                info(*port, "cluster").is_some_and(|text| text.contains("cluster_enabled:1"))
                    && redis_cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
            });
            let masters = self.masters();
            let replicated = masters.len() == 3
                && masters.iter().all(|port| {
                    info(*port, "replication").is_some_and(|text| {
                        text.contains("connected_slaves:1") && text.contains("state=online")
                    })
                });
            if ok && replicated {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster on {:?} did not settle: masters {masters:?}",
                self.ports
            );
            // Polling: a cluster announces no readiness we could await.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until a node other than `dead` serves as master for every slot again.
    pub fn wait_for_failover(&self, dead: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let masters = self.masters();
            let whole = masters
                .iter()
                .any(|port| redis_cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"));
            if masters.len() == 3 && !masters.contains(&dead) && whole {
                return;
            }
            assert!(Instant::now() < deadline, "no replica took over from {dead}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn node(&self, port: u16) -> usize {
        assert!(self.dir.is_some(), "only a test's own cluster may be killed");
        self.ports
            .iter()
            .position(|p| *p == port)
            .expect("a node of this cluster")
    }

    fn launch(&mut self, node: usize) {
        let port = self.ports[node];
        let dir = self
            .dir
            .as_ref()
            .expect("a cluster of the test's own")
            .path()
            .join(port.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}); install it (apt-get install redis-server) — .ci/run does")
            });
        self.nodes[node] = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while info(port, "server").is_none() {
            assert!(Instant::now() < deadline, "redis-server on {port} never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.nodes.iter_mut().flatten() {
            // A frozen process takes SIGKILL too; thawing first keeps its exit orderly.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `redis-cli -p <port> <args>`'s output ('' when the node does not answer).
fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

/// `INFO <section>` of the node on `port` (`None` when it does not answer).
fn info(port: u16, section: &str) -> Option<String> {
    let text = redis_cli(port, &["INFO", section]);
    text.contains("# ").then_some(text)
}

/// `count` free ports whose cluster bus ports (+10000) are free too.
fn free_ports(count: usize) -> Vec<u16> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < count {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 55_000 {
            if let Ok(bus) = TcpListener::bind(("127.0.0.1", port + 10_000)) {
                ports.push(port);
                held.push(bus);
            }
        }
        held.push(listener);
    }
    ports
}
