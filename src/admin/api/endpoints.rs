//! [`ENDPOINTS`]: every endpoint of the API with its method, path, roles, query
//! parameters and the schemas of its bodies; the router dispatches from it and the
//! OpenAPI document is generated from it.

use http::Method;
use schemars::{Schema, SchemaGenerator};

use super::subscriptions::{self, NewSubscription, SubscriptionChange, SubscriptionView};
use super::views::{Count, DeadLetterView, DeliveryView, EventView, Page, RouteView, TargetView};
use crate::model::Role;

/// Which operation an endpoint performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// The OpenAPI document.
    OpenApi,
    /// Routes, paged.
    ListRoutes,
    /// One route.
    GetRoute,
    /// Targets with their state, paged.
    ListTargets,
    /// One target with its state.
    GetTarget,
    /// Deliveries to a target wait.
    PauseTarget,
    /// Deliveries to a target go again.
    ResumeTarget,
    /// Read the config file again.
    Reload,
    /// Logged events, paged.
    ListEvents,
    /// One logged event.
    GetEvent,
    /// Dead letters, paged.
    ListDeadLetters,
    /// One dead letter.
    GetDeadLetter,
    /// One dead letter back to its queue.
    ReplayDeadLetter,
    /// Dead letters passing a filter back to their queues.
    ReplayDeadLetters,
    /// One dead letter deleted.
    DiscardDeadLetter,
    /// Dead letters passing a filter deleted.
    DiscardDeadLetters,
    /// One delivery with its attempts.
    GetDelivery,
    /// One delivery tried now.
    RetryDelivery,
    /// Subscriptions, paged.
    ListSubscriptions,
    /// One subscription.
    GetSubscription,
    /// A new subscription.
    CreateSubscription,
    /// A subscription changed (enabled, disabled, pointed elsewhere).
    UpdateSubscription,
    /// A subscription deleted.
    DeleteSubscription,
}

/// A query parameter an endpoint takes.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// One endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// Its method.
    pub method: Method,
    /// Its path under the listener, `{name}` for a path parameter.
    pub path: &'static str,
    /// The roles a token needs one of (none: no token is needed).
    pub roles: &'static [Role],
    /// What it does.
    pub operation: Operation,
    /// Its `operationId` in the document.
    pub id: &'static str,
    /// A line for the document.
    pub summary: &'static str,
    /// Its query parameters; any other is refused.
    pub query: &'static [Param],
    /// The schema of the request's JSON body, when it takes one.
    pub request: Option<fn(&mut SchemaGenerator) -> Schema>,
    /// The schema of a successful answer's body.
    pub response: fn(&mut SchemaGenerator) -> Schema,
}

/// `limit` of every list.
pub(super) const LIMIT: Param = Param {
    name: "limit",
    description: "Items per page, 1 to 1000 (default 100).",
};

/// `offset` of every list.
pub(super) const OFFSET: Param = Param {
    name: "offset",
    description: "Items to skip (default 0, at most 100000).",
};

const EVENT_LIST: &[Param] = &[
    Param {
        name: "route",
        description: "Only this route's.",
    },
    Param {
        name: "since",
        description: "Received at or after: RFC 3339, or a duration ago (`2h`).",
    },
    Param {
        name: "until",
        description: "Received before: RFC 3339, or a duration ago.",
    },
    Param {
        name: "state",
        description: "`pending`, `delivered` or `dead`.",
    },
    Param {
        name: "dedupe_key",
        description: "Only the event with this dedupe key.",
    },
    LIMIT,
    OFFSET,
    Param {
        name: "sort",
        description: "`received_at` (default: oldest first) or `-received_at`.",
    },
];

const DEAD_LETTER_FILTER: [Param; 5] = [
    Param {
        name: "route",
        description: "Only this route's.",
    },
    Param {
        name: "target",
        description: "Only this target's.",
    },
    Param {
        name: "since",
        description: "Dead-lettered at or after: RFC 3339, or a duration ago (`2h`).",
    },
    Param {
        name: "until",
        description: "Dead-lettered before: RFC 3339, or a duration ago.",
    },
    Param {
        name: "reason",
        description: "Only those whose reason contains this text (any case).",
    },
];

const DEAD_LETTER_LIST: &[Param] = &[
    DEAD_LETTER_FILTER[0],
    DEAD_LETTER_FILTER[1],
    DEAD_LETTER_FILTER[2],
    DEAD_LETTER_FILTER[3],
    DEAD_LETTER_FILTER[4],
    LIMIT,
    OFFSET,
    Param {
        name: "sort",
        description: "`dead_at` (default: oldest first) or `-dead_at`.",
    },
];

const DEAD_LETTER_BULK: &[Param] = &[
    DEAD_LETTER_FILTER[0],
    DEAD_LETTER_FILTER[1],
    DEAD_LETTER_FILTER[2],
    DEAD_LETTER_FILTER[3],
    DEAD_LETTER_FILTER[4],
    Param {
        name: "all",
        description: "`true` to act on every dead letter when no filter is given.",
    },
];

const PAGING: &[Param] = &[
    LIMIT,
    OFFSET,
    Param {
        name: "sort",
        description: "`name` (default) or `-name`.",
    },
];

/// Every endpoint of the API.
pub static ENDPOINTS: [Endpoint; 24] = [
    Endpoint {
        method: Method::GET,
        path: "/api/v1/openapi.json",
        roles: &[],
        operation: Operation::OpenApi,
        id: "openApi",
        summary: "This document.",
        query: &[],
        request: None,
        response: |_| schemars::json_schema!({ "type": "object" }),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/routes",
        roles: &[Role::Viewer],
        operation: Operation::ListRoutes,
        id: "listRoutes",
        summary: "The routes of the config in use, paged.",
        query: PAGING,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<RouteView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/routes/{name}",
        roles: &[Role::Viewer],
        operation: Operation::GetRoute,
        id: "getRoute",
        summary: "One route.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<RouteView>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/targets",
        roles: &[Role::Viewer],
        operation: Operation::ListTargets,
        id: "listTargets",
        summary: "The targets of the config in use with their breaker, queue, dead letters and last error, paged.",
        query: PAGING,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<TargetView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/targets/{name}",
        roles: &[Role::Viewer],
        operation: Operation::GetTarget,
        id: "getTarget",
        summary: "One target with its state.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<TargetView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/targets/{name}/pause",
        roles: &[Role::Operator],
        operation: Operation::PauseTarget,
        id: "pauseTarget",
        summary: "Deliveries to the target wait, spending no attempts, on every instance sharing the store (within a second), across restarts; attempts in flight finish.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<TargetView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/targets/{name}/resume",
        roles: &[Role::Operator],
        operation: Operation::ResumeTarget,
        id: "resumeTarget",
        summary: "Deliveries to the target go again, oldest due first.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<TargetView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/reload",
        roles: &[Role::Admin],
        operation: Operation::Reload,
        id: "reload",
        summary: "Read the config file again; an invalid one changes nothing (422), one changing restart-only keys is refused (409).",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<crate::admin::Reloaded>,
    },
    Endpoint {
        method: Method::POST,
        path: "/reload",
        roles: &[Role::Admin],
        operation: Operation::Reload,
        id: "reloadAtRoot",
        summary: "The same as `POST /api/v1/reload` (what `hookgate reload` calls).",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<crate::admin::Reloaded>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/events",
        roles: &[Role::Viewer],
        operation: Operation::ListEvents,
        id: "listEvents",
        summary: "Admitted events in the log (kept for `store.retention`), oldest first, with their deliveries' states; bodies for the operator role only.",
        query: EVENT_LIST,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<EventView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/events/{id}",
        roles: &[Role::Viewer],
        operation: Operation::GetEvent,
        id: "getEvent",
        summary: "One logged event.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<EventView>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/dead-letters",
        roles: &[Role::Viewer],
        operation: Operation::ListDeadLetters,
        id: "listDeadLetters",
        summary: "Dead letters passing the filter, paged; bodies and answer excerpts for the operator role only.",
        query: DEAD_LETTER_LIST,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<DeadLetterView>>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/dead-letters/{id}",
        roles: &[Role::Viewer],
        operation: Operation::GetDeadLetter,
        id: "getDeadLetter",
        summary: "One dead letter.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<DeadLetterView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/dead-letters/{id}/replay",
        roles: &[Role::Operator],
        operation: Operation::ReplayDeadLetter,
        id: "replayDeadLetter",
        summary: "Put one dead letter back in its queue, due now, attempts reset.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/dead-letters/replay",
        roles: &[Role::Operator],
        operation: Operation::ReplayDeadLetters,
        id: "replayDeadLetters",
        summary: "Put every dead letter passing the filter back in its queue (`all=true` without a filter).",
        query: DEAD_LETTER_BULK,
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
    Endpoint {
        method: Method::DELETE,
        path: "/api/v1/dead-letters/{id}",
        roles: &[Role::Operator],
        operation: Operation::DiscardDeadLetter,
        id: "discardDeadLetter",
        summary: "Delete one dead letter for good.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/dead-letters/discard",
        roles: &[Role::Operator],
        operation: Operation::DiscardDeadLetters,
        id: "discardDeadLetters",
        summary: "Delete every dead letter passing the filter for good (`all=true` without a filter).",
        query: DEAD_LETTER_BULK,
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/deliveries/{id}",
        roles: &[Role::Viewer],
        operation: Operation::GetDelivery,
        id: "getDelivery",
        summary: "One delivery (ids are in events and dead letters): its state, next attempt and every attempt made, with time, status, duration, error and (for operators) the answer's start.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<DeliveryView>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/deliveries/{id}/retry",
        roles: &[Role::Operator],
        operation: Operation::RetryDelivery,
        id: "retryDelivery",
        summary: "Try a delivery now: one waiting out a retry's backoff becomes due at once, a dead one is replayed (attempts reset). A delivery already due or delivered is 409.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<DeliveryView>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/subscriptions",
        roles: &[Role::Viewer, Role::Subscriptions],
        operation: Operation::ListSubscriptions,
        id: "listSubscriptions",
        summary: "Subscriptions (of the token's routes, for a scoped `subscriptions` token), oldest first, paged.",
        query: subscriptions::LIST,
        request: None,
        response: SchemaGenerator::subschema_for::<Page<SubscriptionView>>,
    },
    Endpoint {
        method: Method::POST,
        path: "/api/v1/subscriptions",
        roles: &[Role::Subscriptions],
        operation: Operation::CreateSubscription,
        id: "createSubscription",
        summary: "Register a subscription (201): every later event of its route passing its filter is delivered to its URL, on every instance within a second. The URL must be https and resolve to public addresses (or allowed ones).",
        query: &[],
        request: Some(SchemaGenerator::subschema_for::<NewSubscription>),
        response: SchemaGenerator::subschema_for::<SubscriptionView>,
    },
    Endpoint {
        method: Method::GET,
        path: "/api/v1/subscriptions/{id}",
        roles: &[Role::Viewer, Role::Subscriptions],
        operation: Operation::GetSubscription,
        id: "getSubscription",
        summary: "One subscription.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<SubscriptionView>,
    },
    Endpoint {
        method: Method::PATCH,
        path: "/api/v1/subscriptions/{id}",
        roles: &[Role::Subscriptions],
        operation: Operation::UpdateSubscription,
        id: "updateSubscription",
        summary: "Change a subscription: enable or disable it (`is_active`), or give it a new URL, method, headers, filter or description.",
        query: &[],
        request: Some(SchemaGenerator::subschema_for::<SubscriptionChange>),
        response: SchemaGenerator::subschema_for::<SubscriptionView>,
    },
    Endpoint {
        method: Method::DELETE,
        path: "/api/v1/subscriptions/{id}",
        roles: &[Role::Subscriptions],
        operation: Operation::DeleteSubscription,
        id: "deleteSubscription",
        summary: "Delete a subscription: it receives no new events; what is queued for it is still sent.",
        query: &[],
        request: None,
        response: SchemaGenerator::subschema_for::<Count>,
    },
];
