//! `/api/v1/subscriptions`: targets registered at run time, the Open Bank Project
//! way. A subscription names a route, a URL and optionally an RFC 9535 filter; every
//! event of the route that passes the filter becomes a delivery to the URL, with the
//! retries, breaker, signing and dead letters of the config's `subscriptions:`
//! policy. They live in the store, so every instance sharing it serves a change
//! within a second; this instance serves it before answering.
//!
//! A token with the `subscriptions` role and `routes` manages only those routes'
//! subscriptions and sees only those.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::query::Query;
use super::views::{masked_url, rfc3339, Count};
use super::{bad_field, changed, json, not_found, store_problem, Operation};
use crate::admin::Parts;
use crate::model::{now_ms, AdminToken, Role, Subscription};
use crate::problem::Problem;
use crate::registry::{LiveSubscription, Snapshot};

/// How long resolving a subscription's host at create time may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest description kept.
const MAX_DESCRIPTION: usize = 1000;

/// A new subscription.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// The route whose events it receives.
    pub route: String,
    /// Where they are sent: an absolute `https://` URL whose host resolves to public
    /// addresses (or ones on `subscriptions.allow_addresses`).
    pub url: String,
    /// `POST` (default), `PUT`, `PATCH` or `DELETE`.
    pub method: Option<String>,
    /// Headers added to every request (at most 20), e.g. a key the receiver checks.
    /// Their values are never shown again.
    pub headers: Option<BTreeMap<String, String>>,
    /// An RFC 9535 filter over the event, as in rules' `when`, e.g.
    /// `@.bank_id == 'gh.29.uk' && @.event_name == 'OnBalanceChange'`. Absent: every
    /// event of the route.
    pub filter: Option<String>,
    /// Whether events are sent to it (default true).
    pub is_active: Option<bool>,
    /// What it is for (at most 1000 characters).
    pub description: Option<String>,
}

/// Changes to a subscription: only the fields given change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionChange {
    /// A new URL, checked as at creation.
    pub url: Option<String>,
    /// A new method.
    pub method: Option<String>,
    /// New headers, replacing all of the old ones.
    pub headers: Option<BTreeMap<String, String>>,
    /// A new filter; `""` removes it.
    pub filter: Option<String>,
    /// Enable (`true`) or disable (`false`) it: a disabled subscription receives no
    /// new events (what is queued for it is still sent).
    pub is_active: Option<bool>,
    /// A new description.
    pub description: Option<String>,
}

/// A subscription as the API shows it: header values masked, and the URL's
/// password and query values too.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SubscriptionView {
    /// Its id.
    pub id: String,
    /// The route whose events it receives.
    pub route: String,
    /// Where they are sent (password and query values masked).
    pub url: String,
    /// The method they are sent with.
    pub method: String,
    /// Header names, each value shown as `***`.
    pub headers: BTreeMap<String, String>,
    /// Its filter, if any.
    pub filter: Option<String>,
    /// Whether events are sent to it.
    pub is_active: bool,
    /// What it is for.
    pub description: String,
    /// The admin token that created it.
    pub created_by: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Its target's name, as `targets`, `dead-letters` and metrics name it.
    pub target: String,
}

impl SubscriptionView {
    fn of(subscription: &Subscription) -> Self {
        let url = subscription
            .url
            .parse::<http::Uri>()
            .map_or_else(|_| subscription.url.clone(), |uri| masked_url(&uri));
        Self {
            id: subscription.id.clone(),
            route: subscription.route.clone(),
            url,
            method: subscription.method.clone(),
            headers: subscription
                .headers
                .keys()
                .map(|name| (name.clone(), "***".to_owned()))
                .collect(),
            filter: subscription.filter.clone(),
            is_active: subscription.is_active,
            description: subscription.description.clone(),
            created_by: subscription.created_by.clone(),
            created_at: rfc3339(subscription.created_at_ms),
            updated_at: rfc3339(subscription.updated_at_ms),
            target: subscription.target_name(),
        }
    }
}

/// The parameters of the list.
pub const LIST: &[super::Param] = &[
    super::Param {
        name: "route",
        description: "Only this route's.",
    },
    super::Param {
        name: "is_active",
        description: "`true`: only enabled ones; `false`: only disabled ones.",
    },
    super::endpoints::LIMIT,
    super::endpoints::OFFSET,
    super::Param {
        name: "sort_direction",
        description: "`asc` (default: oldest first) or `desc`.",
    },
    super::Param {
        name: "sort",
        description: "`created_at` (default: oldest first) or `-created_at`, as for other lists.",
    },
];

/// Answers a subscription call; `id` is the path's, `body` the request's.
pub(super) async fn handle(
    operation: Operation,
    parts: &Parts,
    caller: &AdminToken,
    query: &Query,
    id: &str,
    body: &Bytes,
) -> Result<Response<Full<Bytes>>, Box<Problem>> {
    let snapshot = parts.registry.snapshot();
    let stored = || async {
        let mut all = parts.store.subscriptions().await.map_err(store_problem)?;
        all.retain(|subscription| may_see(caller, &subscription.route));
        Ok::<_, Box<Problem>>(all)
    };
    match operation {
        Operation::ListSubscriptions => {
            let route = query.value("route");
            let active = match query.value("is_active") {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(other) => {
                    return Err(super::bad_parameter(
                        "is_active",
                        format!("expected `true` or `false`, found `{other}`"),
                    ))
                }
            };
            let mut all = stored().await?;
            all.retain(|subscription| {
                route.is_none_or(|route| subscription.route == route)
                    && active.is_none_or(|active| subscription.is_active == active)
            });
            let views: Vec<SubscriptionView> = all.iter().map(SubscriptionView::of).collect();
            json(&query.page(views, |view| view.id.clone()))
        }
        Operation::GetSubscription => {
            let subscription = find(stored().await?, id)?;
            json(&SubscriptionView::of(&subscription))
        }
        Operation::CreateSubscription => {
            let new: NewSubscription = parse(body)?;
            may_manage(caller, &new.route)?;
            if snapshot.route(&new.route).is_none() {
                return Err(bad_field("route", format!("no route is named `{}`", new.route)));
            }
            let count = parts.store.subscriptions().await.map_err(store_problem)?.len();
            if count >= snapshot.policy.max {
                return Err(Box::new(Problem::new(
                    "too-many-subscriptions",
                    StatusCode::CONFLICT,
                    "Too Many Subscriptions",
                    format!(
                        "{count} subscriptions exist, the most `subscriptions.max` allows; delete some or raise it"
                    ),
                )));
            }
            let now = now_ms();
            let subscription = Subscription {
                id: uuid::Uuid::now_v7().to_string(),
                route: new.route,
                url: new.url,
                method: new.method.unwrap_or_else(|| "POST".to_owned()),
                headers: new.headers.unwrap_or_default(),
                filter: new.filter.filter(|filter| !filter.trim().is_empty()),
                is_active: new.is_active.unwrap_or(true),
                description: new.description.unwrap_or_default(),
                created_by: caller.name.clone(),
                created_at_ms: now,
                updated_at_ms: now,
            };
            save(parts, &snapshot, &subscription).await?;
            changed(
                &caller.name,
                "subscription",
                &format!("created {}", subscription.id),
            );
            let mut response = json(&SubscriptionView::of(&subscription))?;
            *response.status_mut() = StatusCode::CREATED;
            if let Ok(location) = format!("/api/v1/subscriptions/{}", subscription.id).parse() {
                response.headers_mut().insert(http::header::LOCATION, location);
            }
            Ok(response)
        }
        Operation::UpdateSubscription => {
            let change: SubscriptionChange = parse(body)?;
            let mut subscription = find(stored().await?, id)?;
            may_manage(caller, &subscription.route)?;
            if let Some(url) = change.url {
                subscription.url = url;
            }
            if let Some(method) = change.method {
                subscription.method = method;
            }
            if let Some(headers) = change.headers {
                subscription.headers = headers;
            }
            if let Some(filter) = change.filter {
                subscription.filter = Some(filter).filter(|filter| !filter.trim().is_empty());
            }
            if let Some(active) = change.is_active {
                subscription.is_active = active;
            }
            if let Some(description) = change.description {
                subscription.description = description;
            }
            subscription.updated_at_ms = now_ms().max(subscription.created_at_ms);
            save(parts, &snapshot, &subscription).await?;
            changed(&caller.name, "subscription", &format!("updated {id}"));
            json(&SubscriptionView::of(&subscription))
        }
        Operation::DeleteSubscription => {
            let subscription = find(stored().await?, id)?;
            may_manage(caller, &subscription.route)?;
            let deleted = parts.store.delete_subscription(id).await.map_err(store_problem)?;
            refresh(parts).await?;
            changed(&caller.name, "subscription", &format!("deleted {id}"));
            json(&Count {
                count: u64::from(deleted),
            })
        }
        _ => unreachable!("only subscription operations are routed here"),
    }
}

/// Checks `subscription` as the running config would serve it, the address guard
/// included, then stores it and serves it here before answering.
async fn save(parts: &Parts, snapshot: &Snapshot, subscription: &Subscription) -> Result<(), Box<Problem>> {
    if subscription.description.chars().count() > MAX_DESCRIPTION {
        return Err(bad_field(
            "description",
            format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
    let live = LiveSubscription::build(subscription.clone(), &snapshot.policy)
        .map_err(|(field, message)| bad_field(&field, message))?;
    guard(parts, &live.target.url).await?;
    parts
        .store
        .put_subscription(subscription)
        .await
        .map_err(store_problem)?;
    refresh(parts).await
}

/// Serves the store's subscriptions here now.
async fn refresh(parts: &Parts) -> Result<(), Box<Problem>> {
    parts
        .reloader
        .refresh_subscriptions()
        .await
        .map_err(store_problem)
}

/// Refuses a URL whose host is, or resolves to, an address the guard refuses, or
/// does not resolve at all.
async fn guard(parts: &Parts, url: &http::Uri) -> Result<(), Box<Problem>> {
    let host = url.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let port = url.port_u16().unwrap_or(443);
            let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((bare, port))).await;
            match resolved {
                Ok(Ok(found)) => found.map(|address| address.ip()).collect(),
                Ok(Err(error)) => {
                    return Err(bad_field("url", format!("`{host}` does not resolve: {error}")));
                }
                Err(_) => {
                    return Err(bad_field(
                        "url",
                        format!("`{host}` did not resolve within {}s", RESOLVE_TIMEOUT.as_secs()),
                    ))
                }
            }
        }
    };
    let guard = parts.dispatcher.guard();
    for address in &addresses {
        if let Some(kind) = guard.refuses(*address) {
            return Err(bad_field(
                "url",
                format!(
                    "`{host}` resolves to {address}, a {kind} address; subscriptions may only point to public addresses, or to networks listed in `subscriptions.allow_addresses`"
                ),
            ));
        }
    }
    if addresses.is_empty() {
        return Err(bad_field("url", format!("`{host}` resolves to no address")));
    }
    Ok(())
}

/// Reads a JSON body as `T`; a problem names the field at fault.
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Box<Problem>> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("expected a JSON object: {message}")
        } else {
            message
        };
        bad_field(&field, message)
    })
}

/// The subscription `id` among `all`, or 404.
fn find(all: Vec<Subscription>, id: &str) -> Result<Subscription, Box<Problem>> {
    all.into_iter()
        .find(|subscription| subscription.id == id)
        .ok_or_else(|| Box::new(not_found("subscription", id)))
}

/// Whether `caller` may see subscriptions of `route`: every token may, except one
/// whose only say over subscriptions is scoped to other routes.
fn may_see(caller: &AdminToken, route: &str) -> bool {
    caller.allows(Role::Viewer) || caller.routes.is_empty() || caller.routes.iter().any(|r| r == route)
}

/// Refuses `caller` the subscriptions of `route` if its token is scoped to others.
fn may_manage(caller: &AdminToken, route: &str) -> Result<(), Box<Problem>> {
    if caller.allows(Role::Admin) || caller.routes.is_empty() || caller.routes.iter().any(|r| r == route) {
        return Ok(());
    }
    Err(Box::new(Problem::new(
        "forbidden",
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "Token `{}` manages subscriptions of {} only, not of route `{route}`.",
            caller.name,
            caller.routes.join(", ")
        ),
    )))
}
