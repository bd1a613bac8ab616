//! Sends many webhooks concurrently and records which were acknowledged (2xx).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What a load run saw.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Event ids answered 2xx.
    pub acknowledged: Vec<String>,
    /// Statuses seen (0 = no response).
    pub statuses: Vec<u16>,
}

/// Posts `count` JSON events `{"id": "<prefix>-<n>", ...}` to each of `urls` in turn
/// with `concurrency` requests in flight. A request that gets no answer (hookgate
/// killed) is recorded as status 0 and not retried.
pub async fn post_events(urls: &[String], prefix: &str, count: usize, concurrency: usize) -> LoadReport {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(5))
        .build_http();
    let report = Arc::new(Mutex::new(LoadReport::default()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, report, next, urls, prefix) = (
            client.clone(),
            report.clone(),
            next.clone(),
            urls.to_vec(),
            prefix.to_owned(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= count {
                    return;
                }
                let id = format!("{prefix}-{n}");
                let body = format!(r#"{{"id":"{id}","amount":"50.00 EUR","n":{n}}}"#);
                let request = Request::builder()
                    .method(Method::POST)
                    .uri(&urls[n % urls.len()])
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let status =
                    match tokio::time::timeout(Duration::from_secs(30), client.request(request)).await {
                        Ok(Ok(response)) => {
                            let status = response.status().as_u16();
                            let _ = response.into_body().collect().await;
                            status
                        }
                        _ => 0,
                    };
                let mut report = report.lock().unwrap();
                report.statuses.push(status);
                if (200..300).contains(&status) {
                    report.acknowledged.push(id);
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let report = report.lock().unwrap().clone();
    report
}
