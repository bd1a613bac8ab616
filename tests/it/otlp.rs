//! OTLP export, against a collector on loopback that decodes what it receives: a
//! server span per request (child of the sender's `traceparent`) and a client span
//! per attempt (child of that), whose ids are exactly the `traceparent` each target
//! received; `sample_ratio` applies to traces hookgate starts; spans still queued at
//! shutdown are sent.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::support::{send, Downstream, HookgateProcess};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(text) => Some(text.clone()),
            Value::IntValue(number) => Some(number.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_in_the_senders_trace_with_the_ids_targets_receive() {
    let collector = Downstream::start().await;
    let (a, b) = (Downstream::start().await, Downstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookgate.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\n\
             otlp: {{ endpoint: \"{collector}\", headers: {{ x-api-key: \"${{OTLP_KEY}}\" }}, service_name: hooks-eu, sample_ratio: 0 }}\n\
             targets:\n  a: {{ url: \"{a}\" }}\n  b: {{ url: \"{b}\" }}\n\
             routes:\n  - {{ name: r, path: /in, targets: [a, b] }}\n",
            collector = collector.url("/v1/traces"),
            a = a.url("/a"),
            b = b.url("/b"),
        ),
    )
    .unwrap();
    let hookgate = HookgateProcess::spawn_with_env(&config, &[("OTLP_KEY", "k-123")]);
    // A sampled trace from the sender, and a request without one (which hookgate's
    // sample ratio of 0 leaves unsampled).
    let traced = send(
        http::Method::POST,
        &hookgate.url("/in"),
        &[
            ("content-type", "application/json"),
            ("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-01")),
        ],
        "{\"n\":1}",
    )
    .await;
    assert_eq!(traced.status, 202);
    let untraced = crate::support::post_json(&hookgate.url("/in"), "{\"n\":2}").await;
    assert_eq!(untraced.status, 202);
    let (got_a, got_b) = (a.wait_for(2).await, b.wait_for(2).await);
    // Stopped before the exporter's next batch: shutdown sends what is queued.
    hookgate.stop_and_collect_logs();

    let exports = collector.received();
    assert!(!exports.is_empty(), "nothing was exported");
    let mut spans = Vec::new();
    for export in &exports {
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(export.headers["content-type"], "application/x-protobuf");
        assert_eq!(export.headers["x-api-key"], "k-123");
        let request = ExportTraceServiceRequest::decode(export.body.clone()).expect("OTLP protobuf");
        for resource in request.resource_spans {
            let resource_attributes = resource.resource.expect("resource").attributes;
            let service = resource_attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.clone()?.value);
            assert_eq!(service, Some(Value::StringValue("hooks-eu".into())));
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    assert!(
        spans.iter().all(|span| hex::encode(&span.trace_id) == TRACE_ID),
        "only the sampled trace is exported: {spans:#?}"
    );
    let servers: Vec<&Span> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server as i32)
        .collect();
    assert_eq!(servers.len(), 1, "{spans:#?}");
    let server = servers[0];
    assert_eq!(hex::encode(&server.parent_span_id), PARENT_ID);
    assert_eq!(server.name, "POST r");
    assert_eq!(attribute(server, "hookgate.route").as_deref(), Some("r"));
    assert_eq!(
        attribute(server, "http.response.status_code").as_deref(),
        Some("202")
    );
    assert!(server.end_time_unix_nano >= server.start_time_unix_nano);

    let clients: HashMap<String, &Span> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client as i32)
        .map(|s| (attribute(s, "hookgate.target").expect("target"), s))
        .collect();
    assert_eq!(clients.len(), 2, "{spans:#?}");
    for (target, received) in [("a", &got_a), ("b", &got_b)] {
        let client = clients[target];
        assert_eq!(
            client.parent_span_id, server.span_id,
            "{target} is a child of the request"
        );
        assert_eq!(client.name, format!("POST {target}"));
        assert_eq!(
            attribute(client, "http.response.status_code").as_deref(),
            Some("200")
        );
        assert_eq!(attribute(client, "hookgate.attempt").as_deref(), Some("1"));
        // What the target received for the traced request names this very span.
        let traceparents: Vec<&str> = received
            .iter()
            .map(|r| r.headers["traceparent"].to_str().unwrap())
            .collect();
        let expected = format!("00-{TRACE_ID}-{}-01", hex::encode(&client.span_id));
        assert!(
            traceparents.contains(&expected.as_str()),
            "{target}: {traceparents:?} lacks {expected}"
        );
        // The untraced request's trace is new and unsampled.
        assert!(
            traceparents
                .iter()
                .any(|t| !t.contains(TRACE_ID) && t.ends_with("-00")),
            "{target}: {traceparents:?}"
        );
    }
}

#[test]
fn a_config_with_a_bad_otlp_section_is_refused_where_it_is_wrong() {
    let errors = |otlp: &str| -> Vec<String> {
        let yaml = format!(
            "otlp: {otlp}\ntargets:\n  t: {{ url: \"http://127.0.0.1:1/\" }}\nroutes:\n  - {{ name: r, path: /r, targets: [t] }}\n"
        );
        match hookgate::config::parse(&yaml, "t.yaml", &|_| None) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.errors.into_iter().map(|e| e.path).collect(),
        }
    };
    assert!(errors("{ endpoint: \"http://127.0.0.1:4318\" }").is_empty());
    assert_eq!(
        errors("{ endpoint: \"udp://collector:4317\" }"),
        ["otlp.endpoint"]
    );
    assert_eq!(
        errors("{ endpoint: \"http://c:4318\", sample_ratio: 2 }"),
        ["otlp.sample_ratio"]
    );
    assert_eq!(
        errors("{ endpoint: \"http://c:4318\", headers: { \"bad header\": x } }"),
        ["otlp.headers.bad header"]
    );
    assert_eq!(
        errors("{ endpoint: \"http://c:4318\", protocol: grpc }"),
        ["otlp.protocol"]
    );
}
