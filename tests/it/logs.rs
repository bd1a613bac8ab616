//! What hookgate's log lines say to the operator reading them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{post_json, Downstream, HookgateProcess};

/// A target that refuses connections is logged with the target's name and the OS
/// error, not just "connect failed", on both paths that send.
#[tokio::test]
async fn connect_failures_name_the_target_and_the_os_error() {
    let closed = Downstream::unstarted();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\ntargets:\n  ledger: {{ url: \"{}\", retry: {{ initial_backoff: 10ms, max_backoff: 10ms, max_attempts: 2 }} }}\nroutes:\n  - {{ name: sync, path: /sync, mode: sync, targets: [ledger] }}\n  - {{ name: queued, path: /queued, targets: [ledger] }}\n",
            closed.url("/t")
        ),
    )
    .unwrap();
    let process = HookgateProcess::spawn(&path);
    assert_eq!(post_json(&process.url("/sync"), "{}").await.status, 502);
    assert_eq!(post_json(&process.url("/queued"), "{}").await.status, 202);
    let logs = process.logs_until("delivery dead-lettered");
    let failures: Vec<&String> = logs
        .iter()
        .filter(|line| line.contains("primary target failed") || line.contains("attempt failed"))
        .collect();
    assert!(failures.len() >= 2, "{logs:#?}");
    for line in failures {
        assert!(line.contains("ledger"), "no target name: {line}");
        assert!(
            line.contains("Connection refused") && line.contains("os error"),
            "no OS error: {line}"
        );
    }
}

/// Text logs written to a pipe or a file carry no colour codes.
#[test]
fn text_logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\nstore: {{ embedded: {{ path: \"{}\" }} }}\ntargets:\n  t: {{ url: \"http://127.0.0.1:9/\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["--log-format", "text", "serve", "--config"])
        .arg(&path)
        .env_remove("NO_COLOR")
        .env("HOOKGATE_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let line = loop {
        let line = lines.next().expect("hookgate logged nothing").unwrap();
        if line.contains("hookgate listening") {
            break line;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("INFO"), "{line}");
    assert!(!line.contains('\u{1b}'), "colour codes in a pipe: {line:?}");
}
