//! Who is calling the admin API: the bearer token of a request, checked against the
//! config's tokens (by hash, in constant time), and whether its roles allow the call.

use http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};

use crate::model::{AdminToken, Role};
use crate::problem::Problem;

/// The token calling with `headers`, if one of `tokens` and allowed what one of
/// `needed` allows; otherwise the problem to answer.
pub fn authorize<'a>(
    headers: &HeaderMap,
    tokens: &'a [AdminToken],
    needed: &[Role],
) -> Result<&'a AdminToken, Box<Problem>> {
    if tokens.is_empty() {
        return Err(Box::new(disabled()));
    }
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty());
    let Some(presented) = presented else {
        return Err(unauthenticated(
            "This call needs `Authorization: Bearer <token>`.",
        ));
    };
    let Some(token) = AdminToken::find(tokens, presented.as_bytes()) else {
        return Err(unauthenticated(
            "The bearer token is not one of the configured admin tokens.",
        ));
    };
    if needed.iter().any(|role| token.allows(*role)) {
        Ok(token)
    } else {
        let needed: Vec<&str> = needed.iter().map(|role| role.as_str()).collect();
        Err(Box::new(Problem::new(
            "forbidden",
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "Token `{}` lacks the `{}` role this call needs.",
                token.name,
                needed.join("` or `")
            ),
        )))
    }
}

/// The answer of every API call while no token is configured.
pub fn disabled() -> Problem {
    Problem::new(
        "admin-api-disabled",
        StatusCode::FORBIDDEN,
        "Admin API Disabled",
        "The admin API needs a token, and none is configured. Add `admin.tokens: [{ name: ops, token: \"${HOOKGATE_ADMIN_TOKEN}\", roles: [admin] }]` to the config (a token of at least 32 characters, e.g. from `openssl rand -hex 32`) and reload with SIGHUP.",
    )
}

fn unauthenticated(detail: &str) -> Box<Problem> {
    Box::new(
        Problem::new(
            "unauthenticated",
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            detail,
        )
        .with_header(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"hookgate\""),
        ),
    )
}
