//! Body buffering: the body is read once, under the route's size limit and a read
//! deadline, and passed inward as `Bytes` so verification, hashing, decoding and every
//! target reuse the same bytes.

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::CONTENT_LENGTH;
use http::Request;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::{Layer, Service};

use super::error::IngressError;
use super::route::RouteMatch;

/// Reads the body into memory; 413 past the limit, 408 past the deadline.
#[derive(Debug, Clone)]
pub struct BodyLayer {
    default_limit: usize,
    read_timeout: Duration,
}

impl BodyLayer {
    /// `default_limit` applies to requests that matched no route (which should not
    /// reach this layer); a matched route's own `max_body` wins.
    pub fn new(default_limit: usize, read_timeout: Duration) -> Self {
        Self {
            default_limit,
            read_timeout,
        }
    }
}

impl<S> Layer<S> for BodyLayer {
    type Service = BufferBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BufferBody {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`BodyLayer`].
#[derive(Debug, Clone)]
pub struct BufferBody<S> {
    inner: S,
    layer: BodyLayer,
}

impl<S, B> Service<Request<B>> for BufferBody<S>
where
    S: Service<Request<Bytes>, Error = IngressError> + Clone + Send + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = S::Response;
    type Error = IngressError;
    type Future = BoxFuture<'static, Result<S::Response, IngressError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let limit = request
            .extensions()
            .get::<RouteMatch>()
            .map_or(self.layer.default_limit, |found| found.route.max_body);
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let read_timeout = self.layer.read_timeout;
        // Take the service that was driven to readiness; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            // Refuse before reading a byte when the sender announces too much.
            if declared.is_some_and(|length| length > limit as u64) {
                return Err(IngressError::PayloadTooLarge { limit });
            }
            let (parts, body) = request.into_parts();
            let collected = tokio::time::timeout(read_timeout, Limited::new(body, limit).collect()).await;
            let bytes = match collected {
                Err(_) => return Err(IngressError::BodyTimeout(read_timeout)),
                Ok(Err(error)) if error.is::<LengthLimitError>() => {
                    return Err(IngressError::PayloadTooLarge { limit })
                }
                Ok(Err(error)) => return Err(IngressError::BodyRead(error)),
                Ok(Ok(collected)) => collected.to_bytes(),
            };
            inner.call(Request::from_parts(parts, bytes)).await
        })
    }
}
