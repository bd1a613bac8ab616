//! Where an event goes: a target's URL, method and header templates filled for it.
//! A missing value, or a result that is not a valid URL, method or header value, is
//! an error for that event.

use std::sync::Arc;

use http::{HeaderValue, Method, Uri};

use super::error::EventError;
use crate::model::template::Scope;
use crate::model::{Destination, Target};

/// `target` addressed for the event in `scope`; without a method of its own, the
/// target gets the inbound request's `method`.
pub fn destination(
    target: &Arc<Target>,
    method: &Method,
    scope: Scope<'_>,
) -> Result<Destination, EventError> {
    let invalid = |reason: String| EventError::Target {
        target: target.name.clone(),
        reason,
    };
    let method = match &target.method {
        None => method.clone(),
        Some(template) => {
            let text = template.render(scope)?.to_ascii_uppercase();
            Method::from_bytes(text.as_bytes())
                .map_err(|_| invalid(format!("`{text}` is not an HTTP method")))?
        }
    };
    let url = match &target.url_template {
        None => target.url.clone(),
        Some(template) => {
            let text = template.render_url(scope)?;
            text.parse::<Uri>()
                .ok()
                .filter(|uri| uri.host().is_some())
                .ok_or_else(|| invalid(format!("`{text}` is not a valid URL")))?
        }
    };
    let headers = target
        .header_templates
        .iter()
        .map(|(name, template)| {
            let text = template.render(scope)?;
            HeaderValue::try_from(text)
                .map(|value| (name.clone(), value))
                .map_err(|_| invalid(format!("header `{name}` would not be a valid header value")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Destination {
        target: target.clone(),
        method,
        url,
        headers,
    })
}
