//! The deployment files under `deploy/` cannot be run here (no container engine, no
//! cluster), so they are checked for what would break them: every config they carry
//! passes hookgate's own validation with the variables they set, ports and names
//! agree across files, probes ask the admin endpoints, and every stop timeout covers
//! `shutdown_grace`.

use std::path::PathBuf;

use serde_yaml::Value;

/// `shutdown_grace`'s default, in seconds: every stop timeout must exceed it.
const SHUTDOWN_GRACE_S: u64 = 30;

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("deploy/{path} is not YAML: {e}"))
}

fn seconds(text: &str) -> u64 {
    humantime::parse_duration(text)
        .unwrap_or_else(|e| panic!("`{text}`: {e}"))
        .as_secs()
}

/// Validates hookgate config `text` with `env` as its environment, as `serve` would:
/// no errors, and no secret left to a default written in it.
fn assert_config(text: &str, env: &[(String, String)], what: &str) -> hookgate::registry::Snapshot {
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let snapshot = hookgate::config::parse(text, what, &lookup).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        snapshot.default_secrets.is_empty(),
        "{what}: {:?}",
        snapshot.default_secrets
    );
    snapshot
}

#[test]
fn compose_runs_the_walkthrough_on_redis() {
    let compose = yaml("compose.yaml");
    let services = compose["services"].as_mapping().expect("services");
    for name in ["redis", "hookgate", "primary", "audit"] {
        assert!(services.contains_key(name), "no `{name}` service");
    }
    for (name, service) in services {
        for dependency in service["depends_on"]
            .as_sequence()
            .map(|list| list.to_vec())
            .or_else(|| {
                service["depends_on"]
                    .as_mapping()
                    .map(|map| map.keys().cloned().collect())
            })
            .unwrap_or_default()
        {
            assert!(
                services.contains_key(&dependency),
                "{name:?} depends on unknown {dependency:?}"
            );
        }
    }
    let hookgate = &compose["services"]["hookgate"];
    let build = hookgate["build"].as_str().expect("hookgate is built");
    assert!(
        deploy(build).join("Dockerfile").is_file(),
        "build context {build} has no Dockerfile"
    );
    assert!(seconds(hookgate["stop_grace_period"].as_str().unwrap()) > SHUTDOWN_GRACE_S);
    let env: Vec<(String, String)> = hookgate["environment"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let value = v.as_str().unwrap();
            // `${VAR:?message}` is compose's "required": give it a value.
            let value = if value.starts_with("${") {
                "set-by-the-operator"
            } else {
                value
            };
            (k.as_str().unwrap().to_owned(), value.to_owned())
        })
        .collect();
    let mount = hookgate["volumes"][0].as_str().unwrap();
    let (file, target) = mount.split_once(':').unwrap();
    assert!(target.starts_with("/etc/hookgate/hookgate.yaml"), "{mount}");
    let text = std::fs::read_to_string(deploy(file)).unwrap();
    let snapshot = assert_config(&text, &env, file);
    assert!(
        matches!(
            snapshot.settings.store.kind,
            hookgate::model::StoreKind::Redis { .. }
        ),
        "compose runs on Redis"
    );
    // Each receiver listens where the config sends.
    for (service, variable) in [("primary", "PRIMARY_URL"), ("audit", "AUDIT_URL")] {
        let command: Vec<&str> = compose["services"][service]["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let listen = command[command.iter().position(|a| *a == "--listen").unwrap() + 1];
        let port = listen.rsplit(':').next().unwrap();
        let url = &env.iter().find(|(k, _)| k == variable).unwrap().1;
        assert!(
            url.contains(&format!("//{service}:{port}/")),
            "{variable}={url}, {service} listens on {listen}"
        );
    }
}

#[test]
fn kubernetes_manifests_agree_with_each_other_and_with_hookgate() {
    let manifests: Vec<(String, Value)> = [
        "configmap.yaml",
        "secret.yaml",
        "deployment.yaml",
        "service.yaml",
        "pdb.yaml",
    ]
    .iter()
    .map(|name| (name.to_string(), yaml(&format!("kubernetes/{name}"))))
    .collect();
    for (name, manifest) in &manifests {
        for key in ["apiVersion", "kind"] {
            assert!(manifest[key].as_str().is_some(), "{name} has no {key}");
        }
        assert!(
            manifest["metadata"]["name"].as_str().is_some(),
            "{name} has no metadata.name"
        );
    }
    let find = |kind: &str| &manifests.iter().find(|(_, m)| m["kind"] == kind).unwrap().1;
    let (config_map, secret, deployment) = (find("ConfigMap"), find("Secret"), find("Deployment"));
    let (service, budget) = (find("Service"), find("PodDisruptionBudget"));

    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(&budget["spec"]["selector"]["matchLabels"], labels);

    let pod = &deployment["spec"]["template"]["spec"];
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > SHUTDOWN_GRACE_S);
    let container = &pod["containers"][0];
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        secret["metadata"]["name"]
    );
    let volume = &pod["volumes"][0];
    assert_eq!(volume["configMap"]["name"], config_map["metadata"]["name"]);
    assert_eq!(container["volumeMounts"][0]["name"], volume["name"]);
    let config_path = format!(
        "{}/hookgate.yaml",
        container["volumeMounts"][0]["mountPath"].as_str().unwrap()
    );
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(args, ["serve", "--config", config_path.as_str()]);

    // The config, with the Secret's values, is valid and listens where the pod says.
    let env: Vec<(String, String)> = secret["stringData"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.as_str().unwrap().to_owned()))
        .collect();
    let text = config_map["data"]["hookgate.yaml"].as_str().unwrap();
    let snapshot = assert_config(text, &env, "the ConfigMap's hookgate.yaml");
    let port = |name: &str| port_named(container, name);
    assert_eq!(u64::from(snapshot.settings.listen.port()), port("ingress"));
    let admin = snapshot
        .settings
        .admin
        .as_ref()
        .expect("probes need the admin listener");
    assert_eq!(u64::from(admin.listen.port()), port("admin"));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "admin", "{probe}");
    }
    for port in service["spec"]["ports"].as_sequence().unwrap() {
        port_named(container, port["targetPort"].as_str().unwrap());
    }
}

/// The container port named `name`.
fn port_named(container: &Value, name: &str) -> u64 {
    container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("the Service targets port `{name}`, which the pod does not name"))
}

#[test]
fn the_systemd_unit_reloads_with_sighup_and_waits_out_the_grace() {
    let text = std::fs::read_to_string(deploy("systemd/hookgate.service")).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}="))
    };
    for section in ["[Unit]", "[Service]", "[Install]"] {
        assert!(text.lines().any(|line| line == section), "no {section}");
    }
    assert!(value("ExecStart").ends_with("hookgate serve --config /etc/hookgate/hookgate.yaml"));
    assert_eq!(value("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(value("KillSignal"), "SIGTERM");
    assert!(value("TimeoutStopSec").parse::<u64>().unwrap() > SHUTDOWN_GRACE_S);
}
