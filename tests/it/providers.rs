//! Each seed provider's fixture, signed the way that provider signs it (computed here
//! from the provider's documentation, not by hookgate's own signer), is accepted end
//! to end and reaches the target byte for byte.

use crate::support::{fixture, send, Downstream, Hookgate, Reply};
use hmac::{Hmac, Mac};
use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::Sha256;

const KLAVI_SECRET: &str = "klavi-secret-key-from-console";
const BETTEREZ_KEY: &str = "betterez-app-private-key";
const OBP_TOKEN: &str = "obp-unguessable-token-9f1c";
const TRADEVEST_KEY: &str = "tradevest-partner-api-key";

fn hmac_sha256_hex(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// What `JSON.stringify(JSON.parse(body))` gives: compact, keys in their order.
fn json_stringify(body: &[u8]) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_slice(body).expect("fixture is JSON");
    serde_json::to_vec(&value).expect("serialisable")
}

async fn start() -> (Hookgate, Downstream) {
    let downstream = Downstream::start().await;
    let public_key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt/rsa-public.pem");
    let yaml = format!(
        r#"
targets:
  backend: {{ url: "{url}" }}
routes:
  - name: klavi
    path: /hooks/klavi
    mode: sync
    targets: [backend]
    auth: [{{ klavi: {{ secrets: ["{KLAVI_SECRET}"] }} }}]
  - name: betterez
    path: /hooks/betterez
    mode: sync
    targets: [backend]
    auth: [{{ betterez: {{ secrets: ["{BETTEREZ_KEY}"] }} }}]
  - name: obp
    path: /hooks/obp
    mode: sync
    targets: [backend]
    auth:
      - ip_allow: {{ networks: [127.0.0.1/32, "::1"] }}
      - url_token: {{ query: token, secrets: ["{OBP_TOKEN}"] }}
  - name: tradevest
    path: /hooks/tradevest/customer-notification
    mode: sync
    targets: [backend]
    auth: [{{ header: {{ name: api-key, secrets: ["{TRADEVEST_KEY}"] }} }}]
  - name: toqio
    path: /customers/{{customerId}}/products/changes
    mode: sync
    targets: [backend]
    auth:
      - jwt:
          algorithms: [RS256]
          keys: ["file:{public_key}"]
          issuer: Toqio
          subject: Toqio-integration-hub Authorization
          path_claims: {{ customerID: customerId }}
"#,
        url = downstream.url("/backend")
    );
    (Hookgate::start(&yaml).await, downstream)
}

async fn post(hookgate: &Hookgate, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send(Method::POST, &hookgate.url(path), &all, body.to_vec()).await
}

#[tokio::test]
async fn klavi_signs_json_stringify_of_the_body() {
    let (hookgate, downstream) = start().await;
    let body = fixture("klavi-consent_authorised.json");
    // Klavi's Node example: createHmac('sha256', secret).update(JSON.stringify(req.body)).
    let signature = hmac_sha256_hex(KLAVI_SECRET, &[&json_stringify(&body)]);
    let timestamp = crate::support::unix_now().to_string();
    let headers = [
        ("x-klavi-signature", signature.as_str()),
        ("x-klavi-timestamp", timestamp.as_str()),
    ];
    assert_eq!(post(&hookgate, "/hooks/klavi", &headers, &body).await.status, 200);
    // The pretty-printed bytes as sent are what the backend receives.
    assert_eq!(downstream.wait_for(1).await[0].body, body);

    let bad = hmac_sha256_hex("another-secret", &[&json_stringify(&body)]);
    let reply = post(
        &hookgate,
        "/hooks/klavi",
        &[("x-klavi-signature", bad.as_str())],
        &body,
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(downstream.received().len(), 1);
}

#[tokio::test]
async fn betterez_signs_timestamp_dot_payload() {
    let (hookgate, downstream) = start().await;
    let body = fixture("betterez-created.json");
    let t = crate::support::unix_now().to_string();
    let s2 = hmac_sha256_hex(BETTEREZ_KEY, &[t.as_bytes(), b".", &json_stringify(&body)]);
    let header = format!("t={t},s=deprecated-signature,s2={s2}");
    let reply = post(
        &hookgate,
        "/hooks/betterez",
        &[("x-btrz-signature", header.as_str())],
        &body,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(downstream.wait_for(1).await[0].body, body);
}

#[tokio::test]
async fn obp_is_authenticated_by_url_token_and_address() {
    let (hookgate, downstream) = start().await;
    let body = fixture("obp-on-balance-change.json");
    let path = format!("/hooks/obp?token={OBP_TOKEN}");
    assert_eq!(post(&hookgate, &path, &[], &body).await.status, 200);
    assert_eq!(downstream.wait_for(1).await[0].body, body);
    assert_eq!(
        post(&hookgate, "/hooks/obp?token=guess", &[], &body).await.status,
        401
    );
    assert_eq!(downstream.received().len(), 1);
}

#[tokio::test]
async fn tradevest_sends_its_partner_chosen_api_key() {
    let (hookgate, downstream) = start().await;
    let body = fixture("tradevest-customer-notification.json");
    let path = "/hooks/tradevest/customer-notification";
    assert_eq!(
        post(&hookgate, path, &[("api-key", TRADEVEST_KEY)], &body)
            .await
            .status,
        200
    );
    assert_eq!(downstream.wait_for(1).await[0].body, body);
    assert_eq!(
        post(&hookgate, path, &[("api-key", "wrong")], &body).await.status,
        401
    );
}

#[tokio::test]
async fn toqio_sends_an_rs256_jwt_bound_to_the_customer() {
    let (hookgate, downstream) = start().await;
    let body = fixture("toqio-upsert-and-delete.json");
    let private = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt/rsa-private.pem"
    ))
    .expect("test key");
    let key = EncodingKey::from_rsa_pem(&private).expect("PEM private key");
    let token = |customer: &str| {
        let claims = serde_json::json!({
            "iss": "Toqio",
            "sub": "Toqio-integration-hub Authorization",
            "customerID": customer,
            "iat": crate::support::unix_now(),
            "exp": crate::support::unix_now() + 300,
        });
        format!(
            "Bearer {}",
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign")
        )
    };
    let path = "/customers/cus_42/products/changes";
    let reply = post(
        &hookgate,
        path,
        &[("authorization", token("cus_42").as_str())],
        &body,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(downstream.wait_for(1).await[0].body, body);
    // A token for another customer cannot write to this one.
    let reply = post(
        &hookgate,
        path,
        &[("authorization", token("cus_43").as_str())],
        &body,
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(downstream.received().len(), 1);
}
