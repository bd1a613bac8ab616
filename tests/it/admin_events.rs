//! The event log through the admin API, on both stores: every admitted event (not
//! duplicates) listed with its deliveries' states, filtered by time window (the
//! partner's "which notifications did I miss" query), route, dedupe key and state.

use http::Method;
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
         routes:\n  - {{ name: partner, path: /in, targets: [backend], dedupe: {{ key: $.id }}, redact: [$.iban] }}\n",
        url = backend.url("/hook"),
    )
}

async fn get(hookgate: &Hookgate, path: &str, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    send(
        Method::GET,
        &hookgate.admin_url(path),
        &[("authorization", &bearer)],
        "",
    )
    .await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["dedupe_key"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `path` until its items' dedupe keys are `expected`.
async fn listed(hookgate: &Hookgate, path: &str, expected: &[&str]) -> Value {
    let mut page = Value::Null;
    for _ in 0..400 {
        page = get(hookgate, path, VIEWER).await.json();
        if ids(&page) == expected {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{path} never listed {expected:?}: {page}");
}

async fn events_are_logged_and_queried(store: &str) {
    let backend = Downstream::start().await;
    // The first event's delivery is refused for good; the others go through.
    backend.set(|b| b.status = http::StatusCode::BAD_REQUEST);
    let hookgate = Hookgate::start(&config(store, &backend)).await;
    for n in 1..=3 {
        let body = format!("{{\"id\":\"e{n}\",\"iban\":\"DE02 1203 0000 0000 2020 5{n}\"}}");
        assert_eq!(
            crate::support::post_json(&hookgate.url("/in"), body).await.status,
            202
        );
        if n == 1 {
            backend.wait_for(1).await;
            backend.set(|b| b.status = http::StatusCode::OK);
        }
        // Distinct admission times, so a window can fall between two events.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    // A repeat is a duplicate: not logged again.
    let repeat = crate::support::post_json(&hookgate.url("/in"), r#"{"id":"e2","iban":"x"}"#).await;
    assert_eq!(repeat.status, 202);
    backend.wait_for(3).await;

    let all = listed(&hookgate, "/api/v1/events", &["e1", "e2", "e3"]).await;
    let at = |n: usize| all["items"][n]["received_at"].as_str().unwrap().to_owned();

    // The partner's query: exactly the events received in [e2's time, e3's time).
    let window = format!(
        "/api/v1/events?route=partner&since={}&until={}",
        urlencode(&at(1)),
        urlencode(&at(2))
    );
    assert_eq!(ids(&get(&hookgate, &window, VIEWER).await.json()), ["e2"]);
    let from_e2 = format!("/api/v1/events?since={}", urlencode(&at(1)));
    assert_eq!(ids(&get(&hookgate, &from_e2, VIEWER).await.json()), ["e2", "e3"]);

    // States follow the deliveries.
    listed(&hookgate, "/api/v1/events?state=dead", &["e1"]).await;
    listed(&hookgate, "/api/v1/events?state=delivered", &["e2", "e3"]).await;
    assert_eq!(
        ids(&get(&hookgate, "/api/v1/events?state=pending", VIEWER)
            .await
            .json()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&get(&hookgate, "/api/v1/events?dedupe_key=e3", VIEWER)
            .await
            .json()),
        ["e3"]
    );
    assert_eq!(
        ids(
            &get(&hookgate, "/api/v1/events?sort=-received_at&limit=1", VIEWER)
                .await
                .json()
        ),
        ["e3"]
    );
    get(&hookgate, "/api/v1/events?state=lost", VIEWER)
        .await
        .assert_problem(400, "invalid-parameter");

    // One event: its delivery's state, and the body (masked) for operators only.
    let first = all["items"][0]["id"].as_str().unwrap().to_owned();
    let shown = get(&hookgate, &format!("/api/v1/events/{first}"), OPERATOR)
        .await
        .json();
    assert_eq!(shown["state"], "dead", "{shown}");
    assert_eq!(shown["deliveries"][0]["target"], "backend");
    assert_eq!(shown["deliveries"][0]["state"], "dead");
    let body = shown["body"].as_str().unwrap();
    assert!(
        body.contains("\"iban\":\"***\"") && !body.contains("DE02"),
        "{body}"
    );
    let viewed = get(&hookgate, &format!("/api/v1/events/{first}"), VIEWER)
        .await
        .json();
    assert!(viewed["body"].is_null(), "{viewed}");
    get(&hookgate, "/api/v1/events/no-such-event", VIEWER)
        .await
        .assert_problem(404, "not-found");

    let document = get(&hookgate, "/api/v1/openapi.json", VIEWER).await.json();
    assert_fits(&document, &Method::GET, "/api/v1/events", &all);
    assert_fits(&document, &Method::GET, "/api/v1/events/{id}", &shown);
    assert_eq!(backend.received().len(), 3);
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_logged_and_queried_on_the_embedded_store() {
    events_are_logged_and_queried("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_logged_and_queried_on_redis() {
    let redis = RedisServer::start();
    events_are_logged_and_queried(&format!("store: {{ redis: {{ url: \"{}\" }} }}\n", redis.url())).await;
}
