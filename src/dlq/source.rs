//! Where `hookgate dlq` and `hookgate events` work: through a running hookgate's
//! admin API (its store is busy serving, and the embedded one is locked), or on the
//! store itself when no hookgate runs. Both answer with the API's views, so the
//! output is the same.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use serde::de::DeserializeOwned;

use super::{apply, Bulk};
use crate::admin::api::views::{rfc3339, Count, DeadLetterView, EventView, Page};
use crate::delivery::HttpClient;
use crate::registry::Snapshot;
use crate::store::{DeadLetterFilter, DeliveryState, EventFilter, Store, StoreError};

/// The largest page the API gives.
const PAGE: usize = crate::admin::api::MAX_LIMIT;

/// Why a `dlq` command failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The admin listener could not be reached, or did not answer in time.
    #[error("the admin API at {0} did not answer: {1}")]
    Unreachable(String, String),
    /// The admin API refused the call.
    #[error("the admin API refused: {detail} ({status})")]
    Refused {
        /// The status.
        status: StatusCode,
        /// The problem's detail.
        detail: String,
    },
    /// The admin API answered something this command cannot read.
    #[error("the admin API answered something unexpected: {0}")]
    Unexpected(String),
    /// No dead letter (or event) has this id.
    #[error("nothing has the id `{0}`")]
    NotFound(String),
}

/// Where dead letters are read and changed.
pub enum Source {
    /// A running hookgate's admin API.
    Api {
        /// `http://host:port`.
        base: String,
        /// The bearer token, if any.
        token: Option<String>,
        /// The HTTP client.
        client: Box<HttpClient>,
    },
    /// The store itself, with the config (for its routes' `redact` paths).
    Store(Arc<dyn Store>, Arc<Snapshot>),
}

impl Source {
    /// Dead letters passing `filter`, oldest first, at most `limit`.
    pub async fn list(
        &self,
        filter: &DeadLetterFilter,
        limit: usize,
    ) -> Result<Vec<DeadLetterView>, DlqError> {
        match self {
            Source::Store(store, snapshot) => Ok(store
                .dead_letters(filter, limit)
                .await?
                .iter()
                .map(|delivery| view(snapshot, delivery))
                .collect()),
            Source::Api { .. } if !filter.ids.is_empty() => {
                let mut found = Vec::new();
                for id in filter.ids.iter().take(limit) {
                    match self.show(id).await {
                        Ok(view) => found.push(view),
                        Err(DlqError::NotFound(_)) => {}
                        Err(error) => return Err(error),
                    }
                }
                Ok(found)
            }
            Source::Api { .. } => {
                let mut found = Vec::new();
                while found.len() < limit {
                    let size = (limit - found.len()).min(PAGE);
                    let query = format!("{}&limit={size}&offset={}", query(filter, false), found.len());
                    let page: Page<DeadLetterView> = self
                        .call(Method::GET, &format!("/api/v1/dead-letters?{query}"))
                        .await?;
                    let more = page.has_more;
                    found.extend(page.items);
                    if !more {
                        break;
                    }
                }
                Ok(found)
            }
        }
    }

    /// The dead letter `id`.
    pub async fn show(&self, id: &str) -> Result<DeadLetterView, DlqError> {
        match self {
            Source::Store(store, snapshot) => {
                let filter = DeadLetterFilter {
                    ids: vec![id.to_owned()],
                    ..DeadLetterFilter::default()
                };
                let found = store.dead_letters(&filter, 1).await?;
                found
                    .first()
                    .map(|delivery| view(snapshot, delivery))
                    .ok_or_else(|| DlqError::NotFound(id.to_owned()))
            }
            Source::Api { .. } => {
                self.call(Method::GET, &format!("/api/v1/dead-letters/{}", segment(id)))
                    .await
            }
        }
    }

    /// Logged events passing `filter`, oldest first, at most `limit`.
    pub async fn events(&self, filter: &EventFilter, limit: usize) -> Result<Vec<EventView>, DlqError> {
        match self {
            Source::Store(store, _) => Ok(store
                .events(filter, limit)
                .await?
                .iter()
                .map(|event| EventView::of(event, true))
                .collect()),
            Source::Api { .. } => {
                let mut found = Vec::new();
                while found.len() < limit {
                    let size = (limit - found.len()).min(PAGE);
                    let path = format!(
                        "/api/v1/events?{}&limit={size}&offset={}",
                        event_query(filter),
                        found.len()
                    );
                    let page: Page<EventView> = self.call(Method::GET, &path).await?;
                    let more = page.has_more;
                    found.extend(page.items);
                    if !more {
                        break;
                    }
                }
                Ok(found)
            }
        }
    }

    /// The logged event `id`.
    pub async fn event(&self, id: &str) -> Result<EventView, DlqError> {
        match self {
            Source::Store(store, _) => store
                .event(id)
                .await?
                .map(|event| EventView::of(&event, true))
                .ok_or_else(|| DlqError::NotFound(id.to_owned())),
            Source::Api { .. } => {
                self.call(Method::GET, &format!("/api/v1/events/{}", segment(id)))
                    .await
            }
        }
    }

    /// Replays or discards the dead letters passing `filter`; how many.
    pub async fn bulk(&self, filter: &DeadLetterFilter, bulk: Bulk) -> Result<u64, DlqError> {
        match self {
            Source::Store(store, _) => Ok(apply(store.as_ref(), filter, bulk, |_, _| {}).await?.0),
            Source::Api { .. } if !filter.ids.is_empty() => {
                let mut done = 0;
                for id in &filter.ids {
                    let (method, path) = match bulk {
                        Bulk::Replay => (
                            Method::POST,
                            format!("/api/v1/dead-letters/{}/replay", segment(id)),
                        ),
                        Bulk::Discard => (Method::DELETE, format!("/api/v1/dead-letters/{}", segment(id))),
                    };
                    match self.call::<Count>(method, &path).await {
                        Ok(count) => done += count.count,
                        Err(DlqError::NotFound(_)) => {}
                        Err(error) => return Err(error),
                    }
                }
                Ok(done)
            }
            Source::Api { .. } => {
                let action = match bulk {
                    Bulk::Replay => "replay",
                    Bulk::Discard => "discard",
                };
                let path = format!("/api/v1/dead-letters/{action}?{}", query(filter, true));
                Ok(self.call::<Count>(Method::POST, &path).await?.count)
            }
        }
    }

    /// One API call, its answer read as `T`.
    async fn call<T: DeserializeOwned>(&self, method: Method, path: &str) -> Result<T, DlqError> {
        let Source::Api { base, token, client } = self else {
            return Err(DlqError::Unexpected("not an API source".to_owned()));
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|error| DlqError::Unexpected(error.to_string()))?;
        let unreachable = |error: String| DlqError::Unreachable(base.clone(), error);
        let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
            .await
            .map_err(|_| unreachable("no answer within 60 s".to_owned()))?
            .map_err(|error| unreachable(error.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| unreachable(error.to_string()))?
            .to_bytes();
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|error| DlqError::Unexpected(error.to_string()));
        }
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status == StatusCode::NOT_FOUND && problem["type"] == "urn:hookgate:problem:not-found" {
            return Err(DlqError::NotFound(
                path.rsplit('/').next().unwrap_or_default().to_owned(),
            ));
        }
        Err(DlqError::Refused {
            status,
            detail: problem["detail"].as_str().unwrap_or("no detail").to_owned(),
        })
    }
}

/// The view of a dead letter read from the store: everything, bodies included (who
/// can open the store can read them anyway), with the route's `redact` paths masked.
fn view(snapshot: &Snapshot, delivery: &crate::model::Delivery) -> DeadLetterView {
    let redact = snapshot
        .routes
        .iter()
        .find(|live| live.route.name == delivery.route)
        .map_or(&[][..], |live| live.route.redact.as_slice());
    DeadLetterView::of(delivery, true, redact)
}

/// `filter` as the API's query parameters (`all=true` for a bulk call without one).
fn query(filter: &DeadLetterFilter, bulk: bool) -> String {
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("route", filter.route.clone()),
        ("target", filter.target.clone()),
        ("since", filter.since_ms.map(rfc3339)),
        ("until", filter.until_ms.map(rfc3339)),
        ("reason", filter.reason.clone()),
    ] {
        if let Some(value) = value {
            pairs.append_pair(name, &value);
        }
    }
    if bulk && *filter == DeadLetterFilter::default() {
        pairs.append_pair("all", "true");
    }
    pairs.finish()
}

/// `filter` as the events list's query parameters.
fn event_query(filter: &EventFilter) -> String {
    let state = filter.state.map(|state| match state {
        DeliveryState::Pending => "pending".to_owned(),
        DeliveryState::Delivered => "delivered".to_owned(),
        DeliveryState::Dead => "dead".to_owned(),
    });
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("route", filter.route.clone()),
        ("since", filter.since_ms.map(rfc3339)),
        ("until", filter.until_ms.map(rfc3339)),
        ("state", state),
        ("dedupe_key", filter.dedupe_key.clone()),
    ] {
        if let Some(value) = value {
            pairs.append_pair(name, &value);
        }
    }
    pairs.finish()
}

/// `id` as one path segment.
fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, crate::model::percent::SEGMENT).to_string()
}
