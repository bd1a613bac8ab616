//! Runs hookgate for a test: in-process on a free port, or as a child process of the
//! real binary where a test needs signals or a crash.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use std::sync::Arc;

use hookgate::config::File;
use hookgate::model::StoreKind;
use hookgate::registry::{Registry, Snapshot};
use hookgate::reload::Reloader;
use hookgate::Server;
use tokio::sync::oneshot;

/// hookgate running inside the test process.
pub struct Hookgate {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub registry: Arc<Registry>,
    pub reloader: Arc<Reloader>,
    pub store: Arc<dyn hookgate::store::Store>,
    /// Holds the config file and the embedded store's directory for the life of the
    /// test.
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Hookgate {
    /// Starts hookgate on `yaml` (its `listen` is replaced by a free loopback port; an
    /// embedded store without a path gets a fresh temporary directory).
    pub async fn start(yaml: &str) -> Self {
        Self::start_with_env(yaml, &[]).await
    }

    /// The same, resolving `${VAR}` from `env` (for shipped example configs).
    pub async fn start_with_env(yaml: &str, env: &[(&str, String)]) -> Self {
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        };
        let mut config =
            hookgate::config::parse(yaml, "test.yaml", &lookup).unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap();
        if let StoreKind::Embedded { path } = &mut config.settings.store.kind {
            // A relative data directory (`./data`, an example's `./data/klavi`) is the
            // test's own.
            if path.is_relative() {
                *path = dir.path().join(&*path);
            }
        }
        config.settings.listen = "127.0.0.1:0".parse().unwrap();
        if let Some(admin) = &mut config.settings.admin {
            admin.listen = "127.0.0.1:0".parse().unwrap();
        }
        let file = dir.path().join("hookgate.yaml");
        std::fs::write(&file, yaml).unwrap();
        Self::run(config, File::allowing_default_secrets(file), dir).await
    }

    /// Starts hookgate on the config file `path` as written (give it `listen:
    /// 127.0.0.1:0` and its own data directory), so that reloads of the file keep
    /// every setting a restart would need.
    pub async fn start_file(path: &Path) -> Self {
        let config = hookgate::config::load(path).unwrap_or_else(|e| panic!("{e}"));
        Self::run(
            config,
            File::allowing_default_secrets(path),
            tempfile::tempdir().unwrap(),
        )
        .await
    }

    async fn run(config: Snapshot, file: File, dir: tempfile::TempDir) -> Self {
        let server = Server::bind(config, Arc::new(file)).await.expect("bind hookgate");
        let addr = server.local_addr().unwrap();
        let admin = server.admin_addr();
        let (store, registry, reloader) = (server.store(), server.registry(), server.reloader());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            admin,
            registry,
            reloader,
            store,
            _dir: dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A URL on this hookgate.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A URL on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.admin.expect("config has an admin section")
        )
    }

    /// Shuts down gracefully and waits for it.
    #[allow(dead_code)]
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for Hookgate {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The hookgate binary running as a child process; killed when dropped.
#[allow(dead_code)]
pub struct HookgateProcess {
    pub child: Child,
    pub addr: SocketAddr,
    /// The admin listener, when the config has one.
    pub admin: Option<SocketAddr>,
    logs: std::sync::mpsc::Receiver<String>,
    /// Its working directory, so that a default `./data` store is its own.
    _cwd: tempfile::TempDir,
}

#[allow(dead_code)]
impl HookgateProcess {
    /// Runs `hookgate serve --config <path>` and waits for it to log its address.
    pub fn spawn(config: &Path) -> Self {
        Self::spawn_with_env(config, &[])
    }

    /// The same with extra environment variables.
    pub fn spawn_with_env(config: &Path, env: &[(&str, &str)]) -> Self {
        Self::launch(Command::new(env!("CARGO_BIN_EXE_hookgate")), config, env)
    }

    /// The same with extra arguments after `serve --config <path>`.
    pub fn spawn_with_args(config: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookgate"));
        command.args(["serve", "--config"]).arg(config).args(args);
        Self::start(command, env)
    }

    /// The same with at most `descriptors` file descriptors open (`ulimit -n`).
    pub fn spawn_with_descriptors(config: &Path, descriptors: u32) -> Self {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "ulimit -n \"$1\" && shift && exec \"$@\"",
            "sh",
            &descriptors.to_string(),
            env!("CARGO_BIN_EXE_hookgate"),
        ]);
        Self::launch(command, config, &[])
    }

    fn launch(mut command: Command, config: &Path, env: &[(&str, &str)]) -> Self {
        command.args(["serve", "--config"]).arg(config);
        Self::start(command, env)
    }

    fn start(mut command: Command, env: &[(&str, &str)]) -> Self {
        let cwd = tempfile::tempdir().unwrap();
        let mut child = command
            .current_dir(cwd.path())
            .env("HOOKGATE_LOG_FORMAT", "json")
            .env("HOOKGATE_LOG", "info")
            // The caller's variables win over the defaults above.
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookgate");
        let stderr = child.stderr.take().unwrap();
        let (sender, logs) = std::sync::mpsc::channel();
        // Drain stderr for the whole life of the child so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = Self {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            admin: None,
            logs,
            _cwd: cwd,
        };
        let line = process.wait_for_log("hookgate listening");
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        process.addr = event["listen"].as_str().unwrap().parse().unwrap();
        process.admin = event["admin"].as_str().map(|admin| admin.parse().unwrap());
        process
    }

    /// Waits (10 s at most) for a log line containing `needle`, and returns it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.logs_until(needle).pop().unwrap_or_default()
    }

    /// Waits (10 s at most) for a log line containing `needle`, and returns every
    /// line since the last wait, that one last.
    pub fn logs_until(&self, needle: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    lines.push(line);
                    if found {
                        return lines;
                    }
                }
                Err(_) => panic!("hookgate never logged `{needle}`"),
            }
        }
    }

    /// A URL on this hookgate.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the process with SIGTERM and returns every log line it wrote that was
    /// not already consumed by `wait_for_log`.
    pub fn stop_and_collect_logs(mut self) -> Vec<String> {
        self.terminate();
        let _ = self.child.wait();
        let mut lines = Vec::new();
        while let Ok(line) = self.logs.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        lines
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }
}

impl Drop for HookgateProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
