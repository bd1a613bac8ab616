//! The shipped Betterez example (`examples/betterez/`) as written, its target pointed
//! at a fake backend: both external-wallet events, signed the way Betterez signs them,
//! reach `wallets` with every BzDate flattened to its RFC 3339 string; a re-post (new
//! `attemptId`, same `id`) is a duplicate, other events are dropped, and bad
//! signatures are refused.

use std::path::PathBuf;

use crate::support::examples::json;
use crate::support::{send, Downstream, Hookgate, Reply};
use hmac::{Hmac, Mac};
use http::Method;
use serde_json::{json, Value};
use sha2::Sha256;

const KEY: &str = "betterez-example-test-key";

fn example_dir() -> PathBuf {
    crate::support::examples::file("betterez", "")
}

fn payloads() -> Vec<(String, Vec<u8>)> {
    crate::support::examples::payloads("betterez")
}

fn payload(stem: &str) -> Vec<u8> {
    crate::support::examples::payload("betterez", stem)
}

/// `x-btrz-signature` as Betterez builds it: `s2` is the hex HMAC-SHA256 under the
/// application's private key of `t + "." + JSON.stringify(payload)`; the deprecated
/// `s` rides along.
fn btrz_signature(key: &str, t: u64, body: &[u8]) -> String {
    let compact = serde_json::to_vec(&json(body)).expect("serialisable");
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&compact);
    let s2 = hex::encode(mac.finalize().into_bytes());
    format!("t={t},s=deprecated-signature,s2={s2}")
}

/// Whether `value` is a Betterez BzDate: `{offset, value}` and nothing else.
fn is_bz_date(value: &Value) -> bool {
    value.as_object().is_some_and(|object| {
        object.len() == 2 && object.contains_key("offset") && object.contains_key("value")
    })
}

/// The paths of every BzDate in `value`.
fn bz_dates(value: &Value, at: &str, found: &mut Vec<String>) {
    if is_bz_date(value) {
        found.push(at.to_owned());
    }
    match value {
        Value::Object(object) => {
            for (key, member) in object {
                bz_dates(member, &format!("{at}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                bz_dates(item, &format!("{at}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// The event as `wallets` should receive it: each BzDate replaced by its `value`,
/// in place; everything else as sent.
fn delivered(body: &[u8]) -> Value {
    let mut event = json(body);
    let mut paths = Vec::new();
    bz_dates(&event, "$", &mut paths);
    assert_eq!(
        paths,
        ["$.data.createdAt", "$.data.updatedAt"],
        "the example's copy step covers exactly these BzDates"
    );
    for field in ["createdAt", "updatedAt"] {
        let date = event["data"][field]["value"].clone();
        assert!(date.is_string(), "{date}");
        event["data"][field] = date;
    }
    event
}

struct Example {
    hookgate: Hookgate,
    wallets: Downstream,
}

impl Example {
    async fn start() -> Self {
        let path = example_dir().join("hookgate.yaml");
        let yaml =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let wallets = Downstream::start().await;
        let hookgate = Hookgate::start_with_env(
            &yaml,
            &[
                ("BETTEREZ_SECRET", KEY.to_owned()),
                ("WALLETS_URL", wallets.url("/wallets")),
            ],
        )
        .await;
        Self { hookgate, wallets }
    }

    /// Posts `body` with `signature` (if any) in `x-btrz-signature`.
    async fn post_with(&self, body: &[u8], signature: Option<&str>) -> Reply {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(signature) = signature {
            headers.push(("x-btrz-signature", signature));
        }
        send(
            Method::POST,
            &self.hookgate.url("/hooks/betterez"),
            &headers,
            body.to_vec(),
        )
        .await
    }

    /// Posts `body` signed now under the example's key.
    async fn post(&self, body: &[u8]) -> Reply {
        self.post_with(body, Some(&btrz_signature(KEY, crate::support::unix_now(), body)))
            .await
    }

    /// The bodies `wallets` received, in arrival order.
    fn received(&self) -> Vec<String> {
        self.wallets
            .received()
            .iter()
            .map(|r| String::from_utf8(r.body.to_vec()).expect("UTF-8 body"))
            .collect()
    }
}

/// The payload with `field` (a top-level string) replaced, edited in the raw bytes
/// so the body stays pretty-printed as shipped.
fn with_field(body: &[u8], field: &str, value: &str) -> Vec<u8> {
    let old = json(body)[field].as_str().expect("a string field").to_owned();
    let text = std::str::from_utf8(body).expect("UTF-8 payload");
    assert_eq!(text.matches(&old).count(), 1, "{field} occurs once");
    text.replace(&old, value).into_bytes()
}

#[test]
fn the_example_ships_both_external_wallet_events() {
    let names: Vec<String> = payloads().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["created", "updated"]);
    for (name, body) in payloads() {
        assert_eq!(
            json(&body)["event"],
            format!("external-wallets.{name}"),
            "{name}.json"
        );
    }
}

#[tokio::test]
async fn both_wallet_events_reach_wallets_with_plain_dates() {
    let example = Example::start().await;
    let mut want = Vec::new();
    for (name, body) in payloads() {
        let reply = example.post(&body).await;
        assert_eq!(
            reply.status,
            202,
            "{name}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.json(), json!({"status": "accepted", "deliveries": 1}));
        want.push(delivered(&body).to_string());
    }
    example.wallets.wait_for(2).await;
    let mut got = example.received();
    got.sort();
    want.sort();
    // Exact bytes: compact, keys in Betterez's order, each date where its BzDate was.
    assert_eq!(got, want);
    let created = got
        .iter()
        .map(|body| json(body.as_bytes()))
        .find(|event| event["event"] == "external-wallets.created")
        .expect("the created event");
    assert_eq!(
        created["data"],
        json!({
            "_id": "5ff377bbd383cf7df687fedc",
            "accountId": "52a377ec430c7d4e220001fc",
            "firstName": "John",
            "lastName": "Doe",
            "email": "john.doe@example.com",
            "tel": "+123456789",
            "dob": "1990-01-01",
            "nip": 6789,
            "status": "active",
            "blocked": false,
            "createdBy": "55fc2f318791db6e1a0000b6",
            "updatedBy": "55fc2f318791db6e1a0000b6",
            "createdAt": "2021-01-04T20:16:59.548Z",
            "updatedAt": "2021-01-04T20:16:59.548Z"
        }),
        "created.json's data, its two BzDates now plain strings"
    );
    for received in example.wallets.received() {
        assert_eq!(received.path, "/wallets");
        assert_eq!(received.headers["content-type"], "application/json");
    }
}

#[tokio::test]
async fn a_re_post_with_a_new_attempt_id_is_a_duplicate() {
    let example = Example::start().await;
    let body = payload("created");
    assert_eq!(example.post(&body).await.status, 202);
    // Betterez posts the same event again: a new attemptId and t, the same id.
    let again = with_field(&body, "attemptId", "0d6f7bd4-6f3e-4e0b-9a4e-3c1b2a9f8e71");
    assert_ne!(json(&again)["attemptId"], json(&body)["attemptId"]);
    let reply = example
        .post_with(
            &again,
            Some(&btrz_signature(KEY, crate::support::unix_now() + 1, &again)),
        )
        .await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.header("hookgate-duplicate"), Some("true"));

    // The same attemptId with another id is another event.
    let other = with_field(&body, "id", "6f1d2c3b-4a5e-4f60-8b7a-9c0d1e2f3a4b");
    let reply = example.post(&other).await;
    assert_eq!(reply.header("hookgate-duplicate"), None);
    example.wallets.wait_for(2).await;
    let mut got = example.received();
    got.sort();
    let mut want = vec![delivered(&body).to_string(), delivered(&other).to_string()];
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn other_betterez_events_are_dropped() {
    let example = Example::start().await;
    let created = payload("created");
    let other = with_field(&created, "event", "transaction.completed");
    let other = with_field(&other, "id", "0b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e");
    let reply = example.post(&other).await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.json(), json!({"status": "accepted", "deliveries": 0}));

    let updated = payload("updated");
    assert_eq!(example.post(&updated).await.status, 202);
    example.wallets.wait_for(1).await;
    assert_eq!(example.received(), vec![delivered(&updated).to_string()]);
}

#[tokio::test]
async fn a_wrong_stale_or_missing_signature_is_401() {
    let example = Example::start().await;
    let body = payload("updated");
    let wrong = btrz_signature("not-the-betterez-key", crate::support::unix_now(), &body);
    example
        .post_with(&body, Some(&wrong))
        .await
        .assert_problem(401, "unauthenticated");
    let stale = btrz_signature(KEY, crate::support::unix_now() - 3600, &body);
    example
        .post_with(&body, Some(&stale))
        .await
        .assert_problem(401, "unauthenticated");
    example
        .post_with(&body, None)
        .await
        .assert_problem(401, "unauthenticated");
    // A valid signature of another payload does not carry over.
    let t = crate::support::unix_now();
    let borrowed = btrz_signature(KEY, t, &payload("created"));
    example
        .post_with(&body, Some(&borrowed))
        .await
        .assert_problem(401, "unauthenticated");

    // The refused requests claimed nothing: the event still goes through once.
    let reply = example.post(&body).await;
    assert_eq!(reply.header("hookgate-duplicate"), None);
    example.wallets.wait_for(1).await;
    assert_eq!(example.received(), vec![delivered(&body).to_string()]);
}

#[tokio::test]
async fn dates_already_plain_or_absent_are_left_as_they_are() {
    let example = Example::start().await;
    let mut event = json(&payload("created"));
    event["id"] = json!("3c2b1a09-8f7e-4d6c-9b5a-493827161504");
    event["data"]["createdAt"] = json!("2021-01-04T20:16:59.548Z");
    event["data"]
        .as_object_mut()
        .expect("a data object")
        .remove("updatedAt");
    let body = serde_json::to_vec_pretty(&event).expect("serialisable");
    assert_eq!(example.post(&body).await.status, 202);
    example.wallets.wait_for(1).await;
    assert_eq!(example.received(), vec![event.to_string()]);
}

#[tokio::test]
async fn an_event_without_id_is_refused() {
    let example = Example::start().await;
    let mut event = json(&payload("created"));
    event.as_object_mut().expect("an event object").remove("id");
    let body = serde_json::to_vec_pretty(&event).expect("serialisable");
    example
        .post(&body)
        .await
        .assert_problem(400, "dedupe-key-missing");

    let created = payload("created");
    assert_eq!(example.post(&created).await.status, 202);
    example.wallets.wait_for(1).await;
    assert_eq!(example.received(), vec![delivered(&created).to_string()]);
}
