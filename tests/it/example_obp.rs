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

/// A notification sent to the example's route on `process`, as OBP sends it.
async fn notify(process: &crate::support::HookgateProcess, body: &[u8]) -> Reply {
    send(
        Method::POST,
        &process.url(&format!("/hooks/obp/{TOKEN}")),
        &[("content-type", "application/json; charset=utf-8")],
        body.to_vec(),
    )
    .await
}

/// OBP's three webhook scopes, registered the way an OBP admin would, through the
/// admin API alone with the example's `obp-admin` token: an account webhook (one
/// account's `OnBalanceChange`), a bank notification webhook (one bank's
/// `OnCreateTransaction`, sent with PUT) and a system notification webhook (every
/// bank's `OnCreateTransaction`). Each receives exactly the notifications its scope
/// covers, signed, over https; a disabled one receives nothing more; a deleted one
/// is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_obp_webhook_scopes_are_managed_through_the_api() {
    use crate::support::tls::TestPki;
    const ADMIN: &str = "obp-admin-token-for-the-example-test-0123456789";
    let pki = TestPki::new();
    let (account, bank, system) = (
        Downstream::start_tls(pki.acceptor.clone()).await,
        Downstream::start_tls(pki.acceptor.clone()).await,
        Downstream::start_tls(pki.acceptor.clone()).await,
    );
    let (balances, transactions) = (Downstream::start().await, Downstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let (balances_url, transactions_url) = (balances.url("/balances"), transactions.url("/transactions"));
    let process = crate::support::HookgateProcess::spawn_with_env(
        &example("hookgate.yaml"),
        &[
            ("HOOKGATE_LISTEN", "127.0.0.1:0"),
            ("HOOKGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            ("OBP_ADMIN_TOKEN", ADMIN),
            ("OBP_URL_TOKEN", TOKEN),
            (
                "SUBSCRIPTION_SIGNING_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
            ("SUBSCRIBER_NETWORK_V4", "127.0.0.1/32"),
            ("SUBSCRIBER_NETWORK_V6", "::1/128"),
            ("BALANCES_URL", &balances_url),
            ("TRANSACTIONS_URL", &transactions_url),
            ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ],
    );
    let admin = format!(
        "http://{}",
        process.admin.expect("the example has an admin listener")
    );
    let api = |method: Method, path: String, body: Value| {
        let admin = admin.clone();
        async move {
            let bearer = format!("Bearer {ADMIN}");
            let body = if body.is_null() {
                String::new()
            } else {
                body.to_string()
            };
            send(
                method,
                &format!("{admin}{path}"),
                &[("authorization", &bearer), ("content-type", "application/json")],
                body,
            )
            .await
        }
    };
    let document = api(Method::GET, "/api/v1/openapi.json".into(), Value::Null)
        .await
        .json();

    // The scopes, as OBP's management API registers them.
    let balance =
        crate::support::examples::json(&crate::support::examples::payload("obp", "on-balance-change"));
    let created_tx =
        crate::support::examples::json(&crate::support::examples::payload("obp", "on-create-transaction"));
    let account_id = balance["account_id"].as_str().unwrap().to_owned();
    let scopes = [
        json!({
            "route": "obp",
            "url": account.https_url("/account-webhook"),
            "filter": format!("@.account_id == '{account_id}' && @.event_name == 'OnBalanceChange'"),
            "description": "account webhook: OnBalanceChange of one account (CanCreateWebhook)",
        }),
        json!({
            "route": "obp",
            "url": bank.https_url("/bank-notifications"),
            "method": "PUT",
            "filter": "@.bank_id == 'gh.29.uk' && @.event_name == 'OnCreateTransaction'",
            "description": "bank notification webhook (CanCreateAccountNotificationWebhookAtOneBank)",
        }),
        json!({
            "route": "obp",
            "url": system.https_url("/system-notifications"),
            "filter": "@.event_name == 'OnCreateTransaction'",
            "description": "system notification webhook (CanCreateSystemAccountNotificationWebhook)",
        }),
    ];
    let mut ids = Vec::new();
    for scope in &scopes {
        let created = api(Method::POST, "/api/v1/subscriptions".into(), scope.clone()).await;
        assert_eq!(created.status, 201, "{:?}", created.json());
        let view = created.json();
        crate::admin_api::assert_fits(&document, &Method::POST, "/api/v1/subscriptions", &view);
        assert_eq!(
            created.header("location"),
            Some(format!("/api/v1/subscriptions/{}", view["id"].as_str().unwrap()).as_str())
        );
        assert_eq!(view["is_active"], true);
        assert_eq!(view["created_by"], "obp-admin");
        ids.push(view["id"].as_str().unwrap().to_owned());
    }

    // Listed as OBP lists webhooks: paged, newest first, filtered.
    let page = api(
        Method::GET,
        "/api/v1/subscriptions?route=obp&limit=2&sort_direction=desc".into(),
        Value::Null,
    )
    .await
    .json();
    crate::admin_api::assert_fits(&document, &Method::GET, "/api/v1/subscriptions", &page);
    let listed: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(
        (page["total"].clone(), page["has_more"].clone()),
        (json!(3), json!(true))
    );
    let rest = api(
        Method::GET,
        "/api/v1/subscriptions?route=obp&limit=2&offset=2&sort_direction=desc".into(),
        Value::Null,
    )
    .await
    .json();
    assert_eq!(rest["items"][0]["id"], ids[0].as_str());

    // Notifications: deliveries per request show exactly which scopes matched.
    let mut other_account = balance.clone();
    other_account["account_id"] = json!("00000000-0000-0000-0000-000000000000");
    other_account["event_id"] = json!("6b0f5c1e-2f4a-4a63-9b57-0d3c2b6f1e21");
    let mut other_bank = created_tx.clone();
    other_bank["bank_id"] = json!("other.bank.01");
    other_bank["event_id"] = json!("7ca9a7e4-6d02-40e3-a129-0b2bf89de9b1");
    for (event, deliveries) in [
        (&balance, 2),       // balances + the account webhook
        (&other_account, 1), // balances only
        (&created_tx, 3),    // transactions + bank + system
        (&other_bank, 2),    // transactions + system
    ] {
        let reply = notify(&process, event.to_string().as_bytes()).await;
        assert_eq!(reply.status, 202, "{:?}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.json()["deliveries"], deliveries, "{event}");
    }
    let to_account = account.wait_for(1).await;
    assert_eq!(to_account[0].path, "/account-webhook");
    assert_eq!(to_account[0].method, Method::POST);
    let envelope: Value = serde_json::from_slice(&to_account[0].body).unwrap();
    assert_eq!(
        envelope["data"], balance,
        "the notification, in the example's CloudEvents envelope"
    );
    assert!(
        to_account[0].headers.contains_key("webhook-signature"),
        "signed as the policy says"
    );
    let to_bank = bank.wait_for(1).await;
    assert_eq!(to_bank[0].method, Method::PUT);
    let to_system = system.wait_for(2).await;
    let banks: std::collections::BTreeSet<String> = to_system
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["data"]["bank_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(banks, ["gh.29.uk".to_owned(), "other.bank.01".to_owned()].into());

    // Disabled (OBP's PUT ... {is_active: false}): it receives nothing more.
    let disabled = api(
        Method::PATCH,
        format!("/api/v1/subscriptions/{}", ids[0]),
        json!({ "is_active": false }),
    )
    .await;
    assert_eq!(disabled.json()["is_active"], false);
    let mut again = balance.clone();
    again["event_id"] = json!("8b0f5c1e-2f4a-4a63-9b57-0d3c2b6f1e21");
    let reply = notify(&process, again.to_string().as_bytes()).await;
    assert_eq!(reply.json()["deliveries"], 1, "balances only");
    let inactive = api(
        Method::GET,
        "/api/v1/subscriptions?is_active=false".into(),
        Value::Null,
    )
    .await
    .json();
    assert_eq!(inactive["items"][0]["id"], ids[0].as_str());
    assert_eq!(inactive["total"], 1);

    // Deleted: gone from the API and from the matching.
    let deleted = api(
        Method::DELETE,
        format!("/api/v1/subscriptions/{}", ids[1]),
        Value::Null,
    )
    .await;
    assert_eq!(deleted.json()["count"], 1);
    api(
        Method::GET,
        format!("/api/v1/subscriptions/{}", ids[1]),
        Value::Null,
    )
    .await
    .assert_problem(404, "not-found");
    let mut later = created_tx.clone();
    later["event_id"] = json!("aca9a7e4-6d02-40e3-a129-0b2bf89de9b1");
    let reply = notify(&process, later.to_string().as_bytes()).await;
    assert_eq!(reply.json()["deliveries"], 2, "transactions + system");
    assert_eq!(system.wait_for(3).await.len(), 3);
    assert_eq!(account.received().len(), 1);
    assert_eq!(bank.received().len(), 1);
    assert_eq!(balances.wait_for(3).await.len(), 3);
    assert_eq!(transactions.wait_for(3).await.len(), 3);
}
