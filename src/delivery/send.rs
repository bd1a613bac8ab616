//! One attempt against a target: send, read the response under a size limit, all
//! within the target's timeout.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};

use super::client::HttpClient;
use super::request::AttemptSpan;
use crate::otlp;

/// Why an attempt produced no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No complete response within the target's timeout.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// The connection could not be established (refused, DNS, TLS). Shown with its
    /// causes, down to the OS error: `connect failed: client error (Connect): tcp
    /// connect error: Connection refused (os error 111)`.
    #[error("connect failed: {}", causes(.0))]
    Connect(hyper_util::client::legacy::Error),
    /// The connection failed after it was established (reset, closed early).
    #[error("connection failed: {}", causes(&**.0))]
    Transport(Box<dyn std::error::Error + Send + Sync>),
    /// The response body exceeded the relay limit.
    #[error("response body larger than {0} bytes")]
    ResponseTooLarge(usize),
    /// The request could not be built (a bad header from a template, say).
    #[error("invalid request")]
    Invalid(#[source] http::Error),
}

/// `error` and each of its sources, joined by `: `.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their source in their own message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl SendError {
    /// Whether the target failed to answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendError::Timeout(_))
    }
}

/// Sends `request` and reads the whole response; an attempt at a target (see
/// [`AttemptSpan`]) is exported as a client span when its trace is sampled.
pub async fn send(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    timeout: Duration,
    max_body: usize,
) -> Result<Response<Bytes>, SendError> {
    let span = request
        .extensions()
        .get::<AttemptSpan>()
        .filter(|span| span.context.sampled() && otlp::enabled())
        .cloned();
    let Some(span) = span else {
        return exchange(client, request, timeout, max_body).await;
    };
    let (method, host) = (
        request.method().clone(),
        request.uri().host().unwrap_or("").to_owned(),
    );
    let start = SystemTime::now();
    let result = exchange(client, request, timeout, max_body).await;
    let mut attributes = vec![
        ("http.request.method", otlp::Value::Text(method.to_string())),
        ("server.address", otlp::Value::Text(host)),
        ("hookgate.target", otlp::Value::Text(span.target.clone())),
        ("hookgate.delivery_id", otlp::Value::Text(span.delivery_id)),
        ("hookgate.attempt", otlp::Value::Int(span.attempt.into())),
    ];
    let error = match &result {
        Ok(response) => {
            let status = response.status();
            attributes.push((
                "http.response.status_code",
                otlp::Value::Int(status.as_u16().into()),
            ));
            (status.is_client_error() || status.is_server_error()).then(|| status.to_string())
        }
        Err(error) => Some(error.to_string()),
    };
    otlp::export(otlp::Span {
        kind: otlp::Kind::Client,
        name: format!("{method} {}", span.target),
        context: span.context,
        parent: Some(span.parent),
        start,
        end: SystemTime::now(),
        attributes,
        error,
    });
    result
}

/// One request and its whole response, within `timeout`.
async fn exchange(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    timeout: Duration,
    max_body: usize,
) -> Result<Response<Bytes>, SendError> {
    let attempt = async {
        let response = client.request(request).await.map_err(|error| {
            if error.is_connect() {
                SendError::Connect(error)
            } else {
                SendError::Transport(Box::new(error))
            }
        })?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, max_body).collect().await.map_err(|error| {
            if error.is::<LengthLimitError>() {
                SendError::ResponseTooLarge(max_body)
            } else {
                SendError::Transport(error)
            }
        })?;
        Ok(Response::from_parts(parts, body.to_bytes()))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(SendError::Timeout(timeout)))
}
