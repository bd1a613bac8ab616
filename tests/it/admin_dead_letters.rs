//! Dead letters through the admin API while hookgate serves, on both stores: listed
//! with filters and pages (bodies for operators only, redacted), shown, replayed one
//! at a time or by filter and delivered once, discarded.

use http::{Method, StatusCode};
use serde_json::Value;

use crate::admin_api::assert_fits;
use crate::support::redis::RedisServer;
use crate::support::{send, Downstream, Hookgate, Reply};

const OPERATOR: &str = "operator-token-0123456789abcdef-012345678";
const VIEWER: &str = "viewer-token-0123456789abcdef-0123456789";

fn config(store: &str, backend: &Downstream) -> String {
    format!(
        "admin:\n  listen: 127.0.0.1:0\n  tokens:\n\
         \x20   - {{ name: oncall, token: {OPERATOR}, roles: [operator] }}\n\
         \x20   - {{ name: dashboards, token: {VIEWER}, roles: [viewer] }}\n\
         {store}\
         targets:\n  backend: {{ url: \"{url}\" }}\n\
         routes:\n  - {{ name: r, path: /in, targets: [backend], redact: [$.tax_id] }}\n",
        url = backend.url("/hook"),
    )
}

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

/// Waits until the API lists `count` dead letters, and returns the page.
async fn listed(hookgate: &Hookgate, count: usize) -> Value {
    let mut page = Value::Null;
    for _ in 0..400 {
        page = call(hookgate, Method::GET, "/api/v1/dead-letters", OPERATOR)
            .await
            .json();
        if page["items"].as_array().is_some_and(|items| items.len() == count) {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("never listed {count} dead letters: {page}");
}

async fn dead_letters_are_managed_while_serving(store: &str) {
    let backend = Downstream::start().await;
    backend.set(|b| b.status = StatusCode::BAD_REQUEST);
    let hookgate = Hookgate::start(&config(store, &backend)).await;
    for n in 0..3 {
        let body = format!("{{\"n\":{n},\"tax_id\":\"123.456.789-0{n}\"}}");
        assert_eq!(
            crate::support::post_json(&hookgate.url("/in"), body).await.status,
            202
        );
    }
    let page = listed(&hookgate, 3).await;
    assert_eq!(page["total"], 3, "{page}");
    let first = &page["items"][0];
    assert_eq!(first["route"], "r");
    assert_eq!(first["target"], "backend");
    assert_eq!(first["reason"], "status 400 is not retried");
    assert_eq!(first["last_attempt"]["status"], 400);
    let body = first["body"].as_str().expect("an operator sees the body");
    assert!(body.contains("\"tax_id\":\"***\""), "redacted: {body}");
    assert!(!body.contains("123.456"), "{body}");

    // A viewer sees no body and no answer excerpt.
    let viewed = call(&hookgate, Method::GET, "/api/v1/dead-letters", VIEWER)
        .await
        .json();
    assert!(viewed["items"][0]["body"].is_null(), "{viewed}");
    assert!(
        viewed["items"][0]["last_attempt"]["excerpt"].is_null(),
        "{viewed}"
    );

    // Filters and pages.
    let none = call(
        &hookgate,
        Method::GET,
        "/api/v1/dead-letters?target=other",
        VIEWER,
    )
    .await
    .json();
    assert_eq!(none["items"], serde_json::json!([]));
    let by_reason = call(
        &hookgate,
        Method::GET,
        "/api/v1/dead-letters?reason=NOT%20RETRIED&since=1h",
        VIEWER,
    )
    .await
    .json();
    assert_eq!(by_reason["items"].as_array().unwrap().len(), 3);
    let one = call(
        &hookgate,
        Method::GET,
        "/api/v1/dead-letters?limit=1&offset=1",
        VIEWER,
    )
    .await
    .json();
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert_eq!(one["has_more"], true);
    assert_eq!(one["items"][0]["id"], page["items"][1]["id"]);
    let newest = call(
        &hookgate,
        Method::GET,
        "/api/v1/dead-letters?sort=-dead_at",
        VIEWER,
    )
    .await
    .json();
    assert_eq!(newest["items"][0]["id"], page["items"][2]["id"]);
    call(
        &hookgate,
        Method::GET,
        "/api/v1/dead-letters?since=last-tuesday",
        VIEWER,
    )
    .await
    .assert_problem(400, "invalid-parameter");

    let ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    let shown = call(
        &hookgate,
        Method::GET,
        &format!("/api/v1/dead-letters/{}", ids[0]),
        VIEWER,
    )
    .await;
    assert_eq!(shown.json()["id"], ids[0].as_str());
    // It names its event, whose log entry lists it as dead.
    let event_id = shown.json()["event_id"]
        .as_str()
        .expect("the dead letter names its event")
        .to_owned();
    let event = call(
        &hookgate,
        Method::GET,
        &format!("/api/v1/events/{event_id}"),
        VIEWER,
    )
    .await
    .json();
    assert_eq!(event["request_id"], shown.json()["request_id"]);
    assert_eq!(event["deliveries"][0]["id"], ids[0].as_str(), "{event}");
    assert_eq!(event["deliveries"][0]["state"], "dead");
    // Answers fit the API's document.
    let document = call(&hookgate, Method::GET, "/api/v1/openapi.json", VIEWER)
        .await
        .json();
    assert_fits(
        &document,
        &Method::GET,
        "/api/v1/dead-letters/{id}",
        &shown.json(),
    );
    assert_fits(&document, &Method::GET, "/api/v1/dead-letters", &page);
    assert_fits(&document, &Method::GET, "/api/v1/dead-letters", &viewed);
    call(&hookgate, Method::GET, "/api/v1/dead-letters/no-such-id", VIEWER)
        .await
        .assert_problem(404, "not-found");

    // The backend is fixed: one is replayed and delivered once.
    backend.set(|b| b.status = StatusCode::OK);
    let replayed = call(
        &hookgate,
        Method::POST,
        &format!("/api/v1/dead-letters/{}/replay", ids[0]),
        OPERATOR,
    )
    .await;
    assert_eq!(replayed.status, 200, "{:?}", replayed.body);
    assert_eq!(replayed.json()["count"], 1);
    listed(&hookgate, 2).await;
    let delivered = backend.wait_for(4).await;
    // Dead letters are listed in the order they died, which concurrent attempts
    // need not keep: the replayed one is found by its number.
    let raw = |index: usize| {
        let shown: Value = serde_json::from_str(page["items"][index]["body"].as_str().unwrap()).unwrap();
        let n = shown["n"].as_u64().unwrap();
        format!("{{\"n\":{n},\"tax_id\":\"123.456.789-0{n}\"}}")
    };
    assert_eq!(delivered[3].body, raw(0));

    // One is discarded for good.
    let discarded = call(
        &hookgate,
        Method::DELETE,
        &format!("/api/v1/dead-letters/{}", ids[1]),
        OPERATOR,
    )
    .await;
    assert_eq!(discarded.json()["count"], 1);
    assert_fits(
        &document,
        &Method::DELETE,
        "/api/v1/dead-letters/{id}",
        &discarded.json(),
    );
    call(
        &hookgate,
        Method::GET,
        &format!("/api/v1/dead-letters/{}", ids[1]),
        VIEWER,
    )
    .await
    .assert_problem(404, "not-found");

    // Bulk replay needs a filter or all=true; then the last one goes.
    call(&hookgate, Method::POST, "/api/v1/dead-letters/replay", OPERATOR)
        .await
        .assert_problem(400, "invalid-parameter");
    let bulk = call(
        &hookgate,
        Method::POST,
        "/api/v1/dead-letters/replay?all=true",
        OPERATOR,
    )
    .await;
    assert_eq!(bulk.json()["count"], 1);
    crate::support::drained(&hookgate.store, "backend").await;
    let delivered = backend.received();
    assert_eq!(
        delivered.len(),
        5,
        "three failures, then two replays delivered once each"
    );
    assert_eq!(delivered[4].body, raw(2));
    let backlog = hookgate.store.backlog("backend").await.unwrap();
    assert_eq!((backlog.pending, backlog.dead), (0, 0));
    let metrics = String::from_utf8(
        send(Method::GET, &hookgate.admin_url("/metrics"), &[], "")
            .await
            .body
            .to_vec(),
    )
    .unwrap();
    for series in [
        "hookgate_admin_operations_total{operation=\"replay\",token=\"oncall\"} 2",
        "hookgate_admin_operations_total{operation=\"discard\",token=\"oncall\"} 1",
    ] {
        assert!(metrics.contains(series), "no `{series}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_managed_while_serving_on_the_embedded_store() {
    dead_letters_are_managed_while_serving("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_managed_while_serving_on_redis() {
    let redis = RedisServer::start();
    dead_letters_are_managed_while_serving(&format!("store: {{ redis: {{ url: \"{}\" }} }}\n", redis.url()))
        .await;
}
