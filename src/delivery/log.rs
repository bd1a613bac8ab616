//! The lines logged about one delivery. Each names the delivery itself (id, trace,
//! request, route, target): the per-delivery span that would carry those fields is
//! created only at debug, since at info it would cost more than the lines it frames.

use crate::model::trace::TraceParent;

/// Logs one line about `$delivery` (a `Delivery`) at `$level`, made by `$worker`
/// (anything with a `name`), followed by the line's own fields and message.
macro_rules! delivery_log {
    ($level:expr, $worker:expr, $delivery:expr, $($rest:tt)+) => {
        tracing::event!(
            $level,
            delivery_id = %$delivery.id,
            trace_id = %$crate::delivery::log::TraceIdIn(&$delivery.headers),
            request_id = %$delivery.request_id,
            route = %$delivery.route,
            target_name = %$worker.name,
            $($rest)+
        )
    };
}
pub(crate) use delivery_log;

/// The trace id of a delivery's `traceparent` header (empty when it has none),
/// found and written only when a line is.
pub struct TraceIdIn<'a>(pub &'a [(String, String)]);

impl std::fmt::Display for TraceIdIn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parent = self
            .0
            .iter()
            .find(|(name, _)| name == "traceparent")
            .and_then(|(_, value)| TraceParent::parse(value));
        match parent {
            Some(parent) => parent.shown_trace_id().fmt(f),
            None => Ok(()),
        }
    }
}
