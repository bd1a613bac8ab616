//! The shipped Tradevest example (`examples/tradevest/`) as written, every target
//! pointed at a fake backend: each documented notification reaches the partner on its
//! own path, unchanged, and `VALIDATION_ERROR` ones the alerts backend too; each
//! path's documented required fields and id types are enforced; a wrong `api-key` is
//! refused; a repeated notification is delivered once, a changed one again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::{eventually, send, Downstream, Hookgate, Reply};
use http::Method;
use serde_json::{json, Value};

const API_KEY: &str = "tradevest-example-test-key";

/// Paths whose documented examples send `notificationType: STARTED`, outside the
/// documented enum; the example leaves their `notificationType` unchecked.
const OPEN_NOTIFICATION_TYPE: [&str; 2] = ["onboarding-notification", "offboarding-notification"];

/// Paths whose bodies carry no version (no `modifiedOn`), so a repeat may be a new
/// notification: the example does not dedupe them.
const NOT_DEDUPED: [&str; 2] = ["labels-update-notification", "re-token-prices"];

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tradevest")
}

/// One documented field of a path, from `payloads/_fields.json`.
#[derive(Debug)]
struct Field {
    name: String,
    /// As documented: `string · uuid`, `string · date-time`, `string · enum`, ...
    kind: String,
    required: bool,
}

impl Field {
    fn is_uuid(&self) -> bool {
        self.kind == "string · uuid"
    }

    fn is_uuid_array(&self) -> bool {
        self.kind == "string · uuid[]"
    }
}

/// Every documented path (without its leading `/`) → its fields, from the copy of
/// the seed's `_fields.json` shipped beside the payloads.
fn documented() -> BTreeMap<String, Vec<Field>> {
    let path = example_dir().join("payloads/_fields.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let spec: Value = serde_json::from_str(&text).expect("_fields.json is JSON");
    spec.as_object()
        .expect("_fields.json maps paths to their fields")
        .iter()
        .map(|(path, entry)| {
            let name = path.strip_prefix('/').expect("paths start with /").to_owned();
            let fields = entry["fields"]
                .as_array()
                .expect("a fields array")
                .iter()
                .map(|field| Field {
                    name: field["name"].as_str().expect("a field name").to_owned(),
                    kind: field["type"].as_str().expect("a field type").to_owned(),
                    required: field["required"].as_bool().expect("required is a bool"),
                })
                .collect();
            (name, fields)
        })
        .collect()
}

/// The shipped payloads: path name (file stem) → bytes as shipped.
fn payloads() -> BTreeMap<String, Vec<u8>> {
    crate::support::examples::payloads("tradevest")
        .into_iter()
        .collect()
}

/// A shipped payload, parsed.
fn payload(name: &str) -> Value {
    crate::support::examples::json(&crate::support::examples::payload("tradevest", name))
}

/// The payload with `field` replaced by `value` (or removed, for `None`).
fn with(name: &str, field: &str, value: Option<Value>) -> Value {
    let mut event = payload(name);
    let object = event.as_object_mut().expect("a flat object");
    match value {
        Some(value) => {
            object.insert(field.to_owned(), value);
        }
        None => {
            object
                .remove(field)
                .unwrap_or_else(|| panic!("{name}.json has no {field}"));
        }
    }
    event
}

/// Every target of the example: the partner (on each request's own path) and alerts.
fn target_names() -> Vec<String> {
    vec!["partner".to_owned(), "alerts".to_owned()]
}

struct Example {
    hookgate: Hookgate,
    partner: Downstream,
    alerts: Downstream,
}

impl Example {
    async fn start() -> Self {
        let path = example_dir().join("hookgate.yaml");
        let yaml =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let (partner, alerts) = (Downstream::start().await, Downstream::start().await);
        let hookgate = Hookgate::start_with_env(
            &yaml,
            &[
                ("TRADEVEST_API_KEY", API_KEY.to_owned()),
                ("PARTNER_URL", partner.url("")),
                ("ALERTS_URL", alerts.url("/alerts")),
            ],
        )
        .await;
        Self {
            hookgate,
            partner,
            alerts,
        }
    }

    /// Posts `body` to the route of path `name`, with `api_key` in `api-key` if given.
    async fn post_with(&self, name: &str, body: Vec<u8>, api_key: Option<&str>) -> Reply {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(key) = api_key {
            headers.push(("api-key", key));
        }
        let url = self.hookgate.url(&format!("/hooks/tradevest/{name}"));
        send(Method::POST, &url, &headers, body).await
    }

    /// Posts `body` as Tradevest does, with the partner's `api-key`.
    async fn post(&self, name: &str, body: Vec<u8>) -> Reply {
        self.post_with(name, body, Some(API_KEY)).await
    }

    async fn post_event(&self, name: &str, event: &Value) -> Reply {
        self.post(name, serde_json::to_vec(event).expect("serialisable"))
            .await
    }

    /// Waits until no delivery of any target is waiting or in flight: after it, what
    /// the backends received is final.
    async fn drained(&self) {
        for target in target_names() {
            eventually(&format!("{target} has nothing pending"), || async {
                self.hookgate.store.pending(&target).await.expect("store answers") == 0
            })
            .await;
        }
    }
}

/// What a backend received: `(request path, parsed body)`, sorted.
fn received(downstream: &Downstream) -> Vec<(String, Value)> {
    sorted(
        downstream
            .received()
            .into_iter()
            .map(|r| (r.path, serde_json::from_slice(&r.body).expect("a JSON body")))
            .collect(),
    )
}

/// `(path, body)` pairs in a fixed order, to compare deliveries made in any order.
fn sorted(mut items: Vec<(String, Value)>) -> Vec<(String, Value)> {
    items.sort_by_key(|(path, body)| (path.clone(), body.to_string()));
    items
}

fn assert_accepted(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        200,
        "{what}: Tradevest documents 200 as a partner's answer; {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("hookgate-duplicate"), None, "{what}");
}

/// `(path, message)` of every violation a 400 `invalid-event` lists.
fn violations(reply: &Reply) -> Vec<(String, String)> {
    let problem = reply.assert_problem(400, "invalid-event");
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("an errors array: {problem}"))
        .iter()
        .map(|error| {
            (
                error["path"].as_str().expect("a path").to_owned(),
                error["message"].as_str().expect("a message").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_example_has_a_route_and_a_payload_for_every_documented_path() {
    let documented = documented();
    assert_eq!(documented.len(), 18);
    let payload_names: Vec<String> = payloads().into_keys().collect();
    assert_eq!(payload_names, documented.keys().cloned().collect::<Vec<_>>());

    let path = example_dir().join("hookgate.yaml");
    let yaml =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // No environment at all: every `${VAR}` has a default.
    let config = hookgate::config::parse(&yaml, "hookgate.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.routes.len(), documented.len());
    for (name, fields) in &documented {
        let live = config
            .route(&format!("tradevest-{name}"))
            .unwrap_or_else(|| panic!("no route tradevest-{name}"));
        let route = &live.route;
        assert_eq!(route.path, format!("/hooks/tradevest/{name}"));
        assert_eq!(route.mode, hookgate::model::Mode::Queue, "{name}");
        assert_eq!(live.verifiers.len(), 1, "{name}: the api-key check");
        assert_eq!(
            route.dedupe.is_some(),
            !NOT_DEDUPED.contains(&name.as_str()),
            "{name}"
        );
        let documents_type = fields.iter().any(|f| f.name == "notificationType");
        assert_eq!(
            live.rules.rules.len() == 2,
            documents_type,
            "{name}: the VALIDATION_ERROR rule exactly where notificationType is documented"
        );
    }
}

#[tokio::test]
async fn every_notification_reaches_the_partner_on_its_path_unchanged() {
    let example = Example::start().await;
    let payloads = payloads();
    for (name, body) in &payloads {
        let reply = example.post(name, body.clone()).await;
        assert_accepted(&reply, name);
    }

    example.partner.wait_for(payloads.len()).await;
    example.drained().await;
    let expected: Vec<(String, Value)> = payloads
        .iter()
        .map(|(name, body)| {
            let event: Value = serde_json::from_slice(body).expect("payload is JSON");
            (format!("/hooks/tradevest/{name}"), event)
        })
        .collect();
    assert_eq!(received(&example.partner), sorted(expected.clone()));
    for request in example.partner.received() {
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(
            !request.headers.contains_key("api-key"),
            "Tradevest's api-key is not passed on"
        );
    }

    // Alerts: exactly the shipped notifications that are VALIDATION_ERRORs.
    let validation_errors: Vec<(String, Value)> = expected
        .into_iter()
        .filter(|(_, event)| event["notificationType"] == "VALIDATION_ERROR")
        .map(|(_, event)| ("/alerts".to_owned(), event))
        .collect();
    assert_eq!(received(&example.alerts), sorted(validation_errors));
}

#[tokio::test]
async fn validation_errors_reach_the_partner_and_the_alerts_backend() {
    let example = Example::start().await;
    let documented = documented();
    let mut expected = Vec::new();
    for (name, fields) in &documented {
        if !fields.iter().any(|f| f.name == "notificationType") {
            continue;
        }
        let mut event = with(name, "notificationType", Some(json!("VALIDATION_ERROR")));
        if fields.iter().any(|f| f.name == "status") {
            event["status"] = json!("INVALID");
        }
        let reply = example.post_event(name, &event).await;
        assert_accepted(&reply, name);
        expected.push((name.clone(), event));
    }
    assert_eq!(expected.len(), 15, "every path documenting notificationType");
    // Something that is not a VALIDATION_ERROR, on the same route: partner only.
    let updated = with(
        "customer-notification",
        "notificationType",
        Some(json!("UPDATED")),
    );
    assert_accepted(
        &example.post_event("customer-notification", &updated).await,
        "UPDATED",
    );

    example.partner.wait_for(expected.len() + 1).await;
    example.alerts.wait_for(expected.len()).await;
    example.drained().await;
    let mut to_partner: Vec<(String, Value)> = expected
        .iter()
        .map(|(name, event)| (format!("/hooks/tradevest/{name}"), event.clone()))
        .collect();
    to_partner.push(("/hooks/tradevest/customer-notification".to_owned(), updated));
    assert_eq!(received(&example.partner), sorted(to_partner));
    let to_alerts = expected
        .into_iter()
        .map(|(_, event)| ("/alerts".to_owned(), event))
        .collect();
    assert_eq!(received(&example.alerts), sorted(to_alerts));
}

#[tokio::test]
async fn each_path_rejects_a_missing_required_field_or_a_malformed_id() {
    let example = Example::start().await;
    let documented = documented();
    let (mut required, mut ids) = (0, 0);
    for (name, fields) in &documented {
        for field in fields.iter().filter(|f| f.required) {
            let event = with(name, &field.name, None);
            let reply = example.post_event(name, &event).await;
            assert_eq!(
                violations(&reply),
                vec![(format!("$.{}", field.name), "required".to_owned())],
                "{name} without {}",
                field.name
            );
            required += 1;
        }
        for field in fields.iter().filter(|f| f.is_uuid() || f.is_uuid_array()) {
            let bad = if field.is_uuid() {
                json!("not-a-uuid")
            } else {
                json!(["not-a-uuid"])
            };
            let event = with(name, &field.name, Some(bad));
            let reply = example.post_event(name, &event).await;
            let found = violations(&reply);
            assert_eq!(found.len(), 1, "{name} {}: {found:?}", field.name);
            assert_eq!(found[0].0, format!("$.{}", field.name), "{name}");
            assert!(found[0].1.contains("UUID"), "{name}: {found:?}");
            ids += 1;
        }
        if fields.iter().any(|f| f.name == "modifiedOn") {
            let event = with(name, "modifiedOn", Some(json!("23/05/2025 00:32")));
            let found = violations(&example.post_event(name, &event).await);
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            assert_eq!(found[0].0, "$.modifiedOn", "{name}");
            assert!(found[0].1.contains("date-time"), "{name}: {found:?}");
        }
        if fields.iter().any(|f| f.name == "notificationType") {
            let event = with(name, "notificationType", Some(json!("DELETED")));
            let reply = example.post_event(name, &event).await;
            if OPEN_NOTIFICATION_TYPE.contains(&name.as_str()) {
                assert_accepted(&reply, name);
            } else {
                let found = violations(&reply);
                assert_eq!(
                    found,
                    vec![(
                        "$.notificationType".to_owned(),
                        "expected one of CREATED, UPDATED, VALIDATION_ERROR".to_owned()
                    )],
                    "{name}"
                );
            }
        }
    }
    // Every path has a required field; all but user-notification (a string userId)
    // and re-token-prices (no id) have a uuid one.
    assert_eq!((required, ids), (54, 24));

    // Only the two accepted STARTED-style paths delivered anything; the rejected
    // requests admitted nothing.
    example.partner.wait_for(OPEN_NOTIFICATION_TYPE.len()).await;
    example.drained().await;
    let paths: Vec<String> = received(&example.partner)
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    let mut expected: Vec<String> = OPEN_NOTIFICATION_TYPE
        .iter()
        .map(|name| format!("/hooks/tradevest/{name}"))
        .collect();
    expected.sort();
    assert_eq!(paths, expected);
    assert!(example.alerts.received().is_empty());
}

#[tokio::test]
async fn a_wrong_or_missing_api_key_is_401_on_every_path() {
    let example = Example::start().await;
    for (name, body) in payloads() {
        for key in [
            None,
            Some("not-the-api-key"),
            // The file's fallback, no longer valid once TRADEVEST_API_KEY is set.
            Some("example-tradevest-api-key"),
            Some(&API_KEY[..API_KEY.len() - 1]),
        ] {
            let reply = example.post_with(&name, body.clone(), key).await;
            reply.assert_problem(401, "unauthenticated");
        }
        // The right value in another header does not count.
        let url = example.hookgate.url(&format!("/hooks/tradevest/{name}"));
        let reply = send(
            Method::POST,
            &url,
            &[("content-type", "application/json"), ("authorization", API_KEY)],
            body,
        )
        .await;
        reply.assert_problem(401, "unauthenticated");
    }

    // The refused requests claimed nothing: the same notification still goes through.
    let body = payloads().remove("customer-notification").expect("payload");
    assert_accepted(
        &example.post("customer-notification", body.clone()).await,
        "valid",
    );
    example.partner.wait_for(1).await;
    example.drained().await;
    assert_eq!(
        received(&example.partner),
        vec![(
            "/hooks/tradevest/customer-notification".to_owned(),
            serde_json::from_slice(&body).expect("JSON")
        )]
    );
    assert!(example.alerts.received().is_empty());
}

#[tokio::test]
async fn a_repeated_notification_is_delivered_once_and_a_changed_one_again() {
    let example = Example::start().await;
    let name = "customer-notification";
    let original = payload(name);
    assert_accepted(&example.post_event(name, &original).await, "first");
    let again = example.post_event(name, &original).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("hookgate-duplicate"), Some("true"));
    assert_eq!(again.json(), json!({"status": "duplicate"}));
    // The same bytes as shipped (pretty-printed) are the same notification too.
    let shipped = payloads().remove(name).expect("payload");
    let reply = example.post(name, shipped).await;
    assert_eq!(reply.header("hookgate-duplicate"), Some("true"));

    // The same customer, modified later, or in another status, or as a
    // VALIDATION_ERROR: each is news.
    let later = with(name, "modifiedOn", Some(json!("2025-05-23T00:40:00.000Z")));
    let status = with(name, "status", Some(json!("ACTIVE")));
    let failed = with(name, "notificationType", Some(json!("VALIDATION_ERROR")));
    for event in [&later, &status, &failed] {
        assert_accepted(&example.post_event(name, event).await, &event.to_string());
        let repeat = example.post_event(name, event).await;
        assert_eq!(repeat.header("hookgate-duplicate"), Some("true"), "{event}");
    }

    example.partner.wait_for(4).await;
    example.alerts.wait_for(1).await;
    example.drained().await;
    let path = format!("/hooks/tradevest/{name}");
    assert_eq!(
        received(&example.partner),
        sorted(
            [original, later, status, failed.clone()]
                .into_iter()
                .map(|event| (path.clone(), event))
                .collect()
        )
    );
    assert_eq!(received(&example.alerts), vec![("/alerts".to_owned(), failed)]);
}

#[tokio::test]
async fn every_deduped_path_drops_a_replay_and_keeps_distinct_objects_apart() {
    let example = Example::start().await;
    let payloads = payloads();
    let mut delivered = Vec::new();
    for (name, body) in &payloads {
        assert_accepted(&example.post(name, body.clone()).await, name);
        let replay = example.post(name, body.clone()).await;
        assert_eq!(replay.status, 200, "{name}");
        let event: Value = serde_json::from_slice(body).expect("JSON");
        let path = format!("/hooks/tradevest/{name}");
        if NOT_DEDUPED.contains(&name.as_str()) {
            // No version in these bodies: a second labels update for the same
            // customers, or prices back to an earlier value, must not be dropped.
            assert_eq!(replay.header("hookgate-duplicate"), None, "{name}");
            delivered.push((path.clone(), event.clone()));
        } else {
            assert_eq!(replay.header("hookgate-duplicate"), Some("true"), "{name}");
        }
        delivered.push((path, event));
    }

    // Ids beyond the first count: two transfers of one customer, same moment and
    // status, are two notifications.
    let other_transfer = with(
        "transfer-notification",
        "transferId",
        Some(json!("9b2f4a52-3c1e-4f0a-9d3b-6f1e2a7c8d90")),
    );
    assert_accepted(
        &example.post_event("transfer-notification", &other_transfer).await,
        "another transfer",
    );
    delivered.push((
        "/hooks/tradevest/transfer-notification".to_owned(),
        other_transfer,
    ));
    // Orders carry no modifiedOn: a second partial fill differs in its execution data.
    let mut second_fill = payload("digital-asset-order-notification");
    second_fill["status"] = json!("PARTIALLY_FILLED");
    assert_accepted(
        &example
            .post_event("digital-asset-order-notification", &second_fill)
            .await,
        "first fill",
    );
    delivered.push((
        "/hooks/tradevest/digital-asset-order-notification".to_owned(),
        second_fill.clone(),
    ));
    second_fill["executionData"]["quantity"] = json!(2);
    second_fill["executionData"]["executionAmount"] = json!(2);
    assert_accepted(
        &example
            .post_event("digital-asset-order-notification", &second_fill)
            .await,
        "second fill",
    );
    delivered.push((
        "/hooks/tradevest/digital-asset-order-notification".to_owned(),
        second_fill,
    ));

    example.partner.wait_for(delivered.len()).await;
    example.drained().await;
    assert_eq!(received(&example.partner), sorted(delivered));
    assert!(example.alerts.received().is_empty());
}

/// `modifiedOn` is optional: without it, two validation errors about one product
/// differ only in their error, and must both be delivered, to the partner and to
/// alerts; a resend of either is still recognised.
#[tokio::test]
async fn notifications_without_modified_on_that_differ_are_both_delivered() {
    let example = Example::start().await;
    let name = "customer-product-notification";
    let mut first = with(name, "modifiedOn", None);
    first["notificationType"] = json!("VALIDATION_ERROR");
    let mut second = first.clone();
    second["validationError"]["errorType"] = json!("ALREADY_EXISTS_ERROR");
    for event in [&first, &second] {
        assert_accepted(&example.post_event(name, event).await, &event.to_string());
    }
    for event in [&first, &second] {
        let resend = example.post_event(name, event).await;
        assert_eq!(resend.header("hookgate-duplicate"), Some("true"), "{event}");
    }

    example.partner.wait_for(2).await;
    example.alerts.wait_for(2).await;
    example.drained().await;
    let path = format!("/hooks/tradevest/{name}");
    assert_eq!(
        received(&example.partner),
        sorted(vec![(path.clone(), first.clone()), (path, second.clone())])
    );
    assert_eq!(
        received(&example.alerts),
        sorted(vec![
            ("/alerts".to_owned(), first),
            ("/alerts".to_owned(), second)
        ])
    );
}
