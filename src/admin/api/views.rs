//! What the API shows of routes and targets: the config as loaded, with every secret
//! left out (a target's header values, credentials and query values in its URL), and
//! a target's live state.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::delivery::WorkerStatus;
use crate::model::{Mode, Target};
use crate::registry::LiveRoute;
use crate::store::Backlog;

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items match, over all pages, where known.
    pub total: Option<usize>,
    /// Whether items follow this page.
    pub has_more: bool,
    /// The page size asked for.
    pub limit: usize,
    /// How many matching items come before this page.
    pub offset: usize,
}

/// A route as configured.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RouteView {
    /// Unique name.
    pub name: String,
    /// Path pattern, e.g. `/hooks/obp/{token}`.
    pub path: String,
    /// Accepted methods.
    pub methods: Vec<String>,
    /// `queue` or `sync`.
    pub mode: String,
    /// Its targets, in order (the first is the primary in `sync` mode).
    pub targets: Vec<String>,
    /// Its checks' schemes, in order (their secrets are never shown).
    pub auth: Vec<String>,
    /// Whether repeats are recognised and dropped.
    pub dedupe: bool,
    /// Largest body accepted, in bytes.
    pub max_body: usize,
    /// Most events one request may hold.
    pub max_events: usize,
}

impl RouteView {
    /// The view of `live`.
    pub fn of(live: &LiveRoute) -> Self {
        let route = &live.route;
        Self {
            name: route.name.clone(),
            path: route.path.clone(),
            methods: route.methods.iter().map(ToString::to_string).collect(),
            mode: match route.mode {
                Mode::Queue => "queue",
                Mode::Sync => "sync",
            }
            .to_owned(),
            targets: route.targets.iter().map(|target| target.name.clone()).collect(),
            auth: live
                .verifiers
                .iter()
                .map(|check| check.scheme().to_owned())
                .collect(),
            dedupe: route.dedupe.is_some(),
            max_body: route.max_body,
            max_events: route.max_events,
        }
    }
}

/// A target as configured, with its live state.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TargetView {
    /// The name routes refer to it by.
    pub name: String,
    /// Where deliveries go; credentials and query values are shown as `***`.
    pub url: String,
    /// Time allowed for one attempt, in milliseconds.
    pub timeout_ms: u64,
    /// Most attempts in flight at once.
    pub max_concurrency: usize,
    /// Most requests per second, if limited.
    pub rate_limit_per_second: Option<u32>,
    /// Names of the static headers it adds (their values are never shown).
    pub headers: Vec<String>,
    /// Whether deliveries are signed (Standard Webhooks).
    pub signed: bool,
    /// Attempts in total before a delivery is dead-lettered.
    pub max_attempts: u32,
    /// How it is doing now.
    pub state: TargetState,
}

/// A target's live state.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct TargetState {
    /// `closed` (sending), `open` (waiting out failures) or `half_open` (probing);
    /// `unknown` when this instance has no worker for it.
    pub breaker: String,
    /// Deliveries waiting or in flight.
    pub pending: u64,
    /// Seconds since the oldest pending delivery was admitted (0 when none).
    pub oldest_pending_age_seconds: f64,
    /// Dead letters waiting for a replay.
    pub dead_letters: u64,
    /// Attempts in flight from this instance.
    pub in_flight: usize,
    /// The last failed attempt from this instance.
    pub last_error: Option<LastError>,
    /// Whether the target is out of the config, still delivering what it has.
    pub retired: bool,
    /// Whether an operator paused its deliveries.
    pub paused: bool,
}

/// When and why an attempt failed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LastError {
    /// When, RFC 3339.
    pub at: String,
    /// Why: the status, or the connection error.
    pub error: String,
}

impl TargetView {
    /// The view of `target`, with its worker's `status` and its `backlog` where known.
    pub fn of(target: &Target, status: Option<WorkerStatus>, backlog: Option<Backlog>) -> Self {
        let backlog = backlog.unwrap_or_default();
        let age = backlog
            .oldest_ms
            .map_or(0, |oldest| crate::model::now_ms().saturating_sub(oldest));
        let state = TargetState {
            breaker: status
                .as_ref()
                .map_or("unknown", |status| status.breaker)
                .to_owned(),
            pending: backlog.pending,
            oldest_pending_age_seconds: age as f64 / 1000.0,
            dead_letters: backlog.dead,
            in_flight: status.as_ref().map_or(0, |status| status.in_flight),
            last_error: status
                .as_ref()
                .and_then(|status| status.last_error.clone())
                .map(|(at, error)| LastError {
                    at: rfc3339(at),
                    error,
                }),
            retired: status.as_ref().is_some_and(|status| status.retired),
            paused: status.is_some_and(|status| status.paused),
        };
        Self {
            name: target.name.clone(),
            url: masked_url(&target.url),
            timeout_ms: u64::try_from(target.timeout.as_millis()).unwrap_or(u64::MAX),
            max_concurrency: target.max_concurrency,
            rate_limit_per_second: target.rate_limit,
            headers: target.headers.keys().map(ToString::to_string).collect(),
            signed: target.signing_key.is_some(),
            max_attempts: target.retry.max_attempts,
            state,
        }
    }
}

/// A dead letter.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetterView {
    /// The delivery's id (also `Hookgate-Delivery-Id`).
    pub id: String,
    /// The route its event came in on.
    pub route: String,
    /// The target it was for.
    pub target: String,
    /// Its event's dedupe key, if the route dedupes.
    pub event_key: Option<String>,
    /// Its event's id (`GET /api/v1/events/{id}`).
    pub event_id: Option<String>,
    /// The request id of the request that brought its event.
    pub request_id: String,
    /// When its event was admitted, RFC 3339.
    pub admitted_at: String,
    /// Attempts made.
    pub attempts: u32,
    /// Why it was dead-lettered.
    pub reason: Option<String>,
    /// The method it is sent with.
    pub method: String,
    /// Where it is sent; credentials and query values are shown as `***`.
    pub url: String,
    /// Names of the headers it carries (their values are never shown).
    pub headers: Vec<String>,
    /// Its last attempt.
    pub last_attempt: Option<AttemptView>,
    /// The body, for the `operator` role only: text (JSON with the route's
    /// `redact` paths shown as `***`), or base64 when it is not UTF-8.
    pub body: Option<String>,
    /// `utf-8` or `base64`, when `body` is given.
    pub body_encoding: Option<String>,
}

/// One attempt.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AttemptView {
    /// When, RFC 3339.
    pub at: String,
    /// The target's status, if it answered.
    pub status: Option<u16>,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
    /// Why it failed without an answer.
    pub error: Option<String>,
    /// The start of the target's answer, for the `operator` role only.
    pub excerpt: Option<String>,
}

impl AttemptView {
    /// The view of `attempt`; the answer's excerpt only `with_bodies`.
    pub fn of(attempt: &crate::model::Attempt, with_bodies: bool) -> Self {
        Self {
            at: rfc3339(attempt.at_ms),
            status: attempt.status,
            latency_ms: attempt.latency_ms,
            error: attempt.error.clone(),
            excerpt: attempt.excerpt.clone().filter(|_| with_bodies),
        }
    }
}

/// One delivery and its attempts.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryView {
    /// Its id (also `Hookgate-Delivery-Id`).
    pub id: String,
    /// `pending`, `delivered` (or discarded) or `dead`.
    pub state: crate::store::DeliveryState,
    /// Its event, when known (`GET /api/v1/events/{id}`).
    pub event_id: Option<String>,
    /// The route its event came in on.
    pub route: String,
    /// The target it goes to.
    pub target: String,
    /// Pending: when it is next tried, RFC 3339 (now or past: it is due, or being
    /// attempted).
    pub next_attempt_at: Option<String>,
    /// Dead: why.
    pub reason: Option<String>,
    /// Every attempt, oldest first, kept for `store.retention` (numbers start again
    /// at 1 after a replay).
    pub attempts: Vec<DeliveryAttemptView>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryAttemptView {
    /// 1 for the first attempt (of its run, after a replay).
    pub number: u32,
    /// What happened.
    #[serde(flatten)]
    pub attempt: AttemptView,
}

impl DeliveryView {
    /// The view of `report` about delivery `id`; answer excerpts only `with_bodies`.
    pub fn of(id: &str, report: &crate::store::DeliveryReport, with_bodies: bool) -> Self {
        let first = report.attempts.first();
        let delivery = report.delivery.as_ref();
        Self {
            id: id.to_owned(),
            state: report.state,
            event_id: delivery
                .and_then(|d| d.event_id.clone())
                .or_else(|| first.and_then(|a| a.event_id.clone())),
            route: delivery
                .map(|d| d.route.clone())
                .or_else(|| first.map(|a| a.route.clone()))
                .unwrap_or_default(),
            target: delivery
                .map(|d| d.target.clone())
                .or_else(|| first.map(|a| a.target.clone()))
                .unwrap_or_default(),
            next_attempt_at: delivery
                .filter(|_| report.state == crate::store::DeliveryState::Pending)
                .map(|d| rfc3339(d.due_at_ms)),
            reason: delivery.and_then(|d| d.dead_reason.clone()),
            attempts: report
                .attempts
                .iter()
                .map(|logged| DeliveryAttemptView {
                    number: logged.number,
                    attempt: AttemptView::of(&logged.attempt, with_bodies),
                })
                .collect(),
        }
    }
}

impl DeadLetterView {
    /// The view of `delivery`; bodies only `with_bodies`, masked by `redact`.
    pub fn of(
        delivery: &crate::model::Delivery,
        with_bodies: bool,
        redact: &[crate::model::mask::Mask],
    ) -> Self {
        let (body, body_encoding) = if with_bodies {
            let (body, encoding) = shown_body(&delivery.body, redact);
            (Some(body), Some(encoding.to_owned()))
        } else {
            (None, None)
        };
        Self {
            id: delivery.id.clone(),
            route: delivery.route.clone(),
            target: delivery.target.clone(),
            event_key: delivery.event_key.clone(),
            event_id: delivery.event_id.clone(),
            request_id: delivery.request_id.clone(),
            admitted_at: rfc3339(delivery.created_at_ms),
            attempts: delivery.attempts,
            reason: delivery.dead_reason.clone(),
            method: delivery.method.clone(),
            url: delivery
                .url
                .parse()
                .map_or_else(|_| "***".to_owned(), |uri| masked_url(&uri)),
            headers: delivery.headers.iter().map(|(name, _)| name.clone()).collect(),
            last_attempt: delivery
                .last_attempt
                .as_ref()
                .map(|attempt| AttemptView::of(attempt, with_bodies)),
            body,
            body_encoding,
        }
    }
}

/// A body as shown: JSON with `redact` masked, other text as it is, other bytes in
/// base64.
fn shown_body(body: &[u8], redact: &[crate::model::mask::Mask]) -> (String, &'static str) {
    use base64::Engine;
    if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) {
        if !redact.is_empty() {
            let hidden = serde_json::Value::String("***".to_owned());
            for mask in redact {
                mask.apply(&mut json, &hidden);
            }
            return (json.to_string(), "utf-8");
        }
    }
    match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), "utf-8"),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), "base64"),
    }
}

/// A logged event.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct EventView {
    /// Its id.
    pub id: String,
    /// The route it came in on.
    pub route: String,
    /// Its dedupe key, if the route dedupes.
    pub dedupe_key: Option<String>,
    /// The request that brought it (`x-request-id`).
    pub request_id: String,
    /// When it was admitted, RFC 3339 with milliseconds.
    pub received_at: String,
    /// `pending` while a delivery waits, `dead` when one was dead-lettered, else
    /// `delivered`.
    pub state: crate::store::DeliveryState,
    /// Its deliveries.
    pub deliveries: Vec<EventDelivery>,
    /// The event with the route's `redact` paths masked, for the `operator` role
    /// only (text; base64 when not UTF-8).
    pub body: Option<String>,
    /// `utf-8` or `base64`, when `body` is given.
    pub body_encoding: Option<String>,
}

/// One delivery of a logged event.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct EventDelivery {
    /// The delivery's id (`/api/v1/deliveries/{id}` shows its attempts).
    pub id: String,
    /// Its target.
    pub target: String,
    /// Where it is.
    pub state: crate::store::DeliveryState,
}

impl EventView {
    /// The view of `event`; its body only `with_bodies` (it is stored masked).
    pub fn of(event: &crate::store::LoggedEvent, with_bodies: bool) -> Self {
        let record = &event.record;
        let (body, body_encoding) = if with_bodies {
            let (body, encoding) = shown_body(&record.body, &[]);
            (Some(body), Some(encoding.to_owned()))
        } else {
            (None, None)
        };
        Self {
            id: record.id.clone(),
            route: record.route.clone(),
            dedupe_key: record.dedupe_key.clone(),
            request_id: record.request_id.clone(),
            received_at: rfc3339(record.received_ms),
            state: event.state(),
            deliveries: record
                .deliveries
                .iter()
                .zip(&event.states)
                .map(|((id, target), state)| EventDelivery {
                    id: id.clone(),
                    target: target.clone(),
                    state: *state,
                })
                .collect(),
            body,
            body_encoding,
        }
    }
}

/// How many a bulk operation did.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Count {
    /// How many dead letters were replayed or discarded.
    pub count: u64,
}

/// `uri` with its password and query values shown as `***`: either may be a
/// credential.
pub fn masked_url(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map_or("", |authority| authority.as_str());
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let mut text = format!("{scheme}://{authority}{}", uri.path());
    if let Some(query) = uri.query() {
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}=***"),
                None => pair.to_owned(),
            })
            .collect();
        text.push('?');
        text.push_str(&masked.join("&"));
    }
    text
}

/// Unix milliseconds as RFC 3339 (UTC).
pub fn rfc3339(unix_ms: u64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_query_values_are_masked() {
        let masked = |url: &str| masked_url(&url.parse().unwrap());
        assert_eq!(
            masked("https://user:pa55@hooks.example.com/in?token=abc&x=1"),
            "https://user:***@hooks.example.com/in?token=***&x=***"
        );
        assert_eq!(
            masked("http://127.0.0.1:9001/webhooks"),
            "http://127.0.0.1:9001/webhooks"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
