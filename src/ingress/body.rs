//! Body: the body is read once, under the route's size limit and the read deadline,
//! and passed inward as `Bytes` so verification, hashing, decoding and every target
//! reuse the same bytes.

use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::CONTENT_LENGTH;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::{Layer, Service};

use super::error::IngressError;
use super::{Exchange, Routed};

/// What the body stage establishes: the body is in memory, within limits.
#[derive(Debug, Clone, Copy)]
pub struct Read;

/// Reads the body into memory; 413 past the route's `max_body`, 408 past
/// `limits.body_read_timeout`.
#[derive(Debug, Clone, Default)]
pub struct BodyLayer;

impl<S> Layer<S> for BodyLayer {
    type Service = BufferBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BufferBody { inner }
    }
}

/// The service made by [`BodyLayer`].
#[derive(Debug, Clone)]
pub struct BufferBody<S> {
    inner: S,
}

impl<S, B> Service<Routed<B>> for BufferBody<S>
where
    S: Service<Exchange<Read>, Error = IngressError> + Clone + Send + 'static,
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

    fn call(&mut self, routed: Routed<B>) -> Self::Future {
        let Routed { request, matched } = routed;
        let limit = matched.route.route.max_body;
        let read_timeout = matched.snapshot.settings.limits.body_read_timeout;
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        // Take the service that was driven to readiness; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            // Refuse before reading a byte when the sender announces too much.
            if declared.is_some_and(|length| length > limit as u64) {
                return Err(IngressError::PayloadTooLarge { limit });
            }
            let (head, body) = request.into_parts();
            let collected = tokio::time::timeout(read_timeout, Limited::new(body, limit).collect()).await;
            let body = match collected {
                Err(_) => return Err(IngressError::BodyTimeout(read_timeout)),
                Ok(Err(error)) if error.is::<LengthLimitError>() => {
                    return Err(IngressError::PayloadTooLarge { limit })
                }
                Ok(Err(error)) => return Err(IngressError::BodyRead(error)),
                Ok(Ok(collected)) => collected.to_bytes(),
            };
            let exchange = Exchange {
                head,
                body,
                matched,
                stage: Read,
            };
            inner.call(exchange).await
        })
    }
}
