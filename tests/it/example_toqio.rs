//! The shipped Toqio example (`examples/toqio/`) end to end: every payload in its
//! `payloads/`, sent with an RS256 JWT made here with the example's test private key,
//! reaches the connector as sent; the connector's answer (200, 400, 404) is relayed
//! to Toqio; the audit target receives one exact event per upserted or deleted
//! product; invalid products and tokens for another customer get nothing through.

use std::path::PathBuf;

use crate::support::{send, Downstream, Hookgate, Reply};
use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// The customer in the path (and in the products of the seed payloads).
const CUSTOMER: &str = "cus_7f3c2a";

fn example(name: &str) -> PathBuf {
    crate::support::examples::file("toqio", name)
}

/// Every payload of the example, by file name, sorted.
fn payloads() -> Vec<(String, Vec<u8>)> {
    let found = crate::support::examples::payloads("toqio");
    assert_eq!(found.len(), 3, "the three Toqio seed payloads");
    found
}

/// `Authorization` as Toqio's Integration Hub sends it, for `customer`.
fn bearer(customer: &str) -> String {
    let private = std::fs::read(example("toqio-private.pem")).expect("example private key");
    let key = EncodingKey::from_rsa_pem(&private).expect("PEM private key");
    let claims = json!({
        "iss": "Toqio",
        "sub": "Toqio-integration-hub Authorization",
        "customerID": customer,
        "iat": crate::support::unix_now(),
        "exp": crate::support::unix_now() + 300,
    });
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign");
    format!("Bearer {token}")
}

/// hookgate on the shipped config, with its targets pointed at fakes.
async fn start() -> (Hookgate, Downstream, Downstream) {
    let (connector, audit) = (Downstream::start().await, Downstream::start().await);
    let yaml = std::fs::read_to_string(example("hookgate.yaml")).expect("examples/toqio/hookgate.yaml");
    let public_key = format!("file:{}", example("toqio-public.pem").display());
    let env = [
        ("CONNECTOR_URL", connector.url("")),
        ("AUDIT_URL", audit.url("/audit")),
        ("TOQIO_PUBLIC_KEY", public_key),
    ];
    (Hookgate::start_with_env(&yaml, &env).await, connector, audit)
}

async fn post(
    hookgate: &Hookgate,
    customer_in_path: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(authorization.map(|value| ("authorization", value)));
    let url = hookgate.url(&format!("/customers/{customer_in_path}/products/changes"));
    send(Method::POST, &url, &headers, body.to_vec()).await
}

/// What the audit target must receive for `body` sent for `customer`.
fn audit_events(body: &[u8], customer: &str) -> Vec<Value> {
    let request: Value = serde_json::from_slice(body).expect("payload is JSON");
    let products = request["products"].as_array().into_iter().flatten();
    let deleted = request["deleteProductIds"].as_array().into_iter().flatten();
    products
        .map(|product| json!({"type": "product.upserted", "customerId": customer, "product": product}))
        .chain(deleted.map(|id| json!({"type": "product.deleted", "customerId": customer, "productId": id})))
        .collect()
}

fn sorted(mut events: Vec<Value>) -> Vec<Value> {
    events.sort_by_key(Value::to_string);
    events
}

fn bodies(downstream: &Downstream) -> Vec<Value> {
    downstream
        .received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("audit events are JSON"))
        .collect()
}

#[tokio::test]
async fn every_valid_payload_reaches_the_connector_as_sent_and_audit_one_event_per_change() {
    let (hookgate, connector, audit) = start().await;
    connector.set(|b| {
        b.body = r#"{"data":null,"code":"OK","errorSeverity":"NONE","httpStatus":200}"#.into();
    });
    let token = bearer(CUSTOMER);
    let mut expected_audit = Vec::new();
    let mut sent = 0;
    for (name, body) in payloads()
        .into_iter()
        .filter(|(name, _)| !name.starts_with("invalid-"))
    {
        let reply = post(&hookgate, CUSTOMER, Some(&token), &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {:?}", reply.body);
        assert_eq!(
            reply.body, r#"{"data":null,"code":"OK","errorSeverity":"NONE","httpStatus":200}"#,
            "{name}: the connector's answer is relayed"
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));

        sent += 1;
        let received = connector.wait_for(sent).await.remove(sent - 1);
        assert_eq!(received.body, body, "{name}: the connector gets Toqio's bytes");
        assert_eq!(
            received.path,
            format!("/customers/{CUSTOMER}/products/changes"),
            "{name}"
        );
        assert_eq!(
            received.headers["authorization"], token,
            "{name}: the connector gets Toqio's JWT"
        );
        assert_eq!(received.headers["content-type"], "application/json", "{name}");

        expected_audit.extend(audit_events(&body, CUSTOMER));
    }
    assert_eq!(sent, 2, "upsert-and-delete.json and delete-only.json");

    // upsert-and-delete.json: two products, two deleted ids; delete-only.json:
    // products is null, one deleted id.
    assert_eq!(expected_audit.len(), 5);
    assert!(expected_audit.contains(&json!({
        "type": "product.deleted", "customerId": CUSTOMER, "productId": "prod_old_789"
    })));
    audit.wait_for(expected_audit.len()).await;
    assert_eq!(sorted(bodies(&audit)), sorted(expected_audit));
    for received in audit.received() {
        assert_eq!(received.path, "/audit");
        assert_eq!(received.headers["content-type"], "application/json");
        assert!(
            !received.headers.contains_key("authorization"),
            "the audit backend never gets Toqio's JWT"
        );
    }
}

#[tokio::test]
async fn the_connectors_400_and_404_are_relayed_to_toqio() {
    let (hookgate, connector, audit) = start().await;
    let body = crate::support::examples::payload("toqio", "upsert-and-delete");
    let token = bearer(CUSTOMER);
    let answers: [(u16, &'static str); 3] = [
        (
            400,
            r#"{"code":"INVALID_REQUEST","errorSeverity":"ERROR","message":"bankingProvider is not ours","httpStatus":400,"errorOrigin":"INTEGRATION_HUB"}"#,
        ),
        (
            404,
            r#"{"code":"CUSTOMER_NOT_FOUND","errorSeverity":"ERROR","message":"unknown customer","httpStatus":404,"errorOrigin":"INTEGRATION_HUB"}"#,
        ),
        (200, r#"{"code":"OK","errorSeverity":"NONE","httpStatus":200}"#),
    ];
    for (round, (status, answer)) in answers.into_iter().enumerate() {
        connector.set(|b| {
            b.status = StatusCode::from_u16(status).expect("status");
            b.body = answer.into();
        });
        let reply = post(&hookgate, CUSTOMER, Some(&token), &body).await;
        assert_eq!(reply.status.as_u16(), status);
        assert_eq!(reply.body, answer, "the connector's body is relayed as it is");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(connector.wait_for(round + 1).await[round].body, body);
    }
    // queue_after: primary_success: only the call the connector accepted is
    // audited; the refused ones changed nothing.
    let expected = audit_events(&body, CUSTOMER);
    audit.wait_for(expected.len()).await;
    hookgate_drained(&hookgate).await;
    assert_eq!(sorted(bodies(&audit)), sorted(expected));
}

#[tokio::test]
async fn a_product_missing_required_fields_is_rejected_before_anything_is_sent() {
    let (hookgate, connector, audit) = start().await;
    let invalid = crate::support::examples::payload("toqio", "invalid-missing-required");
    let token = bearer(CUSTOMER);
    let reply = post(&hookgate, CUSTOMER, Some(&token), &invalid).await;
    let problem = reply.assert_problem(400, "invalid-event");
    // The product lacks partnerProduct, bankingProvider, name, ledgerTypeId and
    // visible: all five are named at once (validate.per_split applies to products
    // and not to deleted ids, which are strings).
    let missing = [
        "partnerProduct",
        "bankingProvider",
        "name",
        "ledgerTypeId",
        "visible",
    ];
    let mut errors: Vec<Value> = problem["errors"].as_array().expect("a list").clone();
    errors.sort_by_key(|error| error["path"].to_string());
    let mut expected: Vec<Value> = missing
        .iter()
        .map(|field| json!({"path": format!("$['products'][0].{field}"), "message": "required"}))
        .collect();
    expected.sort_by_key(|error| error["path"].to_string());
    assert_eq!(errors, expected, "{problem}");

    // A deleted id that is not a string, and a product field of the wrong type,
    // are listed together too.
    let mixed = json!({
        "products": [{"id": "p1", "customerId": CUSTOMER, "partnerProduct": "EUR", "bankingProvider": "b",
                      "name": {"en": "x"}, "ledgerTypeId": "l", "visible": "yes"}],
        "deleteProductIds": ["prod_ok", 42]
    });
    let reply = post(
        &hookgate,
        CUSTOMER,
        Some(&token),
        &serde_json::to_vec(&mixed).unwrap(),
    )
    .await;
    let problem = reply.assert_problem(400, "invalid-event");
    let paths: Vec<&str> = problem["errors"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|error| error["path"].as_str().expect("a path"))
        .collect();
    assert_eq!(
        paths,
        ["$['products'][0].visible", "$['deleteProductIds'][1]"],
        "{problem}"
    );

    // A valid request afterwards is the only thing either target sees.
    let valid = crate::support::examples::payload("toqio", "delete-only");
    assert_eq!(
        post(&hookgate, CUSTOMER, Some(&token), &valid).await.status,
        StatusCode::OK
    );
    let expected = audit_events(&valid, CUSTOMER);
    audit.wait_for(expected.len()).await;
    assert_eq!(bodies(&audit), expected);
    let received = connector.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, valid);
}

#[tokio::test]
async fn a_wrong_type_is_rejected_listing_every_violation() {
    let (hookgate, connector, audit) = start().await;
    let body = json!({
        "products": [{
            "id": "prod_1", "customerId": CUSTOMER, "partnerProduct": "EUR",
            "bankingProvider": "provider_xyz", "name": {"en": "Euro"},
            "ledgerTypeId": 7, "visible": "yes"
        }],
        "deleteProductIds": ["prod_old"]
    });
    let reply = post(
        &hookgate,
        CUSTOMER,
        Some(&bearer(CUSTOMER)),
        body.to_string().as_bytes(),
    )
    .await;
    let problem = reply.assert_problem(400, "invalid-event");
    assert_eq!(
        problem["errors"],
        json!([
            {"path": "$['products'][0].ledgerTypeId", "message": "expected a string"},
            {"path": "$['products'][0].visible", "message": "expected true or false"},
        ]),
        "{problem}"
    );
    assert!(connector.received().is_empty());
    assert!(audit.received().is_empty());
}

#[tokio::test]
async fn a_token_for_another_customer_or_none_is_401() {
    let (hookgate, connector, audit) = start().await;
    let body = crate::support::examples::payload("toqio", "upsert-and-delete");
    let other = bearer("cus_someone_else");
    let reply = post(&hookgate, CUSTOMER, Some(&other), &body).await;
    reply.assert_problem(401, "unauthenticated");
    let reply = post(&hookgate, CUSTOMER, None, &body).await;
    reply.assert_problem(401, "unauthenticated");

    // The same token is good for its own customer's path.
    let reply = post(&hookgate, "cus_someone_else", Some(&other), &body).await;
    assert_eq!(reply.status, StatusCode::OK);
    let received = connector.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/customers/cus_someone_else/products/changes");
    let expected = audit_events(&body, "cus_someone_else");
    audit.wait_for(expected.len()).await;
    assert_eq!(sorted(bodies(&audit)), sorted(expected));
}

/// Waits until the audit queue is empty: what the audit backend received is final.
async fn hookgate_drained(hookgate: &Hookgate) {
    crate::support::drained(&hookgate.store, "audit").await;
}
