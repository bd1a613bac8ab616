//! The load generator: a fixed number of kept-alive connections, each sending its next
//! request when the previous answer arrives (closed loop), or, with a rate, at fixed
//! intervals, latency then counted from when the request was due whenever a slow
//! answer held it up (so a stall is not hidden by the requests it delayed).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Request;
use http_body_util::{BodyExt, Full};
use serde::Serialize;

use crate::client::connect;
use crate::event::EventTemplate;

/// What to send, where, and for how long.
pub struct Load {
    /// The servers to load: connection `i` goes to `addrs[i % addrs.len()]`, so the
    /// connections are spread evenly over several instances of one service.
    pub addrs: Vec<SocketAddr>,
    /// Request path.
    pub path: String,
    /// Connections, each with one request in flight at a time.
    pub connections: usize,
    /// How long to send for.
    pub duration: Duration,
    /// Requests per second over all connections; `None` sends as fast as answers come.
    pub rate: Option<f64>,
    /// Stop after sending this many requests over all connections (whatever their
    /// answers), if the duration has not ended first.
    pub requests: Option<u64>,
    /// Send a refused or unanswered request again, same events and ids, this long
    /// after, as a webhook sender retries (the request is not counted again against
    /// `requests`); `None` moves on to the next request.
    pub retry: Option<Duration>,
    /// Prefix of every event id in this run, unique across runs.
    pub run_id: String,
    /// Body and signature maker.
    pub template: Arc<EventTemplate>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Requests answered 2xx (acknowledged).
    pub acked: u64,
    /// Requests answered with another status, by status.
    pub refused: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection errors).
    pub transport_errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of acknowledged requests, microseconds.
    #[serde(skip)]
    pub latency: Histogram<u64>,
}

impl Outcome {
    /// Acknowledged requests per second.
    pub fn acked_per_second(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64()
    }

    /// A latency percentile in milliseconds.
    pub fn latency_ms(&self, percentile: f64) -> f64 {
        self.latency.value_at_percentile(percentile) as f64 / 1000.0
    }

    fn empty() -> anyhow::Result<Self> {
        Ok(Self {
            acked: 0,
            refused: BTreeMap::new(),
            transport_errors: 0,
            elapsed: Duration::ZERO,
            latency: histogram()?,
        })
    }

    fn merge(&mut self, other: Outcome) -> anyhow::Result<()> {
        self.acked += other.acked;
        for (status, count) in other.refused {
            *self.refused.entry(status).or_default() += count;
        }
        self.transport_errors += other.transport_errors;
        self.latency.add(&other.latency)?;
        Ok(())
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 60 s, three significant figures.
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// Runs the load and returns the merged outcome.
pub async fn run(load: Load) -> anyhow::Result<Outcome> {
    anyhow::ensure!(!load.addrs.is_empty(), "no server to load");
    let load = Arc::new(load);
    let started = Instant::now();
    let deadline = started + load.duration;
    let budget = Arc::new(AtomicU64::new(load.requests.unwrap_or(u64::MAX)));
    let mut tasks = Vec::with_capacity(load.connections);
    for connection in 0..load.connections {
        tasks.push(tokio::spawn(drive(
            load.clone(),
            connection,
            started,
            deadline,
            budget.clone(),
        )));
    }
    let mut total = Outcome::empty()?;
    for task in tasks {
        total.merge(task.await??)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

async fn drive(
    load: Arc<Load>,
    connection: usize,
    started: Instant,
    deadline: Instant,
    budget: Arc<AtomicU64>,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::empty()?;
    let interval = load
        .rate
        .map(|rate| Duration::from_secs_f64(load.connections as f64 / rate));
    // Spread paced connections over one interval so they do not fire together.
    let offset = interval.map_or(Duration::ZERO, |interval| {
        interval.mul_f64(connection as f64 / load.connections as f64)
    });
    let addr = load.addrs[connection % load.addrs.len()];
    let host = addr.to_string();
    let mut sender = connect(addr).await?;
    let mut sequence: u64 = 0;
    // A refused request to send again: its body and signature.
    let mut again: Option<(Bytes, String)> = None;
    loop {
        // Latency counts from when the request was due if the previous answer came
        // too late to send it then (the server's stall), and from the actual send if
        // the connection was idle and only the timer (1 ms granularity) was late.
        let (due, start) = match interval {
            Some(interval) => {
                let due = started + offset + interval.mul_f64(sequence as f64);
                if Instant::now() < due {
                    tokio::time::sleep_until(due.into()).await;
                    (due, Instant::now())
                } else {
                    (due, due)
                }
            }
            None => {
                let now = Instant::now();
                (now, now)
            }
        };
        if due >= deadline {
            break;
        }
        let (body, signature) = match again.take() {
            Some(again) => again,
            None => {
                let spent =
                    budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1));
                if spent.is_err() {
                    break;
                }
                let id = format!("{}-c{connection}-s{sequence}", load.run_id);
                sequence += 1;
                let signed = load.template.render(&id);
                (Bytes::from(signed.body), signed.signature)
            }
        };
        // Kept only when it may be sent again.
        let kept = load.retry.map(|_| (body.clone(), signature.clone()));
        let request = Request::post(load.path.as_str())
            .header(http::header::HOST, host.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-klavi-signature", signature)
            .body(Full::new(body))?;
        let answer = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            anyhow::Ok(status)
        };
        let accepted = match answer.await {
            Ok(status) if status.is_success() => {
                outcome.acked += 1;
                let micros = start.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
                outcome.latency.saturating_record(micros.max(1));
                true
            }
            Ok(status) => {
                *outcome.refused.entry(status.as_u16()).or_default() += 1;
                false
            }
            Err(_) => {
                outcome.transport_errors += 1;
                sender = connect(addr).await?;
                false
            }
        };
        if let (false, Some(after), Some(kept)) = (accepted, load.retry, kept) {
            again = Some(kept);
            tokio::time::sleep(after).await;
        }
    }
    Ok(outcome)
}
