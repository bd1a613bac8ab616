//! Child processes of a benchmark run (sink, redis-server, nginx, hookgate) and what
//! `/proc` says about them: CPU time and resident memory, now and at its peak.

use std::ffi::OsStr;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// A child that is stopped (SIGTERM, then SIGKILL) when dropped or when `stop` is called.
pub struct Process {
    name: String,
    child: Child,
}

impl Process {
    /// Starts `command` with its output appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .with_context(|| format!("{} has exited", self.name))
    }

    /// The child and every process it forked (nginx's workers).
    pub fn pids(&self) -> anyhow::Result<Vec<u32>> {
        let pid = self.pid()?;
        let mut pids = vec![pid];
        pids.extend(children(pid));
        Ok(pids)
    }

    /// Fails if the child has already exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited: {status}", self.name);
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            if tokio::time::timeout(grace, self.child.wait()).await.is_err() {
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// The CPUs a process may run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpus {
    /// Any of the machine's.
    Any,
    /// Only this one.
    Only(usize),
}

impl Cpus {
    /// Worker threads a process placed here gets: one per CPU it may use.
    pub fn threads(self) -> usize {
        match self {
            Cpus::Any => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Cpus::Only(_) => 1,
        }
    }
}

/// A command running `program` on `cpus` (through `taskset` when pinned).
pub fn placed(program: impl AsRef<OsStr>, cpus: Cpus) -> Command {
    match cpus {
        Cpus::Any => Command::new(program),
        Cpus::Only(cpu) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpu.to_string()).arg(program);
            command
        }
    }
}

/// Moves every thread of this process to `cpus` (`Any`: all of the machine's).
pub fn place_self(cpus: Cpus) -> anyhow::Result<()> {
    let list = match cpus {
        Cpus::Any => format!("0-{}", machine_cpus().saturating_sub(1)),
        Cpus::Only(cpu) => cpu.to_string(),
    };
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &list, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .context("running taskset (util-linux)")?;
    if !status.success() {
        bail!("taskset -a -p -c {list} failed: {status}");
    }
    Ok(())
}

/// CPUs the machine has online (not only those this process may use now).
pub fn machine_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|online| {
            let last = online.trim().rsplit([',', '-']).next()?;
            last.parse::<usize>().ok().map(|last| last + 1)
        })
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Waits until `addr` accepts connections.
pub async fn wait_listening(process: &mut Process, addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        process.check_running()?;
        if Instant::now() > deadline {
            bail!("{} did not listen on {addr} within 30 s", process.name);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// User + system CPU time of `pids`, summed.
pub fn cpu_time(pids: &[u32]) -> Duration {
    // utime and stime are fields 14 and 15.
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| Some(stat_field(*pid, 14)? + stat_field(*pid, 15)?))
        .sum();
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

/// Peak resident set (VmHWM) of `pids`, summed, in bytes.
pub fn peak_rss(pids: &[u32]) -> u64 {
    status_bytes(pids, "VmHWM:")
}

/// Resident set now (VmRSS) of `pids`, summed, in bytes.
pub fn rss(pids: &[u32]) -> u64 {
    status_bytes(pids, "VmRSS:")
}

/// A `/proc/<pid>/status` field given in kB, summed over `pids`, in bytes.
fn status_bytes(pids: &[u32], field: &str) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            let line = status.lines().find(|line| line.starts_with(field))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .sum()
}

fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        // The parent's pid is field 4.
        .filter(|pid| stat_field(*pid, 4) == Some(u64::from(parent)))
        .collect()
}

/// Numeric field `number` (from 1, as proc(5) counts) of `/proc/<pid>/stat`.
fn stat_field(pid: u32, number: usize) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; field 3 is
    // the first after it.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(number.checked_sub(3)?)?.parse().ok()
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
