//! Connections cost a file descriptor each: none is kept open for nothing, whatever
//! protocol it speaks, and beyond `limits.max_connections` new ones are closed at
//! once and counted.

use std::time::Duration;

use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{post_json, send, Downstream, Hookgate};

const HEADER_TIMEOUT: &str = "300ms";

async fn hookgate(target: &Downstream, limits: &str) -> Hookgate {
    Hookgate::start(&format!(
        "admin: {{ listen: 127.0.0.1:0 }}\nlimits: {{ header_read_timeout: {HEADER_TIMEOUT}{limits} }}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, mode: sync, targets: [t] }}\n",
        target.url("/t")
    ))
    .await
}

/// Reads until the server closes the connection; fails the test if it is still open
/// after 5 s (the header timeout is 300 ms).
async fn closed_by_server(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{what}: still open 5 s after a {HEADER_TIMEOUT} header timeout"
    );
}

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const H2_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

#[tokio::test]
async fn idle_connections_of_either_protocol_are_closed_after_the_header_timeout() {
    let target = Downstream::start().await;
    let hookgate = hookgate(&target, "").await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("nothing sent", Vec::new()),
        ("one byte", b"P".to_vec()),
        ("only the HTTP/2 preface", H2_PREFACE.to_vec()),
        ("HTTP/2 idle after SETTINGS", [H2_PREFACE, H2_SETTINGS].concat()),
        (
            // HEADERS (type 1) on stream 1 without END_HEADERS, and no CONTINUATION.
            "an HTTP/2 HEADERS frame never ended",
            [H2_PREFACE, H2_SETTINGS, &[0, 0, 1, 1, 0, 0, 0, 0, 1, 0x82]].concat(),
        ),
        (
            "half an HTTP/1.1 request head",
            b"POST /in HTTP/1.1\r\nhost: x\r\n".to_vec(),
        ),
    ];
    let mut streams = Vec::new();
    for (what, bytes) in &cases {
        let mut stream = TcpStream::connect(hookgate.addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        streams.push((what, stream));
    }
    for (what, stream) in &mut streams {
        closed_by_server(stream, what).await;
    }
    // The listener still serves.
    let reply = post_json(&hookgate.url("/in"), "{}").await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_kept_alive_connection_waits_for_its_next_request_no_longer_than_the_header_timeout() {
    let target = Downstream::start().await;
    let hookgate = hookgate(&target, "").await;
    let mut stream = TcpStream::connect(hookgate.addr).await.unwrap();
    stream
        .write_all(
            b"POST /in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        )
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let read = stream.read(&mut answer).await.unwrap();
    assert!(
        answer[..read].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..read])
    );
    closed_by_server(&mut stream, "an idle kept-alive connection").await;
}

#[tokio::test]
async fn a_request_in_flight_longer_than_the_header_timeout_is_not_cut() {
    let target = Downstream::start().await;
    target.set(|b| b.delay = Duration::from_millis(900));
    let hookgate = hookgate(&target, "").await;
    let reply = post_json(&hookgate.url("/in"), "{}").await;
    assert_eq!(reply.status, 200, "answered after 900 ms, three header timeouts");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once_and_counted() {
    let target = Downstream::start().await;
    let hookgate = hookgate(&target, ", max_connections: 3").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        // Half a request head: a connection the server keeps until the timeout.
        let mut stream = TcpStream::connect(hookgate.addr).await.unwrap();
        stream.write_all(b"POST /in HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    // Accepted and counted in order: wait until the three are counted as open.
    let metrics = hookgate.admin_url("/metrics");
    crate::support::eventually("three connections open", || async {
        let body = send(Method::GET, &metrics, &[], "").await.body;
        String::from_utf8_lossy(&body).contains("hookgate_connections_open{listener=\"ingress\"} 3")
    })
    .await;
    let mut refused = TcpStream::connect(hookgate.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), refused.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "a fourth connection is closed at once: {read:?}"
    );
    let body = send(Method::GET, &metrics, &[], "").await.body;
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("hookgate_connections_refused_total{listener=\"ingress\"} 1"),
        "{text}"
    );

    // Once the held ones are gone, connections are accepted again.
    drop(held);
    crate::support::eventually("a request served again", || async {
        post_json(&hookgate.url("/in"), "{}").await.status == 200
    })
    .await;
}

/// Probes may use HEAD: the admin endpoints answer it as GET, without a body.
#[tokio::test]
async fn the_admin_endpoints_answer_head_like_get() {
    let target = Downstream::start().await;
    let hookgate = Hookgate::start(&format!(
        "admin: {{ listen: 127.0.0.1:0 }}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
        target.url("/t")
    ))
    .await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let get = send(Method::GET, &hookgate.admin_url(path), &[], "").await;
        let head = send(Method::HEAD, &hookgate.admin_url(path), &[], "").await;
        assert_eq!(head.status, 200, "HEAD {path}");
        assert_eq!(head.status, get.status, "{path}");
        assert!(head.body.is_empty(), "HEAD {path} has no body");
        assert_eq!(head.header("content-type"), get.header("content-type"), "{path}");
    }
    let put = send(Method::PUT, &hookgate.admin_url("/healthz"), &[], "").await;
    put.assert_problem(405, "method-not-allowed");
    assert_eq!(put.header("allow"), Some("GET, HEAD"));
}

/// `hookgate health` is the container health check: 0 while hookgate answers on its
/// admin listener (alive, and with `--ready` ready), 1 once it is gone.
#[test]
fn hookgate_health_exits_0_while_serving_and_1_when_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nstore: {{ embedded: {{ path: \"{}\" }} }}\ntargets:\n  t: {{ url: \"http://127.0.0.1:9/\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let process = crate::support::HookgateProcess::spawn(&path);
    let admin = process.admin.expect("an admin listener").to_string();
    let health = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .arg("health")
            .args(["--admin", &admin])
            .args(args)
            .output()
            .unwrap()
    };
    let alive = health(&[]);
    assert!(
        alive.status.success(),
        "{}",
        String::from_utf8_lossy(&alive.stdout)
    );
    assert!(health(&["--ready"]).status.success());
    drop(process);
    let gone = health(&[]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stdout).contains("cannot reach"));
}
