//! Rule evaluation for the Klavi rule set: split, validate, match, rewrite and render
//! one Klavi request, per event. `cargo bench --bench rules`.
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hookgate::config::Config;
use hookgate::ingress::PathParams;
use http::HeaderMap;

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
    let config = Config::parse(CONFIG, "bench.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let route = &config.routes[0];
    let Some(rules) = route.rules.as_ref() else {
        panic!("the route has rules")
    };
    let fixture = include_bytes!("../tests/fixtures/klavi-consent_authorised.json");
    let event: serde_json::Value = serde_json::from_slice(fixture).unwrap_or_default();
    let (headers, params) = (HeaderMap::new(), PathParams::default());

    let mut group = c.benchmark_group("klavi rules");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        "one consent event (split, validate, first match, set + remove, render)",
        |b| {
            b.iter(|| {
                let evaluation = rules
                    .evaluate(black_box(&event), &headers, &params, &route.targets)
                    .unwrap_or_default();
                black_box(evaluation.routed.len())
            })
        },
    );
    let batch = serde_json::Value::Array(vec![event[0].clone(); 10]);
    group.throughput(Throughput::Elements(10));
    group.bench_function("a batch of ten consent events", |b| {
        b.iter(|| {
            let evaluation = rules
                .evaluate(black_box(&batch), &headers, &params, &route.targets)
                .unwrap_or_default();
            black_box(evaluation.routed.len())
        })
    });
    group.finish();
}

criterion_group!(benches, klavi);
criterion_main!(benches);
