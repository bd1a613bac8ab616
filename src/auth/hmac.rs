//! The generic HMAC check (`- hmac: {...}`): a MAC over a signed-content template
//! (`{body}` alone by default) travelling in one header. GitHub, Shopify, Slack, Klavi
//! and Square are presets of this verifier; only the settings differ.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml::Value;
use subtle::ConstantTimeEq;

use super::context::Context;
use super::mac::{self, Algorithm, Encoding};
use super::{check_timestamp, compact_json, header, AuthRequest, Reason, Rejection, SignRequest, Verifier};
use crate::model::template::{tokens, Token};
use crate::model::Secret;

/// `- hmac: {...}`: a MAC of the request, for providers without a preset.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacConfig {
    /// Signing secrets (`${ENV}` or `file:`), used as their UTF-8 bytes; a signature
    /// made with any one of them is accepted, so a secret can be rotated.
    pub secrets: Vec<String>,
    /// Hash function: `sha1`, `sha256` (default) or `sha512`.
    #[serde(default = "default_algorithm")]
    pub algorithm: Algorithm,
    /// The header carrying the signature, e.g. `x-signature`.
    pub header: String,
    /// How the signature is written: `hex` (default, either case), `base64` or
    /// `base64url`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Text before the signature in the header, e.g. `sha256=`. When set, a header
    /// without it is rejected as malformed.
    pub prefix: Option<String>,
    /// What is signed, default `{body}`. Placeholders: `{body}` (the raw body, required),
    /// `{timestamp}` (needs `timestamp_header`), `{id}` (needs `id_header`), `{url}`
    /// (needs `url`) and `{header.NAME}` (the value of request header NAME); anything
    /// else is literal text, with `{{` and `}}` for literal braces. E.g.
    /// `"v0:{timestamp}:{body}"`.
    pub content: Option<String>,
    /// The header carrying the signed unix-seconds timestamp, e.g. `x-timestamp`.
    /// When set, requests outside `tolerance` are rejected; `content` must then
    /// include `{timestamp}`, since an unsigned timestamp does not stop replays.
    pub timestamp_header: Option<String>,
    /// The header carrying a message id, for `{id}`, e.g. `x-webhook-id`.
    pub id_header: Option<String>,
    /// The public URL as the provider calls it (what it signs, which a load balancer
    /// in front of hookgate may change), for `{url}`, e.g. `https://hooks.example.com/in`.
    pub url: Option<String>,
    /// Accepted clock skew for `timestamp_header`, both ways (default `300s`).
    #[serde(default)]
    #[schemars(schema_with = "crate::config::schema::duration")]
    pub tolerance: Option<String>,
    /// When the raw body does not verify, retry with the body re-serialised as compact
    /// JSON in its own key order, for senders that sign `JSON.stringify(payload)`
    /// rather than the bytes they send (default `false`).
    #[serde(default)]
    pub compact_fallback: bool,
}

fn default_algorithm() -> Algorithm {
    Algorithm::Sha256
}

/// One piece of a signed-content template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text signed as it is.
    Literal(Vec<u8>),
    /// The request body.
    Body,
    /// The value of the timestamp header.
    Timestamp,
    /// The value of the id header.
    Id,
    /// The configured public URL.
    Url,
    /// The value of a request header.
    Header(HeaderName),
}

impl Part {
    /// A literal part.
    pub fn literal(text: &str) -> Self {
        Part::Literal(text.as_bytes().to_vec())
    }
}

/// What is signed, parsed once at load: the MAC input is its parts concatenated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

/// The placeholders a template may use, for error messages.
const PLACEHOLDERS: &str = "{body}, {timestamp}, {id}, {url}, {header.NAME}";

impl Template {
    /// A template of the given parts.
    pub fn new(parts: Vec<Part>) -> Self {
        Template(parts)
    }

    /// The raw body alone, what most providers sign.
    pub fn body() -> Self {
        Template(vec![Part::Body])
    }

    /// Parses `{body}`-style template text; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        tokens(text)?
            .into_iter()
            .map(|token| match token {
                Token::Text(literal) => Ok(Part::Literal(literal.into_bytes())),
                Token::Placeholder(name) => placeholder(name),
            })
            .collect::<Result<_, _>>()
            .map(Template)
    }

    fn uses(&self, wanted: &Part) -> bool {
        self.0.iter().any(|part| part == wanted)
    }

    fn first_header(&self) -> Option<&HeaderName> {
        self.0.iter().find_map(|part| match part {
            Part::Header(name) => Some(name),
            _ => None,
        })
    }

    /// The MAC input as slices; a `{header.NAME}` absent from the request rejects it.
    fn render<'a>(&'a self, fields: &Fields<'a>, body: &'a [u8]) -> Result<Vec<&'a [u8]>, Rejection> {
        self.0
            .iter()
            .map(|part| {
                Ok(match part {
                    Part::Literal(bytes) => bytes.as_slice(),
                    Part::Body => body,
                    Part::Timestamp => fields.timestamp.unwrap_or_default().as_bytes(),
                    Part::Id => fields.id.unwrap_or_default().as_bytes(),
                    Part::Url => fields.url.unwrap_or_default().as_bytes(),
                    Part::Header(name) => fields
                        .headers
                        .and_then(|headers| headers.get(name))
                        .ok_or_else(|| {
                            Rejection::new(Reason::MissingCredential, format!("header `{name}` missing"))
                        })?
                        .as_bytes(),
                })
            })
            .collect()
    }
}

fn placeholder(name: &str) -> Result<Part, String> {
    Ok(match name {
        "body" => Part::Body,
        "timestamp" => Part::Timestamp,
        "id" => Part::Id,
        "url" => Part::Url,
        _ => match name.strip_prefix("header.") {
            Some(header) => Part::Header(HeaderName::try_from(header).map_err(|_| {
                format!("expected a header name in `{{header.NAME}}`, e.g. `{{header.x-request-id}}`, found `{{{name}}}`")
            })?),
            None => {
                return Err(format!(
                    "unknown placeholder `{{{name}}}`, expected one of: {PLACEHOLDERS} \
                     (write `{{{{` for a literal `{{`)"
                ))
            }
        },
    })
}

/// The values a template's placeholders take for one request.
#[derive(Debug, Default)]
struct Fields<'a> {
    timestamp: Option<&'a str>,
    id: Option<&'a str>,
    url: Option<&'a str>,
    headers: Option<&'a HeaderMap>,
}

/// Everything an HMAC check needs except the secrets.
#[derive(Debug, Clone)]
pub struct HmacSettings {
    /// Hash function.
    pub algorithm: Algorithm,
    /// Header carrying the signature.
    pub header: HeaderName,
    /// How the signature is written.
    pub encoding: Encoding,
    /// Text that must precede the signature, e.g. `sha256=`.
    pub prefix: Option<String>,
    /// What is signed.
    pub content: Template,
    /// Header carrying the signed timestamp; its freshness is checked when set.
    pub timestamp_header: Option<HeaderName>,
    /// Header carrying the message id, for `{id}`.
    pub id_header: Option<HeaderName>,
    /// Public URL, for `{url}`.
    pub url: Option<String>,
    /// Accepted clock skew for the timestamp, both ways.
    pub tolerance: Duration,
    /// Whether to retry with the body as compact JSON when the raw body fails.
    pub compact_fallback: bool,
}

impl HmacSettings {
    /// A MAC of the body alone in `header`; the rest off or at its default.
    pub fn new(algorithm: Algorithm, header: HeaderName, encoding: Encoding) -> Self {
        Self {
            algorithm,
            header,
            encoding,
            prefix: None,
            content: Template::body(),
            timestamp_header: None,
            id_header: None,
            url: None,
            tolerance: super::context::DEFAULT_TOLERANCE,
            compact_fallback: false,
        }
    }
}

/// A built HMAC check.
#[derive(Debug)]
pub struct HmacVerifier {
    scheme: &'static str,
    secrets: Vec<Secret>,
    settings: HmacSettings,
}

impl HmacVerifier {
    /// A check named `scheme` (for logs and metrics) accepting a MAC under any of
    /// `secrets`. Fails when the template and settings disagree, e.g. `{timestamp}`
    /// without a timestamp header; the message is for the `content` field.
    pub fn new(scheme: &'static str, secrets: Vec<Secret>, settings: HmacSettings) -> Result<Self, String> {
        let content = &settings.content;
        if !content.uses(&Part::Body) {
            return Err(
                "expected `{body}` in `content`, otherwise the body is not signed, e.g. `content: \"{timestamp}.{body}\"`"
                    .to_owned(),
            );
        }
        let missing = [
            (
                Part::Timestamp,
                settings.timestamp_header.is_some(),
                "{timestamp}",
                "timestamp_header: x-timestamp",
            ),
            (
                Part::Id,
                settings.id_header.is_some(),
                "{id}",
                "id_header: x-webhook-id",
            ),
            (
                Part::Url,
                settings.url.is_some(),
                "{url}",
                "url: https://hooks.example.com/in",
            ),
        ];
        for (part, configured, name, example) in missing {
            if content.uses(&part) && !configured {
                let field = example.split(':').next().unwrap_or_default();
                return Err(format!(
                    "`content` uses `{name}` but `{field}` is not set, e.g. `{example}`"
                ));
            }
        }
        if settings.timestamp_header.is_some() && !content.uses(&Part::Timestamp) {
            return Err(
                "`timestamp_header` is set but `content` has no `{timestamp}`: an unsigned timestamp \
                 does not stop replays; sign it, e.g. `content: \"{timestamp}.{body}\"`"
                    .to_owned(),
            );
        }
        Ok(Self {
            scheme,
            secrets,
            settings,
        })
    }

    /// The decoded signature the request presents.
    fn presented(&self, request: &AuthRequest<'_>) -> Result<Vec<u8>, Rejection> {
        let name = &self.settings.header;
        let value = header(request, name)?;
        let value = match &self.settings.prefix {
            Some(prefix) => value.trim().strip_prefix(prefix.as_str()).ok_or_else(|| {
                Rejection::new(
                    Reason::MalformedCredential,
                    format!("header `{name}` does not start with `{prefix}`"),
                )
            })?,
            None => value,
        };
        self.settings.encoding.decode(value).ok_or_else(|| {
            Rejection::new(
                Reason::MalformedCredential,
                format!("header `{name}` is not {}", encoding_name(self.settings.encoding)),
            )
        })
    }

    fn matches(&self, fields: &Fields<'_>, body: &[u8], presented: &[u8]) -> Result<bool, Rejection> {
        let parts = self.settings.content.render(fields, body)?;
        Ok(self
            .secrets
            .iter()
            .any(|secret| mac::verify(self.settings.algorithm, secret.expose(), &parts, presented)))
    }
}

impl Verifier for HmacVerifier {
    fn scheme(&self) -> &'static str {
        self.scheme
    }

    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        let presented = self.presented(request)?;
        let settings = &self.settings;
        let timestamp = match &settings.timestamp_header {
            Some(name) => {
                let text = header(request, name)?;
                check_timestamp(text, request.now, settings.tolerance, &format!("header `{name}`"))?;
                Some(text.trim())
            }
            None => None,
        };
        let id = match &settings.id_header {
            Some(name) if settings.content.uses(&Part::Id) => Some(header(request, name)?),
            _ => None,
        };
        let fields = Fields {
            timestamp,
            id,
            url: settings.url.as_deref(),
            headers: Some(request.headers),
        };
        if self.matches(&fields, request.body, &presented)? {
            return Ok(());
        }
        if settings.compact_fallback {
            if let Some(compact) = compact_json(request.body) {
                if self.matches(&fields, &compact, &presented)? {
                    return Ok(());
                }
            }
        }
        Err(Rejection::new(
            Reason::BadSignature,
            format!(
                "header `{}` matches the signed content under none of the {} configured secrets",
                settings.header,
                self.secrets.len()
            ),
        ))
    }

    fn sign(&self, request: &mut SignRequest<'_>) -> Result<(), String> {
        let settings = &self.settings;
        let secret = self.secrets.first().ok_or("no secret configured")?;
        if let Some(name) = settings.content.first_header() {
            return Err(format!(
                "`content` signs header `{name}`, whose value `hookgate sign` does not know"
            ));
        }
        let timestamp = request.now.to_string();
        let fields = Fields {
            timestamp: Some(&timestamp),
            id: Some(&request.id),
            url: settings.url.as_deref(),
            headers: None,
        };
        let parts = settings
            .content
            .render(&fields, request.body)
            .map_err(|rejection| rejection.detail)?;
        let signature = mac::compute(settings.algorithm, secret.expose(), &parts);
        let value = format!(
            "{}{}",
            settings.prefix.as_deref().unwrap_or_default(),
            settings.encoding.encode(&signature)
        );
        request.headers.push((settings.header.to_string(), value));
        if let Some(name) = &settings.timestamp_header {
            request.headers.push((name.to_string(), timestamp));
        }
        if let Some(name) = &settings.id_header {
            request.headers.push((name.to_string(), request.id.clone()));
        }
        Ok(())
    }
}

fn encoding_name(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Hex => "hex",
        Encoding::Base64 => "base64",
        Encoding::Base64url => "base64url",
    }
}

/// Builds `- hmac: {...}`.
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: HmacConfig = cx.settings(value)?;
    let secrets = cx.secrets(config.secrets);
    let header = cx.header("header", &config.header);
    let timestamp_header = config
        .timestamp_header
        .and_then(|name| cx.header("timestamp_header", &name));
    let id_header = config.id_header.and_then(|name| cx.header("id_header", &name));
    let url = config.url.and_then(|url| cx.public_url("url", &url));
    if config.tolerance.is_some() && timestamp_header.is_none() {
        cx.report(
            "tolerance",
            "`tolerance` applies to a signed timestamp; set `timestamp_header` too, e.g. `timestamp_header: x-timestamp`",
        );
    }
    let tolerance = cx.tolerance(config.tolerance);
    let content = match config.content.as_deref().map(Template::parse) {
        None => Template::body(),
        Some(Ok(template)) => template,
        Some(Err(message)) => {
            cx.report("content", message);
            return None;
        }
    };
    let settings = HmacSettings {
        prefix: config.prefix,
        content,
        timestamp_header,
        id_header,
        url,
        tolerance,
        compact_fallback: config.compact_fallback,
        ..HmacSettings::new(config.algorithm, header?, config.encoding)
    };
    built(cx, "content", HmacVerifier::new("hmac", secrets, settings))
}

/// A preset's check over the generic one, from its `secrets`.
pub(super) fn preset(
    cx: &mut Context<'_>,
    scheme: &'static str,
    secrets: Vec<String>,
    settings: HmacSettings,
) -> Option<Arc<dyn Verifier>> {
    let secrets = cx.secrets(secrets);
    built(cx, "", HmacVerifier::new(scheme, secrets, settings))
}

/// The check, or its problem reported at `field`.
fn built(
    cx: &mut Context<'_>,
    field: &str,
    verifier: Result<HmacVerifier, String>,
) -> Option<Arc<dyn Verifier>> {
    match verifier {
        Ok(verifier) => Some(Arc::new(verifier)),
        Err(message) => {
            cx.report(field, message);
            None
        }
    }
}

/// Whether any of `candidates` is the MAC of `parts` under any of `secrets`. Each
/// secret's MAC is computed once, however many signatures a header lists, and
/// compared in constant time.
pub(crate) fn any_matches(
    algorithm: Algorithm,
    secrets: &[Secret],
    parts: &[&[u8]],
    candidates: &[Vec<u8>],
) -> bool {
    secrets.iter().any(|secret| {
        let expected = mac::compute(algorithm, secret.expose(), parts);
        candidates
            .iter()
            .any(|candidate| candidate.len() == expected.len() && bool::from(candidate.ct_eq(&expected)))
    })
}

/// Helpers the scheme tests share.
#[cfg(test)]
pub(crate) mod testing {
    use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

    use super::super::{AuthRequest, Reason, Rejection, SignRequest, Verifier};
    use crate::model::PathParams;

    /// Runs `verifier` on a POST to `uri` with `headers` and `body` at time `now`.
    pub(crate) fn check(
        verifier: &dyn Verifier,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        now: u64,
    ) -> Result<(), Rejection> {
        let uri: Uri = uri.parse().unwrap();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let params = PathParams::default();
        verifier.verify(&AuthRequest {
            method: &Method::POST,
            uri: &uri,
            headers: &map,
            body,
            params: &params,
            peer: None,
            now,
        })
    }

    /// The reason `check` fails with; panics when it passes.
    pub(crate) fn reason(
        verifier: &dyn Verifier,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        now: u64,
    ) -> Reason {
        check(verifier, uri, headers, body, now).unwrap_err().reason
    }

    /// The headers and query `verifier.sign` adds for `body` at `now`, id `msg_1`.
    #[allow(clippy::type_complexity)]
    pub(crate) fn sign(
        verifier: &dyn Verifier,
        body: &[u8],
        now: u64,
    ) -> (Vec<(String, String)>, Vec<(String, String)>) {
        let params = PathParams::default();
        let mut request = SignRequest {
            body,
            now,
            id: "msg_1".to_owned(),
            params: &params,
            private_key: None,
            headers: Vec::new(),
            query: Vec::new(),
        };
        verifier.sign(&mut request).unwrap();
        (request.headers, request.query)
    }

    /// `pairs` as borrowed header pairs for `check`.
    pub(crate) fn borrowed(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{borrowed, check, reason, sign};
    use super::*;

    fn verifier(settings: HmacSettings, secrets: &[&str]) -> HmacVerifier {
        HmacVerifier::new(
            "hmac",
            secrets.iter().map(|s| Secret::new(*s)).collect(),
            settings,
        )
        .unwrap()
    }

    fn timestamped() -> HmacSettings {
        HmacSettings {
            content: Template::parse("{id}|{timestamp}|{url}|{header.x-shop}|{body}").unwrap(),
            timestamp_header: Some(HeaderName::from_static("x-ts")),
            id_header: Some(HeaderName::from_static("x-id")),
            url: Some("https://hooks.example.com/in".to_owned()),
            prefix: Some("sha512=".to_owned()),
            ..HmacSettings::new(
                Algorithm::Sha512,
                HeaderName::from_static("x-sig"),
                Encoding::Base64url,
            )
        }
    }

    #[test]
    fn template_parses_placeholders_and_literals_once() {
        let template = Template::parse("v0:{timestamp}:{{{body}}}{header.X-Shop}").unwrap();
        assert_eq!(
            template,
            Template::new(vec![
                Part::literal("v0:"),
                Part::Timestamp,
                Part::literal(":{"),
                Part::Body,
                Part::literal("}"),
                Part::Header(HeaderName::from_static("x-shop")),
            ])
        );
        assert_eq!(Template::parse("{body}").unwrap(), Template::body());
    }

    #[test]
    fn template_errors_name_the_problem() {
        assert!(Template::parse("{bodyy}")
            .unwrap_err()
            .contains("unknown placeholder `{bodyy}`"));
        assert!(Template::parse("{body").unwrap_err().contains("unclosed `{`"));
        assert!(Template::parse("body}").unwrap_err().contains("unmatched `}`"));
        assert!(Template::parse("{header.a b}")
            .unwrap_err()
            .contains("header name"));
    }

    #[test]
    fn settings_must_supply_every_placeholder() {
        let base = || HmacSettings::new(Algorithm::Sha256, HeaderName::from_static("x-sig"), Encoding::Hex);
        let with = |text: &str| HmacSettings {
            content: Template::parse(text).unwrap(),
            ..base()
        };
        let error = |settings| HmacVerifier::new("hmac", Vec::new(), settings).unwrap_err();
        assert!(error(with("{timestamp}.{body}")).contains("`timestamp_header` is not set"));
        assert!(error(with("{id}.{body}")).contains("`id_header` is not set"));
        assert!(error(with("{url}{body}")).contains("`url` is not set"));
        assert!(error(with("{timestamp}")).contains("expected `{body}`"));
        let unsigned = HmacSettings {
            timestamp_header: Some(HeaderName::from_static("x-ts")),
            ..base()
        };
        assert!(error(unsigned).contains("unsigned timestamp"));
    }

    #[test]
    fn sign_refuses_a_header_it_cannot_know() {
        let check_ = verifier(timestamped(), &["k1"]);
        let params = crate::model::PathParams::default();
        let mut request = SignRequest {
            body: b"{}",
            now: 0,
            id: "msg_1".to_owned(),
            params: &params,
            private_key: None,
            headers: Vec::new(),
            query: Vec::new(),
        };
        assert!(check_.sign(&mut request).unwrap_err().contains("`x-shop`"));
    }

    #[test]
    fn sign_then_verify_round_trips_with_id_timestamp_and_url() {
        let plain = verifier(
            HmacSettings {
                content: Template::parse("{id}|{timestamp}|{url}|{body}").unwrap(),
                ..timestamped()
            },
            &["k1"],
        );
        let (headers, query) = sign(&plain, b"{}", 1_700_000_000);
        assert!(query.is_empty());
        let names: Vec<_> = headers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["x-sig", "x-ts", "x-id"]);
        assert_eq!(
            check(&plain, "/in", &borrowed(&headers), b"{}", 1_700_000_000),
            Ok(())
        );
        assert_eq!(
            reason(&plain, "/in", &borrowed(&headers), b"{]", 1_700_000_000),
            Reason::BadSignature
        );
        assert_eq!(
            reason(&plain, "/in", &borrowed(&headers), b"{}", 1_700_000_301),
            Reason::StaleTimestamp
        );
        assert_eq!(
            reason(&plain, "/in", &borrowed(&headers), b"{}", 1_699_999_699),
            Reason::StaleTimestamp
        );
        let without_id: Vec<_> = headers
            .iter()
            .filter(|(name, _)| name != "x-id")
            .cloned()
            .collect();
        assert_eq!(
            reason(&plain, "/in", &borrowed(&without_id), b"{}", 1_700_000_000),
            Reason::MissingCredential
        );
    }

    #[test]
    fn header_placeholder_is_read_from_the_request() {
        let check_ = verifier(timestamped(), &["k1"]);
        let signed = mac::compute(
            Algorithm::Sha512,
            b"k1",
            &[b"msg_1|1700000000|https://hooks.example.com/in|shop-1|{}"],
        );
        let signature = format!("sha512={}", Encoding::Base64url.encode(&signed));
        let mut headers = vec![
            ("x-sig", signature.as_str()),
            ("x-ts", "1700000000"),
            ("x-id", "msg_1"),
            ("x-shop", "shop-1"),
        ];
        assert_eq!(check(&check_, "/in", &headers, b"{}", 1_700_000_000), Ok(()));
        headers[3].1 = "shop-2";
        assert_eq!(
            reason(&check_, "/in", &headers, b"{}", 1_700_000_000),
            Reason::BadSignature
        );
        headers.pop();
        assert_eq!(
            reason(&check_, "/in", &headers, b"{}", 1_700_000_000),
            Reason::MissingCredential
        );
    }

    #[test]
    fn prefix_and_encoding_are_enforced() {
        let settings = HmacSettings {
            prefix: Some("sha256=".to_owned()),
            ..HmacSettings::new(Algorithm::Sha256, HeaderName::from_static("x-sig"), Encoding::Hex)
        };
        let check_ = verifier(settings, &["k"]);
        let hex = hex::encode(mac::compute(Algorithm::Sha256, b"k", &[b"body"]));
        let good = format!("sha256={hex}");
        assert_eq!(check(&check_, "/", &[("x-sig", &good)], b"body", 0), Ok(()));
        let upper = format!("sha256={}", hex.to_uppercase());
        assert_eq!(check(&check_, "/", &[("x-sig", &upper)], b"body", 0), Ok(()));
        assert_eq!(
            reason(&check_, "/", &[("x-sig", &hex)], b"body", 0),
            Reason::MalformedCredential
        );
        assert_eq!(
            reason(&check_, "/", &[("x-sig", "sha256=zz")], b"body", 0),
            Reason::MalformedCredential
        );
        assert_eq!(reason(&check_, "/", &[], b"body", 0), Reason::MissingCredential);
        assert_eq!(
            reason(&check_, "/", &[("x-sig", &good)], b"bodz", 0),
            Reason::BadSignature
        );
    }

    #[test]
    fn rejection_details_never_show_the_signature() {
        let settings = HmacSettings::new(Algorithm::Sha256, HeaderName::from_static("x-sig"), Encoding::Hex);
        let check_ = verifier(settings, &["topsecret"]);
        let sent = "00".repeat(32);
        let rejection = check(&check_, "/", &[("x-sig", &sent)], b"body", 0).unwrap_err();
        assert_eq!(rejection.reason, Reason::BadSignature);
        assert!(!rejection.detail.contains(&sent));
        assert!(!rejection.detail.contains("topsecret"));
        assert!(!format!("{check_:?}").contains("topsecret"));
    }

    #[test]
    fn compact_fallback_only_when_enabled() {
        let compact = br#"{"a":1,"b":[1,2]}"#;
        let pretty = b"{\n  \"a\": 1,\n  \"b\": [1, 2]\n}";
        let signature = hex::encode(mac::compute(Algorithm::Sha256, b"k", &[compact]));
        let base = HmacSettings::new(Algorithm::Sha256, HeaderName::from_static("x-sig"), Encoding::Hex);
        let strict = verifier(base.clone(), &["k"]);
        assert_eq!(
            reason(&strict, "/", &[("x-sig", &signature)], pretty, 0),
            Reason::BadSignature
        );
        let lenient = verifier(
            HmacSettings {
                compact_fallback: true,
                ..base
            },
            &["k"],
        );
        assert_eq!(check(&lenient, "/", &[("x-sig", &signature)], pretty, 0), Ok(()));
    }

    #[test]
    fn any_matches_accepts_any_candidate_under_any_secret() {
        let secrets = [Secret::new("old"), Secret::new("new")];
        let good = mac::compute(Algorithm::Sha256, b"new", &[b"x"]);
        assert!(any_matches(
            Algorithm::Sha256,
            &secrets,
            &[b"x"],
            &[vec![1, 2], good.clone()]
        ));
        assert!(!any_matches(Algorithm::Sha256, &secrets, &[b"y"], &[good]));
        assert!(!any_matches(Algorithm::Sha256, &secrets, &[b"x"], &[]));
    }
}
