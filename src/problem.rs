//! RFC 9457 problem details: the one shape every HTTP error hookgate sends takes.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type` hookgate emits; the suffix is the problem's slug.
pub const TYPE_PREFIX: &str = "urn:hookgate:problem:";

/// A problem to report to a client. `detail` must be safe to show the sender: it never
/// carries secrets, internal addresses or error chains (those go to the logs).
#[derive(Debug, Clone)]
pub struct Problem {
    /// Short machine name, e.g. `payload-too-large`; becomes the `type` URI.
    pub slug: &'static str,
    /// HTTP status.
    pub status: StatusCode,
    /// Human summary of this type of problem.
    pub title: &'static str,
    /// What happened to this request.
    pub detail: String,
    /// Extra response headers (`Allow`, `Retry-After`).
    pub headers: HeaderMap,
    /// Extension members (RFC 9457 §3.2), e.g. `errors` for validation failures.
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(flatten)]
    extensions: &'a serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// A problem with no extra headers.
    pub fn new(
        slug: &'static str,
        status: StatusCode,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            slug,
            status,
            title,
            detail: detail.into(),
            headers: HeaderMap::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: http::header::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Adds an extension member.
    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(name.to_owned(), value);
        self
    }

    /// Renders the problem as a response. `instance` is the request path;
    /// `request_id` lets the sender quote the request to an operator.
    pub fn into_response(self, instance: Option<&str>, request_id: Option<&str>) -> Response<Full<Bytes>> {
        let body = self.body(instance, request_id);
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }

    /// The problem document's bytes.
    pub fn body(&self, instance: Option<&str>, request_id: Option<&str>) -> Vec<u8> {
        let document = Document {
            kind: format!("{TYPE_PREFIX}{}", self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            instance,
            request_id,
            extensions: &self.extensions,
        };
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_vec(&document).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn renders_rfc_9457_fields() {
        let response = Problem::new("not-found", StatusCode::NOT_FOUND, "Not Found", "no route")
            .into_response(Some("/x"), Some("abc"));
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(value["type"], "urn:hookgate:problem:not-found");
        assert_eq!(value["title"], "Not Found");
        assert_eq!(value["status"], 404);
        assert_eq!(value["detail"], "no route");
        assert_eq!(value["instance"], "/x");
        assert_eq!(value["request_id"], "abc");
    }
}
