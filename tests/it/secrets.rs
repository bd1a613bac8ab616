//! Secrets never appear in logs or in `hookgate check` output, whatever requests
//! arrive, at every level (the test runs hookgate at trace).

use std::process::Command;

use crate::support::{send, Downstream, HookgateProcess};
use http::Method;

const API_KEY: &str = "SECRET-api-key-6d1f0b";
const BEARER: &str = "SECRET-bearer-93aa7c";
const PASSWORD: &str = "SECRET-password-4e22d9";
const URL_TOKEN: &str = "SECRET-url-token-0c5e";
const JWT_KEY: &str = "SECRET-jwt-hmac-key-77b1";

fn config(target: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
targets:
  t: {{ url: "{target}" }}
routes:
  - {{ name: header, path: /header, mode: sync, targets: [t], auth: [{{ header: {{ name: api-key, secrets: ["${{API_KEY}}"] }} }}] }}
  - {{ name: bearer, path: /bearer, mode: sync, targets: [t], auth: [{{ bearer: {{ secrets: ["${{BEARER}}"] }} }}] }}
  - {{ name: basic, path: /basic, mode: sync, targets: [t], auth: [{{ basic: {{ users: [{{ username: ops, password: "${{PASSWORD}}" }}] }} }}] }}
  - {{ name: obp, path: "/obp/{{token}}", mode: sync, targets: [t], auth: [{{ url_token: {{ path_param: token, secrets: ["${{URL_TOKEN}}"] }} }}] }}
  - {{ name: jwt, path: /jwt, mode: sync, targets: [t], auth: [{{ jwt: {{ algorithms: [HS256], secrets: ["file:{{JWT_FILE}}"] }} }}] }}
"#
    )
}

const ENV: [(&str, &str); 4] = [
    ("API_KEY", API_KEY),
    ("BEARER", BEARER),
    ("PASSWORD", PASSWORD),
    ("URL_TOKEN", URL_TOKEN),
];

fn assert_no_secret(text: &str, what: &str) {
    for secret in [API_KEY, BEARER, PASSWORD, URL_TOKEN, JWT_KEY] {
        assert!(!text.contains(secret), "{what} contains a secret:\n{text}");
    }
}

// Multi-threaded: the test blocks on hookgate's log while its fake backends serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs_and_check_output() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let jwt_file = dir.path().join("jwt.key");
    std::fs::write(&jwt_file, JWT_KEY).unwrap();
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(
        &path,
        config(&downstream.url("/t")).replace("{JWT_FILE}", jwt_file.to_str().unwrap()),
    )
    .unwrap();

    let check = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(&path)
        .envs(ENV)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_no_secret(&String::from_utf8_lossy(&check.stdout), "check output");

    let mut env = ENV.to_vec();
    env.push(("HOOKGATE_LOG", "trace"));
    let process = HookgateProcess::spawn_with_env(&path, &env);
    let json = [("content-type", "application/json")];
    let basic = |password: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("ops:{password}"))
        )
    };
    // (path, credential headers, expected status)
    type Case<'a> = (String, Vec<(&'a str, String)>, u16);
    let cases: Vec<Case<'_>> = vec![
        ("/header".into(), vec![("api-key", API_KEY.into())], 200),
        ("/header".into(), vec![("api-key", format!("{API_KEY}x"))], 401),
        (
            "/bearer".into(),
            vec![("authorization", format!("Bearer {BEARER}"))],
            200,
        ),
        (
            "/bearer".into(),
            vec![("authorization", format!("Bearer {BEARER}-wrong"))],
            401,
        ),
        ("/basic".into(), vec![("authorization", basic(PASSWORD))], 200),
        ("/basic".into(), vec![("authorization", basic("nope"))], 401),
        (format!("/obp/{URL_TOKEN}"), vec![], 200),
        (format!("/obp/{URL_TOKEN}-wrong"), vec![], 401),
        (
            "/jwt".into(),
            vec![("authorization", format!("Bearer {JWT_KEY}"))],
            401,
        ),
    ];
    for (path, headers, status) in &cases {
        let mut all: Vec<(&str, &str)> = json.to_vec();
        all.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));
        let reply = send(Method::POST, &process.url(path), &all, "{\"amount\":1}").await;
        assert_eq!(
            reply.status.as_u16(),
            *status,
            "{path}: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    assert_eq!(downstream.received().len(), 4);
    // The right path with the wrong method matches no route; its token is still
    // masked wherever the path is logged.
    for token in [URL_TOKEN.to_owned(), format!("{URL_TOKEN}-wrong")] {
        let reply = send(Method::GET, &process.url(&format!("/obp/{token}")), &[], "").await;
        assert_eq!(reply.status.as_u16(), 405);
    }
    // A path no route has: the token is masked where it stands.
    let reply = send(
        Method::POST,
        &process.url(&format!("/obp/{URL_TOKEN}/extra")),
        &json,
        "{}",
    )
    .await;
    assert_eq!(reply.status.as_u16(), 404);

    let logs = process.stop_and_collect_logs().join("\n");
    assert!(
        logs.contains("request not authenticated"),
        "the refusals are logged:\n{logs}"
    );
    assert!(
        logs.contains("/obp/***"),
        "the URL token is masked in the logged path:\n{logs}"
    );
    // A wrong URL token is masked too: it is often a near miss of the real one.
    assert_no_secret(&logs, "logs");
}

// Multi-threaded: the test blocks on hookgate's log while its fake backends serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redacted_event_fields_never_reach_the_logs() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: klavi, path: /in, split: \"$[*]\", rules: [{{ forward: [t] }}], redact: [\"$.payload.personalTaxId\", \"$.payload.businessTaxId\"] }}\n  - {{ name: plain, path: /plain, targets: [t], redact: [\"$.taxId\"] }}\n",
        downstream.url("/t")
    );
    std::fs::write(&path, yaml).unwrap();
    let process = HookgateProcess::spawn_with_env(&path, &[("HOOKGATE_LOG", "debug")]);
    let body = r#"[{"eventId":"e1","payload":{"personalTaxId":"25872252137","businessTaxId":"11222333000181","linkId":"l1"}}]"#;
    let json = [("content-type", "application/json")];
    assert_eq!(
        send(Method::POST, &process.url("/in"), &json, body).await.status,
        202
    );
    let plain = r#"{"taxId":"98765432100","name":"x"}"#;
    assert_eq!(
        send(Method::POST, &process.url("/plain"), &json, plain)
            .await
            .status,
        202
    );
    // The targets get the values: redaction is about logs only.
    let received = downstream.wait_for(2).await;
    assert!(received
        .iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains("25872252137")));
    let logs = process.stop_and_collect_logs().join("\n");
    assert!(
        logs.contains("event admitted"),
        "events are logged at debug level:\n{logs}"
    );
    assert!(logs.contains("l1"), "unredacted fields are shown:\n{logs}");
    for secret in ["25872252137", "11222333000181", "98765432100"] {
        assert!(
            !logs.contains(secret),
            "a redacted value reached the logs:\n{logs}"
        );
    }
}

/// A secret that takes a `${VAR:-default}` written in the config is known to anyone
/// who can read the file: `serve` refuses to start on one unless told
/// `--allow-default-secrets`, `check` warns, and a reload that brings one in is
/// refused while the running config keeps serving.
#[tokio::test]
async fn serve_refuses_secrets_that_take_a_written_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    let yaml = |extra_route: &str| {
        format!(
            r#"listen: 127.0.0.1:0
{}
store: {{ embedded: {{ path: "{}" }} }}
targets:
  t: {{ url: "http://127.0.0.1:9/" }}
routes:
  - {{ name: a, path: /a, targets: [t], auth: [{{ header: {{ name: api-key, secrets: ["${{HG_KEY:-written-default-key}}"] }} }}] }}
  - {{ name: b, path: /b, targets: [t], auth: [{{ basic: {{ users: [{{ username: ops, password: "${{HG_PASSWORD:-written-default-pw}}" }}] }} }}] }}
{extra_route}"#,
            crate::support::ADMIN,
            dir.path().join("data").display()
        )
    };
    std::fs::write(&path, yaml("")).unwrap();
    let binary = env!("CARGO_BIN_EXE_hookgate");

    let refused = Command::new(binary)
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("HG_KEY")
        .env_remove("HG_PASSWORD")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(64), "{stderr}");
    for expected in [
        "routes[0].auth[0].header.secrets[0]",
        "`HG_KEY`",
        "routes[1].auth[0].basic.users[0].password",
        "`HG_PASSWORD`",
        "--allow-default-secrets",
    ] {
        assert!(stderr.contains(expected), "`{expected}` missing from:\n{stderr}");
    }
    assert!(
        !stderr.contains("written-default"),
        "the refusal shows no secret:\n{stderr}"
    );

    let checked = Command::new(binary)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let warnings = String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "{warnings}");
    assert!(
        warnings.contains("warning") && warnings.contains("HG_KEY"),
        "{warnings}"
    );

    // Allowed, it starts; with the variables set, it starts without being told.
    drop(HookgateProcess::spawn_with_args(
        &path,
        &[],
        &["--allow-default-secrets"],
    ));
    let running = HookgateProcess::spawn_with_env(&path, &[("HG_KEY", "k"), ("HG_PASSWORD", "p")]);
    std::fs::write(
        &path,
        yaml(r#"  - { name: c, path: /c, targets: [t], auth: [{ bearer: { secrets: ["${HG_NEW:-written-default-new}"] } }] }"#),
    )
    .unwrap();
    let admin = format!("http://{}/reload", running.admin.expect("an admin listener"));
    let bearer = format!("Bearer {}", crate::support::ADMIN_TOKEN);
    let reply = send(Method::POST, &admin, &[("authorization", &bearer)], Vec::new()).await;
    let problem = reply.assert_problem(422, "config-invalid");
    assert!(problem.to_string().contains("HG_NEW"), "{problem}");
}
