//! Auth: the route's checks, run on the raw bytes before anything parses them. A
//! rejection is an expected outcome, not a failure: it is answered here with a 401
//! that does not say which check failed, and logged once, with the scheme and reason
//! (counted in `hookgate_auth_rejections_total`).

use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::{ready, Either, Ready};
use http::Response;
use http_body_util::Full;
use tower::{Layer, Service};

use super::body::Read;
use super::error::IngressError;
use super::{request_id, Exchange};
use crate::auth::{unix_now, AuthRequest, Rejection};

/// What the auth stage establishes: every check of the route passed. Only this stage
/// makes one, so no later stage can be reached without it.
#[derive(Debug)]
pub struct Authenticated(());

/// Runs the matched route's checks.
#[derive(Debug, Clone, Default)]
pub struct AuthLayer;

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate { inner }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Authenticate<S> {
    inner: S,
}

impl<S> Service<Exchange<Read>> for Authenticate<S>
where
    S: Service<Exchange<Authenticated>, Response = Response<Full<Bytes>>, Error = IngressError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = IngressError;
    type Future = Either<Ready<Result<Self::Response, IngressError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, exchange: Exchange<Read>) -> Self::Future {
        match authenticate(&exchange) {
            Ok(()) => Either::Right(self.inner.call(exchange.advance(|Read| Authenticated(())))),
            Err((scheme, rejection)) => {
                let route = &exchange.matched.route.route.name;
                tracing::info!(
                    request_id = exchange.request_id(),
                    route = %route,
                    scheme,
                    reason = rejection.reason.as_str(),
                    detail = %rejection.detail,
                    status = 401,
                    "request not authenticated"
                );
                metrics::counter!(
                    "hookgate_auth_rejections_total",
                    "route" => route.clone(),
                    "reason" => rejection.reason.as_str(),
                )
                .increment(1);
                let response = IngressError::Unauthenticated
                    .problem()
                    .into_response(Some(exchange.head.uri.path()), request_id(&exchange.head.headers));
                Either::Left(ready(Ok(response)))
            }
        }
    }
}

/// Runs every check in order; the first failure, with its scheme.
fn authenticate(exchange: &Exchange<Read>) -> Result<(), (&'static str, Rejection)> {
    let verifiers = &exchange.matched.route.verifiers;
    if verifiers.is_empty() {
        return Ok(());
    }
    let request = AuthRequest {
        method: &exchange.head.method,
        uri: &exchange.head.uri,
        headers: &exchange.head.headers,
        body: &exchange.body,
        params: &exchange.matched.params,
        peer: exchange.matched.peer.map(|peer| peer.ip()),
        now: unix_now(),
    };
    for verifier in verifiers {
        verifier
            .verify(&request)
            .map_err(|rejection| (verifier.scheme(), rejection))?;
    }
    Ok(())
}
