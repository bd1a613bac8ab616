//! Rescue: the one place an [`IngressError`] becomes an RFC 9457 problem response.
//! The full error goes to the log with the request id; the sender gets the generic
//! problem and the request id to quote.

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, Service};

use super::error::{Fault, IngressError};
use super::request_id;
use super::trace::MatchedRoute;

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct RescueLayer;

impl<S> Layer<S> for RescueLayer {
    type Service = Rescue<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Rescue { inner }
    }
}

/// The service made by [`RescueLayer`].
#[derive(Debug, Clone)]
pub struct Rescue<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Rescue<S>
where
    S: Service<Request<B>, Response = Response<Full<Bytes>>, Error = IngressError>,
    S::Future: Send + 'static,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(error)) => {
                // Our inner services never fail readiness; should one start to, its
                // error surfaces on the call instead.
                tracing::warn!(%error, "ingress service not ready");
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let request_id = request_id(request.headers()).map(str::to_owned);
        let path = request.uri().path().to_owned();
        let seen = request
            .extensions()
            .get::<MatchedRoute>()
            .cloned()
            .unwrap_or_default();
        let future = self.inner.call(request);
        Box::pin(async move {
            match future.await {
                Ok(response) => Ok(response),
                Err(error) => {
                    let problem = error.problem();
                    let status = problem.status.as_u16();
                    let retryable = error.is_retryable();
                    let (logged_id, logged_path) = (request_id.as_deref().unwrap_or(""), seen.path(&path));
                    match error.fault() {
                        Fault::Sender => tracing::info!(
                            request_id = logged_id,
                            path = logged_path,
                            route = seen.route(),
                            status,
                            error = %error,
                            "request refused"
                        ),
                        fault => tracing::warn!(
                            request_id = logged_id,
                            path = logged_path,
                            route = seen.route(),
                            status,
                            retryable,
                            fault = ?fault,
                            error = %error_chain(&error),
                            "request failed"
                        ),
                    }
                    Ok(problem.into_response(Some(&path), request_id.as_deref()))
                }
            }
        })
    }
}

/// `error: cause: cause` for the log line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
