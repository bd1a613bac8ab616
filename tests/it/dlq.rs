//! `hookgate dlq list|replay` through the binary, against a Redis store that a
//! running hookgate filled with dead letters.

use std::process::Command;

use crate::support::redis::RedisServer;
use crate::support::{eventually, post_json, Downstream, Hookgate};
use hookgate::store::DeadLetterFilter;
use http::StatusCode;

fn dlq(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .arg("dlq")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run hookgate dlq")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed_from_the_command_line() {
    let redis = RedisServer::start();
    let downstream = Downstream::start().await;
    downstream.set(|b| {
        b.status = StatusCode::UNPROCESSABLE_ENTITY;
        b.body = "schema mismatch".into();
    });
    let yaml = format!(
        "store: {{ redis: {{ url: \"{}\" }} }}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
        redis.url(),
        downstream.url("/t")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let hookgate = Hookgate::start(&yaml).await;
    for n in 0..3 {
        assert_eq!(
            post_json(&hookgate.url("/in"), format!(r#"{{"id":"e{n}"}}"#))
                .await
                .status,
            202
        );
    }
    let store = hookgate.store.clone();
    crate::support::dead_letters(&store, 3).await;

    let list = dlq(&path, &["list"]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("3 dead letters"), "{text}");
    assert_eq!(
        text.matches("status 422 is not retried (schema mismatch)")
            .count(),
        3,
        "{text}"
    );
    let filtered = dlq(&path, &["list", "--target", "other"]);
    assert!(String::from_utf8_lossy(&filtered.stdout).contains("0 dead letters"));

    let refused = dlq(&path, &["replay"]);
    assert!(!refused.status.success(), "replaying everything needs --all");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--all"));

    downstream.set(|b| b.status = StatusCode::OK);
    let replay = dlq(&path, &["replay", "--all"]);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(String::from_utf8_lossy(&replay.stdout).contains("3 dead letters replayed"));
    downstream.wait_for(6).await;
    eventually("delivered and gone from the dead letters", || {
        let store = store.clone();
        async move {
            store
                .dead_letters(&DeadLetterFilter::default(), 10)
                .await
                .unwrap()
                .is_empty()
                && store.pending("t").await.unwrap() == 0
        }
    })
    .await;
}

/// While hookgate serves on the embedded store (which only it may open), `hookgate
/// dlq` works through its admin API, with the config's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_managed_through_a_running_hookgate() {
    let downstream = Downstream::start().await;
    downstream.set(|b| b.status = StatusCode::BAD_REQUEST);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    let config = |admin: &str| {
        format!(
            "listen: 127.0.0.1:0\n{admin}\nstore: {{ embedded: {{ path: {:?} }} }}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n",
            dir.path().join("data").display(),
            downstream.url("/t")
        )
    };
    std::fs::write(&path, config(crate::support::ADMIN)).unwrap();
    let process = crate::support::HookgateProcess::spawn(&path);
    for n in 0..3 {
        let reply = post_json(&process.url("/in"), format!(r#"{{"id":"e{n}"}}"#)).await;
        assert_eq!(reply.status, 202);
    }
    downstream.wait_for(3).await;
    let admin = process.admin.expect("admin listener").to_string();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--admin", admin.as_str()]);
        let output = dlq(&path, &all);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains("through the admin API"), "{stderr}");
        stdout
    };
    let mut listed = String::new();
    for _ in 0..200 {
        listed = run(&["list"]);
        if listed.contains("3 dead letters") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(listed.contains("3 dead letters"), "{listed}");
    let ids: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .filter(|id| id.len() == 36)
        .collect();
    assert_eq!(ids.len(), 3, "{listed}");

    // Which event died first depends on concurrent attempts: any of the three.
    let shown: serde_json::Value = serde_json::from_str(&run(&["show", ids[0]])).unwrap();
    let body = shown["body"].as_str().unwrap_or_default().to_owned();
    assert!(
        [r#"{"id":"e0"}"#, r#"{"id":"e1"}"#, r#"{"id":"e2"}"#].contains(&body.as_str()),
        "the config's token is an operator's: {shown}"
    );

    downstream.set(|b| b.status = StatusCode::OK);
    assert!(run(&["replay", "--id", ids[0]]).contains("1 dead letter replayed"));
    assert!(run(&["discard", "--id", ids[1]]).contains("1 dead letter discarded"));
    let received = downstream.wait_for(4).await;
    assert_eq!(received[3].body, body);
    let left = run(&["list"]);
    assert!(
        left.contains("1 dead letter\n") && left.contains(ids[2]),
        "{left}"
    );

    // Without an admin listener the running hookgate holds the store: the command
    // says how to let it ask.
    drop(process);
    std::fs::write(&path, config("")).unwrap();
    let silent = crate::support::HookgateProcess::spawn(&path);
    let output = dlq(&path, &["list"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("`admin` section"), "{stderr}");
    drop(silent);
}

/// `hookgate events` lists exactly the events of a time window and shows one,
/// through a running hookgate's API, then (once it stopped) from the store itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_listed_by_time_window_through_the_api_and_from_the_store() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\n{}\nstore: {{ embedded: {{ path: {:?} }} }}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n  - {{ name: other, path: /other, targets: [t] }}\n",
            crate::support::ADMIN,
            dir.path().join("data").display(),
            downstream.url("/t")
        ),
    )
    .unwrap();
    let process = crate::support::HookgateProcess::spawn(&path);
    let stamp = || {
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    assert_eq!(
        post_json(&process.url("/in"), r#"{"n":"before"}"#).await.status,
        202
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let since = stamp();
    for n in 0..3 {
        assert_eq!(
            post_json(&process.url("/in"), format!(r#"{{"n":{n}}}"#))
                .await
                .status,
            202
        );
    }
    assert_eq!(
        post_json(&process.url("/other"), r#"{"n":"elsewhere"}"#)
            .await
            .status,
        202
    );
    // Milliseconds apart from the window's last event, which the store compares in ms.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let until = stamp();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        post_json(&process.url("/in"), r#"{"n":"after"}"#).await.status,
        202
    );
    downstream.wait_for(6).await;

    let events = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .arg("events")
            .args(args)
            .arg("--config")
            .arg(&path)
            .output()
            .expect("run hookgate events");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?}: {stderr}");
        (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
    };
    let window = [
        "list",
        "--route",
        "r",
        "--since",
        since.as_str(),
        "--until",
        until.as_str(),
        "--json",
    ];
    let admin = process.admin.expect("admin listener").to_string();
    let through = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--admin", admin.as_str()]);
        events(&all)
    };
    let (listed, how) = through(&window);
    assert!(how.contains("through the admin API"), "{how}");
    let bodies: Vec<String> = listed
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        bodies,
        [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":2}"#],
        "exactly the window's, in order"
    );
    let first: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    let (shown, _) = through(&["show", &id]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["route"], "r");
    assert_eq!(shown["deliveries"][0]["target"], "t");
    let (table, _) = through(&[
        "list",
        "--route",
        "r",
        "--since",
        since.as_str(),
        "--until",
        until.as_str(),
    ]);
    assert!(table.contains("3 events") && table.contains(&id), "{table}");

    // No hookgate runs: the store itself answers the same.
    drop(process.stop_and_collect_logs());
    let (listed, how) = events(&window);
    assert!(!how.contains("through the admin API"), "{how}");
    assert_eq!(listed.lines().count(), 3, "{listed}");
}
