//! Graceful shutdown of the real binary: SIGTERM stops accepting, lets in-flight
//! requests finish within the grace period, then exits.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::{post_json, Downstream, HookgateProcess};

fn write_config(dir: &tempfile::TempDir, target: &str, grace: &str) -> PathBuf {
    let path = dir.path().join("hookgate.yaml");
    let yaml = format!(
        r#"
listen: 127.0.0.1:0
shutdown_grace: {grace}
targets:
  slow: {{ url: "{target}", timeout: 60s }}
routes:
  - {{ name: r, path: /in, mode: sync, targets: [slow] }}
"#
    );
    std::fs::write(&path, yaml).expect("write config");
    path
}

/// Waits for the child to exit (20 s at most) and returns how it exited.
async fn wait_exit(process: &mut HookgateProcess) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = process.child.try_wait().expect("child status") {
            return status;
        }
        assert!(Instant::now() < deadline, "hookgate did not exit after SIGTERM");
        // Polling a child's exit status has no async signal to await in std.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// Multi-threaded: the test blocks on hookgate's log while its fake backends serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_in_flight_at_sigterm_completes() {
    let downstream = Downstream::start().await;
    downstream.set(|b| {
        b.delay = Duration::from_millis(1500);
        b.body = "{\"finished\":true}".into();
    });
    let dir = tempfile::tempdir().unwrap();
    let mut process = HookgateProcess::spawn(&write_config(&dir, &downstream.url("/slow"), "10s"));
    let url = process.url("/in");
    let in_flight = tokio::spawn(async move { post_json(&url, "{\"id\":1}").await });

    downstream.wait_for(1).await;
    process.terminate();
    process.wait_for_log("shutting down");

    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "{\"finished\":true}");
    assert!(wait_exit(&mut process).await.success());
    assert!(
        std::net::TcpStream::connect(process.addr).is_err(),
        "hookgate still accepts connections after shutdown"
    );
}

// Multi-threaded: the test blocks on hookgate's log while its fake backends serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_after_the_grace_period() {
    let downstream = Downstream::start().await;
    downstream.set(|b| b.delay = Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let mut process = HookgateProcess::spawn(&write_config(&dir, &downstream.url("/stuck"), "1s"));
    let url = process.url("/in");
    let _in_flight = tokio::spawn(async move { post_json(&url, "{}").await });

    downstream.wait_for(1).await;
    let signalled = Instant::now();
    process.terminate();
    assert!(wait_exit(&mut process).await.success());
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "exited before the grace period: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "grace period of 1s ignored: {took:?}"
    );
}
