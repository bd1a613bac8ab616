//! Queue mode end to end on the embedded store: answered only after admission, each
//! target its copy, failing targets isolated, retries as the policy says, dead
//! letters replayable, dedupe, concurrency limits, the breaker, outbound signatures.

use std::time::Duration;

use crate::support::{post_json, send, Downstream, Hookgate};
use hookgate::store::DeadLetterFilter;
use http::{Method, StatusCode};

/// A route `/in` in queue mode to `targets` (name → downstream, extra target keys).
fn config(route_extra: &str, targets: &[(&str, &Downstream, &str)]) -> String {
    let mut yaml = String::from("targets:\n");
    for (name, downstream, extra) in targets {
        // Fast retries unless the test sets its own.
        let retry = if extra.contains("retry:") {
            ""
        } else {
            ", retry: { initial_backoff: 20ms, max_backoff: 100ms }"
        };
        yaml.push_str(&format!(
            "  {name}: {{ url: \"{}\"{retry}{}{extra} }}\n",
            downstream.url(&format!("/{name}")),
            if extra.is_empty() { "" } else { ", " },
        ));
    }
    let names: Vec<_> = targets.iter().map(|(name, ..)| *name).collect();
    yaml.push_str(&format!(
        "routes:\n  - {{ name: r, path: /in, targets: [{}]{}{route_extra} }}\n",
        names.join(", "),
        if route_extra.is_empty() { "" } else { ", " },
    ));
    yaml
}

const EVENT: &str = r#"{"eventId":"evt_1","eventName":"consent_authorised"}"#;

#[tokio::test]
async fn answered_after_admission_and_each_target_gets_its_copy() {
    let (a, b) = (Downstream::start().await, Downstream::start().await);
    let hookgate = Hookgate::start(&config("", &[("a", &a, ""), ("b", &b, "")])).await;
    let reply = post_json(&hookgate.url("/in"), EVENT).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(reply.json()["status"], "accepted");
    assert!(reply.header("hookgate-duplicate").is_none());
    for (downstream, path) in [(&a, "/a"), (&b, "/b")] {
        let received = downstream.wait_for(1).await;
        assert_eq!(received[0].path, path);
        assert_eq!(received[0].body, EVENT);
        assert_eq!(received[0].headers["content-type"], "application/json");
        assert_eq!(
            received[0].headers["x-request-id"],
            reply.header("x-request-id").unwrap()
        );
    }
}

#[tokio::test]
async fn success_status_is_configurable() {
    let a = Downstream::start().await;
    let hookgate = Hookgate::start(&config("success_status: 200", &[("a", &a, "")])).await;
    assert_eq!(
        post_json(&hookgate.url("/in"), EVENT).await.status,
        StatusCode::OK
    );
    a.wait_for(1).await;
}

#[tokio::test]
async fn a_failing_target_does_not_delay_the_others() {
    let (slow, fast) = (Downstream::start().await, Downstream::start().await);
    slow.set(|b| {
        b.delay = Duration::from_secs(30);
    });
    let hookgate = Hookgate::start(&config(
        "",
        &[
            ("slow", &slow, "max_concurrency: 2, timeout: 60s"),
            ("fast", &fast, ""),
        ],
    ))
    .await;
    for n in 0..20 {
        let reply = post_json(&hookgate.url("/in"), format!(r#"{{"eventId":"e{n}"}}"#)).await;
        assert_eq!(reply.status, 202);
    }
    assert_eq!(
        fast.wait_for(20).await.len(),
        20,
        "the fast target got every event"
    );
    assert!(
        slow.received().len() <= 2,
        "the slow target holds at most its concurrency"
    );
}

#[tokio::test]
async fn retries_503_three_times_then_delivers_on_the_fourth_attempt() {
    let a = Downstream::start().await;
    a.set(|b| b.script = [(503, None), (503, None), (503, None)].into());
    let hookgate = Hookgate::start(&config("", &[("a", &a, "")])).await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 202);
    let received = a.wait_for(4).await;
    assert!(
        received.iter().all(|r| r.body == EVENT),
        "every attempt carries the same bytes"
    );
    crate::support::drained(&hookgate.store, "a").await;
    assert_eq!(a.received().len(), 4, "no attempt after success");
    assert!(hookgate
        .store
        .dead_letters(&DeadLetterFilter::default(), 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn status_400_is_dead_lettered_after_one_attempt_with_status_and_excerpt() {
    let a = Downstream::start().await;
    a.set(|b| {
        b.status = StatusCode::BAD_REQUEST;
        b.body = r#"{"error":"unknown consent"}"#.into();
    });
    let hookgate = Hookgate::start(&config("", &[("a", &a, "")])).await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 202);
    a.wait_for(1).await;
    let store = hookgate.store.clone();
    crate::support::dead_letters(&store, 1).await;
    let dead = store
        .dead_letters(&DeadLetterFilter::default(), 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(dead.attempts, 1);
    assert_eq!(dead.dead_reason.as_deref(), Some("status 400 is not retried"));
    let last = dead.last_attempt.expect("the attempt is recorded");
    assert_eq!(last.status, Some(400));
    assert_eq!(last.excerpt.as_deref(), Some(r#"{"error":"unknown consent"}"#));
    assert_eq!(a.received().len(), 1, "not retried");
}

#[tokio::test]
async fn retry_after_2_is_honoured() {
    let a = Downstream::start().await;
    a.set(|b| b.script = [(429, Some("2"))].into());
    let hookgate = Hookgate::start(&config(
        "",
        &[("a", &a, "retry: { initial_backoff: 10ms, max_backoff: 10s }")],
    ))
    .await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 202);
    let received = a.wait_for(2).await;
    let gap = received[1].at - received[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "second attempt after {gap:?}, before Retry-After"
    );
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let a = Downstream::start().await;
    let hookgate = Hookgate::start(&config("", &[("a", &a, "timeout: 300ms")])).await;
    a.set(|b| b.delay = Duration::from_secs(5));
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 202);
    a.wait_for(1).await;
    a.set(|b| b.delay = Duration::ZERO);
    a.wait_for(2).await;
    crate::support::drained(&hookgate.store, "a").await;
}

#[tokio::test]
async fn exhausted_attempts_are_dead_lettered_and_replay_delivers() {
    let a = Downstream::start().await;
    a.set(|b| b.status = StatusCode::INTERNAL_SERVER_ERROR);
    let hookgate = Hookgate::start(&config(
        "",
        &[(
            "a",
            &a,
            "retry: { max_attempts: 3, initial_backoff: 10ms, max_backoff: 20ms }",
        )],
    ))
    .await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 202);
    a.wait_for(3).await;
    let store = hookgate.store.clone();
    crate::support::dead_letters(&store, 1).await;
    let dead = store
        .dead_letters(&DeadLetterFilter::default(), 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(dead.dead_reason.as_deref(), Some("3 attempts exhausted"));
    assert_eq!(a.received().len(), 3);

    a.set(|b| b.status = StatusCode::OK);
    let (replayed, _) = hookgate::dlq::apply(
        store.as_ref(),
        &DeadLetterFilter::default(),
        hookgate::dlq::Bulk::Replay,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(replayed, 1);
    let received = a.wait_for(4).await;
    assert_eq!(received[3].body, EVENT);
    crate::support::drained(&store, "a").await;
    assert!(store
        .dead_letters(&DeadLetterFilter::default(), 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_duplicate_within_the_ttl_is_acknowledged_but_not_delivered() {
    let a = Downstream::start().await;
    let hookgate = Hookgate::start(&config(
        "dedupe: { key: \"$.eventId\", ttl: 1h }",
        &[("a", &a, "")],
    ))
    .await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 202);
    let again = post_json(&hookgate.url("/in"), EVENT).await;
    assert_eq!(again.status, 202, "same success status");
    assert_eq!(again.header("hookgate-duplicate"), Some("true"));
    let other = post_json(&hookgate.url("/in"), r#"{"eventId":"evt_2"}"#).await;
    assert!(other.header("hookgate-duplicate").is_none());
    a.wait_for(2).await;
    crate::support::drained(&hookgate.store, "a").await;
    assert_eq!(a.received().len(), 2, "the duplicate produced no delivery");
    let missing = post_json(&hookgate.url("/in"), r#"{"other":1}"#).await;
    missing.assert_problem(400, "dedupe-key-missing");
}

#[tokio::test]
async fn after_the_ttl_the_same_event_is_delivered_again() {
    let a = Downstream::start().await;
    let hookgate = Hookgate::start(&config(
        "dedupe: { key: \"$.eventId\", ttl: 300ms }",
        &[("a", &a, "")],
    ))
    .await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 202);
    // Expiry is the behaviour under test: time has to pass.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = post_json(&hookgate.url("/in"), EVENT).await;
    assert!(again.header("hookgate-duplicate").is_none());
    assert_eq!(a.wait_for(2).await.len(), 2);
}

#[tokio::test]
async fn dedupe_keys_are_per_route_and_body_hash_works() {
    let a = Downstream::start().await;
    let yaml = format!(
        "targets:\n  a: {{ url: \"{}\" }}\nroutes:\n  - {{ name: one, path: /one, targets: [a], dedupe: {{ header: webhook-id }} }}\n  - {{ name: two, path: /two, targets: [a], dedupe: {{ header: webhook-id }} }}\n  - {{ name: hashed, path: /hashed, targets: [a], dedupe: {{ body_hash: true }} }}\n",
        a.url("/a")
    );
    let hookgate = Hookgate::start(&yaml).await;
    let with_id = [("content-type", "application/json"), ("webhook-id", "msg_1")];
    for path in ["/one", "/two"] {
        let reply = send(Method::POST, &hookgate.url(path), &with_id, EVENT).await;
        assert!(
            reply.header("hookgate-duplicate").is_none(),
            "{path}: first time on this route"
        );
    }
    let reply = send(Method::POST, &hookgate.url("/one"), &with_id, EVENT).await;
    assert_eq!(reply.header("hookgate-duplicate"), Some("true"));

    assert!(post_json(&hookgate.url("/hashed"), EVENT)
        .await
        .header("hookgate-duplicate")
        .is_none());
    assert_eq!(
        post_json(&hookgate.url("/hashed"), EVENT)
            .await
            .header("hookgate-duplicate"),
        Some("true")
    );
    let changed = post_json(&hookgate.url("/hashed"), EVENT.replace("evt_1", "evt_9")).await;
    assert!(changed.header("hookgate-duplicate").is_none());
    assert_eq!(a.wait_for(4).await.len(), 4);
}

#[tokio::test]
async fn max_concurrency_is_never_exceeded() {
    let a = Downstream::start().await;
    a.set(|b| b.delay = Duration::from_millis(100));
    let hookgate = Hookgate::start(&config("", &[("a", &a, "max_concurrency: 4")])).await;
    for n in 0..24 {
        assert_eq!(
            post_json(&hookgate.url("/in"), format!(r#"{{"eventId":"e{n}"}}"#))
                .await
                .status,
            202
        );
    }
    assert_eq!(a.wait_for(24).await.len(), 24);
    assert_eq!(a.max_in_flight(), 4, "never more than 4, and the limit is used");
}

#[tokio::test]
async fn the_breaker_opens_after_failures_and_closes_after_recovery() {
    let a = Downstream::start().await;
    a.set(|b| b.status = StatusCode::SERVICE_UNAVAILABLE);
    let hookgate = Hookgate::start(&config(
        "",
        &[("a", &a, "max_concurrency: 1, breaker: { failures: 3, cool_down: 1500ms }, retry: { initial_backoff: 10ms, max_backoff: 20ms }")],
    ))
    .await;
    for n in 0..5 {
        assert_eq!(
            post_json(&hookgate.url("/in"), format!(r#"{{"eventId":"e{n}"}}"#))
                .await
                .status,
            202
        );
    }
    let opened = a.wait_for(3).await;
    // While open, nothing is sent: time passing without requests is what is tested.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(a.received().len(), 3, "requests sent while the breaker is open");
    a.set(|b| b.status = StatusCode::OK);
    let all = a.wait_for(3 + 5).await;
    let probe = &all[3];
    assert!(
        probe.at - opened[2].at >= Duration::from_millis(1400),
        "probe only after the cool-down"
    );
    crate::support::drained(&hookgate.store, "a").await;
    let dead = hookgate
        .store
        .dead_letters(&DeadLetterFilter::default(), 10)
        .await
        .unwrap();
    assert!(dead.is_empty(), "deferred deliveries spent no attempts: {dead:?}");
}

/// A breaker opened by refusals (dead-lettered at once, so nothing is left to probe
/// with) must not stay half-open: the next event after the cool-down is delivered.
#[tokio::test]
async fn a_breaker_with_nothing_to_probe_lets_the_next_event_through() {
    let a = Downstream::start().await;
    a.set(|b| b.status = StatusCode::BAD_REQUEST);
    let hookgate = Hookgate::start(&config(
        "",
        &[("a", &a, "breaker: { failures: 2, cool_down: 200ms }")],
    ))
    .await;
    for n in 0..2 {
        let reply = post_json(&hookgate.url("/in"), format!(r#"{{"eventId":"e{n}"}}"#)).await;
        assert_eq!(reply.status, 202);
    }
    crate::support::dead_letters(&hookgate.store, 2).await;
    // Time has to pass: the cool-down ends and the worker probes an empty queue.
    tokio::time::sleep(Duration::from_millis(600)).await;
    a.set(|b| b.status = StatusCode::OK);
    assert_eq!(
        post_json(&hookgate.url("/in"), r#"{"eventId":"after"}"#)
            .await
            .status,
        202
    );
    let received = a.wait_for(3).await;
    assert_eq!(&received[2].body[..], br#"{"eventId":"after"}"#);
    crate::support::drained(&hookgate.store, "a").await;
}

/// Asserts `received` carries a Standard Webhooks signature of its body under
/// `secret`, and that the signature would not verify a changed body.
fn assert_signed(received: &crate::support::Received, secret: &str) {
    use hookgate::auth::standard_webhooks::StandardWebhooksVerifier;
    use hookgate::auth::{unix_now, AuthRequest, Verifier};
    use hookgate::standard_webhooks::decode_secret;
    let key = hookgate::model::Secret::new(decode_secret(secret).expect("a whsec_ secret"));
    let verifier = StandardWebhooksVerifier::new(vec![key], Duration::from_secs(300));
    let uri = http::Uri::from_static("/a");
    let params = hookgate::model::PathParams::default();
    let request = AuthRequest {
        method: &Method::POST,
        uri: &uri,
        headers: &received.headers,
        body: &received.body,
        params: &params,
        peer: None,
        now: unix_now(),
    };
    assert_eq!(
        verifier.verify(&request),
        Ok(()),
        "headers: {:?}",
        received.headers
    );
    let mut tampered = received.body.to_vec();
    tampered[3] ^= 1;
    let forged = AuthRequest {
        body: &tampered,
        ..request
    };
    assert!(verifier.verify(&forged).is_err());
}

const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test]
async fn outbound_signatures_verify_with_the_standard_webhooks_verifier() {
    let a = Downstream::start().await;
    let sign = format!("sign: {{ standard_webhooks: {{ secret: \"{SIGNING_SECRET}\" }} }}");
    let hookgate = Hookgate::start(&config("", &[("a", &a, &sign)])).await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 202);
    assert_signed(&a.wait_for(1).await.remove(0), SIGNING_SECRET);
}

#[tokio::test]
async fn sync_primaries_are_signed_like_queued_deliveries() {
    let (a, b) = (Downstream::start().await, Downstream::start().await);
    let sign = format!("sign: {{ standard_webhooks: {{ secret: \"{SIGNING_SECRET}\" }} }}");
    let hookgate = Hookgate::start(&config("mode: sync", &[("a", &a, &sign), ("b", &b, &sign)])).await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 200);
    let primary = a.wait_for(1).await.remove(0);
    assert_signed(&primary, SIGNING_SECRET);
    assert_signed(&b.wait_for(1).await.remove(0), SIGNING_SECRET);
    let id = primary.headers["webhook-id"].to_str().unwrap();
    assert!(
        uuid::Uuid::try_parse(id).is_ok(),
        "a message id of hookgate's own: {id}"
    );
}

#[tokio::test]
async fn sync_mode_holds_the_key_while_the_primary_runs_and_releases_it_on_failure() {
    let (primary, other) = (Downstream::start().await, Downstream::start().await);
    primary.set(|b| b.status = StatusCode::INTERNAL_SERVER_ERROR);
    let yaml = format!(
        "targets:\n  p: {{ url: \"{}\" }}\n  o: {{ url: \"{}\" }}\nroutes:\n  - {{ name: s, path: /in, mode: sync, targets: [p, o], dedupe: {{ key: \"$.eventId\" }} }}\n",
        primary.url("/p"),
        other.url("/o")
    );
    let hookgate = Hookgate::start(&yaml).await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 500);
    primary.set(|b| b.status = StatusCode::OK);
    let retried = post_json(&hookgate.url("/in"), EVENT).await;
    assert_eq!(retried.status, 200, "the failed attempt released the key");
    assert!(retried.header("hookgate-duplicate").is_none());
    let duplicate = post_json(&hookgate.url("/in"), EVENT).await;
    assert_eq!(duplicate.status, 200);
    assert_eq!(duplicate.header("hookgate-duplicate"), Some("true"));
    assert_eq!(
        primary.received().len(),
        2,
        "the duplicate did not reach the primary"
    );
    // The other target got its copy through the queue, once per admitted attempt.
    assert_eq!(other.wait_for(2).await.len(), 2);
}

/// Every attempt carries the delivery's id, the same each time, and its number, so
/// a backend can tell a retry from a new delivery without signing; a sync primary
/// gets them too, and a target may turn either off.
#[tokio::test]
async fn each_attempt_names_its_delivery_and_its_number() {
    let (a, quiet, primary) = (
        Downstream::start().await,
        Downstream::start().await,
        Downstream::start().await,
    );
    a.set(|b| b.script = [(503, None), (500, None)].into());
    let yaml = format!(
        r#"
targets:
  a: {{ url: "{}", retry: {{ initial_backoff: 20ms, max_backoff: 100ms }}, sign: {{ standard_webhooks: {{ secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} }} }}
  quiet: {{ url: "{}", delivery_id_header: false, attempt_header: false }}
  primary: {{ url: "{}" }}
routes:
  - {{ name: r, path: /in, targets: [a, quiet] }}
  - {{ name: s, path: /sync, mode: sync, targets: [primary] }}
"#,
        a.url("/a"),
        quiet.url("/quiet"),
        primary.url("/primary")
    );
    let hookgate = Hookgate::start(&yaml).await;
    assert_eq!(post_json(&hookgate.url("/in"), EVENT).await.status, 202);
    let received = a.wait_for(3).await;
    crate::support::drained(&hookgate.store, "a").await;
    let second = post_json(&hookgate.url("/in"), r#"{"eventId":"evt_2"}"#).await;
    assert_eq!(second.status, 202);
    a.wait_for(4).await;
    let attempts = |body: &str| -> Vec<(String, String, String)> {
        a.received()
            .iter()
            .filter(|r| r.body == body)
            .map(|r| {
                let header = |name: &str| r.headers[name].to_str().unwrap().to_owned();
                (
                    header("hookgate-delivery-id"),
                    header("hookgate-attempt"),
                    header("webhook-id"),
                )
            })
            .collect()
    };
    let first = attempts(EVENT);
    assert_eq!(first.len(), 3, "two failures, then delivered: {received:?}");
    let id = &first[0].0;
    assert_eq!(
        first,
        ["1", "2", "3"].map(|n| (id.clone(), n.to_owned(), id.clone())),
        "one id on every attempt, also the signature's message id"
    );
    let second = attempts(r#"{"eventId":"evt_2"}"#);
    assert_eq!(second.len(), 1);
    assert_ne!(&second[0].0, id, "each delivery its own id");
    assert_eq!(second[0].1, "1");

    for request in quiet.wait_for(2).await {
        assert!(request.headers.get("hookgate-delivery-id").is_none());
        assert!(request.headers.get("hookgate-attempt").is_none());
    }

    assert_eq!(post_json(&hookgate.url("/sync"), EVENT).await.status, 200);
    let called = primary.wait_for(1).await;
    assert!(!called[0].headers["hookgate-delivery-id"].is_empty());
    assert_eq!(called[0].headers["hookgate-attempt"], "1");
}
