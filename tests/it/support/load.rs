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
    post_padded(urls, prefix, count, concurrency, 0).await
}

/// The same, each body carrying `padding` extra bytes (in a `pad` field).
pub async fn post_padded(
    urls: &[String],
    prefix: &str,
    count: usize,
    concurrency: usize,
    padding: usize,
) -> LoadReport {
    let pad: Arc<str> = "x".repeat(padding).into();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(5))
        .build_http();
    let report = Arc::new(Mutex::new(LoadReport::default()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, report, next, urls, prefix, pad) = (
            client.clone(),
            report.clone(),
            next.clone(),
            urls.to_vec(),
            prefix.to_owned(),
            pad.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= count {
                    return;
                }
                let id = format!("{prefix}-{n}");
                let body = if pad.is_empty() {
                    format!(r#"{{"id":"{id}","amount":"50.00 EUR","n":{n}}}"#)
                } else {
                    format!(r#"{{"id":"{id}","amount":"50.00 EUR","n":{n},"pad":"{pad}"}}"#)
                };
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

/// One request of a sustained load and how it was answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The event's id.
    pub id: String,
    /// The status (0 = no response).
    pub status: u16,
    /// The `deliveries` an acceptance reported.
    pub deliveries: Option<u64>,
}

/// Events posted without pause until stopped.
pub struct Sustained {
    stop: Arc<std::sync::atomic::AtomicBool>,
    sent: Arc<std::sync::atomic::AtomicUsize>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    answers: Arc<Mutex<Vec<Answer>>>,
}

impl Sustained {
    /// Starts `concurrency` senders posting JSON events `{"id": "<prefix>-<n>", ...}`
    /// to `url` one after the other.
    pub fn start(url: &str, prefix: &str, concurrency: usize) -> Self {
        Self::padded(url, prefix, concurrency, 0)
    }

    /// The same with `padding` bytes more in each event (a `"pad"` field).
    pub fn padded(url: &str, prefix: &str, concurrency: usize, padding: usize) -> Self {
        let pad: Arc<str> = "x".repeat(padding).into();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..concurrency)
            .map(|_| {
                let (client, stop, sent, answers, pad) = (
                    client.clone(),
                    stop.clone(),
                    sent.clone(),
                    answers.clone(),
                    pad.clone(),
                );
                let (url, prefix) = (url.to_owned(), prefix.to_owned());
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let n = sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let id = format!("{prefix}-{n}");
                        let body = if pad.is_empty() {
                            format!(r#"{{"id":"{id}","n":{n}}}"#)
                        } else {
                            format!(r#"{{"id":"{id}","n":{n},"pad":"{pad}"}}"#)
                        };
                        let request = Request::builder()
                            .method(Method::POST)
                            .uri(&url)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(body)))
                            .unwrap();
                        let (status, deliveries) = match tokio::time::timeout(
                            Duration::from_secs(30),
                            client.request(request),
                        )
                        .await
                        {
                            Ok(Ok(response)) => {
                                let status = response.status().as_u16();
                                let body = response.into_body().collect().await.map(|b| b.to_bytes());
                                let deliveries = body
                                    .ok()
                                    .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
                                    .and_then(|answer| answer["deliveries"].as_u64());
                                (status, deliveries)
                            }
                            _ => (0, None),
                        };
                        answers.lock().unwrap().push(Answer {
                            id,
                            status,
                            deliveries,
                        });
                    }
                })
            })
            .collect();
        Self {
            stop,
            sent,
            workers,
            answers,
        }
    }

    /// How many requests have been started so far.
    pub fn sent(&self) -> usize {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops sending, waits for the requests in flight, and returns every answer.
    pub async fn stop(self) -> Vec<Answer> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for worker in self.workers {
            let _ = worker.await;
        }
        let answers = self.answers.lock().unwrap().clone();
        answers
    }
}
