//! The metrics reference (`docs/metrics.md`) is what `/metrics` exports: every
//! documented metric is present from the start, with its help text and type, and
//! nothing undocumented is exported.

use std::collections::BTreeMap;

use crate::support::{send, Downstream, Hookgate};
use http::Method;

/// `name → type` from the reference's table.
fn documented() -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
    let text = std::fs::read_to_string(path).expect("docs/metrics.md");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), cells.get(2)?.to_string()))
        })
        .filter(|(name, _)| name.starts_with("hookgate_"))
        .collect()
}

/// `name → type` from `# TYPE` lines of a `/metrics` page.
fn exported(page: &str) -> BTreeMap<String, String> {
    page.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect()
}

#[tokio::test]
async fn the_reference_matches_what_metrics_exports_from_the_start() {
    let target = Downstream::start().await;
    let hookgate = Hookgate::start(&format!(
        "{}\ntargets:\n  t: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [t], auth: [{{ header: {{ name: k, secrets: [s] }} }}] }}\n",
        crate::support::ADMIN,
        target.url("/t")
    ))
    .await;
    let page = send(Method::GET, &hookgate.admin_url("/metrics"), &[], "").await;
    let page = String::from_utf8(page.body.to_vec()).unwrap();
    let documented = documented();
    assert!(
        documented.len() >= 15,
        "the reference lists the metrics: {documented:?}"
    );
    assert_eq!(
        exported(&page),
        documented,
        "/metrics before any request:\n{page}"
    );
    for name in documented.keys() {
        assert!(
            page.lines()
                .any(|line| line.starts_with(&format!("# HELP {name} ")) && line.len() > name.len() + 8),
            "{name} has no help text:\n{page}"
        );
    }
    // Labelled by the config's route and target, at zero.
    for series in [
        "hookgate_requests_total{route=\"r\",status=\"202\"} 0",
        "hookgate_attempts_total{target=\"t\",outcome=\"failure\"} 0",
        "hookgate_deliveries_total{target=\"t\",result=\"dead_lettered\"} 0",
        "hookgate_breaker_open{target=\"t\"} 0",
        "hookgate_auth_rejections_total{route=\"r\",reason=\"bad_credential\"} 0",
    ] {
        assert!(page.lines().any(|line| line == series), "no `{series}`:\n{page}");
    }
}

/// The value of the series `series` (name and labels as exported) on `page`.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn backlog_gauges_show_a_stuck_queue_and_dead_letters() {
    let stuck = Downstream::start().await;
    stuck.set(|b| b.status = http::StatusCode::SERVICE_UNAVAILABLE);
    let refusing = Downstream::start().await;
    refusing.set(|b| b.status = http::StatusCode::BAD_REQUEST);
    let hookgate = Hookgate::start(&format!(
        "admin: {{ listen: 127.0.0.1:0 }}\ntargets:\n  stuck: {{ url: \"{}\", retry: {{ initial_backoff: 50ms, max_backoff: 100ms }} }}\n  refusing: {{ url: \"{}\" }}\nroutes:\n  - {{ name: r, path: /in, targets: [stuck, refusing] }}\n",
        stuck.url("/s"),
        refusing.url("/r"),
    ))
    .await;
    for n in 0..3 {
        let reply = crate::support::post_json(&hookgate.url("/in"), format!("{{\"n\":{n}}}")).await;
        assert_eq!(reply.status, 202);
    }
    let metrics = hookgate.admin_url("/metrics");
    // Sampled every 5 s: two samples at most.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let page = loop {
        let page = String::from_utf8(send(Method::GET, &metrics, &[], "").await.body.to_vec()).unwrap();
        let sampled = value(&page, "hookgate_dead_letters{target=\"refusing\"}") == Some(3.0)
            && value(&page, "hookgate_queue_oldest_age_seconds{target=\"stuck\"}")
                .is_some_and(|age| age > 0.0);
        if sampled {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "never sampled:\n{page}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        value(&page, "hookgate_queue_depth{target=\"stuck\"}"),
        Some(3.0),
        "{page}"
    );
    assert_eq!(
        value(&page, "hookgate_dead_letters{target=\"stuck\"}"),
        Some(0.0),
        "{page}"
    );
    assert_eq!(
        value(&page, "hookgate_queue_depth{target=\"refusing\"}"),
        Some(0.0),
        "{page}"
    );
    assert_eq!(
        value(&page, "hookgate_queue_oldest_age_seconds{target=\"refusing\"}"),
        Some(0.0),
        "{page}"
    );
    assert!(stuck.received().len() >= 3, "the stuck target was tried");
}
