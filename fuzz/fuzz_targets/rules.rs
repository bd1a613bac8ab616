//! The rules of every example route, and of a config using every rule feature,
//! evaluated against arbitrary JSON: JSONPath selection and filters, validation,
//! transforms, and templates rendered into target URLs, methods and headers. None
//! may panic, and no value may put a `.` or `..` segment into a target URL.
#![no_main]

use std::sync::Arc;

use bytes::Bytes;
use hookgate::model::PathParams;
use hookgate::rules::{Request, RouteView};
use hookgate_fuzz::rule_routes;
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let value = Arc::new(value);
    let body = Bytes::copy_from_slice(data);
    let uri = http::Uri::from_static("/hooks/fuzz?kind=a&n=1");
    let mut headers = HeaderMap::new();
    headers.insert("x-kind", HeaderValue::from_static("consent"));
    headers.insert("webhook-id", HeaderValue::from_static("msg_1"));
    // Path parameters as the route would decode them from a path: any text, taken
    // from the event itself so the fuzzer controls them too.
    let param = value
        .get("param")
        .and_then(|p| p.as_str())
        .unwrap_or("acme")
        .to_owned();
    for snapshot in rule_routes() {
        for live in &snapshot.routes {
            let route = &live.route;
            let params = PathParams(
                route
                    .path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                    .map(|name| (name.to_owned(), param.clone()))
                    .collect(),
            );
            let request = Request {
                method: &Method::POST,
                headers: &headers,
                params: &params,
                uri: &uri,
                body: &body,
                value: Some(&value),
            };
            let view = RouteView {
                targets: &route.targets,
                dedupe: route.dedupe.as_ref(),
                max_events: route.max_events,
            };
            if let Ok(evaluation) = live.rules.evaluate(&request, view) {
                for event in &evaluation.events {
                    for rewrite in &event.rewrites {
                        for destination in &rewrite.destinations {
                            let url = &destination.url;
                            assert!(
                                !url.path().split('/').any(|s| s == "." || s == ".."),
                                "a value walked the target URL: {url}"
                            );
                        }
                    }
                }
            }
        }
    }
});
