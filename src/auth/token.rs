//! Shared-secret credentials sent as they are: a static header (Tradevest's
//! partner-chosen `api-key`), `Authorization: Bearer`, `Authorization: Basic`, and a
//! token in the URL (Open Bank Project, which signs nothing). Every comparison is
//! constant-time; several values may be configured for rotation.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::HeaderName;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml::Value;

use super::context::{Context, SecretsConfig};
use super::jwt::bearer_token;
use super::{header, AuthRequest, Reason, Rejection, SignRequest, Verifier};
use crate::model::Secret;

/// `- header: { name: api-key, secrets: [...] }`: a header that must equal a secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderConfig {
    /// The header's name, e.g. `api-key`.
    pub name: String,
    /// Accepted values (`${ENV}` or `file:`); any one matches.
    pub secrets: Vec<String>,
}

/// `- basic: { users: [{ username, password }] }`: `Authorization: Basic`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    /// Accepted username/password pairs.
    pub users: Vec<BasicUser>,
}

/// One accepted Basic credential.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicUser {
    /// Username.
    pub username: String,
    /// Password (`${ENV}` or `file:`).
    pub password: String,
}

/// `- url_token: { query: token, secrets: [...] }` or `{ path_param: token, ... }`:
/// a secret carried in the URL.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlTokenConfig {
    /// Query parameter carrying the token, e.g. `token` for `?token=...`.
    pub query: Option<String>,
    /// Path parameter carrying the token, e.g. `token` for `/hooks/obp/{token}`.
    pub path_param: Option<String>,
    /// Accepted tokens (`${ENV}` or `file:`).
    pub secrets: Vec<String>,
}

/// Where a static credential is read from.
#[derive(Debug, Clone)]
enum Source {
    Header(HeaderName),
    Bearer,
    Query(String),
    PathParam(String),
}

/// A credential compared as it is against configured values.
#[derive(Debug)]
pub struct TokenVerifier {
    scheme: &'static str,
    source: Source,
    secrets: Vec<Secret>,
}

/// Builds `- header: { name: api-key, secrets: [...] }`.
pub(super) fn build_header(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: HeaderConfig = cx.settings(value)?;
    let name = cx.header("name", &config.name)?;
    token(cx, "header", Source::Header(name), config.secrets)
}

/// Builds `- bearer: { secrets: [...] }`: accepted `Authorization: Bearer` tokens.
pub(super) fn build_bearer(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: SecretsConfig = cx.settings(value)?;
    token(cx, "bearer", Source::Bearer, config.secrets)
}

/// Builds `- url_token: { query: token, secrets: [...] }` or `{ path_param: ... }`.
pub(super) fn build_url_token(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: UrlTokenConfig = cx.settings(value)?;
    let source = match (config.query, config.path_param) {
        (Some(query), None) => Source::Query(query),
        (None, Some(param)) => Source::PathParam(param),
        _ => {
            cx.report(
                "",
                "expected exactly one of `query` (e.g. `query: token`) or `path_param` (e.g. `path_param: token`)",
            );
            return None;
        }
    };
    token(cx, "url_token", source, config.secrets)
}

/// A check comparing the credential at `source` with `secrets`.
fn token(
    cx: &mut Context<'_>,
    scheme: &'static str,
    source: Source,
    secrets: Vec<String>,
) -> Option<Arc<dyn Verifier>> {
    let before = cx.problems();
    let secrets = cx.secrets(secrets);
    cx.done(
        before,
        TokenVerifier {
            scheme,
            source,
            secrets,
        },
    )
}

impl Verifier for TokenVerifier {
    fn scheme(&self) -> &'static str {
        self.scheme
    }

    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        let presented: std::borrow::Cow<'_, str> = match &self.source {
            Source::Header(name) => header(request, name)?.into(),
            Source::Bearer => bearer_token(header(request, &AUTHORIZATION)?)
                .ok_or_else(|| {
                    Rejection::new(
                        Reason::MalformedCredential,
                        "`authorization` is not `Bearer <token>`",
                    )
                })?
                .into(),
            Source::Query(name) => query_value(request.uri.query().unwrap_or(""), name).ok_or_else(|| {
                Rejection::new(
                    Reason::MissingCredential,
                    format!("query parameter `{name}` missing"),
                )
            })?,
            Source::PathParam(name) => request
                .params
                .get(name)
                .ok_or_else(|| {
                    Rejection::new(
                        Reason::MissingCredential,
                        format!("path parameter `{name}` missing"),
                    )
                })?
                .into(),
        };
        if self
            .secrets
            .iter()
            .any(|secret| secret.ct_eq(presented.as_bytes()))
        {
            Ok(())
        } else {
            Err(Rejection::new(
                Reason::BadCredential,
                format!("{} does not match", self.describe()),
            ))
        }
    }

    fn secret_path_param(&self) -> Option<&str> {
        match &self.source {
            Source::PathParam(name) => Some(name),
            _ => None,
        }
    }

    fn secret_query_param(&self) -> Option<&str> {
        match &self.source {
            Source::Query(name) => Some(name),
            _ => None,
        }
    }

    fn path_secrets(&self) -> &[Secret] {
        match &self.source {
            Source::PathParam(_) => &self.secrets,
            _ => &[],
        }
    }

    fn sign(&self, request: &mut SignRequest<'_>) -> Result<(), String> {
        let secret = self
            .secrets
            .first()
            .ok_or("no secret configured")?
            .expose_str()
            .to_owned();
        match &self.source {
            Source::Header(name) => request.headers.push((name.to_string(), secret)),
            Source::Bearer => request
                .headers
                .push(("authorization".to_owned(), format!("Bearer {secret}"))),
            Source::Query(name) => request.query.push((name.clone(), secret)),
            Source::PathParam(name) => {
                if request.params.get(name) != Some(secret.as_str()) {
                    return Err(format!(
                        "the token travels in the path: pass --param {name}=<token>"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl TokenVerifier {
    fn describe(&self) -> String {
        match &self.source {
            Source::Header(name) => format!("header `{name}`"),
            Source::Bearer => "bearer token".to_owned(),
            Source::Query(name) => format!("query parameter `{name}`"),
            Source::PathParam(name) => format!("path parameter `{name}`"),
        }
    }
}

/// The percent-decoded value of query parameter `name`.
fn query_value<'a>(query: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes and `+` (form encoding) to text.
fn percent_decode(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return text.into();
    }
    String::from_utf8_lossy(&super::percent_decode(text.as_bytes()))
        .into_owned()
        .into()
}

/// A built Basic check.
#[derive(Debug)]
pub struct BasicVerifier {
    users: Vec<(String, Secret)>,
}

/// Builds `- basic: { users: [{ username, password }] }`.
pub(super) fn build_basic(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: BasicConfig = cx.settings(value)?;
    if config.users.is_empty() {
        cx.report("users", "expected at least one `{ username, password }`");
    }
    let before = cx.problems();
    let mut users = Vec::new();
    for (index, user) in config.users.into_iter().enumerate() {
        if let Some(password) = cx.secret(&format!("users[{index}].password"), &user.password) {
            users.push((user.username, password));
        }
    }
    cx.done(before, BasicVerifier { users })
}

impl Verifier for BasicVerifier {
    fn scheme(&self) -> &'static str {
        "basic"
    }

    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        let value = header(request, &AUTHORIZATION)?;
        let malformed = || {
            Rejection::new(
                Reason::MalformedCredential,
                "`authorization` is not `Basic <base64 user:password>`",
            )
        };
        let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(malformed)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(malformed());
        }
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
        // RFC 7617: the user-id cannot contain a colon; split on the first one.
        let colon = decoded
            .iter()
            .position(|&byte| byte == b':')
            .ok_or_else(malformed)?;
        let (username, password) = (&decoded[..colon], &decoded[colon + 1..]);
        // Check every user so timing does not reveal which usernames exist.
        let mut matched = false;
        for (user, secret) in &self.users {
            let user_ok = Secret::new(user.as_bytes()).ct_eq(username);
            let password_ok = secret.ct_eq(password);
            matched |= user_ok & password_ok;
        }
        if matched {
            Ok(())
        } else {
            Err(Rejection::new(
                Reason::BadCredential,
                "basic credentials do not match",
            ))
        }
    }

    fn sign(&self, request: &mut SignRequest<'_>) -> Result<(), String> {
        let (user, password) = self.users.first().ok_or("no user configured")?;
        let credential = STANDARD.encode([user.as_bytes(), b":", password.expose()].concat());
        request
            .headers
            .push(("authorization".to_owned(), format!("Basic {credential}")));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PathParams;
    use http::{HeaderMap, HeaderValue, Method, Uri};

    fn request<'a>(headers: &'a HeaderMap, uri: &'a Uri, params: &'a PathParams) -> AuthRequest<'a> {
        AuthRequest {
            method: &Method::POST,
            uri,
            headers,
            body: b"{}",
            params,
            peer: None,
            now: 0,
        }
    }

    fn basic() -> BasicVerifier {
        BasicVerifier {
            users: vec![("Aladdin".to_owned(), Secret::new("open sesame"))],
        }
    }

    #[test]
    fn basic_rfc_7617_example() {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        );
        let (uri, params) = (Uri::from_static("/"), PathParams::default());
        assert_eq!(basic().verify(&request(&headers, &uri, &params)), Ok(()));

        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        );
        assert_eq!(
            basic().verify(&request(&headers, &uri, &params)),
            Ok(()),
            "scheme is case-insensitive"
        );

        // Aladdin:open sesamE
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic QWxhZGRpbjpvcGVuIHNlc2FtRQ=="),
        );
        let rejected = basic().verify(&request(&headers, &uri, &params)).unwrap_err();
        assert_eq!(rejected.reason, Reason::BadCredential);

        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        let rejected = basic().verify(&request(&headers, &uri, &params)).unwrap_err();
        assert_eq!(rejected.reason, Reason::MalformedCredential);
    }

    #[test]
    fn basic_sign_produces_the_rfc_example() {
        let params = PathParams::default();
        let mut sign = SignRequest {
            body: b"",
            now: 0,
            id: String::new(),
            params: &params,
            private_key: None,
            headers: Vec::new(),
            query: Vec::new(),
        };
        basic().sign(&mut sign).unwrap();
        assert_eq!(
            sign.headers,
            vec![(
                "authorization".to_owned(),
                "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_owned()
            )]
        );
    }

    #[test]
    fn url_token_in_query_is_percent_decoded() {
        let verifier = TokenVerifier {
            scheme: "url_token",
            source: Source::Query("token".to_owned()),
            secrets: vec![Secret::new("a b/c")],
        };
        let (headers, params) = (HeaderMap::new(), PathParams::default());
        let uri = Uri::from_static("/hooks/obp?x=1&token=a+b%2Fc");
        assert_eq!(verifier.verify(&request(&headers, &uri, &params)), Ok(()));
        let uri = Uri::from_static("/hooks/obp?token=a+b%2Fd");
        assert_eq!(
            verifier
                .verify(&request(&headers, &uri, &params))
                .unwrap_err()
                .reason,
            Reason::BadCredential
        );
        let uri = Uri::from_static("/hooks/obp");
        assert_eq!(
            verifier
                .verify(&request(&headers, &uri, &params))
                .unwrap_err()
                .reason,
            Reason::MissingCredential
        );
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
