//! The admin API over real sockets: tokens and roles on every endpoint, the API off
//! without tokens, routes and targets shown without their secrets, paging and its
//! refusals, and an OpenAPI document that every answer fits.

use http::Method;
use serde_json::Value;

use crate::support::{send, Downstream, Hookgate, Reply};

const VIEWER: &str = "viewer-token-0123456789abcdef-0123456789";
const SUBSCRIPTIONS: &str = "subscriptions-token-0123456789abcdef-0123";

/// A config with three tokens (admin, viewer, subscriptions), a target carrying
/// secrets in its URL and headers, and two routes.
fn config(target: &Downstream) -> String {
    let url = target.url("/in").replace("http://", "http://user:pa55w0rd@") + "?token=url-s3cret";
    format!(
        "admin:\n  listen: 127.0.0.1:0\n  tokens:\n\
         \x20   - {{ name: test-admin, token: {admin}, roles: [admin] }}\n\
         \x20   - {{ name: dashboards, token: {VIEWER}, roles: [viewer] }}\n\
         \x20   - {{ name: obp, token: {SUBSCRIPTIONS}, roles: [subscriptions] }}\n\
         targets:\n  backend: {{ url: \"{url}\", headers: {{ authorization: \"Bearer header-s3cret\" }} }}\n\
         \x20 audit: {{ url: \"{audit}\" }}\n\
         routes:\n\
         \x20 - {{ name: b-route, path: /b, targets: [backend], auth: [{{ header: {{ name: api-key, secrets: [auth-s3cret] }} }}] }}\n\
         \x20 - {{ name: a-route, path: /a, targets: [audit] }}\n",
        admin = crate::support::ADMIN_TOKEN,
        audit = target.url("/audit"),
    )
}

async fn call(hookgate: &Hookgate, method: Method, path: &str, token: Option<&str>) -> Reply {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("authorization", b.as_str())).collect();
    send(method, &hookgate.admin_url(path), &headers, "").await
}

/// An endpoint's path with its parameters filled.
fn concrete(path: &str) -> String {
    let name = if path.starts_with("/api/v1/routes") {
        "a-route"
    } else {
        "backend"
    };
    path.replace("{name}", name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_a_missing_or_wrong_token_and_a_missing_role() {
    let target = Downstream::start().await;
    let hookgate = Hookgate::start(&config(&target)).await;
    let mut checked = 0;
    for endpoint in hookgate::admin::api::endpoints() {
        if endpoint.roles.is_empty() {
            continue;
        }
        let path = concrete(endpoint.path);
        let method = endpoint.method.clone();
        let missing = call(&hookgate, method.clone(), &path, None).await;
        missing.assert_problem(401, "unauthenticated");
        assert_eq!(
            missing.header("www-authenticate"),
            Some("Bearer realm=\"hookgate\"")
        );
        call(
            &hookgate,
            method.clone(),
            &path,
            Some("not-a-token-0123456789abcdef-0123456789"),
        )
        .await
        .assert_problem(401, "unauthenticated");
        // A token whose roles include none of those needed. Every role may read
        // subscriptions, so no token lacks one for those.
        let roles = |token: &str| {
            if token == VIEWER {
                hookgate::model::Role::Viewer
            } else {
                hookgate::model::Role::Subscriptions
            }
        };
        let lacking = [SUBSCRIPTIONS, VIEWER]
            .into_iter()
            .find(|token| !endpoint.roles.contains(&roles(token)));
        let Some(lacking) = lacking else {
            assert!(
                endpoint.path.starts_with("/api/v1/subscriptions"),
                "{}",
                endpoint.path
            );
            continue;
        };
        let refused = call(&hookgate, method.clone(), &path, Some(lacking)).await;
        let problem = refused.assert_problem(403, "forbidden");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            endpoint.roles.iter().all(|role| detail.contains(role.as_str())),
            "{problem}"
        );
        checked += 1;
    }
    assert!(checked >= 6, "endpoints with a role: {checked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_the_api_is_off_and_says_how_to_turn_it_on() {
    let target = Downstream::start().await;
    let hookgate = Hookgate::start(&format!(
        "admin: {{ listen: 127.0.0.1:0 }}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
        target.url("/t")
    ))
    .await;
    for (method, path) in [
        (Method::GET, "/api/v1/routes"),
        (Method::GET, "/api/v1/openapi.json"),
        (Method::POST, "/reload"),
        (Method::POST, "/api/v1/reload"),
    ] {
        let reply = call(&hookgate, method, path, Some(crate::support::ADMIN_TOKEN)).await;
        let problem = reply.assert_problem(403, "admin-api-disabled");
        assert!(
            problem["detail"].as_str().unwrap().contains("admin.tokens"),
            "{problem}"
        );
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            call(&hookgate, Method::GET, path, None).await.status,
            200,
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_targets_are_shown_without_their_secrets() {
    let target = Downstream::start().await;
    target.set(|b| b.status = http::StatusCode::SERVICE_UNAVAILABLE);
    let hookgate = Hookgate::start(&config(&target)).await;
    let routes = call(&hookgate, Method::GET, "/api/v1/routes", Some(VIEWER)).await;
    assert_eq!(routes.status, 200);
    let routes = routes.json();
    assert_eq!(routes["total"], 2);
    let names: Vec<&str> = routes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a-route", "b-route"], "sorted by name");
    assert_eq!(routes["items"][1]["auth"], serde_json::json!(["header"]));

    // A failed attempt shows as the target's last error.
    let reply = crate::support::post_json(&hookgate.url("/a"), "{}").await;
    assert_eq!(reply.status, 202);
    let mut audit = Value::Null;
    for _ in 0..200 {
        audit = call(&hookgate, Method::GET, "/api/v1/targets/audit", Some(VIEWER))
            .await
            .json();
        if !audit["state"]["last_error"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(audit["state"]["last_error"]["error"], "status 503", "{audit}");
    assert_eq!(audit["state"]["breaker"], "closed", "{audit}");

    let targets = call(
        &hookgate,
        Method::GET,
        "/api/v1/targets?sort=-name&limit=1",
        Some(VIEWER),
    )
    .await;
    assert_eq!(targets.status, 200);
    let text = String::from_utf8_lossy(&targets.body).into_owned();
    for secret in ["pa55w0rd", "url-s3cret", "header-s3cret", "auth-s3cret"] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    let targets = targets.json();
    assert_eq!(targets["total"], 2);
    assert_eq!(targets["items"].as_array().unwrap().len(), 1);
    let backend = &targets["items"][0];
    assert_eq!(backend["name"], "backend");
    assert!(
        backend["url"].as_str().unwrap().contains("user:***@"),
        "{backend}"
    );
    assert!(
        backend["url"].as_str().unwrap().ends_with("?token=***"),
        "{backend}"
    );
    assert_eq!(backend["headers"], serde_json::json!(["authorization"]));
    let routes_text = call(&hookgate, Method::GET, "/api/v1/routes", Some(VIEWER)).await;
    assert!(!String::from_utf8_lossy(&routes_text.body).contains("auth-s3cret"));

    call(&hookgate, Method::GET, "/api/v1/targets/nope", Some(VIEWER))
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_are_refused_by_name() {
    let target = Downstream::start().await;
    let hookgate = Hookgate::start(&config(&target)).await;
    for (query, parameter) in [
        ("limit=5000", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("sort=url", "sort"),
        ("colour=blue", "colour"),
    ] {
        let reply = call(
            &hookgate,
            Method::GET,
            &format!("/api/v1/targets?{query}"),
            Some(VIEWER),
        )
        .await;
        let problem = reply.assert_problem(400, "invalid-parameter");
        assert_eq!(problem["parameter"], parameter, "{problem}");
    }
    call(&hookgate, Method::DELETE, "/api/v1/targets", Some(VIEWER))
        .await
        .assert_problem(405, "method-not-allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_endpoint_and_answers_fit_it() {
    let target = Downstream::start().await;
    let hookgate = Hookgate::start(&config(&target)).await;
    let document = call(&hookgate, Method::GET, "/api/v1/openapi.json", Some(VIEWER))
        .await
        .json();
    assert_eq!(document["openapi"], "3.1.0");
    for endpoint in hookgate::admin::api::endpoints() {
        let operation = &document["paths"][endpoint.path][endpoint.method.as_str().to_ascii_lowercase()];
        assert_eq!(
            operation["operationId"], endpoint.id,
            "{} {}",
            endpoint.method, endpoint.path
        );
        // Dead letters' answers are checked where there are some (admin_dead_letters).
        if endpoint.method != Method::GET
            || endpoint.path.ends_with("openapi.json")
            || endpoint.path.contains("{id}")
        {
            continue;
        }
        let reply = call(&hookgate, Method::GET, &concrete(endpoint.path), Some(VIEWER)).await;
        assert_eq!(reply.status, 200, "{}", endpoint.path);
        assert_fits(&document, &endpoint.method, endpoint.path, &reply.json());
    }
}

/// Asserts `answer` fits what `document` says `method path` answers.
pub fn assert_fits(document: &Value, method: &Method, path: &str, answer: &Value) {
    let operation = &document["paths"][path][method.as_str().to_ascii_lowercase()];
    let success = if operation["responses"]["201"].is_null() {
        "200"
    } else {
        "201"
    };
    let mut schema = operation["responses"][success]["content"]["application/json"]["schema"].clone();
    schema["components"] = document["components"].clone();
    schema["$schema"] = Value::from("https://json-schema.org/draft/2020-12/schema");
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(
        !validator.is_valid(&serde_json::json!({ "items": "not a list" })),
        "{path}: the schema checks nothing"
    );
    let errors: Vec<String> = validator.iter_errors(answer).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{path}: {errors:?}\n{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_by_token_is_counted_under_its_name() {
    let target = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookgate.yaml");
    let data = dir.path().join("data");
    std::fs::write(
        &file,
        format!(
            "listen: 127.0.0.1:0\n{}\nstore: {{ embedded: {{ path: {:?} }} }}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
            crate::support::ADMIN,
            data.display(),
            target.url("/t")
        ),
    )
    .unwrap();
    let hookgate = Hookgate::start_file(&file).await;
    let metrics = |hookgate: &Hookgate| {
        let url = hookgate.admin_url("/metrics");
        async move { String::from_utf8(send(Method::GET, &url, &[], "").await.body.to_vec()).unwrap() }
    };
    let series = "hookgate_admin_operations_total{operation=\"reload\",token=\"test-admin\"}";
    assert!(metrics(&hookgate).await.contains(&format!("{series} 0")));
    let reply = call(
        &hookgate,
        Method::POST,
        "/api/v1/reload",
        Some(crate::support::ADMIN_TOKEN),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json()["status"], "reloaded");
    assert!(metrics(&hookgate).await.contains(&format!("{series} 1")));
}
