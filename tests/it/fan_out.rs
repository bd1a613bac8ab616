//! Sync-mode fan-out through real sockets: every target gets the same bytes and the
//! expected headers; the sender gets the primary's answer, or a 502/504 problem.

use std::time::{Duration, Instant};

use crate::support::{fixture, post_json, send, Downstream, Hookgate};
use http::{Method, StatusCode};

const SIGNATURE: &str = "4b1d0c0ffee";

async fn three_targets(primary_timeout: &str) -> (Hookgate, [Downstream; 3]) {
    let targets = [
        Downstream::start().await,
        Downstream::start().await,
        Downstream::start().await,
    ];
    let yaml = format!(
        r#"
targets:
  primary: {{ url: "{}", timeout: {primary_timeout}, headers: {{ x-api-key: backend-key }} }}
  second: {{ url: "{}" }}
  third: {{ url: "{}" }}
routes:
  - name: klavi
    path: /hooks/klavi
    mode: sync
    targets: [primary, second, third]
    pass_headers: [x-klavi-signature, x-hop]
"#,
        targets[0].url("/one"),
        targets[1].url("/two"),
        targets[2].url("/three"),
    );
    (Hookgate::start(&yaml).await, targets)
}

async fn post_klavi(hookgate: &Hookgate, body: Vec<u8>) -> crate::support::Reply {
    send(
        Method::POST,
        &hookgate.url("/hooks/klavi"),
        &[
            ("content-type", "application/json"),
            ("x-klavi-signature", SIGNATURE),
            ("x-not-allowed", "secret-ish"),
            ("cookie", "session=1"),
            ("connection", "x-hop"),
            ("x-hop", "listed in Connection, so hop-by-hop"),
            ("x-forwarded-for", "203.0.113.7"),
        ],
        body,
    )
    .await
}

#[tokio::test]
async fn every_target_receives_identical_bytes_and_expected_headers() {
    let (hookgate, targets) = three_targets("5s").await;
    let body = fixture("klavi-consent_authorised.json");
    let reply = post_klavi(&hookgate, body.clone()).await;
    assert_eq!(reply.status, 200);
    let request_id = reply.header("x-request-id").unwrap().to_owned();

    for (target, path) in targets.iter().zip(["/one", "/two", "/three"]) {
        let received = target.wait_for(1).await;
        assert_eq!(received.len(), 1);
        let got = &received[0];
        assert_eq!(got.method, Method::POST);
        assert_eq!(got.path, path);
        assert_eq!(got.body, body, "byte-identical body at {path}");
        let h = &got.headers;
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["content-length"], body.len().to_string());
        assert_eq!(h["x-klavi-signature"], SIGNATURE);
        assert_eq!(h["x-request-id"], request_id.as_str());
        assert_eq!(h["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
        for absent in ["x-not-allowed", "cookie", "x-hop", "connection"] {
            assert!(!h.contains_key(absent), "{absent} must not reach {path}");
        }
    }
    assert_eq!(targets[0].received()[0].headers["x-api-key"], "backend-key");
    assert!(!targets[1].received()[0].headers.contains_key("x-api-key"));
}

#[tokio::test]
async fn sender_gets_the_primary_status_and_body() {
    let (hookgate, targets) = three_targets("5s").await;
    // Secondaries failing must not change what the sender sees.
    targets[1].set(|b| b.status = StatusCode::INTERNAL_SERVER_ERROR);
    targets[2].set(|b| b.reset = true);
    for (round, status) in [200u16, 404, 500].into_iter().enumerate() {
        let answer = format!("{{\"primary_said\":{status}}}");
        targets[0].set(|b| {
            b.status = StatusCode::from_u16(status).unwrap();
            b.body = answer.clone().into();
            b.headers = vec![("content-type", "application/json"), ("x-backend", "yes")];
        });
        let reply = post_klavi(&hookgate, b"[]".to_vec()).await;
        assert_eq!(reply.status.as_u16(), status);
        assert_eq!(reply.body, answer);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("x-backend"), Some("yes"));
        for target in &targets {
            target.wait_for(round + 1).await;
        }
    }
}

#[tokio::test]
async fn primary_timeout_is_504_within_the_timeout() {
    let (hookgate, targets) = three_targets("500ms").await;
    targets[0].set(|b| b.delay = Duration::from_secs(30));
    let started = Instant::now();
    let reply = post_klavi(&hookgate, b"[]".to_vec()).await;
    let elapsed = started.elapsed();
    reply.assert_problem(504, "target-timeout");
    assert!(
        elapsed >= Duration::from_millis(500),
        "answered before the timeout: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2500),
        "504 took {elapsed:?} for a 500ms timeout"
    );
    // The other targets were still served.
    targets[1].wait_for(1).await;
    targets[2].wait_for(1).await;
}

#[tokio::test]
async fn refused_primary_is_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let second = Downstream::start().await;
    let yaml = format!(
        r#"
targets:
  gone: {{ url: "http://127.0.0.1:{port}/x" }}
  second: {{ url: "{}" }}
routes:
  - {{ name: r, path: /in, mode: sync, targets: [gone, second] }}
"#,
        second.url("/y")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let reply = post_json(&hookgate.url("/in"), "{}").await;
    let problem = reply.assert_problem(502, "target-unreachable");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        !detail.contains(&port.to_string()),
        "the problem must not reveal the target address: {detail}"
    );
    assert_eq!(second.wait_for(1).await[0].body, "{}");
}

#[tokio::test]
async fn reset_by_primary_is_502() {
    let (hookgate, targets) = three_targets("5s").await;
    targets[0].set(|b| b.reset = true);
    let reply = post_klavi(&hookgate, b"[]".to_vec()).await;
    reply.assert_problem(502, "target-unreachable");
    assert_eq!(targets[0].wait_for(1).await.len(), 1);
}
