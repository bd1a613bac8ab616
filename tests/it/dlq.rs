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
