//! Inbound verification: whether a request really comes from the provider, decided on
//! the raw bytes before anything parses them. Each scheme is one [`Verifier`], built
//! from its settings by the function its [`SCHEMES`] entry names; a route lists the
//! checks that must all pass. The ingress stack's auth stage runs them.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, Method, Uri};
use schemars::{Schema, SchemaGenerator};
use serde_yaml::Value;

use crate::model::{PathParams, Secret};

pub mod context;
pub mod mac;

pub mod betterez;
pub mod github;
pub mod hmac;
pub mod ip;
pub mod jwt;
pub mod klavi;
pub mod shopify;
pub mod slack;
pub mod square;
pub mod standard_webhooks;
pub mod stripe;
pub mod timestamped;
pub mod token;
pub mod twilio;

pub use context::{Context, Front};

/// An `auth` scheme: the name config uses, and how its check is built from its
/// settings.
pub struct Scheme {
    /// The key of an `auth` entry, e.g. `github`.
    pub name: &'static str,
    build: fn(Value, &mut Context<'_>) -> Option<Arc<dyn Verifier>>,
    /// The JSON Schema of its settings (see `hookgate schema`).
    pub settings: fn(&mut SchemaGenerator) -> Schema,
}

/// Every scheme, in the order they are documented. Adding one is a file with its
/// settings, build function and verifier, and a line here.
pub static SCHEMES: [Scheme; 16] = [
    Scheme {
        name: "hmac",
        build: hmac::build,
        settings: SchemaGenerator::subschema_for::<hmac::HmacConfig>,
    },
    Scheme {
        name: "standard_webhooks",
        build: standard_webhooks::build,
        settings: SchemaGenerator::subschema_for::<context::TimedConfig>,
    },
    Scheme {
        name: "stripe",
        build: stripe::build,
        settings: SchemaGenerator::subschema_for::<context::TimedConfig>,
    },
    Scheme {
        name: "github",
        build: github::build,
        settings: SchemaGenerator::subschema_for::<context::SecretsConfig>,
    },
    Scheme {
        name: "shopify",
        build: shopify::build,
        settings: SchemaGenerator::subschema_for::<shopify::ShopifyConfig>,
    },
    Scheme {
        name: "slack",
        build: slack::build,
        settings: SchemaGenerator::subschema_for::<context::TimedConfig>,
    },
    Scheme {
        name: "square",
        build: square::build,
        settings: SchemaGenerator::subschema_for::<context::UrlConfig>,
    },
    Scheme {
        name: "twilio",
        build: twilio::build,
        settings: SchemaGenerator::subschema_for::<context::UrlConfig>,
    },
    Scheme {
        name: "klavi",
        build: klavi::build,
        settings: SchemaGenerator::subschema_for::<context::SecretsConfig>,
    },
    Scheme {
        name: "betterez",
        build: betterez::build,
        settings: SchemaGenerator::subschema_for::<context::TimedConfig>,
    },
    Scheme {
        name: "jwt",
        build: jwt::build,
        settings: SchemaGenerator::subschema_for::<jwt::JwtConfig>,
    },
    Scheme {
        name: "header",
        build: token::build_header,
        settings: SchemaGenerator::subschema_for::<token::HeaderConfig>,
    },
    Scheme {
        name: "bearer",
        build: token::build_bearer,
        settings: SchemaGenerator::subschema_for::<context::SecretsConfig>,
    },
    Scheme {
        name: "basic",
        build: token::build_basic,
        settings: SchemaGenerator::subschema_for::<token::BasicConfig>,
    },
    Scheme {
        name: "url_token",
        build: token::build_url_token,
        settings: SchemaGenerator::subschema_for::<token::UrlTokenConfig>,
    },
    Scheme {
        name: "ip_allow",
        build: ip::build,
        settings: SchemaGenerator::subschema_for::<ip::IpAllowConfig>,
    },
];

/// The scheme names, for messages.
pub fn scheme_names() -> String {
    SCHEMES
        .iter()
        .map(|scheme| scheme.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds the check of scheme `name` from `settings`, reporting problems through
/// `cx`; an unknown scheme is reported too.
pub fn build(name: &str, settings: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    match SCHEMES.iter().find(|scheme| scheme.name == name) {
        Some(scheme) => (scheme.build)(settings, cx),
        None => {
            cx.report(
                "",
                format!("unknown scheme `{name}`, expected one of: {}", scheme_names()),
            );
            None
        }
    }
}

/// What a verifier may look at. `body` is the raw bytes as received.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request target as received (path and query).
    pub uri: &'a Uri,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Raw body bytes.
    pub body: &'a [u8],
    /// Path parameters of the matched route.
    pub params: &'a PathParams,
    /// The connecting peer.
    pub peer: Option<IpAddr>,
    /// Current time, unix seconds.
    pub now: u64,
}

/// Why a request was not authenticated. The variants are the `reason` label of the
/// rejection counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The header, token or parameter carrying the credential is absent.
    MissingCredential,
    /// It is present but cannot be parsed (bad encoding, bad list syntax).
    MalformedCredential,
    /// A signature does not match the body under any configured secret.
    BadSignature,
    /// A signed timestamp is outside the tolerance (past or future).
    StaleTimestamp,
    /// A token, password or API key matches no configured value.
    BadCredential,
    /// The sender's address is not in the allow-list.
    AddressNotAllowed,
    /// A JWT is malformed, wrongly signed, of a refused algorithm, or expired.
    InvalidToken,
    /// A JWT's claims do not match what the route requires.
    ClaimMismatch,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 8] = [
        Reason::MissingCredential,
        Reason::MalformedCredential,
        Reason::BadSignature,
        Reason::StaleTimestamp,
        Reason::BadCredential,
        Reason::AddressNotAllowed,
        Reason::InvalidToken,
        Reason::ClaimMismatch,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingCredential => "missing_credential",
            Reason::MalformedCredential => "malformed_credential",
            Reason::BadSignature => "bad_signature",
            Reason::StaleTimestamp => "stale_timestamp",
            Reason::BadCredential => "bad_credential",
            Reason::AddressNotAllowed => "address_not_allowed",
            Reason::InvalidToken => "invalid_token",
            Reason::ClaimMismatch => "claim_mismatch",
        }
    }
}

/// A failed check: the reason, and a detail for the log. The detail names headers and
/// claims, never secrets or signature values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why.
    pub reason: Reason,
    /// What exactly, for operators.
    pub detail: String,
}

impl Rejection {
    /// A rejection with a detail.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// What `hookgate sign` asks a verifier to add to a request so that it passes.
#[derive(Debug)]
pub struct SignRequest<'a> {
    /// The body that will be sent.
    pub body: &'a [u8],
    /// Current time, unix seconds.
    pub now: u64,
    /// A fresh message id, for schemes that sign one.
    pub id: String,
    /// Path parameters the request will carry.
    pub params: &'a PathParams,
    /// A PEM private key, for JWT.
    pub private_key: Option<&'a [u8]>,
    /// Headers to send (output).
    pub headers: Vec<(String, String)>,
    /// Query parameters to add to the URL (output).
    pub query: Vec<(String, String)>,
}

/// One inbound check. Implementations are built from config once and shared.
pub trait Verifier: Send + Sync + std::fmt::Debug {
    /// The scheme's name for logs and metrics, e.g. `github`.
    fn scheme(&self) -> &'static str;

    /// Accepts or rejects the request.
    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection>;

    /// Adds what this check needs to `request` (first configured secret). Errors say
    /// why it cannot (e.g. a JWT check without a private key).
    fn sign(&self, request: &mut SignRequest<'_>) -> Result<(), String>;

    /// Path parameters that carry a secret, to be masked wherever the path is logged.
    fn secret_path_param(&self) -> Option<&str> {
        None
    }

    /// Query parameters that carry a secret, left out of a bodiless request's event.
    fn secret_query_param(&self) -> Option<&str> {
        None
    }

    /// Secrets that travel in the request's path, to be masked wherever a path is
    /// logged, even one that matches no route.
    fn path_secrets(&self) -> &[Secret] {
        &[]
    }
}

/// Headers and query parameters that make a request pass every check of a route.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Headers to send.
    pub headers: Vec<(String, String)>,
    /// Query parameters to add to the URL.
    pub query: Vec<(String, String)>,
}

/// Signs `body` for every check in `checks` (what `hookgate sign` prints).
pub fn sign_all(
    checks: &[Arc<dyn Verifier>],
    body: &[u8],
    params: &PathParams,
    private_key: Option<&[u8]>,
    now: u64,
) -> Result<Signed, String> {
    let mut request = SignRequest {
        body,
        now,
        id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        params,
        private_key,
        headers: Vec::new(),
        query: Vec::new(),
    };
    for check in checks {
        check
            .sign(&mut request)
            .map_err(|message| format!("{}: {message}", check.scheme()))?;
    }
    Ok(Signed {
        headers: request.headers,
        query: request.query,
    })
}

/// The value of header `name` as text.
pub fn header<'a>(request: &AuthRequest<'a>, name: &HeaderName) -> Result<&'a str, Rejection> {
    let value = request
        .headers
        .get(name)
        .ok_or_else(|| Rejection::new(Reason::MissingCredential, format!("header `{name}` missing")))?;
    value.to_str().map_err(|_| {
        Rejection::new(
            Reason::MalformedCredential,
            format!("header `{name}` is not visible ASCII"),
        )
    })
}

/// Checks a unix-seconds timestamp against `now` within `tolerance`, both ways.
pub fn check_timestamp(text: &str, now: u64, tolerance: Duration, what: &str) -> Result<(), Rejection> {
    let timestamp: u64 = text
        .trim()
        .parse()
        .map_err(|_| Rejection::new(Reason::MalformedCredential, format!("{what} is not unix seconds")))?;
    let skew = now.abs_diff(timestamp);
    if skew > tolerance.as_secs() {
        let direction = if timestamp > now { "ahead" } else { "behind" };
        return Err(Rejection::new(
            Reason::StaleTimestamp,
            format!(
                "{what} is {skew} s {direction}, tolerance {} s",
                tolerance.as_secs()
            ),
        ));
    }
    Ok(())
}

/// The body re-serialised as compact JSON in its own key order (what `JSON.stringify`
/// of the parsed body gives), for providers that sign that rather than the bytes they
/// send. `None` when the body is not JSON or is already compact.
pub fn compact_json(body: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let compact = serde_json::to_vec(&value).ok()?;
    (compact != body).then_some(compact)
}

/// Decodes form/URL encoding: `+` is a space, `%XX` a byte; malformed escapes are
/// kept as they are.
pub(crate) fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    crate::model::percent::decode(bytes, true)
}

/// Current unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::context::testing::build;
    use super::*;

    #[test]
    fn every_scheme_has_one_entry() {
        let mut names: Vec<&str> = SCHEMES.iter().map(|scheme| scheme.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SCHEMES.len());
    }

    #[test]
    fn every_scheme_reports_bad_settings_at_its_own_path() {
        for scheme in &SCHEMES {
            let problems = build(scheme.name, "{ unknown_key: 1 }")
                .err()
                .unwrap_or_else(|| panic!("{}: settings with an unknown key were accepted", scheme.name));
            assert!(
                problems.iter().all(|(path, _)| path.starts_with(scheme.name)),
                "{}: {problems:?}",
                scheme.name
            );
        }
    }

    #[test]
    fn a_scheme_builds_from_its_settings() {
        let github = build("github", "{ secrets: [s3cret] }").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(github.scheme(), "github");
        let problems = build("github", "{ secrets: [] }").err().unwrap_or_default();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "github.secrets");
    }
}
