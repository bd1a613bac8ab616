//! Why the ingress stack refused or failed a request, whose fault it was, whether the
//! sender may retry, and the problem each reason is shown to the sender as. The
//! messages here go to logs; senders see [`Problem`]s.

use http::header::{HeaderValue, ALLOW};
use http::{Method, StatusCode};

use crate::delivery::SendError;
use crate::problem::Problem;
use crate::rules::RulesError;
use crate::store::{ErrorKind, StoreError};

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The sender's request is wrong; hookgate is fine.
    Sender,
    /// hookgate or its store failed.
    Hookgate,
    /// The primary target (`sync` mode) failed.
    Target,
}

/// A request the ingress stack did not forward, or whose primary target failed.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// The request target is longer than hookgate reads.
    #[error("request target longer than {limit} bytes")]
    UriTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The header section is larger, or has more fields, than hookgate reads.
    #[error("header section over {bytes} bytes or {fields} fields")]
    HeadersTooLarge {
        /// Most fields.
        fields: usize,
        /// Most bytes.
        bytes: usize,
    },
    /// No route has this path.
    #[error("no route matches the path")]
    RouteNotFound,
    /// A route has this path but not this method.
    #[error("method not allowed; allowed: {allow:?}")]
    MethodNotAllowed {
        /// The methods routes accept for this path.
        allow: Vec<Method>,
    },
    /// The body is larger than the route accepts.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The sender did not finish the body in time.
    #[error("body not received within {0:?}")]
    BodyTimeout(std::time::Duration),
    /// The connection failed while the body was read.
    #[error("reading the body failed: {0}")]
    BodyRead(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A check of the route's `auth` failed (which one is logged, not answered).
    #[error("not authenticated")]
    Unauthenticated,
    /// The route wants JSON and the request declares something else.
    #[error("unsupported content type {found:?}")]
    UnsupportedMediaType {
        /// The declared `content-type`, if any.
        found: Option<String>,
    },
    /// The body is not valid JSON.
    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    InvalidJson {
        /// 1-based line of the first error.
        line: usize,
        /// 1-based column of the first error.
        column: usize,
        /// serde_json's description, which holds no body content.
        reason: String,
    },
    /// The route's rules refuse the request's events.
    #[error(transparent)]
    Rules(RulesError),
    /// The store did not admit the deliveries (down, slower than `admit_timeout`, or
    /// refusing them).
    #[error("the store did not admit the request")]
    Store(#[source] StoreError),
    /// The primary target could not be reached or did not answer properly.
    #[error("primary target `{target}` failed")]
    Primary {
        /// The target's name.
        target: String,
        /// What went wrong.
        #[source]
        source: SendError,
    },
}

impl IngressError {
    /// Whose fault it is.
    pub fn fault(&self) -> Fault {
        match self {
            IngressError::Store(_) => Fault::Hookgate,
            IngressError::Primary { .. } => Fault::Target,
            _ => Fault::Sender,
        }
    }

    /// Whether the same request may succeed later: the sender should retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            IngressError::Store(error) => error.is_retryable(),
            IngressError::Primary { .. } | IngressError::BodyTimeout(_) | IngressError::BodyRead(_) => true,
            _ => false,
        }
    }

    /// The problem the sender is shown. Details that could reveal internals (target
    /// names, addresses, error chains) stay in the logs.
    pub fn problem(&self) -> Problem {
        match self {
            IngressError::UriTooLong { limit } => Problem::new(
                "uri-too-long",
                StatusCode::URI_TOO_LONG,
                "URI Too Long",
                format!("The request target exceeds {limit} bytes."),
            ),
            IngressError::HeadersTooLarge { fields, bytes } => Problem::new(
                "headers-too-large",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request Header Fields Too Large",
                format!("The header section exceeds {bytes} bytes or {fields} fields."),
            ),
            IngressError::RouteNotFound => Problem::new(
                "route-not-found",
                StatusCode::NOT_FOUND,
                "Not Found",
                "No route is configured for this path.",
            ),
            IngressError::MethodNotAllowed { allow } => {
                let list = allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                let problem = Problem::new(
                    "method-not-allowed",
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method Not Allowed",
                    format!("This path accepts {list}."),
                );
                match HeaderValue::try_from(list) {
                    Ok(value) => problem.with_header(ALLOW, value),
                    Err(_) => problem,
                }
            }
            IngressError::PayloadTooLarge { limit } => Problem::new(
                "payload-too-large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Content Too Large",
                format!("The body exceeds this route's limit of {limit} bytes."),
            ),
            IngressError::BodyTimeout(after) => Problem::new(
                "body-timeout",
                StatusCode::REQUEST_TIMEOUT,
                "Request Timeout",
                format!("The body was not received within {} s.", after.as_secs_f64()),
            ),
            IngressError::BodyRead(_) => Problem::new(
                "body-read-failed",
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "The request body could not be read.",
            ),
            IngressError::Unauthenticated => Problem::new(
                "unauthenticated",
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "The request could not be authenticated.",
            ),
            IngressError::UnsupportedMediaType { found } => Problem::new(
                "unsupported-media-type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                match found {
                    Some(found) => {
                        format!("This route accepts application/json; the request declares `{found}`.")
                    }
                    None => "This route accepts application/json; the request declares no content-type."
                        .to_owned(),
                },
            ),
            IngressError::InvalidJson { line, column, reason } => Problem::new(
                "invalid-json",
                StatusCode::BAD_REQUEST,
                "Invalid JSON",
                format!("The body is not valid JSON: {reason} at line {line}, column {column}."),
            ),
            IngressError::Rules(RulesError::Invalid(violations)) => Problem::new(
                "invalid-event",
                StatusCode::BAD_REQUEST,
                "Invalid Event",
                format!(
                    "{} problem{} in the request's events; none was accepted.",
                    violations.len(),
                    if violations.len() == 1 { "" } else { "s" }
                ),
            )
            .with_extension("errors", serde_json::to_value(violations).unwrap_or_default()),
            IngressError::Rules(RulesError::TooManyEvents { count, max }) => Problem::new(
                "too-many-events",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Content Too Large",
                format!("The request holds {count} events; this route takes at most {max} per request."),
            ),
            IngressError::Rules(RulesError::KeyMissing { location }) => Problem::new(
                "dedupe-key-missing",
                StatusCode::BAD_REQUEST,
                "Bad Request",
                format!("The event has no id where this route expects one ({location})."),
            ),
            IngressError::Store(error) if error.kind() == ErrorKind::Unavailable => Problem::new(
                "store-unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "The webhook was not accepted because it could not be stored; retry later.",
            )
            .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("5")),
            IngressError::Store(_) => Problem::new(
                "store-rejected",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "The webhook was not accepted: the store refused to keep it, and retrying will not help until an operator fixes the store. The log has the reason under this request id.",
            ),
            IngressError::Primary { source, .. } if source.is_timeout() => Problem::new(
                "target-timeout",
                StatusCode::GATEWAY_TIMEOUT,
                "Gateway Timeout",
                "The backend did not answer in time.",
            ),
            IngressError::Primary { .. } => Problem::new(
                "target-unreachable",
                StatusCode::BAD_GATEWAY,
                "Bad Gateway",
                "The backend could not be reached or gave no valid answer.",
            ),
        }
    }
}
