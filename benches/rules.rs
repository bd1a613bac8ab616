//! Rule evaluation for the Klavi rule set: split, validate, match, rewrite and render
//! one Klavi request, per event; the same with a `when` that is a real regex; and the
//! same event sent as a CloudEvents envelope to a target URL filled from it.
//! `cargo bench --bench rules`.
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hookgate::model::PathParams;
use hookgate::rules::{Request, RouteView};
use http::{HeaderMap, Method};

const CONFIG: &str = r#"
targets:
  consents: { url: "http://127.0.0.1:9001/consents" }
  products: { url: "http://127.0.0.1:9002/products" }
  links: { url: "http://127.0.0.1:9003/links" }
  by_link: { url: "http://127.0.0.1:9004/links/{$.payload.linkId}/consents?institution={$.payload.consents.institutionCode}" }
routes:
  - name: klavi
    path: /hooks/klavi
    split: "$[*]"
    dedupe: { key: "$.eventId" }
    validate:
      required: ["$.eventId", "$.eventName", "$.eventTime"]
      formats: { "$.eventTime": date-time }
    rules:
      - when: "search(@.eventName, '^consent_')"
        transform:
          - set: { "$.source": klavi }
          - remove: ["$.externalInfo"]
        forward: [consents]
      - when: "@.eventName == 'product_generated_success' || @.eventName == 'product_generated_failed'"
        forward: [products]
      - when: "@.eventName == 'link_created'"
        forward: [links]
    default: drop
  - name: klavi-cloudevents
    path: /hooks/klavi-cloudevents
    split: "$[*]"
    dedupe: { key: "$.eventId" }
    rules:
      - when: "search(@.eventName, '^consent_')"
        forward: [by_link]
    default: drop
    output:
      cloudevents:
        source: "https://klavi.example/partners/{$.partnerAppId}"
        type: "com.klavi.{$.eventName}"
        id: "{$.eventId}"
        subject: "{$.payload.consents.consentId}"
  - name: klavi-regex
    path: /hooks/klavi-regex
    split: "$[*]"
    dedupe: { key: "$.eventId" }
    validate:
      required: ["$.eventId", "$.eventName", "$.eventTime"]
      formats: { "$.eventTime": date-time }
    rules:
      - when: "search(@.eventName, '^consent_[a-z]+$')"
        transform:
          - set: { "$.source": klavi }
          - remove: ["$.externalInfo"]
        forward: [consents]
      - when: "match(@.eventName, 'product_generated_(success|failed)')"
        forward: [products]
    default: drop
"#;

fn klavi(c: &mut Criterion) {
    let config = hookgate::config::parse(CONFIG, "bench.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let route = |index: usize| {
        let live = &config.routes[index];
        let view = RouteView {
            targets: &live.route.targets,
            dedupe: live.route.dedupe.as_ref(),
            max_events: live.route.max_events,
        };
        (&live.rules, view)
    };
    let (rules, view) = route(0);
    let fixture = include_bytes!("../tests/fixtures/klavi-consent_authorised.json");
    let event = std::sync::Arc::new(serde_json::from_slice::<serde_json::Value>(fixture).unwrap_or_default());
    let (headers, params, body) = (HeaderMap::new(), PathParams::default(), Bytes::new());
    let uri = http::Uri::from_static("/hooks/klavi");
    let request = |value| Request {
        method: &Method::POST,
        headers: &headers,
        params: &params,
        uri: &uri,
        body: &body,
        value: Some(value),
    };

    let cases = [
        (
            "one consent event (split, validate, first match, set + remove, render, address, key)",
            route(0),
        ),
        (
            "one consent event as CloudEvents (templated attributes and target URL)",
            route(1),
        ),
        (
            "one consent event, regex when (search(@.eventName, '^consent_[a-z]+$'))",
            route(2),
        ),
    ];
    for (_, (rules, view)) in &cases {
        let events = rules
            .evaluate(&request(&event), *view)
            .map(|evaluation| evaluation.events.len());
        assert_eq!(events, Ok(1), "each rule set makes one event of the fixture");
    }

    let mut group = c.benchmark_group("klavi rules");
    group.throughput(Throughput::Elements(1));
    for (name, (rules, view)) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let evaluation = rules
                    .evaluate(&request(black_box(&event)), *view)
                    .unwrap_or_default();
                black_box(evaluation.events.len())
            })
        });
    }
    let batch = std::sync::Arc::new(serde_json::Value::Array(vec![event[0].clone(); 10]));
    group.throughput(Throughput::Elements(10));
    group.bench_function("a batch of ten consent events", |b| {
        b.iter(|| {
            let evaluation = rules
                .evaluate(&request(black_box(&batch)), view)
                .unwrap_or_default();
            black_box(evaluation.events.len())
        })
    });
    group.finish();
}

criterion_group!(benches, klavi);
criterion_main!(benches);
