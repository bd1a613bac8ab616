//! Why rules refuse a request, and why one event cannot be rewritten or sent.

use crate::model::template::TemplateError;

use super::validate::Violation;

/// Why evaluating a request's rules refused it as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// Events break the route's validation, or cannot be rewritten or addressed;
    /// every problem of every event is listed.
    #[error("{} invalid event field(s)", .0.len())]
    Invalid(Vec<Violation>),
    /// The request holds more events than the route takes.
    #[error("{count} events, more than the route's limit of {max}")]
    TooManyEvents {
        /// How many the split found.
        count: usize,
        /// The route's `max_events`.
        max: usize,
    },
    /// The route dedupes on a key an event does not carry.
    #[error("dedupe key missing ({location})")]
    KeyMissing {
        /// Where the key was looked for.
        location: String,
    },
}

/// Why one event could not be rewritten, rendered or addressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A template placeholder has no value.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A `template` transform names a path the event does not have.
    #[error("`{path}` has no value in this event")]
    NoValue {
        /// The path as written.
        path: String,
    },
    /// A transform cannot write where its path points.
    #[error("{0}")]
    Write(String),
    /// A target's filled template is not a valid method, URL or header value.
    #[error("target `{target}`: {reason}")]
    Target {
        /// The target.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// The rewritten event cannot be serialised.
    #[error("cannot serialise the event: {0}")]
    Render(String),
}
