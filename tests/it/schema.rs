//! The config's JSON Schema: `hookgate schema` prints it, `docs/hookgate.schema.json`
//! is that output (regenerate with
//! `HOOKGATE_WRITE_DOCS=1 cargo nextest run -E 'test(schema_file)'`), every shipped
//! config names it in its `yaml-language-server` comment and fits it, and it refuses
//! what `hookgate check` refuses without refusing what check accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What `hookgate schema` prints.
fn printed() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .arg("schema")
        .output()
        .expect("run hookgate schema");
    assert!(output.status.success(), "hookgate schema failed: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8 schema")
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&printed()).expect("hookgate schema prints JSON");
    jsonschema::meta::validate(&schema).unwrap_or_else(|error| panic!("not a valid JSON Schema: {error}"));
    jsonschema::validator_for(&schema).expect("a usable schema")
}

/// The schema's complaints about config `text`, as the editor would see it: YAML
/// merges applied, read as JSON.
fn complaints(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let mut value: serde_yaml::Value = serde_yaml::from_str(text).expect("YAML");
    value.apply_merge().expect("merges");
    let json: Value = serde_json::to_value(&value).expect("JSON");
    validator
        .iter_errors(&json)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

/// Every config file shipped in the repository.
fn shipped() -> Vec<PathBuf> {
    let mut files = vec![root().join("config/hookgate.yaml")];
    for dir in ["examples", "deploy", "fuzz/configs"] {
        collect(&root().join(dir), &mut files);
    }
    files
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.file_name().and_then(|n| n.to_str()) == Some("hookgate.yaml")
            || path.parent().is_some_and(|p| p.ends_with("fuzz/configs"))
        {
            files.push(path);
        }
    }
}

#[test]
fn schema_file_is_what_hookgate_schema_prints() {
    let path = root().join("docs/hookgate.schema.json");
    let printed = printed();
    if std::env::var_os("HOOKGATE_WRITE_DOCS").is_some() {
        std::fs::write(&path, &printed).expect("write the schema");
    }
    let written = std::fs::read_to_string(&path).expect("docs/hookgate.schema.json");
    assert!(
        written == printed,
        "docs/hookgate.schema.json differs from `hookgate schema`; regenerate it with \
         HOOKGATE_WRITE_DOCS=1 cargo nextest run -E 'test(schema_file)'"
    );
}

#[test]
fn every_shipped_config_names_the_schema_and_fits_it() {
    let validator = validator();
    let schema = root()
        .join("docs/hookgate.schema.json")
        .canonicalize()
        .expect("schema file");
    let files = shipped();
    assert!(files.len() >= 9, "found only {files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read config");
        let first = text.lines().next().unwrap_or_default();
        let named = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{} does not start with the schema comment", file.display()));
        let resolved = file.parent().expect("dir").join(named).canonicalize();
        assert_eq!(
            resolved.ok().as_ref(),
            Some(&schema),
            "{}: the schema comment names {named}",
            file.display()
        );
        let problems = complaints(&validator, &text);
        assert!(problems.is_empty(), "{}: {problems:#?}", file.display());
    }
    // The Kubernetes ConfigMap carries a config as text.
    let configmap: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("deploy/kubernetes/configmap.yaml")).expect("configmap"),
    )
    .expect("YAML");
    let embedded = configmap["data"]["hookgate.yaml"]
        .as_str()
        .expect("data.hookgate.yaml");
    let problems = complaints(&validator, embedded);
    assert!(problems.is_empty(), "configmap: {problems:#?}");
}

const BASE: &str =
    "targets:\n  t: { url: \"http://127.0.0.1:1/\" }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n";

/// Variables the accepted configs use.
fn env(name: &str) -> Option<String> {
    match name {
        "WORKERS" => Some("8".to_owned()),
        "TIMEOUT" => Some("5s".to_owned()),
        "SECRET" => Some("s3cret".to_owned()),
        _ => None,
    }
}

#[test]
fn the_schema_accepts_what_check_accepts() {
    let validator = validator();
    let accepted = [
        BASE.to_owned(),
        format!("{BASE}limits: {{ max_body: 4096, max_events: 10, header_read_timeout: 5s }}\n"),
        format!("{BASE}limits: {{ max_body: 1 MiB, max_connections: \"${{WORKERS}}\" }}\n"),
        format!("{BASE}shutdown_grace: 1h 30m\n"),
        format!("{BASE}shutdown_grace: ~\n"),
        "targets:\n  t: { url: \"http://h/\", timeout: \"${TIMEOUT}\", max_concurrency: \"${WORKERS}\", rate_limit: 600/m, retry: { max_attempts: 3, retry_on: [409, \"410\"] } }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n".to_owned(),
        "x-common: &common { url: \"http://h/\", timeout: 2s }\ntargets:\n  t: { <<: *common, max_concurrency: 4 }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n".to_owned(),
        "targets:\n  t: { url: \"http://h/\" }\nroutes:\n  - name: r\n    path: /r\n    auth:\n      - github: { secrets: [\"${SECRET}\"] }\n      - stripe: { secrets: [\"${SECRET}\"], tolerance: 5m }\n      - ip_allow: { networks: [10.0.0.0/8] }\n    rules:\n      - when: \"@.kind == 'a'\"\n        transform:\n          - set: { $.source: hookgate }\n          - remove: $.secret\n          - rename: { $.kind: type }\n        forward: [t]\n    default: drop\n    output: { cloudevents: { source: \"https://h\", type: \"x.{$.type}\" } }\n".to_owned(),
    ];
    for text in &accepted {
        if let Err(errors) = hookgate::config::parse(text, "t.yaml", &env) {
            panic!("check refuses a config the test means to be valid:\n{text}\n{errors}");
        }
        let problems = complaints(&validator, text);
        assert!(
            problems.is_empty(),
            "the schema refuses what check accepts:\n{text}\n{problems:#?}"
        );
    }
}

#[test]
fn the_schema_refuses_what_check_refuses() {
    let validator = validator();
    let refused = [
        ("an unknown top-level key", format!("{BASE}listener: 0.0.0.0:1\n")),
        ("no routes", "targets:\n  t: { url: \"http://h/\" }\n".to_owned()),
        ("an unknown target key", "targets:\n  t: { url: \"http://h/\", retries: 3 }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n".to_owned()),
        ("a target without a url", "targets:\n  t: { timeout: 1s }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n".to_owned()),
        ("a duration without a unit", "targets:\n  t: { url: \"http://h/\", timeout: fast }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n".to_owned()),
        ("a count that is no number", "targets:\n  t: { url: \"http://h/\", max_concurrency: lots }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n".to_owned()),
        ("a size with an unknown unit", format!("{BASE}limits: {{ max_body: 1TiB }}\n")),
        ("a rate per hour", "targets:\n  t: { url: \"http://h/\", rate_limit: 5/h }\nroutes:\n  - { name: r, path: /r, targets: [t] }\n".to_owned()),
        ("an unknown mode", "targets:\n  t: { url: \"http://h/\" }\nroutes:\n  - { name: r, path: /r, mode: async, targets: [t] }\n".to_owned()),
        ("a misspelled scheme", "targets:\n  t: { url: \"http://h/\" }\nroutes:\n  - { name: r, path: /r, targets: [t], auth: [{ githab: { secrets: [x] } }] }\n".to_owned()),
        ("an unknown scheme setting", "targets:\n  t: { url: \"http://h/\" }\nroutes:\n  - { name: r, path: /r, targets: [t], auth: [{ github: { secret: x } }] }\n".to_owned()),
        ("two schemes in one entry", "targets:\n  t: { url: \"http://h/\" }\nroutes:\n  - { name: r, path: /r, targets: [t], auth: [{ github: { secrets: [x] }, klavi: { secrets: [x] } }] }\n".to_owned()),
        ("an unknown transform step", "targets:\n  t: { url: \"http://h/\" }\nroutes:\n  - { name: r, path: /r, rules: [{ transform: [{ delete: [$.a] }], forward: [t] }] }\n".to_owned()),
        ("an unknown output", "targets:\n  t: { url: \"http://h/\" }\nroutes:\n  - { name: r, path: /r, targets: [t], output: xml }\n".to_owned()),
        ("a target name with a space", "targets:\n  my target: { url: \"http://h/\" }\nroutes:\n  - { name: r, path: /r, targets: [my target] }\n".to_owned()),
    ];
    for (what, text) in &refused {
        assert!(
            hookgate::config::parse(text, "t.yaml", &env).is_err(),
            "check accepts {what}:\n{text}"
        );
        assert!(
            !complaints(&validator, text).is_empty(),
            "the schema accepts {what}:\n{text}"
        );
    }
}
