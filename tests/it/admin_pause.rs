//! Pausing a target through the admin API: its deliveries wait and spend no attempt,
//! across a restart, on every instance sharing Redis, until it is resumed.

use std::time::Duration;

use http::Method;

use crate::support::redis::RedisServer;
use crate::support::{post_json, send, Downstream, Hookgate, Reply};

/// How long a paused target is watched for deliveries that must not come: the
/// bound within which a pause takes effect, and as much again.
const QUIET: Duration = Duration::from_millis(2000);

fn config(store: &str, backend: &Downstream) -> String {
    format!(
        "listen: 127.0.0.1:0\n{}\n{store}targets:\n  backend: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [backend] }}\n",
        crate::support::ADMIN,
        backend.url("/hook")
    )
}

async fn call(hookgate: &Hookgate, path: &str) -> Reply {
    let bearer = format!("Bearer {}", crate::support::ADMIN_TOKEN);
    send(
        Method::POST,
        &hookgate.admin_url(path),
        &[("authorization", &bearer)],
        "",
    )
    .await
}

async fn target(hookgate: &Hookgate) -> serde_json::Value {
    let bearer = format!("Bearer {}", crate::support::ADMIN_TOKEN);
    send(
        Method::GET,
        &hookgate.admin_url("/api/v1/targets/backend"),
        &[("authorization", &bearer)],
        "",
    )
    .await
    .json()
}

async fn admit(hookgate: &Hookgate, events: std::ops::Range<u32>) {
    for n in events {
        let reply = post_json(&hookgate.url("/in"), format!("{{\"n\":{n}}}")).await;
        assert_eq!(reply.status, 202);
    }
}

/// Every delivery `backend` got was a first attempt.
fn first_attempts_only(backend: &Downstream) {
    for received in backend.received() {
        assert_eq!(
            received.headers["hookgate-attempt"], "1",
            "a paused target spent no attempt"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_target_waits_across_a_restart_until_resumed() {
    let backend = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookgate.yaml");
    let store = format!(
        "store: {{ embedded: {{ path: {:?} }} }}\n",
        dir.path().join("data")
    );
    std::fs::write(&file, config(&store, &backend)).unwrap();
    let hookgate = Hookgate::start_file(&file).await;

    let paused = call(&hookgate, "/api/v1/targets/backend/pause").await;
    assert_eq!(paused.status, 200, "{:?}", paused.body);
    assert_eq!(paused.json()["state"]["paused"], true);
    admit(&hookgate, 0..3).await;
    tokio::time::sleep(QUIET).await;
    assert!(
        backend.received().is_empty(),
        "a paused target received deliveries"
    );
    assert_eq!(target(&hookgate).await["state"]["pending"], 3);

    // Still paused after a restart: the state is stored.
    hookgate.shutdown().await;
    let hookgate = Hookgate::start_file(&file).await;
    assert_eq!(target(&hookgate).await["state"]["paused"], true);
    admit(&hookgate, 3..4).await;
    tokio::time::sleep(QUIET).await;
    assert!(backend.received().is_empty(), "paused again after the restart");

    let resumed = call(&hookgate, "/api/v1/targets/backend/resume").await;
    assert_eq!(resumed.json()["state"]["paused"], false);
    assert_eq!(backend.wait_for(4).await.len(), 4);
    crate::support::drained(&hookgate.store, "backend").await;
    first_attempts_only(&backend);
    call(&hookgate, "/api/v1/targets/nope/pause")
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_through_one_instance_holds_every_instance_on_redis() {
    let redis = RedisServer::start();
    let backend = Downstream::start().await;
    let store = format!("store: {{ redis: {{ url: \"{}\" }} }}\n", redis.url());
    let (one, two) = (
        Hookgate::start(&config(&store, &backend)).await,
        Hookgate::start(&config(&store, &backend)).await,
    );
    assert_eq!(call(&one, "/api/v1/targets/backend/pause").await.status, 200);
    // Within a second the other instance holds too.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while target(&two).await["state"]["paused"] != true {
        assert!(
            std::time::Instant::now() < deadline,
            "instance two did not pause within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admit(&two, 0..3).await;
    admit(&one, 3..5).await;
    tokio::time::sleep(QUIET).await;
    assert!(
        backend.received().is_empty(),
        "an instance delivered to a paused target"
    );

    assert_eq!(call(&two, "/api/v1/targets/backend/resume").await.status, 200);
    let received = backend.wait_for(5).await;
    let mut bodies: Vec<String> = received
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 5, "each event delivered once: {bodies:?}");
    crate::support::drained(&one.store, "backend").await;
    first_attempts_only(&backend);
}
