//! Subscriptions through the admin API, over real sockets: what a bad one is told
//! (each refusal naming its field), the address guard at creation and again at
//! connection, tokens scoped to routes, and two instances on one Redis serving a
//! subscription written through either.

use http::Method;
use serde_json::{json, Value};

use crate::support::redis::RedisServer;
use crate::support::tls::TestPki;
use crate::support::{send, Downstream, Hookgate, HookgateProcess, Reply, ADMIN_TOKEN};

const SCOPED: &str = "scoped-subscriptions-token-0123456789abcdef";

async fn call(admin: &str, method: Method, path: &str, token: &str, body: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str())];
    if !body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    send(method, &format!("{admin}{path}"), &headers, body.to_owned()).await
}

/// Two routes; an admin token, and a subscriptions token scoped to route `a`.
fn config(extra: &str) -> String {
    format!(
        "admin:\n  listen: 127.0.0.1:0\n  tokens:\n\
         \x20   - {{ name: test-admin, token: {ADMIN_TOKEN}, roles: [admin] }}\n\
         \x20   - {{ name: partner, token: {SCOPED}, roles: [subscriptions], routes: [a] }}\n\
         {extra}\
         targets:\n  t: {{ url: \"http://127.0.0.1:9/t\" }}\n\
         routes:\n  - {{ name: a, path: /a, targets: [t] }}\n  - {{ name: b, path: /b, targets: [t] }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_subscription_is_refused_naming_its_field_and_nothing_is_kept() {
    let hookgate = Hookgate::start(&config("")).await;
    let admin = hookgate.admin_url("");
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"route":"a","url":"https://example.com","trigger_name":"x"}"#,
            "trigger_name",
            "unknown field",
        ),
        (
            r#"{"route":"a","url":"http://example.com/hook"}"#,
            "url",
            "https://",
        ),
        (
            r#"{"route":"a","url":"https://user:pw@example.com/"}"#,
            "url",
            "credentials",
        ),
        (
            r#"{"route":"a","url":"https://127.0.0.1/hook"}"#,
            "url",
            "loopback",
        ),
        (
            r#"{"route":"a","url":"https://localhost:8443/hook"}"#,
            "url",
            "loopback",
        ),
        (
            r#"{"route":"a","url":"https://[::ffff:127.0.0.1]/hook"}"#,
            "url",
            "loopback",
        ),
        (
            r#"{"route":"a","url":"https://169.254.169.254/latest/meta-data"}"#,
            "url",
            "cloud metadata",
        ),
        (r#"{"route":"a","url":"https://10.1.2.3/hook"}"#, "url", "private"),
        (
            r#"{"route":"a","url":"https://[fd00:ec2::254]/"}"#,
            "url",
            "cloud metadata",
        ),
        (
            r#"{"route":"a","url":"https://no-such-host.invalid/"}"#,
            "url",
            "resolve",
        ),
        (
            r#"{"route":"nope","url":"https://93.184.216.34/"}"#,
            "route",
            "no route",
        ),
        (
            r#"{"route":"a","url":"https://93.184.216.34/","filter":"@.event_name =="}"#,
            "filter",
            "RFC 9535",
        ),
        (
            r#"{"route":"a","url":"https://93.184.216.34/","method":"GET"}"#,
            "method",
            "POST",
        ),
        (
            r#"{"route":"a","url":"https://93.184.216.34/","headers":{"content-type":"text/plain"}}"#,
            "headers.content-type",
            "hookgate",
        ),
        (
            r#"{"route":"a","url":"https://93.184.216.34/","headers":{"bad name":"v"}}"#,
            "headers.bad name",
            "header name",
        ),
        (
            r#"{"route":"a","url":"https://93.184.216.34/","is_active":"yes"}"#,
            "is_active",
            "boolean",
        ),
        (r#"{"route":"a"}"#, "body", "url"),
        ("not json", "body", "JSON"),
    ];
    for (body, field, says) in cases {
        let reply = call(&admin, Method::POST, "/api/v1/subscriptions", ADMIN_TOKEN, body).await;
        let problem = reply.assert_problem(400, "invalid-body");
        assert_eq!(problem["field"], *field, "{body}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{body}: `{says}` not in {detail}");
    }
    for (query, parameter) in [
        ("?limit=5000", "limit"),
        ("?sort_direction=up", "sort_direction"),
        ("?is_active=maybe", "is_active"),
        ("?owner=x", "owner"),
    ] {
        let path = format!("/api/v1/subscriptions{query}");
        let problem = call(&admin, Method::GET, &path, ADMIN_TOKEN, "")
            .await
            .assert_problem(400, "invalid-parameter");
        assert_eq!(problem["parameter"], parameter, "{query}");
    }
    let list = call(&admin, Method::GET, "/api/v1/subscriptions", ADMIN_TOKEN, "").await;
    assert_eq!(list.json()["total"], 0, "nothing refused was kept");
    let huge = format!(
        r#"{{"route":"a","url":"https://93.184.216.34/","description":"{}"}}"#,
        "x".repeat(70_000)
    );
    call(&admin, Method::POST, "/api/v1/subscriptions", ADMIN_TOKEN, &huge)
        .await
        .assert_problem(413, "body-too-large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_sees_and_manages_only_its_routes() {
    let hookgate = Hookgate::start(&config("subscriptions: { allow_addresses: [203.0.113.0/24] }\n")).await;
    let admin = hookgate.admin_url("");
    let create = |route: &str| format!(r#"{{"route":"{route}","url":"https://203.0.113.7/{route}"}}"#);
    let on_b = call(
        &admin,
        Method::POST,
        "/api/v1/subscriptions",
        ADMIN_TOKEN,
        &create("b"),
    )
    .await;
    assert_eq!(on_b.status, 201, "{:?}", on_b.json());
    let on_b = on_b.json()["id"].as_str().unwrap().to_owned();
    call(
        &admin,
        Method::POST,
        "/api/v1/subscriptions",
        SCOPED,
        &create("b"),
    )
    .await
    .assert_problem(403, "forbidden");
    let on_a = call(
        &admin,
        Method::POST,
        "/api/v1/subscriptions",
        SCOPED,
        &create("a"),
    )
    .await;
    assert_eq!(on_a.status, 201);
    assert_eq!(on_a.json()["created_by"], "partner");
    let listed = call(&admin, Method::GET, "/api/v1/subscriptions", SCOPED, "")
        .await
        .json();
    let routes: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["route"].as_str().unwrap())
        .collect();
    assert_eq!(routes, ["a"], "the scoped token sees its route's only");
    call(
        &admin,
        Method::GET,
        &format!("/api/v1/subscriptions/{on_b}"),
        SCOPED,
        "",
    )
    .await
    .assert_problem(404, "not-found");
    call(
        &admin,
        Method::DELETE,
        &format!("/api/v1/subscriptions/{on_b}"),
        SCOPED,
        "",
    )
    .await
    .assert_problem(404, "not-found");
    let newest = call(
        &admin,
        Method::GET,
        "/api/v1/subscriptions?sort=-created_at&limit=1",
        ADMIN_TOKEN,
        "",
    )
    .await
    .json();
    assert_eq!(newest["items"][0]["route"], "a", "the later one first");
    let all = call(&admin, Method::GET, "/api/v1/subscriptions", ADMIN_TOKEN, "")
        .await
        .json();
    assert_eq!(all["total"], 2, "the admin sees both");
}

/// A TLS downstream, the trust file naming its CA, and the allow-list entries
/// that let subscriptions reach it on loopback.
struct Subscriber {
    downstream: Downstream,
    _dir: tempfile::TempDir,
    ca: std::path::PathBuf,
}

impl Subscriber {
    async fn start() -> Self {
        let pki = TestPki::new();
        let downstream = Downstream::start_tls(pki.acceptor.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        Self {
            downstream,
            _dir: dir,
            ca,
        }
    }
}

/// Writes `yaml` to `dir` and runs hookgate on it, trusting `subscriber`'s CA.
fn spawn(
    dir: &tempfile::TempDir,
    yaml: &str,
    subscriber: &Subscriber,
) -> (HookgateProcess, std::path::PathBuf) {
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(&path, yaml).unwrap();
    let process =
        HookgateProcess::spawn_with_env(&path, &[("SSL_CERT_FILE", subscriber.ca.to_str().unwrap())]);
    (process, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_is_asked_again_at_connection_time() {
    let subscriber = Subscriber::start().await;
    let allowed =
        "subscriptions:\n  retry: { max_attempts: 1 }\n  allow_addresses: [127.0.0.1/32, \"::1/128\"]\n";
    let closed = "subscriptions:\n  retry: { max_attempts: 1 }\n";
    let dir = tempfile::tempdir().unwrap();
    let (process, path) = spawn(
        &dir,
        &format!("listen: 127.0.0.1:0\n{}", config(allowed)),
        &subscriber,
    );
    let admin = format!("http://{}", process.admin.unwrap());
    let body = json!({ "route": "a", "url": subscriber.downstream.https_url("/hook") }).to_string();
    let created = call(&admin, Method::POST, "/api/v1/subscriptions", ADMIN_TOKEN, &body).await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    // The allow-list goes away (as a name may come to resolve elsewhere): what was
    // allowed when the subscription was written is refused when connecting.
    std::fs::write(&path, format!("listen: 127.0.0.1:0\n{}", config(closed))).unwrap();
    let reloaded = call(&admin, Method::POST, "/api/v1/reload", ADMIN_TOKEN, "").await;
    assert_eq!(reloaded.status, 200, "{:?}", reloaded.json());
    let reply = crate::support::post_json(&process.url("/a"), r#"{"n":1}"#).await;
    assert_eq!(reply.json()["deliveries"], 2, "the target and the subscription");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let dead: Value = loop {
        let page = call(
            &admin,
            Method::GET,
            "/api/v1/dead-letters?route=a",
            ADMIN_TOKEN,
            "",
        )
        .await
        .json();
        let found = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["target"].as_str().unwrap().starts_with("subscription:"))
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never dead-lettered: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let error = dead["last_attempt"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("address guard") && error.contains("loopback"),
        "{dead}"
    );
    assert!(
        subscriber.downstream.received().is_empty(),
        "nothing reached the refused address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_one_redis_serve_a_subscription_written_through_either() {
    let redis = RedisServer::start();
    let subscriber = Subscriber::start().await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nstore: {{ redis: {{ url: \"redis://127.0.0.1:{}\" }} }}\n{}",
        redis.port,
        config("subscriptions:\n  allow_addresses: [127.0.0.1/32, \"::1/128\"]\n")
    );
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = spawn(&dir, &yaml, &subscriber);
    let (second, _) = spawn(&dir, &yaml, &subscriber);
    let (one, two) = (
        format!("http://{}", first.admin.unwrap()),
        format!("http://{}", second.admin.unwrap()),
    );
    let body = json!({
        "route": "a",
        "url": subscriber.downstream.https_url("/hook"),
        "headers": { "x-partner-key": "k-123" },
        "filter": "@.kind == 'wanted'",
    })
    .to_string();
    let created = call(&one, Method::POST, "/api/v1/subscriptions", ADMIN_TOKEN, &body).await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let target = created.json()["target"].as_str().unwrap().to_owned();
    // The other instance serves it within a second (it reads the store every 500 ms).
    let written = std::time::Instant::now();
    loop {
        let view = call(
            &two,
            Method::GET,
            &format!("/api/v1/targets/{target}"),
            ADMIN_TOKEN,
            "",
        )
        .await;
        if view.status == 200 {
            break;
        }
        assert!(
            written.elapsed() < std::time::Duration::from_secs(1),
            "not served within 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let wanted = crate::support::post_json(&second.url("/a"), r#"{"kind":"wanted"}"#).await;
    assert_eq!(wanted.json()["deliveries"], 2);
    let other = crate::support::post_json(&second.url("/a"), r#"{"kind":"other"}"#).await;
    assert_eq!(other.json()["deliveries"], 1, "the filter left it out");
    let received = subscriber.downstream.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, Method::POST);
    assert_eq!(received[0].path, "/hook");
    assert_eq!(received[0].body, r#"{"kind":"wanted"}"#);
    assert_eq!(received[0].headers["x-partner-key"], "k-123");
    assert!(received[0].headers.contains_key("hookgate-delivery-id"));
    // Disabled through the second instance: the first stops sending within a second.
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let disabled = call(
        &two,
        Method::PATCH,
        &format!("/api/v1/subscriptions/{id}"),
        ADMIN_TOKEN,
        r#"{"is_active":false}"#,
    )
    .await;
    assert_eq!(disabled.json()["is_active"], false);
    let changed = std::time::Instant::now();
    loop {
        let reply = crate::support::post_json(&first.url("/a"), r#"{"kind":"wanted"}"#).await;
        if reply.json()["deliveries"] == 1 {
            break;
        }
        assert!(
            changed.elapsed() < std::time::Duration::from_secs(1),
            "still sent after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
