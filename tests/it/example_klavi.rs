//! The shipped Klavi example (`examples/klavi/`) as written, every target pointed at a
//! fake backend: each documented Klavi event, signed the way Klavi signs it, reaches
//! the one backend its `eventName` names with the documented rewrite (`source: klavi`)
//! and nothing else; repeats, invalid events and bad signatures are refused; and the
//! customer's tax ids, which backends receive, never reach hookgate's logs.

use std::path::PathBuf;

use crate::support::{send, Downstream, Hookgate, HookgateProcess, Reply};
use hmac::{Hmac, Mac};
use http::Method;
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "klavi-example-test-secret";
/// Every documented Klavi example carries this same `eventId`.
const SHARED_EVENT_ID: &str = "1495468585434-0e73d1719173766fe4dfe1a8";

/// Which backend each shipped payload belongs to, by file stem.
const CONSENTS: [&str; 6] = [
    "consent_authorised",
    "consent_deleted_by_user",
    "consent_error",
    "consent_expired",
    "consent_rejected",
    "consent_revoked",
];
const PRODUCTS: [&str; 3] = [
    "product_generated_failed",
    "product_generated_success",
    "product_request_received",
];
const LINKS: [&str; 1] = ["link_created"];

fn example_dir() -> PathBuf {
    crate::support::examples::file("klavi", "")
}

fn payloads() -> Vec<(String, Vec<u8>)> {
    crate::support::examples::payloads("klavi")
}

fn payload(stem: &str) -> Vec<u8> {
    crate::support::examples::payload("klavi", stem)
}

/// The payload with its `eventId` made unique, edited in the raw bytes so the body
/// stays pretty-printed as shipped (and hookgate must verify its compact form).
fn with_event_id(body: &[u8], suffix: &str) -> Vec<u8> {
    let text = std::str::from_utf8(body).expect("UTF-8 payload");
    assert_eq!(
        text.matches(SHARED_EVENT_ID).count(),
        1,
        "the payload carries the shared eventId once"
    );
    text.replace(SHARED_EVENT_ID, &format!("{SHARED_EVENT_ID}-{suffix}"))
        .into_bytes()
}

/// What `JSON.stringify(req.body)` gives: compact, keys in their order.
fn json_stringify(body: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(body).expect("payload is JSON");
    serde_json::to_vec(&value).expect("serialisable")
}

/// Klavi's Node example: `createHmac('sha256', secret).update(JSON.stringify(body)).digest('hex')`.
fn klavi_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(&json_stringify(body));
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> String {
    crate::support::unix_now().to_string()
}

/// The one event of a Klavi array body, as the matching backend should receive it.
fn delivered(body: &[u8]) -> Value {
    let events: Value = serde_json::from_slice(body).expect("payload is JSON");
    let events = events.as_array().expect("Klavi posts an array");
    assert_eq!(events.len(), 1, "every documented payload holds one event");
    let mut event = events[0].clone();
    event
        .as_object_mut()
        .expect("an event object")
        .insert("source".into(), json!("klavi"));
    event
}

struct Example {
    hookgate: Hookgate,
    consents: Downstream,
    products: Downstream,
    links: Downstream,
}

impl Example {
    async fn start() -> Self {
        let path = example_dir().join("hookgate.yaml");
        let yaml =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let (consents, products, links) = (
            Downstream::start().await,
            Downstream::start().await,
            Downstream::start().await,
        );
        let hookgate = Hookgate::start_with_env(
            &yaml,
            &[
                ("KLAVI_SECRET", SECRET.to_owned()),
                ("CONSENTS_URL", consents.url("/consents")),
                ("PRODUCTS_URL", products.url("/products")),
                ("LINKS_URL", links.url("/links")),
            ],
        )
        .await;
        Self {
            hookgate,
            consents,
            products,
            links,
        }
    }

    /// Posts `body` as Klavi does, with `signature` in `X-Klavi-Signature`.
    async fn post_signed_with(&self, body: &[u8], signature: Option<&str>) -> Reply {
        let timestamp = now();
        let mut headers = vec![
            ("content-type", "application/json"),
            ("x-klavi-timestamp", timestamp.as_str()),
        ];
        if let Some(signature) = signature {
            headers.push(("x-klavi-signature", signature));
        }
        send(
            Method::POST,
            &self.hookgate.url("/hooks/klavi"),
            &headers,
            body.to_vec(),
        )
        .await
    }

    /// Posts `body` signed under the example's secret.
    async fn post(&self, body: &[u8]) -> Reply {
        self.post_signed_with(body, Some(&klavi_signature(SECRET, body)))
            .await
    }
}

/// The bodies a backend received, in arrival order.
fn bodies(downstream: &Downstream) -> Vec<String> {
    downstream
        .received()
        .iter()
        .map(|r| String::from_utf8(r.body.to_vec()).expect("UTF-8 body"))
        .collect()
}

/// Bodies (or events as compact JSON) sorted, to compare deliveries in any order.
fn sorted<T: ToString>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    let mut texts: Vec<String> = items.into_iter().map(|item| item.to_string()).collect();
    texts.sort();
    texts
}

#[test]
fn the_example_ships_every_documented_klavi_event() {
    let names: Vec<String> = payloads().into_iter().map(|(name, _)| name).collect();
    let mut expected: Vec<&str> = CONSENTS.iter().chain(&PRODUCTS).chain(&LINKS).copied().collect();
    expected.sort_unstable();
    assert_eq!(names, expected);
    for (name, body) in payloads() {
        let event = delivered(&body);
        assert_eq!(event["eventName"], name.as_str(), "{name}.json");
        assert_eq!(event["eventId"], SHARED_EVENT_ID, "{name}.json");
    }
}

#[tokio::test]
async fn every_event_reaches_exactly_its_backend_with_source_klavi() {
    let example = Example::start().await;
    let mut want = (Vec::new(), Vec::new(), Vec::new());
    for (name, body) in payloads() {
        // The shipped samples share one eventId; give each its own, as live events have.
        let body = with_event_id(&body, &name);
        let reply = example.post(&body).await;
        assert_eq!(
            reply.status,
            202,
            "{name}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.header("hookgate-duplicate"), None, "{name}");
        let event = delivered(&body);
        match name.as_str() {
            n if CONSENTS.contains(&n) => want.0.push(event),
            n if PRODUCTS.contains(&n) => want.1.push(event),
            n if LINKS.contains(&n) => want.2.push(event),
            other => panic!("no backend listed for {other}.json"),
        }
    }
    let (consents, products, links) = want;
    assert_eq!((consents.len(), products.len(), links.len()), (6, 3, 1));

    example.consents.wait_for(consents.len()).await;
    example.products.wait_for(products.len()).await;
    example.links.wait_for(links.len()).await;
    // Each body is the single event, compact, keys in Klavi's order, `source` last.
    assert_eq!(sorted(bodies(&example.consents)), sorted(consents));
    assert_eq!(sorted(bodies(&example.products)), sorted(products));
    assert_eq!(sorted(bodies(&example.links)), sorted(links));
    for (downstream, path) in [
        (&example.consents, "/consents"),
        (&example.products, "/products"),
        (&example.links, "/links"),
    ] {
        for received in downstream.received() {
            assert_eq!(received.path, path);
            assert_eq!(received.headers["content-type"], "application/json");
            assert!(
                !received.headers.contains_key("x-klavi-signature"),
                "the array's signature does not cover a single event; it is not passed on"
            );
        }
    }
}

#[tokio::test]
async fn a_replayed_event_is_delivered_once() {
    let example = Example::start().await;
    let body = payload("consent_authorised");
    let first = example.post(&body).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.header("hookgate-duplicate"), None);
    let again = example.post(&body).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("hookgate-duplicate"), Some("true"));
    assert_eq!(again.json(), json!({"status": "duplicate"}));

    // The other samples as shipped carry the same eventId: all duplicates, even
    // those bound for other backends (the key is per route, not per target).
    for (name, body) in payloads() {
        let reply = example.post(&body).await;
        assert_eq!(reply.status, 202, "{name}");
        assert_eq!(reply.header("hookgate-duplicate"), Some("true"), "{name}");
    }

    // A fresh consent event goes through; after it, the counts are final.
    assert_eq!(
        example
            .post(&with_event_id(&payload("consent_revoked"), "fresh"))
            .await
            .status,
        202
    );
    example.consents.wait_for(2).await;
    assert_eq!(
        sorted(bodies(&example.consents)),
        sorted([
            delivered(&body),
            delivered(&with_event_id(&payload("consent_revoked"), "fresh"))
        ])
    );
    assert!(example.products.received().is_empty());
    assert!(example.links.received().is_empty());
}

#[tokio::test]
async fn an_event_without_event_id_is_rejected_listing_the_path() {
    let example = Example::start().await;
    let mut events: Value = serde_json::from_slice(&payload("consent_authorised")).expect("JSON");
    events[0]
        .as_object_mut()
        .expect("an event object")
        .remove("eventId");
    let body = serde_json::to_vec_pretty(&events).expect("serialisable");
    let reply = example.post(&body).await;
    let problem = reply.assert_problem(400, "invalid-event");
    assert_eq!(
        problem["errors"],
        json!([{"path": "$[0].eventId", "message": "required"}]),
        "{problem}"
    );

    let mut events: Value =
        serde_json::from_slice(&with_event_id(&payload("link_created"), "bad-time")).expect("JSON");
    events[0]["eventTime"] = json!("25/06/2022 20:08");
    let body = serde_json::to_vec(&events).expect("serialisable");
    let problem = example.post(&body).await.assert_problem(400, "invalid-event");
    let errors = problem["errors"].as_array().expect("an errors array");
    assert_eq!(errors.len(), 1, "{problem}");
    assert_eq!(errors[0]["path"], "$[0].eventTime", "{problem}");

    // Nothing was admitted: the same event, valid, is not a duplicate.
    let reply = example.post(&payload("consent_authorised")).await;
    assert_eq!(reply.header("hookgate-duplicate"), None);
    example.consents.wait_for(1).await;
    assert_eq!(example.consents.received().len(), 1);
    assert!(example.links.received().is_empty());
}

#[tokio::test]
async fn events_no_rule_names_are_dropped() {
    let example = Example::start().await;
    // The regulated-FI flavour reports consent outcomes as link_action_status.
    let mut events: Value =
        serde_json::from_slice(&with_event_id(&payload("link_created"), "fi")).expect("JSON");
    events[0]["eventName"] = json!("link_action_status");
    let reply = example
        .post(&serde_json::to_vec(&events).expect("serialisable"))
        .await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.json(), json!({"status": "accepted", "deliveries": 0}));

    let link = payload("link_created");
    assert_eq!(example.post(&link).await.status, 202);
    example.links.wait_for(1).await;
    assert_eq!(bodies(&example.links), vec![delivered(&link).to_string()]);
    assert!(example.consents.received().is_empty());
    assert!(example.products.received().is_empty());
}

#[tokio::test]
async fn a_wrong_or_missing_signature_is_401() {
    let example = Example::start().await;
    let body = payload("consent_authorised");
    let wrong = klavi_signature("not-the-klavi-secret", &body);
    let reply = example.post_signed_with(&body, Some(&wrong)).await;
    reply.assert_problem(401, "unauthenticated");
    let reply = example.post_signed_with(&body, None).await;
    reply.assert_problem(401, "unauthenticated");
    // A valid signature of another body does not carry over.
    let other = klavi_signature(SECRET, &payload("consent_revoked"));
    let reply = example.post_signed_with(&body, Some(&other)).await;
    reply.assert_problem(401, "unauthenticated");

    // The refused requests claimed nothing: the event still goes through once.
    let reply = example.post(&body).await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.header("hookgate-duplicate"), None);
    example.consents.wait_for(1).await;
    assert_eq!(bodies(&example.consents), vec![delivered(&body).to_string()]);
}

/// Gives every tax-id field of `value` (any member whose name contains `taxid`, at
/// any depth) a value of its own, and returns those values.
fn mark_tax_ids(value: &mut Value, next: &mut u64) -> Vec<String> {
    let mut marked = Vec::new();
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key.to_ascii_lowercase().contains("taxid") && !child.is_object() && !child.is_array() {
                    *next += 1;
                    // Text no log line can hold by chance (a number may: `latency_ms`).
                    let id = format!("taxid-{next}-7e4c9");
                    *child = json!(id);
                    marked.push(id);
                } else {
                    marked.extend(mark_tax_ids(child, next));
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                marked.extend(mark_tax_ids(item, next));
            }
        }
        _ => {}
    }
    marked
}

/// Every Klavi event type, each with its tax ids (wherever the type carries them,
/// `payload.requestBody.taxId` included) set to values of their own: they reach the
/// backends, and no log line at debug level shows one.
// Multi-threaded: the test blocks on hookgate's log while its fake backends serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tax_ids_reach_the_backends_but_never_the_logs() {
    let (consents, products, links) = (
        Downstream::start().await,
        Downstream::start().await,
        Downstream::start().await,
    );
    let urls = (
        consents.url("/consents"),
        products.url("/products"),
        links.url("/links"),
    );
    // The real binary on the shipped file, logging events (debug) as JSON.
    let process = HookgateProcess::spawn_with_env(
        &example_dir().join("hookgate.yaml"),
        &[
            ("HOOKGATE_LISTEN", "127.0.0.1:0"),
            ("HOOKGATE_LOG", "debug"),
            ("KLAVI_SECRET", SECRET),
            ("CONSENTS_URL", &urls.0),
            ("PRODUCTS_URL", &urls.1),
            ("LINKS_URL", &urls.2),
        ],
    );
    let mut next = 0;
    let mut tax_ids = Vec::new();
    let mut sent = Vec::new();
    for (stem, body) in payloads() {
        let mut events: Value = serde_json::from_slice(&with_event_id(&body, &stem)).expect("JSON");
        let marked = mark_tax_ids(&mut events, &mut next);
        assert!(!marked.is_empty(), "{stem} carries no tax id");
        tax_ids.extend(marked);
        let body = serde_json::to_vec(&events).expect("serialisable");
        let reply = send(
            Method::POST,
            &process.url("/hooks/klavi"),
            &[
                ("content-type", "application/json"),
                ("x-klavi-signature", &klavi_signature(SECRET, &body)),
            ],
            body.clone(),
        )
        .await;
        assert_eq!(reply.status, 202, "{stem}");
        sent.push(delivered(&body).to_string());
    }
    consents.wait_for(CONSENTS.len()).await;
    products.wait_for(PRODUCTS.len()).await;
    links.wait_for(LINKS.len()).await;
    let received: Vec<String> = [&consents, &products, &links]
        .into_iter()
        .flat_map(bodies)
        .collect();
    assert_eq!(
        sorted(&received),
        sorted(&sent),
        "every event reaches its backend unchanged"
    );
    for id in &tax_ids {
        assert!(
            received.iter().any(|body| body.contains(id.as_str())),
            "tax id {id} was not delivered"
        );
    }

    let logs = process.stop_and_collect_logs().join("\n");
    let admitted = logs
        .lines()
        .filter(|line| line.contains("event admitted"))
        .count();
    assert_eq!(admitted, sent.len(), "each event is logged at debug:\n{logs}");
    assert!(
        logs.contains("ed812-81fcec-7ec55-7aa7d29-2a3188b75"),
        "other fields are shown:\n{logs}"
    );
    assert!(logs.contains("***"), "{logs}");
    for secret in tax_ids.iter().map(String::as_str).chain([SECRET]) {
        assert!(!logs.contains(secret), "`{secret}` reached the logs:\n{logs}");
    }
}
