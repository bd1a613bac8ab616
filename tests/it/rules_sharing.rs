//! Evaluation of whole rule sets, compiled from YAML as a route's are: which events
//! share the request's parsed body and which are copies.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use serde_json::{json, Value};

use hookgate::model::PathParams;
use hookgate::rules::{Evaluation, Request, RouteView};

const CONFIG: &str = r#"
targets:
  consents: { url: "http://127.0.0.1:9001/consents" }
  links: { url: "http://127.0.0.1:9003/links" }
routes:
  - name: whole
    path: /hooks/whole
    rules:
      - when: "@.eventName == 'link_created'"
        forward: [links]
      - when: "search(@.eventName, '^consent_')"
        transform:
          - set: { "$.source": klavi }
        forward: [consents]
  - name: split
    path: /hooks/split
    split: "$[*]"
    rules:
      - forward: [links]
"#;

fn evaluate(route: usize, body: &Arc<Value>) -> Evaluation {
    let config = hookgate::config::parse(CONFIG, "test.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let live = &config.routes[route];
    let view = RouteView {
        targets: &live.route.targets,
        dedupe: live.route.dedupe.as_ref(),
        max_events: live.route.max_events,
    };
    let (headers, params, raw) = (HeaderMap::new(), PathParams::default(), Bytes::new());
    let uri = Uri::from_static("/hooks");
    let request = Request {
        method: &Method::POST,
        headers: &headers,
        params: &params,
        uri: &uri,
        body: &raw,
        value: Some(body),
    };
    live.rules.evaluate(&request, view).unwrap()
}

#[test]
fn an_unchanged_event_shares_the_body_and_a_rewritten_one_is_a_copy() {
    let link = Arc::new(json!({"eventName": "link_created"}));
    let evaluation = evaluate(0, &link);
    assert!(Arc::ptr_eq(&evaluation.events[0].rewrites[0].value, &link));

    let consent = Arc::new(json!({"eventName": "consent_authorised"}));
    let evaluation = evaluate(0, &consent);
    let rewritten = &evaluation.events[0].rewrites[0].value;
    assert_eq!(
        **rewritten,
        json!({"eventName": "consent_authorised", "source": "klavi"})
    );
    assert_eq!(
        *consent,
        json!({"eventName": "consent_authorised"}),
        "the body is left as received"
    );
}

#[test]
fn split_events_are_copied_out_of_the_body() {
    let body = Arc::new(json!([{"n": 1}, {"n": 2}]));
    let evaluation = evaluate(1, &body);
    let values: Vec<&Value> = evaluation
        .events
        .iter()
        .map(|event| &*event.rewrites[0].value)
        .collect();
    assert_eq!(values, [&json!({"n": 1}), &json!({"n": 2})]);
    assert_eq!(&evaluation.events[1].rewrites[0].body[..], br#"{"n":2}"#);
}
