//! What hookgate's log lines say to the operator reading them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{post_json, Downstream, HookgateProcess};

/// A target that refuses connections is logged with the target's name and the OS
/// error, not just "connect failed", on both paths that send.
// Multi-threaded: the test blocks on hookgate's log while its fake backends serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

/// A provider's W3C trace continues through hookgate: every request a target gets
/// carries the same trace id with a span id of its own (a new one per attempt) and
/// the provider's `tracestate`; a request without a trace starts one; the trace id
/// is in hookgate's log lines.
// Multi-threaded: the test blocks on hookgate's log while its fake backends serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_s_trace_continues_to_every_attempt_and_into_the_logs() {
    let (queued, primary) = (Downstream::start().await, Downstream::start().await);
    queued.set(|b| b.script = [(503, None)].into());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\nstore: {{ embedded: {{ path: \"{}\" }} }}\ntargets:\n  q: {{ url: \"{}\", retry: {{ initial_backoff: 10ms, max_backoff: 10ms }} }}\n  p: {{ url: \"{}\" }}\nroutes:\n  - {{ name: queued, path: /queued, targets: [q] }}\n  - {{ name: sync, path: /sync, mode: sync, targets: [p] }}\n",
            dir.path().join("data").display(),
            queued.url("/q"),
            primary.url("/p")
        ),
    )
    .unwrap();
    let process = HookgateProcess::spawn(&path);
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    let traced = [
        ("content-type", "application/json"),
        ("traceparent", parent.as_str()),
        ("tracestate", "vendor=abc"),
    ];
    let reply = crate::support::send(http::Method::POST, &process.url("/queued"), &traced, "{}").await;
    assert_eq!(reply.status, 202);
    let attempts = queued.wait_for(2).await;
    let mut spans = std::collections::HashSet::new();
    for attempt in &attempts {
        let value = attempt.headers["traceparent"].to_str().unwrap();
        let parts: Vec<&str> = value.split('-').collect();
        assert_eq!((parts[0], parts[1], parts[3]), ("00", TRACE, "01"), "{value}");
        assert_ne!(
            parts[2], "00f067aa0ba902b7",
            "hookgate's own span, not the provider's"
        );
        spans.insert(parts[2].to_owned());
        assert_eq!(attempt.headers["tracestate"], "vendor=abc");
    }
    assert_eq!(spans.len(), 2, "a span per attempt");

    assert_eq!(post_json(&process.url("/sync"), "{}").await.status, 200);
    let started = primary.wait_for(1).await[0].headers["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let started: Vec<&str> = started.split('-').collect();
    assert_eq!(started.len(), 4);
    assert_eq!(started[1].len(), 32);
    assert_ne!(started[1], TRACE, "a request without a trace starts one");

    let logs = process.logs_until(started[1]);
    assert!(
        logs.iter().any(|line| line.contains(TRACE)),
        "the provider's trace id is logged"
    );
}

/// At info, every line about a request or a delivery names it (request id, trace id,
/// route, path; delivery id and target), since no span frames them there.
// Multi-threaded: the test blocks on hookgate's log while its fake backend serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_about_a_request_or_a_delivery_name_it() {
    let backend = Downstream::start().await;
    backend.set(|b| b.script = [(503, None)].into());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\nstore: {{ embedded: {{ path: \"{}\" }} }}\ntargets:\n  ledger: {{ url: \"{}\", retry: {{ initial_backoff: 10ms, max_backoff: 10ms }} }}\nroutes:\n  - {{ name: orders, path: /orders, targets: [ledger] }}\n",
            dir.path().join("data").display(),
            backend.url("/l"),
        ),
    )
    .unwrap();
    let process = HookgateProcess::spawn(&path);
    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    let parent = format!("00-{TRACE}-b7ad6b7169203331-01");
    let headers = [
        ("content-type", "application/json"),
        ("traceparent", parent.as_str()),
    ];
    let reply = crate::support::send(http::Method::POST, &process.url("/orders"), &headers, "{}").await;
    assert_eq!(reply.status, 202);
    let request_id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    let refused = crate::support::send(http::Method::POST, &process.url("/nowhere"), &headers, "{}").await;
    assert_eq!(refused.status, 404);
    let refused_id = refused.headers["x-request-id"].to_str().unwrap().to_owned();

    let mut lines = process.logs_until("\"message\":\"delivered\"");
    if !lines.iter().any(|line| line.contains("\"status\":404")) {
        lines.extend(process.logs_until("\"status\":404"));
    }
    let lines: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let line = |message: &str, status: u64| {
        lines
            .iter()
            .find(|line| {
                line["message"] == message && (status == 0 || line["status"].as_u64() == Some(status))
            })
            .unwrap_or_else(|| panic!("no `{message}` line: {lines:#?}"))
    };
    let completed = line("request completed", 202);
    assert_eq!(completed["request_id"], request_id.as_str(), "{completed}");
    assert_eq!(completed["trace_id"], TRACE, "{completed}");
    assert_eq!(completed["route"], "orders", "{completed}");
    assert_eq!(completed["path"], "/orders", "{completed}");
    assert_eq!(completed["method"], "POST", "{completed}");
    for message in ["attempt failed; will retry", "delivered"] {
        let delivery = line(message, 0);
        assert_eq!(delivery["request_id"], request_id.as_str(), "{delivery}");
        assert_eq!(delivery["trace_id"], TRACE, "{delivery}");
        assert_eq!(delivery["route"], "orders", "{delivery}");
        assert_eq!(delivery["target_name"], "ledger", "{delivery}");
        assert!(
            delivery["delivery_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{delivery}"
        );
    }
    let refusal = line("request refused", 404);
    assert_eq!(refusal["request_id"], refused_id.as_str(), "{refusal}");
    assert_eq!(refusal["path"], "/nowhere", "{refusal}");
    let completed = line("request completed", 404);
    assert_eq!(completed["request_id"], refused_id.as_str(), "{completed}");
    assert_eq!(completed["route"], "none", "{completed}");
}
