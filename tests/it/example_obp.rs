//! The shipped Open Bank Project example (`examples/obp/`) end to end: every file in
//! its `payloads/` is sent the way OBP sends it (no signature, the token in the URL,
//! from an allowed address); each notification reaches its backend as an exact
//! CloudEvents envelope, OBP's registration API responses reach no backend, repeats
//! are delivered once, and a wrong token is a 401.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::support::{send, Downstream, Hookgate, Reply};
use http::{Method, StatusCode};
use serde_json::{json, Value};

const TOKEN: &str = "obp-test-token-3b9d0c";

fn example(name: &str) -> PathBuf {
    crate::support::examples::file("obp", name)
}

/// Every payload of the example, by file name, sorted.
fn payloads() -> Vec<(String, Vec<u8>)> {
    let found = crate::support::examples::payloads("obp");
    assert_eq!(found.len(), 5, "the five OBP seed files");
    found
}

/// hookgate on the shipped config, with its targets pointed at fakes.
async fn start() -> (Hookgate, Downstream, Downstream) {
    start_with(&[]).await
}

/// The same, with more variables set.
async fn start_with(extra: &[(&'static str, String)]) -> (Hookgate, Downstream, Downstream) {
    let (balances, transactions) = (Downstream::start().await, Downstream::start().await);
    let yaml = std::fs::read_to_string(example("hookgate.yaml")).expect("examples/obp/hookgate.yaml");
    let mut env = vec![
        ("BALANCES_URL", balances.url("/balances")),
        ("TRANSACTIONS_URL", transactions.url("/transactions")),
        ("OBP_URL_TOKEN", TOKEN.to_owned()),
    ];
    env.extend_from_slice(extra);
    (
        Hookgate::start_with_env(&yaml, &env).await,
        balances,
        transactions,
    )
}

/// A POST as OBP's OkHttp client makes it (the test runs on loopback, which the
/// example's default `ip_allow` admits).
async fn post(hookgate: &Hookgate, token: &str, body: &[u8]) -> Reply {
    send(
        Method::POST,
        &hookgate.url(&format!("/hooks/obp/{token}")),
        &[("content-type", "application/json; charset=utf-8")],
        body.to_vec(),
    )
    .await
}

/// The envelope `received` carries, after checking its headers and that `time` is a
/// recent RFC 3339 timestamp; `time` is removed so the rest compares exactly.
fn envelope(received: &crate::support::Received) -> Value {
    assert_eq!(
        received.headers["content-type"], "application/cloudevents+json",
        "structured-mode CloudEvents"
    );
    let mut envelope: Value = serde_json::from_slice(&received.body).expect("JSON envelope");
    let time = envelope
        .as_object_mut()
        .and_then(|members| members.remove("time"))
        .expect("a time attribute");
    let time = time.as_str().expect("time is a string");
    let at = humantime::parse_rfc3339(time).unwrap_or_else(|e| panic!("time `{time}` is not RFC 3339: {e}"));
    let age = SystemTime::now().duration_since(at).unwrap_or(Duration::ZERO);
    assert!(age < Duration::from_secs(60), "time `{time}` is now");
    envelope
}

#[tokio::test]
async fn every_payload_is_replayed_and_each_notification_reaches_its_backend_as_a_cloudevent() {
    let (hookgate, balances, transactions) = start().await;
    let files = payloads();
    for (name, body) in &files {
        let reply = post(&hookgate, TOKEN, body).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{name}: {:?}", reply.body);
        let deliveries = if name.starts_with("management-") { 0 } else { 1 };
        assert_eq!(
            reply.json(),
            json!({"status": "accepted", "deliveries": deliveries}),
            "{name}"
        );
    }

    let balance = balances.wait_for(1).await.remove(0);
    assert_eq!(balance.path, "/balances");
    assert_eq!(
        envelope(&balance),
        json!({
            "specversion": "1.0",
            "id": "5b0f5c1e-2f4a-4a63-9b57-0d3c2b6f1e21",
            "source": "https://obp.example/banks/gh.29.uk",
            "type": "com.openbankproject.OnBalanceChange",
            "datacontenttype": "application/json",
            "data": {
                "event_name": "OnBalanceChange",
                "event_id": "5b0f5c1e-2f4a-4a63-9b57-0d3c2b6f1e21",
                "bank_id": "gh.29.uk",
                "account_id": "8ca9a7e4-6d02-40e3-a129-0b2bf89de9b1",
                "amount": "50.00 EUR",
                "balance": "739.00 EUR"
            }
        })
    );

    let transaction = transactions.wait_for(1).await.remove(0);
    assert_eq!(transaction.path, "/transactions");
    assert_eq!(
        envelope(&transaction),
        json!({
            "specversion": "1.0",
            "id": "9ca9a7e4-6d02-40e3-a129-0b2bf89de9b1",
            "source": "https://obp.example/banks/gh.29.uk",
            "type": "com.openbankproject.OnCreateTransaction",
            "datacontenttype": "application/json",
            "data": {
                "event_name": "OnCreateTransaction",
                "event_id": "9ca9a7e4-6d02-40e3-a129-0b2bf89de9b1",
                "bank_id": "gh.29.uk",
                "account_id": "8ca9a7e4-6d02-40e3-a129-0b2bf89de9b1",
                "transaction_id": "7ca9a7e4-6d02-40e3-a129-0b2bf89de9b1",
                "related_entities": [{
                    "user_id": "8ca9a7e4-6d02-40e3-a129-0b2bf89de9b1",
                    "customer_ids": ["3ca9a7e4-6d02-40e3-a129-0b2bf89de9b1"]
                }]
            }
        })
    );

    // The data is OBP's body, member for member, for every notification file.
    for (name, body) in files.iter().filter(|(name, _)| name.starts_with("on-")) {
        let sent: Value = serde_json::from_slice(body).expect("payload is JSON");
        let delivered = [&balance, &transaction]
            .into_iter()
            .map(envelope)
            .find(|envelope| envelope["id"] == sent["event_id"])
            .unwrap_or_else(|| panic!("{name} was delivered"));
        assert_eq!(delivered["data"], sent, "{name}");
    }

    // The management-* files (sent first, as names sort) were acknowledged with no
    // delivery: each backend got exactly its one notification.
    assert_eq!(balances.received().len(), 1);
    assert_eq!(transactions.received().len(), 1);
}

#[tokio::test]
async fn a_replayed_notification_is_acknowledged_but_delivered_once() {
    let (hookgate, balances, transactions) = start().await;
    let body = crate::support::examples::payload("obp", "on-balance-change");
    let first = post(&hookgate, TOKEN, &body).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.header("hookgate-duplicate"), None);
    let again = post(&hookgate, TOKEN, &body).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.header("hookgate-duplicate"), Some("true"));

    // A later, different notification is the barrier: once it arrived, a second
    // balance delivery would have too.
    let other = crate::support::examples::payload("obp", "on-create-transaction");
    assert_eq!(post(&hookgate, TOKEN, &other).await.status, StatusCode::ACCEPTED);
    transactions.wait_for(1).await;
    assert_eq!(balances.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn a_wrong_token_is_401_and_delivers_nothing() {
    let (hookgate, balances, transactions) = start().await;
    for (name, body) in payloads() {
        // The shipped default token no longer works once OBP_URL_TOKEN is set.
        for wrong in ["example-obp-url-token", "guess"] {
            let reply = post(&hookgate, wrong, &body).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name} with {wrong}");
            reply.assert_problem(401, "unauthenticated");
        }
    }
    // The right token afterwards is the barrier for anything wrongly admitted.
    let body = crate::support::examples::payload("obp", "on-balance-change");
    assert_eq!(post(&hookgate, TOKEN, &body).await.status, StatusCode::ACCEPTED);
    assert_eq!(balances.wait_for(1).await.len(), 1);
    assert!(transactions.received().is_empty());
}

#[tokio::test]
async fn the_right_token_from_outside_obps_networks_is_401() {
    // Documentation ranges stand in for OBP's egress addresses; the test sends from
    // loopback, which they exclude.
    let (hookgate, balances, transactions) = start_with(&[
        ("OBP_EGRESS_V4", "192.0.2.0/24".to_owned()),
        ("OBP_EGRESS_V6", "2001:db8::/32".to_owned()),
    ])
    .await;
    for (name, body) in payloads() {
        let reply = post(&hookgate, TOKEN, &body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
    }
    assert!(balances.received().is_empty());
    assert!(transactions.received().is_empty());
}

/// Each OBP webhook chooses its method: PUT and DELETE carry the notification and
/// reach the backend as a POSTed CloudEvent; a GET carries no notification (its
/// event is its query, without `event_name`) and is dropped.
#[tokio::test]
async fn every_method_an_obp_webhook_may_use_is_served() {
    let (hookgate, balances, transactions) = start().await;
    let body = crate::support::examples::payload("obp", "on-balance-change");
    let mut sent = Vec::new();
    for (n, method) in [Method::PUT, Method::DELETE].into_iter().enumerate() {
        let mut event: Value = serde_json::from_slice(&body).expect("JSON");
        event["event_id"] = json!(format!("7d0c3f1e-0000-4000-8000-00000000000{n}"));
        let reply = send(
            method.clone(),
            &hookgate.url(&format!("/hooks/obp/{TOKEN}")),
            &[("content-type", "application/json; charset=utf-8")],
            serde_json::to_vec(&event).expect("JSON"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{method}");
        assert_eq!(reply.json()["deliveries"], 1, "{method}");
        sent.push(event);
    }
    let reply = send(
        Method::GET,
        &hookgate.url(&format!("/hooks/obp/{TOKEN}?bank_id=gh.29.uk")),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(reply.json(), json!({"status": "accepted", "deliveries": 0}));

    let other = crate::support::examples::payload("obp", "on-create-transaction");
    assert_eq!(post(&hookgate, TOKEN, &other).await.status, StatusCode::ACCEPTED);
    transactions.wait_for(1).await;
    let received = balances.wait_for(2).await;
    assert_eq!(received.len(), 2);
    let mut data: Vec<Value> = received
        .iter()
        .map(|r| {
            assert_eq!(r.method, Method::POST, "backends get a POST whatever OBP used");
            envelope(r)["data"].clone()
        })
        .collect();
    data.sort_by_key(|d| d["event_id"].to_string());
    assert_eq!(data, sent);
}
