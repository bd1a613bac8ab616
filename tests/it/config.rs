//! Config loading: every error reported at once with path, line and column; every
//! shipped config passes `hookgate check`.

use std::path::{Path, PathBuf};
use std::process::Command;

use hookgate::config::{ConfigError, Location};

const BROKEN: &str = r#"listen: 127.0.0.1:8080
targets:
  good: { url: "http://127.0.0.1:9001/" }
  bad_url:
    url: "not a url"
    tymeout: 5s
  secret:
    url: http://127.0.0.1:9002/
    headers:
      x-api-key: ${BACKEND_API_KEY}
routes:
  - name: first
    path: /a
    mode: sync
    targets: [good]
  - name: first
    path: /b
    mode: sync
    targets: [good, nowhere]
"#;

fn errors(text: &str) -> Vec<ConfigError> {
    match hookgate::config::parse(text, "broken.yaml", &|_| None) {
        Ok(_) => panic!("config should be rejected"),
        Err(errors) => errors.errors,
    }
}

fn find<'a>(errors: &'a [ConfigError], path: &str) -> &'a ConfigError {
    errors
        .iter()
        .find(|error| error.path == path)
        .unwrap_or_else(|| panic!("no error at `{path}` in {errors:#?}"))
}

#[test]
fn every_error_is_reported_at_once_with_path_line_and_column() {
    let errors = errors(BROKEN);
    assert_eq!(errors.len(), 5, "{errors:#?}");

    let url = find(&errors, "targets.bad_url.url");
    assert_eq!(url.location, Some(Location { line: 5, column: 10 }));
    assert!(
        url.message
            .contains("expected an absolute http:// or https:// URL"),
        "{}",
        url.message
    );
    assert!(url.message.contains("found `not a url`"), "{}", url.message);

    let unknown = find(&errors, "targets.bad_url.tymeout");
    assert_eq!(unknown.location, Some(Location { line: 6, column: 5 }));
    assert!(
        unknown.message.contains("unknown field `tymeout`"),
        "{}",
        unknown.message
    );
    assert!(
        unknown.message.contains("`timeout`"),
        "lists the valid keys: {}",
        unknown.message
    );

    let unset = find(&errors, "targets.secret.headers.x-api-key");
    assert_eq!(unset.location, Some(Location { line: 10, column: 18 }));
    assert!(
        unset.message.contains("`BACKEND_API_KEY` is not set"),
        "{}",
        unset.message
    );

    let duplicate = find(&errors, "routes[1].name");
    assert_eq!(duplicate.location, Some(Location { line: 16, column: 11 }));
    assert!(
        duplicate.message.contains("duplicate route name `first`"),
        "{}",
        duplicate.message
    );

    let unknown_target = find(&errors, "routes[1].targets[1]");
    assert_eq!(unknown_target.location, Some(Location { line: 19, column: 21 }));
    assert!(
        unknown_target.message.contains("unknown target `nowhere`"),
        "{}",
        unknown_target.message
    );
    assert!(
        unknown_target.message.contains("good"),
        "lists defined targets: {}",
        unknown_target.message
    );
}

#[test]
fn several_unknown_keys_in_one_item_are_all_reported() {
    let text = "targets:\n  t: { url: \"http://x/\", colour: red, size: 2 }\nroutes:\n  - { name: r, path: /r, mode: sync, targets: [t], retries: 3 }\n";
    let errors = errors(text);
    assert_eq!(errors.len(), 3, "{errors:#?}");
    find(&errors, "targets.t.colour");
    find(&errors, "targets.t.size");
    find(&errors, "routes[0].retries");
}

#[test]
fn variables_resolve_from_the_environment_with_defaults() {
    let text = "listen: ${ADDR:-127.0.0.1:7000}\ntargets:\n  t: { url: \"http://${HOST}/x\", headers: { x-k: \"${KEY}\" } }\nroutes:\n  - { name: r, path: /r, mode: sync, targets: [t] }\n";
    let env = |name: &str| match name {
        "HOST" => Some("backend:8443".to_owned()),
        "KEY" => Some("s3cret".to_owned()),
        _ => None,
    };
    let config = hookgate::config::parse(text, "env.yaml", &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.settings.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(config.targets[0].url.to_string(), "http://backend:8443/x");
    assert_eq!(config.targets[0].headers["x-k"], "s3cret");
}

#[test]
fn numbers_are_read_whether_written_as_numbers_or_from_variables() {
    let text = r#"
limits:
  max_body: 4096
  max_connections: ${CONNECTIONS}
shutdown_grace: ${GRACE}
targets:
  t:
    url: "http://127.0.0.1:1/"
    max_concurrency: ${WORKERS}
    retry: { max_attempts: "3", retry_on: [409, "${ALSO}"] }
    breaker: { failures: 2 }
routes:
  - name: r
    path: /r
    targets: [t]
    max_body: 2048
    success_status: ${STATUS}
"#;
    let env = |name: &str| {
        Some(
            match name {
                "CONNECTIONS" => "500",
                "GRACE" => "5s",
                "WORKERS" => "8",
                "ALSO" => "410",
                "STATUS" => "200",
                _ => return None,
            }
            .to_owned(),
        )
    };
    let config = hookgate::config::parse(text, "numbers.yaml", &env).unwrap_or_else(|e| panic!("{e}"));
    let limits = &config.settings.limits;
    assert_eq!((limits.max_body, limits.max_connections), (4096, 500));
    assert_eq!(config.settings.shutdown_grace, std::time::Duration::from_secs(5));
    let target = &config.targets[0];
    assert_eq!(target.max_concurrency, 8);
    assert_eq!(target.retry.max_attempts, 3);
    assert_eq!(target.retry.retry_on, [409, 410]);
    assert_eq!(target.breaker.failures, 2);
    let route = &config.routes[0].route;
    assert_eq!((route.max_body, route.success_status.as_u16()), (2048, 200));

    // A duration written as a bare number is refused as a duration, not as a type.
    let errors = self::errors("targets:\n  t: { url: \"http://x/\", timeout: 5 }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n");
    let timeout = find(&errors, "targets.t.timeout");
    assert!(timeout.message.contains("a duration such as"), "{timeout:?}");
    let errors = self::errors("targets:\n  t: { url: \"http://x/\", max_concurrency: many }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n");
    assert!(
        errors.iter().any(|e| e
            .message
            .contains("expected a whole number such as `16`, found `many`")),
        "{errors:?}"
    );
}

#[test]
fn conflicting_routes_and_bad_values_are_errors() {
    let text = r#"
limits: { max_body: lots }
targets:
  t: { url: "http://127.0.0.1:1/", timeout: 0s }
routes:
  - { name: a, path: "/x/{id}", mode: sync, targets: [t] }
  - { name: b, path: "/x/{id}", mode: sync, targets: [t] }
  - { name: c, path: "/y", methods: ["GE T"], mode: turbo, targets: [t] }
  - { name: d, path: "no-slash", mode: sync, targets: [] }
  - { name: e, path: "/e", mode: sync, targets: [t, t] }
"#;
    let errors = errors(text);
    assert!(find(&errors, "limits.max_body")
        .message
        .contains("expected a size"));
    assert!(find(&errors, "targets.t.timeout")
        .message
        .contains("greater than zero"));
    assert!(find(&errors, "routes[1].path").message.contains("route `a`"));
    assert!(find(&errors, "routes[2].mode")
        .message
        .contains("expected `queue` or `sync`"));
    assert!(find(&errors, "routes[3].path")
        .message
        .contains("starting with `/`"));
    assert!(find(&errors, "routes[3].targets")
        .message
        .contains("at least one target"));
}

#[test]
fn invalid_yaml_is_located() {
    let errors = errors("targets:\n  a: [unclosed\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].location.is_some(), "{errors:#?}");
    assert!(
        errors[0].message.starts_with("invalid YAML"),
        "{}",
        errors[0].message
    );
}

fn shipped_configs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut pending = vec![root.join("config"), root.join("examples")];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn hookgate_check_passes_every_shipped_config() {
    let configs = shipped_configs();
    assert!(
        configs.iter().any(|p| p.ends_with("config/hookgate.yaml")),
        "{configs:?}"
    );
    for config in configs {
        let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "hookgate check {} failed:\n{}",
            config.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("ROUTE") && stdout.contains("TARGET"), "{stdout}");
    }
}

#[test]
fn hookgate_check_exits_64_listing_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, BROKEN).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(&path)
        .env_remove("BACKEND_API_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("5 errors"), "{stderr}");
    for expected in [
        "broken.yaml:5:10: targets.bad_url.url",
        "broken.yaml:6:5: targets.bad_url.tymeout",
        "broken.yaml:10:18: targets.secret.headers.x-api-key",
        "broken.yaml:16:11: routes[1].name",
        "broken.yaml:19:21: routes[1].targets[1]",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
}

#[test]
fn rule_errors_are_located() {
    let text = r#"targets:
  t: { url: "http://127.0.0.1:1/" }
routes:
  - name: r
    path: /r
    split: "$[?("
    validate:
      required: ["eventId"]
      formats: { "$.when": datetime }
    rules:
      - when: "@.a ==="
        transform:
          - squash: { "$.a": 1 }
          - template: { id: "{nope}" }
        forward: [nowhere]
    output: { cloudevents: { source: x } }
"#;
    let errors = errors(text);
    for path in [
        "routes[0].split",
        "routes[0].validate.required[0]",
        "routes[0].validate.formats.$.when",
        "routes[0].rules[0].when",
        "routes[0].rules[0].transform[0]",
        "routes[0].rules[0].transform[1]",
        "routes[0].rules[0].forward[0]",
        "routes[0].output",
    ] {
        let error = find(&errors, path);
        assert!(error.location.is_some(), "{path} has no location");
    }
    assert!(find(&errors, "routes[0].validate.formats.$.when")
        .message
        .contains("date-time"));
    assert!(find(&errors, "routes[0].rules[0].forward[0]")
        .message
        .contains("unknown target `nowhere`"));
}

/// `file:` paths are relative to the config file, wherever hookgate runs from; YAML
/// merge keys share settings between targets, from an anchor under an `x-` key.
#[tokio::test]
async fn file_references_are_relative_to_the_config_and_merge_keys_work() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("deploy");
    std::fs::create_dir_all(config_dir.join("secrets")).unwrap();
    std::fs::write(config_dir.join("secrets/token"), "relative-token\n").unwrap();
    let downstream = crate::support::Downstream::start().await;
    let path = config_dir.join("hookgate.yaml");
    std::fs::write(
        &path,
        format!(
            r#"listen: 127.0.0.1:0
store: {{ embedded: {{ path: "{}" }} }}
x-defaults: &defaults
  url: "{}"
  timeout: 2s
  headers: {{ x-team: payments }}
targets:
  first: {{ <<: *defaults }}
  second:
    <<: *defaults
    headers: {{ x-team: ledger }}
routes:
  - name: r
    path: /in
    auth: [{{ header: {{ name: x-token, secrets: ["file:secrets/token"] }} }}]
    targets: [first, second]
"#,
            config_dir.join("data").display(),
            downstream.url("/t")
        ),
    )
    .unwrap();
    let hookgate = crate::support::Hookgate::start_file(&path).await;
    let reply = crate::support::send(
        http::Method::POST,
        &hookgate.url("/in"),
        &[
            ("content-type", "application/json"),
            ("x-token", "relative-token"),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(reply.status, 202, "{:?}", String::from_utf8_lossy(&reply.body));
    let received = downstream.wait_for(2).await;
    let mut teams: Vec<_> = received
        .iter()
        .map(|r| r.headers["x-team"].to_str().unwrap().to_owned())
        .collect();
    teams.sort();
    assert_eq!(
        teams,
        ["ledger", "payments"],
        "merged keys, and keys beside the merge win"
    );
}

/// `check` reports every mistake of an item (not the first only), each in the
/// file's terms, without false follow-on errors about items it could still build;
/// a repeated key is reported where the repeat is; `--format json` gives the same
/// diagnostics to editors and CI.
#[test]
fn check_reports_each_mistake_once_in_the_file_s_terms() {
    let text = r#"targets:
  ledger:
    url: http://127.0.0.1:9001/
    timeout: 5
    max_concurrency: many
    retry: { max_attempts: -1 }
  broken: { url: 5 }
routes:
  - name: r
    path: /in
    targets: [ledger, broken]
    rules:
      - when: "@.a == "
        forward: [ledger]
"#;
    let reported = errors(text);
    let found: Vec<(String, Option<usize>, String)> = reported
        .iter()
        .map(|e| (e.path.clone(), e.location.map(|l| l.line), e.message.clone()))
        .collect();
    let expected = [
        ("targets.ledger.timeout", 4, "expected a duration such as `500ms`, `5s` or `10m`, found `5`"),
        ("targets.ledger.max_concurrency", 5, "expected a whole number such as `16`, found `many`"),
        ("targets.ledger.retry.max_attempts", 6, "expected a whole number such as `16`, found `-1`"),
        ("targets.broken.url", 7, "expected a string, found the number `5`"),
        (
            "routes[0].rules[0].when",
            13,
            "expected an RFC 9535 filter expression such as `@.eventName == 'x'`; in `@.a == ` at character 8: expected comparable",
        ),
    ];
    assert_eq!(
        found,
        expected
            .iter()
            .map(|(path, line, message)| (path.to_string(), Some(*line), message.to_string()))
            .collect::<Vec<_>>(),
        "{reported:#?}"
    );

    let duplicate =
        errors("targets:\n  a: { url: \"http://x/\" }\n  a: { url: \"http://y/\" }\nroutes: []\n");
    assert_eq!(duplicate.len(), 1, "{duplicate:#?}");
    assert_eq!(duplicate[0].location, Some(Location { line: 3, column: 3 }));
    assert!(
        duplicate[0].message.contains("already written at line 2"),
        "{duplicate:#?}"
    );
    assert!(!errors("").is_empty(), "an empty config is refused");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--format", "json", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(report["valid"], false);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), expected.len());
    assert_eq!(diagnostics[0]["severity"], "error");
    assert_eq!(diagnostics[0]["path"], "targets.ledger.timeout");
    assert_eq!(diagnostics[0]["line"], 4);
}

#[test]
fn a_redis_store_names_one_redis_or_one_cluster_and_a_partition_count_in_range() {
    let store = |redis: &str| {
        format!(
            "store: {{ redis: {redis} }}\ntargets:\n  t: {{ url: \"http://127.0.0.1:9/\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n"
        )
    };
    let both = errors(&store(
        "{ url: \"redis://a:6379\", cluster: [\"redis://b:6379\"] }",
    ));
    assert!(find(&both, "store.redis")
        .message
        .contains("one of `url` or `cluster`"));
    let neither = errors(&store("{ key_prefix: hg }"));
    assert!(find(&neither, "store.redis").message.contains("`cluster`"));
    let bad_seed = errors(&store("{ cluster: [\"redis://b:6379\", \"http://c\"] }"));
    assert!(find(&bad_seed, "store.redis.cluster[1]")
        .message
        .contains("redis://"));
    let none = errors(&store("{ cluster: [] }"));
    find(&none, "store.redis.cluster");
    let zero = errors(&store("{ url: \"redis://a:6379\", partitions: 0 }"));
    assert!(find(&zero, "store.redis.partitions")
        .message
        .contains("1 to 1024"));

    let config = hookgate::config::parse(
        &store("{ cluster: [\"redis://b:6379\"], partitions: 32, min_replica_acks: 1, replica_timeout: 2s }"),
        "ok.yaml",
        &|_| None,
    )
    .expect("a cluster store");
    assert_eq!(
        config.settings.store.kind,
        hookgate::model::StoreKind::Redis {
            url: String::new(),
            cluster: vec!["redis://b:6379".into()],
            key_prefix: "hookgate".into(),
            partitions: 32,
            min_replica_acks: 1,
            replica_timeout: std::time::Duration::from_secs(2),
        }
    );
}
