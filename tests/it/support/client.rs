//! A small HTTP client for tests: sends one request, returns status, headers and body.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A response as a test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Asserts this is an RFC 9457 problem with `status` and `slug`, and returns it.
    pub fn assert_problem(&self, status: u16, slug: &str) -> serde_json::Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "status; body: {:?}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let problem = self.json();
        assert_eq!(
            problem["type"],
            format!("urn:hookgate:problem:{slug}"),
            "{problem}"
        );
        assert_eq!(problem["status"], status, "{problem}");
        assert!(
            problem["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{problem}"
        );
        assert!(
            problem["detail"].as_str().is_some_and(|t| !t.is_empty()),
            "{problem}"
        );
        let id = self
            .header("x-request-id")
            .expect("x-request-id on a problem response");
        assert_eq!(problem["request_id"], id, "{problem}");
        problem
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// Sends a request with a fixed-length body.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let body = Full::new(body.into()).boxed();
    request(method, url, headers, body, false).await
}

/// Sends a POST with a JSON body.
pub async fn post_json(url: &str, body: impl Into<Bytes>) -> Reply {
    send(Method::POST, url, &[("content-type", "application/json")], body).await
}

/// Sends a POST whose body is streamed in `chunks` (chunked, no `Content-Length`).
pub async fn post_chunked(url: &str, headers: &[(&str, &str)], chunks: Vec<Bytes>) -> Reply {
    let stream = futures_util::stream::iter(chunks.into_iter().map(|c| Ok::<_, Infallible>(Frame::data(c))));
    request(Method::POST, url, headers, StreamBody::new(stream).boxed(), false).await
}

/// Sends a POST over HTTP/2 with prior knowledge (h2c).
pub async fn post_h2c(url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    request(Method::POST, url, headers, Full::new(body.into()).boxed(), true).await
}

async fn request(method: Method, url: &str, headers: &[(&str, &str)], body: Body, h2: bool) -> Reply {
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).http2_only(h2).build_http();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(body).unwrap())
        .await
        .expect("request to hookgate");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}
