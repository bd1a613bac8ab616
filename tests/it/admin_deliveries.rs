//! One delivery through the admin API, on both stores: its attempts (time, status,
//! duration, error, excerpt) in every state, kept after it is delivered, and
//! `retry`, which sends one waiting out a backoff now and replays a dead one.

use http::Method;
use serde_json::Value;

use crate::admin_api::assert_fits;
use crate::support::redis::RedisServer;
use crate::support::{post_json, send, Downstream, Hookgate, Reply, ADMIN_TOKEN};

const VIEWER: &str = "viewer-token-for-deliveries-0123456789abcdef";

async fn call(hookgate: &Hookgate, method: Method, path: &str, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    send(
        method,
        &hookgate.admin_url(path),
        &[("authorization", &bearer)],
        "",
    )
    .await
}

/// The view at `path` once `holds` (10 s at most): a delivery's outcome is
/// recorded just after the target answers, with no signal to await.
async fn until(hookgate: &Hookgate, path: &str, token: &str, holds: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let view = call(hookgate, Method::GET, path, token).await.json();
        if holds(&view) {
            return view;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: never reached; last {view}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `slow` first answers 503 with `Retry-After: 3600` (so only `retry` sends it again
/// soon); `strict` does not retry a 400.
fn config(store: &str, slow: &Downstream, strict: &Downstream) -> String {
    format!(
        "admin:\n  listen: 127.0.0.1:0\n  tokens:\n\
         \x20   - {{ name: ops, token: {ADMIN_TOKEN}, roles: [admin] }}\n\
         \x20   - {{ name: dashboards, token: {VIEWER}, roles: [viewer] }}\n\
         {store}targets:\n\
         \x20 slow: {{ url: \"{}\" }}\n\
         \x20 strict: {{ url: \"{}\" }}\n\
         routes:\n  - {{ name: r, path: /in, targets: [slow, strict] }}\n",
        slow.url("/slow"),
        strict.url("/strict"),
    )
}

async fn check(store: &str) {
    let (slow, strict) = (Downstream::start().await, Downstream::start().await);
    // Retry-After fixes the wait (a backoff is drawn at random below its ceiling).
    slow.set(|b| b.script.push_back((503, Some("3600"))));
    strict.set(|b| b.status = http::StatusCode::BAD_REQUEST);
    let hookgate = Hookgate::start(&config(store, &slow, &strict)).await;
    let document = call(&hookgate, Method::GET, "/api/v1/openapi.json", VIEWER)
        .await
        .json();
    assert_eq!(post_json(&hookgate.url("/in"), r#"{"n":1}"#).await.status, 202);
    let first = slow.wait_for(1).await;
    let waiting = first[0].headers["hookgate-delivery-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let dead = strict.wait_for(1).await[0].headers["hookgate-delivery-id"]
        .to_str()
        .unwrap()
        .to_owned();

    // Waiting out its backoff: one attempt, answered 503, the next an hour away.
    let path = format!("/api/v1/deliveries/{waiting}");
    let view = until(&hookgate, &path, VIEWER, |view| {
        view["attempts"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_fits(&document, &Method::GET, "/api/v1/deliveries/{id}", &view);
    assert_eq!(view["state"], "pending");
    assert_eq!(
        (view["route"].as_str(), view["target"].as_str()),
        (Some("r"), Some("slow"))
    );
    assert_eq!(view["attempts"][0]["number"], 1);
    assert_eq!(view["attempts"][0]["status"], 503);
    assert!(view["attempts"][0]["latency_ms"].is_u64());
    assert_eq!(
        view["attempts"][0]["excerpt"],
        Value::Null,
        "no answer excerpt for a viewer"
    );
    let next = time::OffsetDateTime::parse(
        view["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        next > time::OffsetDateTime::now_utc() + time::Duration::minutes(5),
        "{view}"
    );
    let event = call(
        &hookgate,
        Method::GET,
        &format!("/api/v1/events/{}", view["event_id"].as_str().unwrap()),
        VIEWER,
    )
    .await
    .json();
    assert_eq!(event["deliveries"].as_array().unwrap().len(), 2, "{event}");

    // Retried now: sent at once, delivered, its attempts kept.
    call(&hookgate, Method::POST, &format!("{path}/retry"), VIEWER)
        .await
        .assert_problem(403, "forbidden");
    let retried = call(&hookgate, Method::POST, &format!("{path}/retry"), ADMIN_TOKEN).await;
    assert_eq!(retried.status, 200, "{:?}", retried.json());
    assert_fits(
        &document,
        &Method::POST,
        "/api/v1/deliveries/{id}/retry",
        &retried.json(),
    );
    let second = slow.wait_for(2).await;
    assert_eq!(second[1].headers["hookgate-delivery-id"], waiting.as_str());
    assert_eq!(second[1].headers["hookgate-attempt"], "2");
    let view = until(&hookgate, &path, ADMIN_TOKEN, |view| view["state"] == "delivered").await;
    let statuses: Vec<u64> = view["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 200]);
    assert_eq!(
        view["attempts"][1]["excerpt"], r#"{"ok":true}"#,
        "operators see the answer"
    );
    call(&hookgate, Method::POST, &format!("{path}/retry"), ADMIN_TOKEN)
        .await
        .assert_problem(409, "delivery-finished");

    // A dead one is replayed by retry, and delivered once.
    let dead_path = format!("/api/v1/deliveries/{dead}");
    until(&hookgate, &dead_path, VIEWER, |view| view["state"] == "dead").await;
    strict.set(|b| b.status = http::StatusCode::OK);
    let replayed = call(
        &hookgate,
        Method::POST,
        &format!("{dead_path}/retry"),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(replayed.status, 200);
    let sent = strict.wait_for(2).await;
    assert_eq!(sent[1].headers["hookgate-delivery-id"], dead.as_str());
    until(&hookgate, &dead_path, VIEWER, |view| view["state"] == "delivered").await;
    assert_eq!(strict.received().len(), 2, "delivered once after the replay");

    call(
        &hookgate,
        Method::GET,
        "/api/v1/deliveries/no-such-delivery",
        VIEWER,
    )
    .await
    .assert_problem(404, "not-found");
    call(
        &hookgate,
        Method::POST,
        "/api/v1/deliveries/no-such-delivery/retry",
        ADMIN_TOKEN,
    )
    .await
    .assert_problem(404, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_show_their_attempts_and_retry_on_the_embedded_store() {
    check("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_show_their_attempts_and_retry_on_redis() {
    let redis = RedisServer::start();
    check(&format!(
        "store: {{ redis: {{ url: \"redis://127.0.0.1:{}\" }} }}\n",
        redis.port
    ))
    .await;
}
