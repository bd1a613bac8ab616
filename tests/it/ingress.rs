//! The ingress stack through a real socket: routing, limits, content checks, and the
//! problem documents every refusal carries.

use std::time::Duration;

use crate::support::{fixture, post_chunked, post_h2c, post_json, send, Downstream, Hookgate};
use bytes::Bytes;
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A config with a literal route, a parameterised route sharing its prefix, and a
/// PUT/POST route, each to its own downstream.
async fn setup() -> (Hookgate, Downstream, Downstream, Downstream) {
    let (a, b, c) = (
        Downstream::start().await,
        Downstream::start().await,
        Downstream::start().await,
    );
    let yaml = format!(
        r#"
limits: {{ max_body: 1KiB, header_read_timeout: 1s, body_read_timeout: 1s }}
targets:
  a: {{ url: "{}" }}
  b: {{ url: "{}" }}
  c: {{ url: "{}" }}
routes:
  - {{ name: special, path: /customers/special/products/changes, mode: sync, targets: [a] }}
  - {{ name: products, path: "/customers/{{customerId}}/products/changes", mode: sync, targets: [b] }}
  - {{ name: any, path: /raw, methods: [PUT, POST], mode: sync, targets: [c], content_type: any }}
"#,
        a.url("/a"),
        b.url("/b"),
        c.url("/c")
    );
    (Hookgate::start(&yaml).await, a, b, c)
}

#[tokio::test]
async fn path_parameters_match_and_literal_segments_win() {
    let (hookgate, a, b, _) = setup().await;
    let body = fixture("toqio-upsert-and-delete.json");

    let reply = post_json(&hookgate.url("/customers/cus_123/products/changes"), body.clone()).await;
    assert_eq!(reply.status, 200);
    let received = b.wait_for(1).await;
    assert_eq!(received[0].path, "/b");
    assert_eq!(received[0].body, body);

    let reply = post_json(&hookgate.url("/customers/special/products/changes"), body.clone()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(a.wait_for(1).await[0].body, body);
    assert_eq!(
        b.received().len(),
        1,
        "the literal route must not also reach the parameterised one"
    );
}

#[tokio::test]
async fn unknown_path_is_404_problem() {
    let (hookgate, a, b, c) = setup().await;
    let reply = post_json(&hookgate.url("/customers/x/products"), "{}").await;
    let problem = reply.assert_problem(404, "route-not-found");
    assert_eq!(problem["instance"], "/customers/x/products");
    assert!(a.received().is_empty() && b.received().is_empty() && c.received().is_empty());
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let (hookgate, _, b, c) = setup().await;
    let reply = send(Method::GET, &hookgate.url("/raw"), &[], "").await;
    reply.assert_problem(405, "method-not-allowed");
    assert_eq!(reply.header("allow"), Some("PUT, POST"));

    let reply = send(
        Method::DELETE,
        &hookgate.url("/customers/1/products/changes"),
        &[],
        "",
    )
    .await;
    reply.assert_problem(405, "method-not-allowed");
    assert_eq!(reply.header("allow"), Some("POST"));
    assert!(b.received().is_empty() && c.received().is_empty());
}

#[tokio::test]
async fn oversized_body_with_content_length_is_413() {
    let (hookgate, _, _, c) = setup().await;
    let reply = send(Method::POST, &hookgate.url("/raw"), &[], vec![b'x'; 1025]).await;
    let problem = reply.assert_problem(413, "payload-too-large");
    assert!(problem["detail"].as_str().unwrap().contains("1024"), "{problem}");

    // Exactly at the limit is fine.
    let reply = send(Method::POST, &hookgate.url("/raw"), &[], vec![b'x'; 1024]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(c.wait_for(1).await[0].body.len(), 1024);
}

#[tokio::test]
async fn oversized_chunked_body_is_413() {
    let (hookgate, _, _, c) = setup().await;
    let chunks = vec![Bytes::from(vec![b'x'; 600]), Bytes::from(vec![b'y'; 600])];
    let reply = post_chunked(&hookgate.url("/raw"), &[], chunks).await;
    reply.assert_problem(413, "payload-too-large");
    assert!(c.received().is_empty());

    let chunks = vec![Bytes::from(vec![b'x'; 500]), Bytes::from(vec![b'y'; 500])];
    let reply = post_chunked(&hookgate.url("/raw"), &[], chunks).await;
    assert_eq!(reply.status, 200);
    assert_eq!(c.wait_for(1).await[0].body.len(), 1000);
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let (hookgate, _, b, _) = setup().await;
    let url = hookgate.url("/customers/1/products/changes");
    let reply = send(Method::POST, &url, &[("content-type", "text/plain")], "{}").await;
    let problem = reply.assert_problem(415, "unsupported-media-type");
    assert!(
        problem["detail"].as_str().unwrap().contains("text/plain"),
        "{problem}"
    );

    let reply = send(Method::POST, &url, &[], "{}").await;
    reply.assert_problem(415, "unsupported-media-type");
    assert!(b.received().is_empty());

    let reply = send(
        Method::POST,
        &url,
        &[("content-type", "application/json; charset=utf-8")],
        "{}",
    )
    .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn malformed_json_is_400_naming_line_and_column() {
    let (hookgate, _, b, _) = setup().await;
    let reply = post_json(
        &hookgate.url("/customers/1/products/changes"),
        "{\n  \"products\": [1,\n}",
    )
    .await;
    let problem = reply.assert_problem(400, "invalid-json");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("line 3, column 1"), "{detail}");
    assert!(b.received().is_empty());
}

#[tokio::test]
async fn content_type_any_forwards_non_json_bytes() {
    let (hookgate, _, _, c) = setup().await;
    let reply = send(
        Method::PUT,
        &hookgate.url("/raw"),
        &[("content-type", "text/csv")],
        "a,b\n1,2\n",
    )
    .await;
    assert_eq!(reply.status, 200);
    let received = c.wait_for(1).await;
    assert_eq!(received[0].method, Method::PUT);
    assert_eq!(received[0].body, "a,b\n1,2\n");
    assert_eq!(received[0].headers["content-type"], "text/csv");
}

#[tokio::test]
async fn request_id_is_accepted_or_minted_and_echoed() {
    let (hookgate, _, b, _) = setup().await;
    let url = hookgate.url("/customers/1/products/changes");
    let reply = send(
        Method::POST,
        &url,
        &[
            ("content-type", "application/json"),
            ("x-request-id", "provider-id-42"),
        ],
        "{}",
    )
    .await;
    assert_eq!(reply.header("x-request-id"), Some("provider-id-42"));
    assert_eq!(b.wait_for(1).await[0].headers["x-request-id"], "provider-id-42");

    let reply = post_json(&url, "{}").await;
    let minted = reply.header("x-request-id").expect("a minted id");
    assert_eq!(minted.len(), 36, "a UUID: {minted}");
    assert_eq!(b.wait_for(2).await[1].headers["x-request-id"], minted);

    let reply = post_json(&hookgate.url("/nowhere"), "{}").await;
    assert!(reply.header("x-request-id").is_some(), "problems carry an id too");
}

#[tokio::test]
async fn h2c_requests_are_served() {
    let (hookgate, _, b, _) = setup().await;
    let body = fixture("toqio-upsert-and-delete.json");
    let url = hookgate.url("/customers/9/products/changes");
    let reply = post_h2c(&url, &[("content-type", "application/json")], body.clone()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(b.wait_for(1).await[0].body, body);
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let (hookgate, ..) = setup().await;
    let mut stream = TcpStream::connect(hookgate.addr).await.unwrap();
    stream
        .write_all(b"POST /raw HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // Never finish the headers: hookgate must close the connection on its own.
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer)).await;
    assert!(
        read.is_ok(),
        "connection still open 10 s after a 1 s header timeout"
    );
}

#[tokio::test]
async fn slow_body_is_408_problem() {
    let (hookgate, _, _, c) = setup().await;
    let mut stream = TcpStream::connect(hookgate.addr).await.unwrap();
    stream
        .write_all(b"POST /raw HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly ten.")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer))
        .await
        .expect("hookgate answers a stalled body")
        .unwrap();
    let text = String::from_utf8_lossy(&buffer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains("urn:hookgate:problem:body-timeout"), "{text}");
    assert!(c.received().is_empty());
}

/// Heads beyond hookgate's limits are answered as problems, like every other
/// refusal, and the connection serves the next request.
#[tokio::test]
async fn oversized_heads_are_problems_not_bare_statuses() {
    let (hookgate, _, _, c) = setup().await;
    let long = format!("/raw?{}", "q".repeat(9 * 1024));
    send(Method::POST, &hookgate.url(&long), &[], "x")
        .await
        .assert_problem(414, "uri-too-long");

    let big = "v".repeat(70 * 1024);
    send(
        Method::POST,
        &hookgate.url("/raw"),
        &[("x-big", big.as_str())],
        "x",
    )
    .await
    .assert_problem(431, "headers-too-large");

    let names: Vec<String> = (0..150).map(|n| format!("x-h{n}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "1")).collect();
    send(Method::POST, &hookgate.url("/raw"), &many, "x")
        .await
        .assert_problem(431, "headers-too-large");

    assert!(c.received().is_empty(), "nothing was forwarded");
    assert_eq!(
        send(Method::POST, &hookgate.url("/raw"), &[], "x").await.status,
        200
    );
}

/// A GET carries no body: its event is its query parameters, which rules read and
/// targets receive as JSON; the route's URL token is not part of it.
#[tokio::test]
async fn a_get_request_s_event_is_its_query_parameters() {
    let (plain, ruled) = (Downstream::start().await, Downstream::start().await);
    let yaml = format!(
        r#"
targets:
  plain: {{ url: "{}" }}
  ruled: {{ url: "{}", method: POST }}
routes:
  - name: get
    path: /get
    methods: [GET, POST]
    auth: [{{ url_token: {{ query: token, secrets: [s3cret-token] }} }}]
    dedupe: {{ key: $.id }}
    targets: [plain]
  - name: ruled
    path: /ruled
    methods: [GET]
    rules:
      - {{ when: "@.kind == 'ping'", forward: [ruled], transform: [{{ set: {{ "$.seen": true }} }}] }}
    default: drop
"#,
        plain.url("/plain"),
        ruled.url("/ruled")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let url = hookgate.url("/get?token=s3cret-token&id=e1&tag=a&tag=b%20c&note=x+y");
    let reply = send(Method::GET, &url, &[], Vec::new()).await;
    assert_eq!(reply.status, 202, "{:?}", String::from_utf8_lossy(&reply.body));
    let again = send(Method::GET, &url, &[], Vec::new()).await;
    assert_eq!(
        again.header("hookgate-duplicate"),
        Some("true"),
        "the query's id is its key"
    );
    let received = plain.wait_for(1).await;
    assert_eq!(
        received[0].method,
        Method::GET,
        "targets get the inbound method by default"
    );
    assert_eq!(received[0].headers["content-type"], "application/json");
    assert_eq!(
        std::str::from_utf8(&received[0].body).unwrap(),
        r#"{"id":"e1","tag":["a","b c"],"note":"x y"}"#,
        "the token is not part of the event"
    );

    let ignored = send(Method::GET, &hookgate.url("/ruled?kind=other"), &[], Vec::new()).await;
    assert_eq!(ignored.json()["deliveries"], 0);
    let reply = send(Method::GET, &hookgate.url("/ruled?kind=ping"), &[], Vec::new()).await;
    assert_eq!(reply.json()["deliveries"], 1);
    let received = ruled.wait_for(1).await;
    assert_eq!(received[0].method, Method::POST);
    assert_eq!(
        std::str::from_utf8(&received[0].body).unwrap(),
        r#"{"kind":"ping","seen":true}"#
    );
    assert_eq!(plain.received().len(), 1);
}
