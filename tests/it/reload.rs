//! Reloading the config of a running hookgate: under load, with invalid files, with
//! changes that need a restart, and with targets removed while deliveries of theirs
//! are still queued.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;

use crate::support::load::Sustained;
use crate::support::{send, Downstream, Hookgate, HookgateProcess, Reply};

/// Waits until `check` holds, up to `limit`, polling every 20 ms.
async fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn reload(hookgate: &Hookgate) -> Reply {
    let bearer = format!("Bearer {}", crate::support::ADMIN_TOKEN);
    send(
        Method::POST,
        &hookgate.admin_url("/reload"),
        &[("authorization", &bearer)],
        "",
    )
    .await
}

async fn post(hookgate: &Hookgate, path: &str, id: &str) -> Reply {
    send(
        Method::POST,
        &hookgate.url(path),
        &[("content-type", "application/json")],
        format!(r#"{{"id":"{id}"}}"#),
    )
    .await
}

/// The header of a config: fixed listeners and data directory, as a reload needs.
fn head(data: &Path) -> String {
    format!(
        "listen: 127.0.0.1:0\n{}\nstore: {{ embedded: {{ path: {:?} }} }}\n",
        crate::support::ADMIN,
        data.display()
    )
}

/// Variant `i` of the load test's config: even variants have target `b` and no
/// route `extra`, odd ones the reverse; target `c` moves between `c1` and `c2` every
/// two variants.
fn variant(i: usize, data: &Path, a: &Downstream, b: &Downstream, c: [&Downstream; 2]) -> String {
    let c_url = c[(i / 2) % 2].url("/c");
    let retry = "retry: { initial_backoff: 50ms, max_backoff: 200ms }";
    let mut yaml = head(data);
    yaml.push_str(&format!(
        "targets:\n  a: {{ url: \"{}\", {retry} }}\n  c: {{ url: \"{c_url}\", {retry} }}\n",
        a.url("/a")
    ));
    if i.is_multiple_of(2) {
        yaml.push_str(&format!("  b: {{ url: \"{}\", {retry} }}\n", b.url("/b")));
        yaml.push_str("routes:\n  - { name: main, path: /in, targets: [a, b, c] }\n");
    } else {
        yaml.push_str("routes:\n  - { name: main, path: /in, targets: [a, c] }\n");
        yaml.push_str("  - { name: extra, path: /extra, targets: [a] }\n");
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_under_load_fail_no_request_and_lose_no_delivery() {
    let (a, b) = (Downstream::start().await, Downstream::start().await);
    let (c1, c2) = (Downstream::start().await, Downstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("hookgate.yaml"), dir.path().join("data"));
    std::fs::write(&file, variant(0, &data, &a, &b, [&c1, &c2])).unwrap();
    let hookgate = Hookgate::start_file(&file).await;

    let load = Sustained::start(&hookgate.url("/in"), "load", 4);
    let mut probes: Vec<Reply> = Vec::new();
    let mut to_in: HashSet<String> = HashSet::new();
    let mut to_a_only: HashSet<String> = HashSet::new();
    let mut to_b: HashSet<String> = HashSet::new();
    for i in 1..=20 {
        std::fs::write(&file, variant(i, &data, &a, &b, [&c1, &c2])).unwrap();
        let answer = reload(&hookgate).await;
        assert_eq!(answer.status, 200, "reload {i}: {:?}", answer.json());
        assert_eq!(answer.json()["changed"], true, "reload {i}");

        // Every change holds for the requests after it.
        let probe = format!("probe-{i}");
        let reply = post(&hookgate, "/in", &probe).await;
        let expected = if i.is_multiple_of(2) { 3 } else { 2 };
        assert_eq!(
            reply.json()["deliveries"],
            expected,
            "reload {i}: target b is there iff i is even"
        );
        to_in.insert(probe.clone());
        if i.is_multiple_of(2) {
            to_b.insert(probe.clone());
        }
        let (now, before) = if (i / 2).is_multiple_of(2) {
            (&c1, &c2)
        } else {
            (&c2, &c1)
        };
        within(
            Duration::from_secs(10),
            &format!("{probe} at the new URL of c"),
            || now.unique("id").contains(&probe),
        )
        .await;
        assert!(
            !before.unique("id").contains(&probe),
            "reload {i}: {probe} went to c's old URL"
        );
        let extra = post(&hookgate, "/extra", &format!("extra-{i}")).await;
        if i % 2 == 1 {
            assert_eq!(extra.status, 202, "reload {i}: route extra was added");
            to_a_only.insert(format!("extra-{i}"));
        } else {
            assert_eq!(extra.status, 404, "reload {i}: route extra was removed");
        }
        probes.push(reply);
    }
    let answers = load.stop().await;

    let failed: Vec<_> = answers.iter().filter(|answer| answer.status != 202).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        answers.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(probes.iter().all(|probe| probe.status == 202));
    for answer in &answers {
        to_in.insert(answer.id.clone());
        if answer.deliveries == Some(3) {
            to_b.insert(answer.id.clone());
        } else {
            assert_eq!(answer.deliveries, Some(2), "{answer:?}");
        }
    }
    assert!(
        answers.len() > 100,
        "the load ran through the reloads: {} requests",
        answers.len()
    );
    assert!(
        !to_b.is_empty() && to_b.len() < to_in.len(),
        "both kinds of snapshot served the load"
    );

    // Every acknowledged delivery arrives: at a, at c (old URL or new), and at b
    // exactly for the events admitted while b was configured.
    let all_a: HashSet<String> = to_in.union(&to_a_only).cloned().collect();
    within(Duration::from_secs(60), "every delivery", || {
        a.unique("id") == all_a
            && c1.unique("id").union(&c2.unique("id")).count() == to_in.len()
            && b.unique("id") == to_b
    })
    .await;
    let c_ids: HashSet<String> = c1.unique("id").union(&c2.unique("id")).cloned().collect();
    assert_eq!(c_ids, to_in);
    for target in ["a", "b", "c"] {
        crate::support::drained(&hookgate.store, target).await;
    }
    let dead = hookgate
        .store
        .dead_letters(&Default::default(), 10)
        .await
        .unwrap();
    assert!(dead.is_empty(), "{dead:?}");
}

fn simple(data: &Path, target: &Downstream, extra: &str) -> String {
    format!(
        "{}targets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n{extra}",
        head(data),
        target.url("/t")
    )
}

#[tokio::test]
async fn an_invalid_file_changes_nothing_and_says_where_it_is_wrong() {
    let target = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("hookgate.yaml"), dir.path().join("data"));
    std::fs::write(&file, simple(&data, &target, "")).unwrap();
    let hookgate = Hookgate::start_file(&file).await;

    // A new route naming a target that does not exist, and a bad duration.
    let broken = simple(
        &data,
        &target,
        "  - { name: r2, path: /in2, targets: [nowhere] }\n  - { name: r3, path: /in3, targets: [t], dedupe: { key: $.id, ttl: soon } }\n",
    );
    std::fs::write(&file, &broken).unwrap();
    let answer = reload(&hookgate).await;
    let problem = answer.assert_problem(422, "config-invalid");
    let errors = problem["errors"].as_array().expect("errors listed").clone();
    assert_eq!(errors.len(), 2, "{problem}");
    assert_eq!(errors[0]["path"], "routes[1].targets[0]");
    assert_eq!(errors[0]["location"]["line"], 8, "{problem}");
    assert_eq!(errors[1]["path"], "routes[2].dedupe.ttl");

    // The old config keeps serving.
    assert_eq!(post(&hookgate, "/in", "still").await.status, 202);
    assert_eq!(post(&hookgate, "/in2", "nope").await.status, 404);
    target.wait_for(1).await;
    let metrics = send(Method::GET, &hookgate.admin_url("/metrics"), &[], "").await;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains("hookgate_config_reloads_total{result=\"error\"} 1"),
        "{metrics}"
    );

    // Fixed, it loads, and the hash in the answer is the one now exported.
    std::fs::write(
        &file,
        simple(&data, &target, "  - { name: r2, path: /in2, targets: [t] }\n"),
    )
    .unwrap();
    let answer = reload(&hookgate).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    let hash = answer.json()["hash"].as_str().unwrap().to_owned();
    assert_eq!(post(&hookgate, "/in2", "now").await.status, 202);
    let metrics = send(Method::GET, &hookgate.admin_url("/metrics"), &[], "").await;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains(&format!("hookgate_config_info{{hash=\"{hash}\"}} 1")),
        "{metrics}"
    );
    assert!(
        metrics.contains("hookgate_config_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn keys_that_need_a_restart_are_refused_by_name() {
    let target = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("hookgate.yaml"), dir.path().join("data"));
    std::fs::write(&file, simple(&data, &target, "")).unwrap();
    let hookgate = Hookgate::start_file(&file).await;

    let moved = simple(&dir.path().join("elsewhere"), &target, "")
        .replace("listen: 127.0.0.1:0\n", "listen: 127.0.0.1:1\n");
    std::fs::write(&file, moved).unwrap();
    let problem = reload(&hookgate).await.assert_problem(409, "restart-needed");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("listen") && detail.contains("store"), "{detail}");
    assert_eq!(post(&hookgate, "/in", "still").await.status, 202);
    target.wait_for(1).await;
}

/// A config whose route sends to target `ledger`, with credentials `key` and quick
/// retries (its breaker never opens).
fn with_ledger(data: &Path, backend: &Downstream, key: &str) -> String {
    format!(
        "{}targets:\n  ledger: {{ url: \"{}\", headers: {{ x-api-key: {key} }}, retry: {{ initial_backoff: 50ms, max_backoff: 100ms }}, breaker: {{ failures: 1000 }} }}\nroutes:\n  - {{ name: r, path: /in, targets: [ledger] }}\n",
        head(data),
        backend.url("/ledger")
    )
}

fn without_ledger(data: &Path, other: &Downstream) -> String {
    format!(
        "{}targets:\n  other: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [other] }}\n",
        head(data),
        other.url("/other")
    )
}

/// hookgate on [`with_ledger`] (key `key-1`) whose backend answers 503, with event
/// `queued` admitted and its first attempt failed.
struct Queued {
    hookgate: Hookgate,
    backend: Downstream,
    file: std::path::PathBuf,
    data: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn one_queued_for_ledger() -> Queued {
    let backend = Downstream::start().await;
    backend.set(|b| b.status = http::StatusCode::SERVICE_UNAVAILABLE);
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("hookgate.yaml"), dir.path().join("data"));
    std::fs::write(&file, with_ledger(&data, &backend, "key-1")).unwrap();
    let hookgate = Hookgate::start_file(&file).await;
    assert_eq!(post(&hookgate, "/in", "queued").await.status, 202);
    assert_eq!(backend.wait_for(1).await[0].headers["x-api-key"], "key-1");
    Queued {
        hookgate,
        backend,
        file,
        data,
        _dir: dir,
    }
}

/// Lets `backend` succeed and waits for the request that does.
async fn succeeds(backend: &Downstream) -> crate::support::Received {
    let failed_attempts = backend.received().len();
    backend.set(|b| b.status = http::StatusCode::OK);
    within(Duration::from_secs(10), "a successful attempt", || {
        backend.received().len() > failed_attempts
    })
    .await;
    backend.received().remove(failed_attempts)
}

#[tokio::test]
async fn a_rotated_key_reaches_deliveries_already_queued() {
    let Queued {
        hookgate,
        backend,
        file,
        data,
        _dir,
    } = one_queued_for_ledger().await;
    std::fs::write(&file, with_ledger(&data, &backend, "key-2")).unwrap();
    assert_eq!(reload(&hookgate).await.status, 200);
    let delivered = succeeds(&backend).await;
    assert_eq!(
        delivered.headers["x-api-key"], "key-2",
        "the retry carries the new key"
    );
    assert_eq!(
        &delivered.body[..],
        br#"{"id":"queued"}"#,
        "the body is as admitted"
    );
    crate::support::drained(&hookgate.store, "ledger").await;
}

#[tokio::test]
async fn a_removed_target_still_gets_its_queued_deliveries_with_its_last_definition() {
    let Queued {
        hookgate,
        backend,
        file,
        data,
        _dir,
    } = one_queued_for_ledger().await;
    let other = Downstream::start().await;
    std::fs::write(&file, without_ledger(&data, &other)).unwrap();
    let answer = reload(&hookgate).await;
    assert_eq!(answer.json()["retired_targets"], serde_json::json!(["ledger"]));
    assert_eq!(post(&hookgate, "/in", "new").await.status, 202);
    other.wait_for(1).await;

    let delivered = succeeds(&backend).await;
    assert_eq!(delivered.headers["x-api-key"], "key-1");
    assert_eq!(&delivered.body[..], br#"{"id":"queued"}"#);
    crate::support::drained(&hookgate.store, "ledger").await;
    // Drained and no longer configured: its worker stops and the store forgets it.
    let store = hookgate.store.clone();
    crate::support::eventually("the definition forgotten", || async {
        store.targets().await.unwrap().iter().all(|t| t.name != "ledger")
    })
    .await;
}

// Multi-threaded: the test blocks on hookgate's log while its fake backends serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_a_target_still_delivers_its_queue_and_reports_it() {
    let Queued {
        hookgate,
        backend,
        file,
        data,
        _dir,
    } = one_queued_for_ledger().await;
    hookgate.shutdown().await;

    let other = Downstream::start().await;
    std::fs::write(&file, without_ledger(&data, &other)).unwrap();
    let hookgate = Hookgate::start_file(&file).await;
    let metrics = send(Method::GET, &hookgate.admin_url("/metrics"), &[], "").await;
    assert!(
        String::from_utf8_lossy(&metrics.body).contains("hookgate_unconfigured_targets 1"),
        "the target the store knows and the config does not is reported"
    );
    let delivered = succeeds(&backend).await;
    assert_eq!(
        delivered.headers["x-api-key"], "key-1",
        "sent with the stored definition"
    );
    assert_eq!(&delivered.body[..], br#"{"id":"queued"}"#);
    crate::support::drained(&hookgate.store, "ledger").await;
}

#[test]
fn hangup_reloads_and_does_not_end_the_process() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let target = runtime.block_on(Downstream::start());
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("hookgate.yaml"), dir.path().join("data"));
    std::fs::write(&file, simple(&data, &target, "")).unwrap();
    let mut process = HookgateProcess::spawn(&file);
    std::fs::write(
        &file,
        simple(&data, &target, "  - { name: r2, path: /in2, targets: [t] }\n"),
    )
    .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let line = process.wait_for_log("config reloaded");
    let logged: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(logged["trigger"], "SIGHUP");
    assert!(process.child.try_wait().unwrap().is_none(), "still running");
    let reply = runtime.block_on(send(
        Method::POST,
        &process.url("/in2"),
        &[("content-type", "application/json")],
        "{}",
    ));
    assert_eq!(reply.status, 202, "the route added by the reload serves");

    // `hookgate reload` asks the admin listener; a broken file is refused with its
    // location, and the process goes on.
    std::fs::write(
        &file,
        simple(&data, &target, "  - { name: r2, path: /in2, targets: [gone] }\n"),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args([
            "reload",
            "--config",
            file.to_str().unwrap(),
            "--admin",
            &process.admin.expect("admin listener").to_string(),
        ])
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("routes[1].targets[0]") && stderr.contains("unknown target `gone`"),
        "{stderr}"
    );
    assert!(process.child.try_wait().unwrap().is_none(), "still running");
}

/// A request that began under a config naming a target can still admit to it after
/// several reloads have removed the target: the target's worker must outlive every
/// config a request in flight may hold, not only the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_begun_before_several_reloads_still_reaches_the_removed_target() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (backend, other) = (Downstream::start().await, Downstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("hookgate.yaml"), dir.path().join("data"));
    std::fs::write(&file, with_ledger(&data, &backend, "key-1")).unwrap();
    let hookgate = Hookgate::start_file(&file).await;

    // Headers in, body not yet: the request holds the first config.
    let body = br#"{"id":"late"}"#;
    let mut slow = tokio::net::TcpStream::connect(hookgate.addr).await.unwrap();
    let head = format!(
        "POST /in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..4]).await.unwrap();

    std::fs::write(&file, with_ledger(&data, &backend, "key-2")).unwrap();
    assert_eq!(reload(&hookgate).await.status, 200);
    std::fs::write(&file, without_ledger(&data, &other)).unwrap();
    assert_eq!(
        reload(&hookgate).await.json()["retired_targets"],
        serde_json::json!(["ledger"])
    );
    // Time has to pass: a retired worker looks every second whether it may stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    slow.write_all(&body[4..]).await.unwrap();
    let mut answer = vec![0; 1024];
    let read = slow.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let delivered = backend.wait_for(1).await.remove(0);
    assert_eq!(
        &delivered.body[..],
        body,
        "admitted under the first config, delivered"
    );
    assert_eq!(
        delivered.headers["x-api-key"], "key-2",
        "with the target's last definition"
    );
    crate::support::drained(&hookgate.store, "ledger").await;
}

/// A removed target with dead letters keeps its definition and worker: replaying
/// them delivers them, with that definition.
#[tokio::test]
async fn dead_letters_of_a_removed_target_can_still_be_replayed() {
    let (backend, other) = (Downstream::start().await, Downstream::start().await);
    backend.set(|b| b.status = http::StatusCode::BAD_REQUEST);
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("hookgate.yaml"), dir.path().join("data"));
    std::fs::write(&file, with_ledger(&data, &backend, "key-1")).unwrap();
    let hookgate = Hookgate::start_file(&file).await;
    assert_eq!(post(&hookgate, "/in", "refused").await.status, 202);
    let dead = crate::support::dead_letters(&hookgate.store, 1).await;

    std::fs::write(&file, without_ledger(&data, &other)).unwrap();
    assert_eq!(reload(&hookgate).await.status, 200);
    // Time has to pass: a retired worker looks every second whether it may stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        hookgate
            .store
            .targets()
            .await
            .unwrap()
            .iter()
            .any(|t| t.name == "ledger"),
        "the definition is kept while the target has dead letters"
    );

    backend.set(|b| b.status = http::StatusCode::OK);
    let ids: Vec<String> = dead.iter().map(|d| d.id.clone()).collect();
    assert_eq!(hookgate.store.replay(&ids).await.unwrap(), 1);
    let delivered = backend.wait_for(2).await.remove(1);
    assert_eq!(&delivered.body[..], br#"{"id":"refused"}"#);
    assert_eq!(delivered.headers["x-api-key"], "key-1");
    crate::support::drained(&hookgate.store, "ledger").await;
}
