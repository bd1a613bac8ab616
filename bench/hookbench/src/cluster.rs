//! A Redis Cluster of the scale scenario's own: six `redis-server --cluster-enabled yes`
//! nodes on free loopback ports, joined by `redis-cli --cluster create` as three
//! masters with one replica each. No persistence: what is measured is the work of
//! sharing one cluster, not disk writes. Its nodes are killed when it is stopped or
//! dropped, so a failed run leaves none behind.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::process::{placed, wait_listening, Cpus, Process};

/// Nodes in the cluster: three masters, each with one replica.
const NODES: usize = 6;

/// How long a master may be unreachable before its replica is promoted.
const NODE_TIMEOUT_MS: u64 = 5_000;

/// How long the joined cluster may take to report `cluster_state:ok` on every node.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// A running Redis Cluster.
pub struct Cluster {
    nodes: Vec<Process>,
    addrs: Vec<SocketAddr>,
}

impl Cluster {
    /// Starts the nodes on `cpus`, each in its own directory under `dir`, joins them
    /// and waits until every one reports the cluster whole. `redis-cli` is the one
    /// next to `redis_server`, else the one on the PATH.
    pub async fn start(redis_server: &Path, dir: &Path, cpus: Cpus) -> anyhow::Result<Self> {
        let ports = free_ports(NODES)?;
        let mut nodes = Vec::with_capacity(NODES);
        for port in &ports {
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir)?;
            let mut command = placed(redis_server, cpus);
            command.args(["--bind", "127.0.0.1", "--port", &port.to_string()]);
            command.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]);
            command.args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()]);
            command.args(["--save", "", "--appendonly", "no"]);
            command.arg("--dir").arg(&node_dir);
            let name = format!("cluster node redis-server :{port}");
            nodes.push(Process::spawn(&name, command, &node_dir.join("redis.log"))?);
        }
        let addrs: Vec<SocketAddr> = ports
            .iter()
            .map(|port| SocketAddr::from(([127, 0, 0, 1], *port)))
            .collect();
        for (node, addr) in nodes.iter_mut().zip(&addrs) {
            wait_listening(node, *addr).await?;
        }
        let cluster = Self { nodes, addrs };
        let cli = redis_cli(redis_server);
        let output = tokio::process::Command::new(&cli)
            .args(["--cluster", "create"])
            .args(cluster.addrs.iter().map(SocketAddr::to_string))
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .await
            .with_context(|| format!("running {}", cli.display()))?;
        if !output.status.success() {
            bail!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        cluster.wait_until_ok(&cli).await?;
        Ok(cluster)
    }

    /// Its nodes' addresses, every one a seed.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The process ids of every node.
    pub fn pids(&self) -> anyhow::Result<Vec<u32>> {
        self.nodes.iter().map(Process::pid).collect()
    }

    /// Fails if a node has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        self.nodes.iter_mut().try_for_each(Process::check_running)
    }

    /// Stops every node.
    pub async fn stop(self) -> anyhow::Result<()> {
        for node in self.nodes {
            node.stop(Duration::from_secs(5)).await?;
        }
        Ok(())
    }

    /// Waits until every node reports `cluster_state:ok`: until then, some slot may
    /// have no master a node knows of.
    async fn wait_until_ok(&self, cli: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            let mut ok = true;
            for addr in &self.addrs {
                let output = tokio::process::Command::new(cli)
                    .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
                    .args(["CLUSTER", "INFO"])
                    .output()
                    .await?;
                ok &= String::from_utf8_lossy(&output.stdout).contains("cluster_state:ok");
            }
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the cluster on {:?} was not ok within {SETTLE_LIMIT:?}",
                    self.addrs
                );
            }
            // Polling: a cluster announces no readiness one could await.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `redis-cli` next to `redis_server` when there is one there, else the PATH's.
fn redis_cli(redis_server: &Path) -> PathBuf {
    let beside = redis_server.with_file_name("redis-cli");
    if beside.is_file() {
        beside
    } else {
        PathBuf::from("redis-cli")
    }
}

/// `count` free loopback ports whose cluster bus ports (+10000) are free too.
fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    // Every listener stays bound until all are chosen, so none is chosen twice.
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < count {
        if held.len() > 1000 {
            bail!("found no {count} free loopback ports with free cluster bus ports");
        }
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        held.push(listener);
        let Some(bus) = port.checked_add(10_000) else {
            continue;
        };
        if let Ok(bus) = TcpListener::bind(("127.0.0.1", bus)) {
            ports.push(port);
            held.push(bus);
        }
    }
    Ok(ports)
}
