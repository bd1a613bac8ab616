//! Rules through the real server: split, validate, when → transform → forward,
//! default drop, per-event dedupe, CloudEvents output, and sync mode with rule events
//! beside the primary. Assertions are on the exact JSON each backend received.

use crate::support::{fixture, post_json, Downstream, Hookgate};
use serde_json::{json, Value};

fn received_json(downstream: &Downstream) -> Vec<Value> {
    downstream
        .received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("JSON body"))
        .collect()
}

async fn klavi() -> (Hookgate, Downstream, Downstream) {
    let (consents, products) = (Downstream::start().await, Downstream::start().await);
    let yaml = format!(
        r#"
targets:
  consents: {{ url: "{}" }}
  products: {{ url: "{}" }}
routes:
  - name: klavi
    path: /hooks/klavi
    split: "$[*]"
    dedupe: {{ key: "$.eventId" }}
    validate:
      required: ["$.eventId", "$.eventName"]
      formats: {{ "$.eventTime": date-time }}
    rules:
      - when: "search(@.eventName, '^consent_')"
        transform:
          - set: {{ "$.source": klavi }}
          - remove: ["$.externalInfo"]
        forward: [consents]
      - when: "@.eventName == 'product_generated_success' || @.eventName == 'product_generated_failed'"
        forward: [products]
    default: drop
"#,
        consents.url("/consents"),
        products.url("/products")
    );
    (Hookgate::start(&yaml).await, consents, products)
}

#[tokio::test]
async fn a_klavi_batch_is_split_and_each_event_routed_and_rewritten() {
    let (hookgate, consents, products) = klavi().await;
    let consent: Value = serde_json::from_slice(&fixture("klavi-consent_authorised.json")).unwrap();
    let mut batch = consent.as_array().unwrap().clone();
    batch.push(json!({"eventId": "evt_p1", "eventName": "product_generated_success", "eventTime": "2022-06-25T20:08:17.848Z", "payload": {"linkId": "l1"}}));
    batch.push(
        json!({"eventId": "evt_l1", "eventName": "link_created", "eventTime": "2022-06-25T20:08:17.848Z"}),
    );
    let reply = post_json(&hookgate.url("/hooks/klavi"), serde_json::to_vec(&batch).unwrap()).await;
    assert_eq!(reply.status, 202, "{:?}", String::from_utf8_lossy(&reply.body));

    consents.wait_for(1).await;
    products.wait_for(1).await;
    let mut expected = batch[0].clone();
    expected.as_object_mut().unwrap().remove("externalInfo");
    expected["source"] = json!("klavi");
    assert_eq!(received_json(&consents), vec![expected]);
    assert_eq!(
        received_json(&products),
        vec![batch[1].clone()],
        "unchanged, no rewrite in that rule"
    );

    // The same batch again: every event is a duplicate, nothing more is delivered.
    let again = post_json(&hookgate.url("/hooks/klavi"), serde_json::to_vec(&batch).unwrap()).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("hookgate-duplicate"), Some("true"));
    let fresh =
        json!([{"eventId": "evt_c2", "eventName": "consent_revoked", "eventTime": "2022-06-26T00:00:00Z"}]);
    assert!(post_json(&hookgate.url("/hooks/klavi"), fresh.to_string())
        .await
        .header("hookgate-duplicate")
        .is_none());
    consents.wait_for(2).await;
    assert_eq!(consents.received().len(), 2);
    assert_eq!(
        products.received().len(),
        1,
        "link_created went nowhere: default drop"
    );
}

#[tokio::test]
async fn one_invalid_event_rejects_the_request_with_every_violation() {
    let (hookgate, consents, products) = klavi().await;
    let batch = json!([
        {"eventId": "ok", "eventName": "consent_authorised", "eventTime": "2022-06-25T20:08:17.848Z"},
        {"eventName": "consent_error", "eventTime": "yesterday"},
    ]);
    let reply = post_json(&hookgate.url("/hooks/klavi"), batch.to_string()).await;
    let problem = reply.assert_problem(400, "invalid-event");
    let errors = problem["errors"].as_array().expect("an errors array");
    let found: Vec<(String, String)> = errors
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        found.contains(&("$[1].eventId".into(), "required".into())),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(path, message)| path == "$[1].eventTime" && message.contains("date-time")),
        "{found:?}"
    );
    assert_eq!(found.len(), 2, "{found:?}");
    // Nothing was admitted, not even the valid event.
    let valid_again = json!([{"eventId": "ok", "eventName": "consent_authorised", "eventTime": "2022-06-25T20:08:17.848Z"}]);
    let reply = post_json(&hookgate.url("/hooks/klavi"), valid_again.to_string()).await;
    assert!(
        reply.header("hookgate-duplicate").is_none(),
        "the rejected request claimed no key"
    );
    consents.wait_for(1).await;
    assert!(products.received().is_empty());
}

#[tokio::test]
async fn obp_events_are_delivered_as_cloudevents_to_their_backend() {
    let (balances, transactions) = (Downstream::start().await, Downstream::start().await);
    let yaml = format!(
        r#"
targets:
  balances: {{ url: "{}" }}
  transactions: {{ url: "{}" }}
routes:
  - name: obp
    path: /hooks/obp
    rules:
      - when: "@.event_name == 'OnBalanceChange'"
        forward: [balances]
      - when: "@.event_name == 'OnCreateTransaction'"
        forward: [transactions]
    output:
      cloudevents:
        source: "https://obp.example/banks/{{$.bank_id}}"
        type: "com.openbankproject.{{$.event_name}}"
        id: "{{$.event_id}}"
        subject: "accounts/{{$.account_id}}"
        extensions: {{ bankid: "{{$.bank_id}}", provider: obp }}
"#,
        balances.url("/b"),
        transactions.url("/t")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let event: Value = serde_json::from_slice(&fixture("obp-on-balance-change.json")).unwrap();
    assert_eq!(
        post_json(&hookgate.url("/hooks/obp"), event.to_string())
            .await
            .status,
        202
    );
    let received = balances.wait_for(1).await.remove(0);
    assert_eq!(received.headers["content-type"], "application/cloudevents+json");
    let envelope: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(envelope["specversion"], "1.0");
    assert_eq!(envelope["id"], event["event_id"]);
    assert_eq!(envelope["source"], "https://obp.example/banks/gh.29.uk");
    assert_eq!(envelope["type"], "com.openbankproject.OnBalanceChange");
    assert_eq!(envelope["datacontenttype"], "application/json");
    assert!(envelope["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(envelope["data"], event);
    assert_eq!(
        envelope["subject"],
        format!("accounts/{}", event["account_id"].as_str().unwrap())
    );
    assert_eq!(envelope["bankid"], "gh.29.uk");
    assert_eq!(envelope["provider"], "obp");
    assert!(transactions.received().is_empty());
}

#[test]
fn cloudevents_extension_names_follow_the_specification() {
    let config = |extensions: &str| {
        format!(
            "targets:\n  t: {{ url: \"http://127.0.0.1:9/\" }}\nroutes:\n  - name: r\n    path: /in\n    targets: [t]\n    output:\n      cloudevents: {{ source: s, type: t, extensions: {extensions} }}\n"
        )
    };
    assert!(hookgate::config::parse(&config("{ bankid: x, v2: y }"), "t.yaml", &|_| None).is_ok());
    for bad in ["Bank", "bank_id", "time", "data", ""] {
        let errors = hookgate::config::parse(&config(&format!("{{ \"{bad}\": x }}")), "t.yaml", &|_| None)
            .expect_err(bad)
            .to_string();
        assert!(errors.contains("extensions"), "{bad}: {errors}");
    }
}

#[tokio::test]
async fn sync_routes_relay_the_primary_and_queue_one_event_per_product() {
    let (connector, audit) = (Downstream::start().await, Downstream::start().await);
    connector.set(|b| b.body = r#"{"code":"OK"}"#.into());
    let yaml = format!(
        r#"
targets:
  connector: {{ url: "{}" }}
  audit: {{ url: "{}" }}
routes:
  - name: toqio
    path: /customers/{{customerId}}/products/changes
    mode: sync
    targets: [connector]
    split: ["$.products[*]", "$.deleteProductIds[*]"]
    match: first
    rules:
      - when: "@.id"
        transform:
          - template: {{ type: product.upserted, customerId: "{{path.customerId}}", product: "$" }}
        forward: [audit]
      - transform:
          - template: {{ type: product.deleted, customerId: "{{path.customerId}}", productId: "$" }}
        forward: [audit]
"#,
        connector.url("/connector"),
        audit.url("/audit")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let body = fixture("toqio-upsert-and-delete.json");
    let request: Value = serde_json::from_slice(&body).unwrap();
    let reply = post_json(&hookgate.url("/customers/cus_42/products/changes"), body.clone()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body, r#"{"code":"OK"}"#,
        "the connector's answer is relayed"
    );
    assert_eq!(
        connector.wait_for(1).await[0].body,
        body,
        "the connector gets the request as sent"
    );

    let products = request["products"].as_array().unwrap();
    let deleted = request["deleteProductIds"].as_array().unwrap();
    let expected: Vec<Value> = products
        .iter()
        .map(|p| json!({"type": "product.upserted", "customerId": "cus_42", "product": p}))
        .chain(
            deleted
                .iter()
                .map(|id| json!({"type": "product.deleted", "customerId": "cus_42", "productId": id})),
        )
        .collect();
    audit.wait_for(expected.len()).await;
    let mut got = received_json(&audit);
    let key = |v: &Value| v.to_string();
    got.sort_by_key(key);
    let mut want = expected;
    want.sort_by_key(key);
    assert_eq!(got, want);
}

#[tokio::test]
async fn target_url_method_and_headers_are_filled_per_event() {
    let backend = Downstream::start().await;
    let base = backend.url("");
    let yaml = format!(
        r#"
targets:
  backend: {{ url: "{base}/customers/{{path.customerId}}/events/{{$.eventId}}", method: PUT, headers: {{ x-event-name: "{{$.eventName}}", x-static: fixed }} }}
routes:
  - {{ name: r, path: "/in/{{customerId}}", targets: [backend] }}
"#
    );
    let hookgate = Hookgate::start(&yaml).await;
    let event = json!({"eventId": "evt_7", "eventName": "consent_revoked"});
    assert_eq!(
        post_json(&hookgate.url("/in/cus_3"), event.to_string())
            .await
            .status,
        202
    );
    let received = backend.wait_for(1).await.remove(0);
    assert_eq!(received.method, http::Method::PUT);
    assert_eq!(received.path, "/customers/cus_3/events/evt_7");
    assert_eq!(received.headers["x-event-name"], "consent_revoked");
    assert_eq!(received.headers["x-static"], "fixed");

    let reply = post_json(&hookgate.url("/in/cus_3"), json!({"eventName": "x"}).to_string()).await;
    let problem = reply.assert_problem(400, "invalid-event");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("$.eventId"),
        "{problem}"
    );
    assert_eq!(backend.received().len(), 1);
}

#[tokio::test]
async fn with_match_all_every_copy_of_an_event_is_delivered_once() {
    let (partner, alerts) = (Downstream::start().await, Downstream::start().await);
    let yaml = format!(
        r#"
targets:
  partner: {{ url: "{}" }}
  alerts: {{ url: "{}" }}
routes:
  - name: r
    path: /in
    dedupe: {{ fields: ["$.id", "$.status"] }}
    match: all
    rules:
      - forward: [partner]
      - when: "@.status == 'VALIDATION_ERROR'"
        transform: [{{ set: {{ "$.alert": true }} }}]
        forward: [alerts]
"#,
        partner.url("/p"),
        alerts.url("/a")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let event = json!({"id": "c1", "status": "VALIDATION_ERROR"});
    let first = post_json(&hookgate.url("/in"), event.to_string()).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.json()["deliveries"], 2);
    partner.wait_for(1).await;
    assert_eq!(received_json(&partner), vec![event.clone()]);
    let mut alert = event.clone();
    alert["alert"] = json!(true);
    alerts.wait_for(1).await;
    assert_eq!(received_json(&alerts), vec![alert]);

    let again = post_json(&hookgate.url("/in"), event.to_string()).await;
    assert_eq!(again.header("hookgate-duplicate"), Some("true"));
    // A value containing the separator of a naive join must not collide.
    let tricky = json!({"id": "c1\",\"VALIDATION_ERROR", "status": null});
    assert!(post_json(&hookgate.url("/in"), tricky.to_string())
        .await
        .header("hookgate-duplicate")
        .is_none());
    partner.wait_for(2).await;
    assert_eq!(alerts.received().len(), 1);
}

/// A value placed in a target URL cannot change the URL's shape: it is
/// percent-encoded for its segment, and a `.` or `..` segment (as sent, or
/// percent-encoded) is refused before anything is admitted.
#[tokio::test]
async fn path_parameters_cannot_walk_the_target_url() {
    let backend = Downstream::start().await;
    let hookgate = Hookgate::start(&format!(
        "targets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: \"/hooks/p/{{id}}\", targets: [t] }}\n",
        backend.url("/p/{path.id}/end")
    ))
    .await;
    for traversal in ["..", ".", "%2e%2e", "%2E%2e"] {
        let reply = post_json(&hookgate.url(&format!("/hooks/p/{traversal}")), "{}").await;
        let problem = reply.assert_problem(400, "invalid-event");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("path segment"),
            "{problem}"
        );
    }
    let reply = post_json(&hookgate.url("/hooks/p/a%2Fb%3Fc"), "{}").await;
    assert_eq!(reply.status, 202);
    let received = backend.wait_for(1).await;
    assert_eq!(received.len(), 1, "nothing of the refused requests was delivered");
    assert_eq!(
        received[0].path, "/p/a%2Fb%3Fc/end",
        "one segment, encoded as it came"
    );
}

/// `queue_after: primary_success` queues the other deliveries only once the primary
/// accepted: a call it refused reaches no other target. The default queues them
/// whatever the primary answers.
#[tokio::test]
async fn sync_routes_can_queue_the_rest_only_after_the_primary_accepted() {
    let (connector, audit, audit_default) = (
        Downstream::start().await,
        Downstream::start().await,
        Downstream::start().await,
    );
    let yaml = format!(
        r#"
targets:
  connector: {{ url: "{}" }}
  audit: {{ url: "{}" }}
  audit_default: {{ url: "{}" }}
routes:
  - {{ name: strict, path: /strict, mode: sync, queue_after: primary_success, targets: [connector, audit] }}
  - {{ name: loose, path: /loose, mode: sync, targets: [connector, audit_default] }}
"#,
        connector.url("/c"),
        audit.url("/a"),
        audit_default.url("/d")
    );
    let hookgate = Hookgate::start(&yaml).await;
    connector.set(|b| b.status = http::StatusCode::BAD_REQUEST);
    let refused = post_json(&hookgate.url("/strict"), r#"{"n":"refused"}"#).await;
    assert_eq!(refused.status, 400, "the connector's answer is relayed");
    let loose = post_json(&hookgate.url("/loose"), r#"{"n":"refused-loose"}"#).await;
    assert_eq!(loose.status, 400);
    connector.set(|b| b.status = http::StatusCode::OK);
    let accepted = post_json(&hookgate.url("/strict"), r#"{"n":"accepted"}"#).await;
    assert_eq!(accepted.status, 200);

    let received = audit.wait_for(1).await;
    assert_eq!(&received[0].body[..], br#"{"n":"accepted"}"#);
    assert_eq!(
        audit_default.wait_for(1).await[0].body,
        &br#"{"n":"refused-loose"}"#[..],
        "by default the rest is queued whatever the primary answers"
    );
    crate::support::drained(&hookgate.store, "audit").await;
    assert_eq!(
        audit.received().len(),
        1,
        "the refused call reached no other target"
    );

    let error = hookgate::config::parse(
        &yaml.replace("mode: sync, queue_after", "queue_after"),
        "t.yaml",
        &|_| None,
    )
    .expect_err("queue_after without sync")
    .to_string();
    assert!(
        error.contains("`queue_after` applies to `mode: sync` routes only"),
        "{error}"
    );
}

#[test]
fn per_split_validation_must_name_a_split_path() {
    let yaml = |per_split: &str| {
        format!(
            "targets:\n  t: {{ url: \"http://127.0.0.1:9/\" }}\nroutes:\n  - name: r\n    path: /in\n    targets: [t]\n    split: [\"$.items[*]\", \"$.ids[*]\"]\n    validate:\n      per_split: {{ {per_split} }}\n"
        )
    };
    assert!(
        hookgate::config::parse(&yaml("\"$.items[*]\": { required: [$.id] }"), "t.yaml", &|_| None).is_ok()
    );
    let error = hookgate::config::parse(&yaml("\"$.other[*]\": { required: [$.id] }"), "t.yaml", &|_| None)
        .expect_err("an unknown split path")
        .to_string();
    assert!(
        error.contains("is not a path of this route's `split`; expected one of: $.items[*], $.ids[*]"),
        "{error}"
    );
}
