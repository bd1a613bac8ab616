//! Rule evaluation for the Klavi rule set: split, validate, match, rewrite and render
//! one Klavi request, per event. `cargo bench --bench rules`.
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
"#;

fn klavi(c: &mut Criterion) {
    let config = hookgate::config::parse(CONFIG, "bench.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let live = &config.routes[0];
    let (rules, route) = (&live.rules, &live.route);
    let view = RouteView {
        targets: &route.targets,
        dedupe: route.dedupe.as_ref(),
        max_events: route.max_events,
    };
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

    let mut group = c.benchmark_group("klavi rules");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        "one consent event (split, validate, first match, set + remove, render, address, key)",
        |b| {
            b.iter(|| {
                let evaluation = rules
                    .evaluate(&request(black_box(&event)), view)
                    .unwrap_or_default();
                black_box(evaluation.events.len())
            })
        },
    );
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
