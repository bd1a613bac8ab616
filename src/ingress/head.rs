//! Head: the request line and headers, checked before routing: a URI longer than
//! [`MAX_URI_BYTES`] is a 414, a header section over [`MAX_HEADER_BYTES`] or with
//! more than [`MAX_HEADERS`] fields is a 431, each as a problem document.
//!
//! These limits sit below the HTTP library's own, which answer with a bare status
//! and no body (hyper's automatic responses cannot carry one): so every request the
//! library lets through is answered as a problem, and only heads beyond its limits
//! (see `serve`) or malformed ones are answered bare.

use std::task::{Context, Poll};

use futures_util::future::{ready, Either, Ready};
use http::Request;
use tower::{Layer, Service};

use super::error::IngressError;

/// Longest request target (path and query), in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest header section (names and values), in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header fields.
pub const MAX_HEADERS: usize = 100;

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct HeadLayer;

impl<S> Layer<S> for HeadLayer {
    type Service = Head<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Head { inner }
    }
}

/// The service made by [`HeadLayer`].
#[derive(Debug, Clone)]
pub struct Head<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Head<S>
where
    S: Service<Request<B>, Error = IngressError>,
{
    type Response = S::Response;
    type Error = IngressError;
    type Future = Either<Ready<Result<S::Response, IngressError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let uri = request
            .uri()
            .path_and_query()
            .map_or(0, |target| target.as_str().len());
        if uri > MAX_URI_BYTES {
            return Either::Left(ready(Err(IngressError::UriTooLong { limit: MAX_URI_BYTES })));
        }
        let headers = request.headers();
        let bytes: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
            return Either::Left(ready(Err(IngressError::HeadersTooLarge {
                fields: MAX_HEADERS,
                bytes: MAX_HEADER_BYTES,
            })));
        }
        Either::Right(self.inner.call(request))
    }
}
