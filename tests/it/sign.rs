//! `hookgate sign` prints a curl command whose request the route accepts: its URL and
//! headers are replayed here against a running hookgate.

use std::process::Command;

use crate::support::{send, Downstream, Hookgate};
use http::Method;

fn config(target: &str, public_key: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:8080
targets:
  t: {{ url: "{target}" }}
routes:
  - name: toqio
    path: /customers/{{customerId}}/products/changes
    mode: sync
    targets: [t]
    auth:
      - jwt: {{ algorithms: [RS256], keys: ["file:{public_key}"], issuer: Toqio, path_claims: {{ customerID: customerId }} }}
  - name: stripe
    path: /hooks/stripe
    mode: sync
    targets: [t]
    auth:
      - stripe: {{ secrets: [whsec_test_secret] }}
"#
    )
}

/// The URL and headers of a printed curl command.
fn parse_curl(command: &str) -> (String, Vec<(String, String)>) {
    let mut url = None;
    let mut headers = Vec::new();
    for quoted in command.split('\'').skip(1).step_by(2) {
        if quoted.starts_with("http://") {
            url = Some(quoted.to_owned());
        } else if let Some((name, value)) = quoted.split_once(": ") {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    (url.expect("a URL in the command"), headers)
}

fn sign(config: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["sign", "--config"])
        .arg(config)
        .args(args)
        .output()
        .expect("run hookgate sign");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[tokio::test]
async fn printed_commands_are_accepted() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let yaml = config(&downstream.url("/t"), &format!("{fixtures}/jwt/rsa-public.pem"));
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let hookgate = Hookgate::start(&yaml).await;
    let body_path = format!("{fixtures}/toqio-upsert-and-delete.json");
    let body = std::fs::read(&body_path).unwrap();

    let toqio = sign(
        &path,
        &[
            "--route",
            "toqio",
            "--body",
            &body_path,
            "--param",
            "customerId=cus_7",
            "--private-key",
            &format!("{fixtures}/jwt/rsa-private.pem"),
        ],
    );
    let stripe = sign(&path, &["--route", "stripe", "--body", &body_path]);
    for command in [toqio, stripe] {
        let (url, headers) = parse_curl(&command);
        let url = url.replace("127.0.0.1:8080", &hookgate.addr.to_string());
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let reply = send(Method::POST, &url, &headers, body.clone()).await;
        assert_eq!(
            reply.status,
            200,
            "{command}\n{:?}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    let received = downstream.wait_for(2).await;
    assert!(received.iter().all(|r| r.body == body));
}

#[test]
fn jwt_route_without_private_key_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(
        &path,
        config("http://127.0.0.1:1/", &format!("{fixtures}/jwt/rsa-public.pem")),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["sign", "--config"])
        .arg(&path)
        .args([
            "--route",
            "toqio",
            "--body",
            &format!("{fixtures}/toqio-upsert-and-delete.json"),
            "--param",
            "customerId=c",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--private-key"), "{stderr}");
}
