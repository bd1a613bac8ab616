//! The README's walkthrough as a newcomer runs it on a fresh clone: every file it names
//! is in the repository, and its commands, run as written from the repository's root
//! (only the ports moved to free ones, through the config's own variables), end with
//! a `202` and both receivers printing the request.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shell commands of the README's fenced `sh` blocks that run
/// `./target/debug/hookgate`, joined across `\` line ends, comments removed.
fn commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut pending = String::new();
    let mut in_sh = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let line = line.split(" # ").next().unwrap_or(line).trim_end();
        match line.strip_suffix('\\') {
            Some(start) => pending.push_str(start),
            None => {
                pending.push_str(line);
                let command = std::mem::take(&mut pending);
                if command.trim_start().starts_with("./target/debug/hookgate") {
                    commands.push(command.trim().to_owned());
                }
            }
        }
    }
    commands
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command of the walkthrough running in the background, its stdout collected.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    fn start(command: &str, root: &Path, env: &[(String, String)]) -> Self {
        let mut child = Command::new("sh")
            .args(["-c", &format!("exec {command}")])
            .current_dir(root)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{command}`: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits (10 s at most) for a line containing `needle`.
    fn wait_for(&self, needle: &str, what: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => continue,
                Err(_) => panic!("{what}: never printed `{needle}`"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_readme_walkthrough_runs_to_the_end() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let commands = commands(&readme);
    let find = |needle: &str| {
        commands
            .iter()
            .find(|command| command.contains(needle))
            .unwrap_or_else(|| panic!("the README has no `{needle}` command: {commands:#?}"))
            .clone()
    };
    let (primary, audit, serve, sign) = (
        find("receive --listen 127.0.0.1:9001 --name primary"),
        find("receive --listen 127.0.0.1:9002 --name audit"),
        find("serve"),
        find("sign --route klavi"),
    );
    for word in sign.split_whitespace().filter(|word| word.ends_with(".json")) {
        assert!(
            !word.contains(".."),
            "the walkthrough reaches outside the repository: {word}"
        );
        assert!(
            repo().join(word).is_file(),
            "the walkthrough names a missing file: {word}"
        );
    }

    // The binary the README builds is the one under test; the data directory is the
    // test's own (the config names it through HOOKGATE_DATA).
    let data = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_hookgate");
    let (p1, p2, listen, admin) = (free_port(), free_port(), free_port(), free_port());
    let env = vec![
        ("HOOKGATE_LISTEN".to_owned(), format!("127.0.0.1:{listen}")),
        ("HOOKGATE_ADMIN_LISTEN".to_owned(), format!("127.0.0.1:{admin}")),
        (
            "HOOKGATE_DATA".to_owned(),
            data.path().join("data").display().to_string(),
        ),
        (
            "PRIMARY_URL".to_owned(),
            format!("http://127.0.0.1:{p1}/webhooks"),
        ),
        ("AUDIT_URL".to_owned(), format!("http://127.0.0.1:{p2}/audit")),
    ];
    let run = |command: &str| {
        command
            .replacen("./target/debug/hookgate", binary, 1)
            .replace("127.0.0.1:9001", &format!("127.0.0.1:{p1}"))
            .replace("127.0.0.1:9002", &format!("127.0.0.1:{p2}"))
    };
    let primary = Running::start(&run(&primary), &repo(), &env);
    let audit = Running::start(&run(&audit), &repo(), &env);
    primary.wait_for("listening", "the primary receiver");
    audit.wait_for("listening", "the audit receiver");
    let _serve = Running::start(&run(&serve), &repo(), &env);
    // hookgate logs to stderr; its port answering is the signal that it is up.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
        assert!(std::time::Instant::now() < deadline, "`{serve}` never listened");
        std::thread::sleep(Duration::from_millis(20));
    }

    let output = Command::new("sh")
        .args(["-c", &run(&sign)])
        .current_dir(repo())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run the sign command");
    let answer = String::from_utf8_lossy(&output.stdout);
    assert!(
        answer.starts_with("HTTP/1.1 202"),
        "`{sign}` answered:\n{answer}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    primary.wait_for("POST /webhooks", "the primary receiver");
    audit.wait_for("POST /audit", "the audit receiver");
}
