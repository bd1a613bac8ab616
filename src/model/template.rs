//! String templates over an event: literal text with `{$.json.path}`,
//! `{path.name}` (a path parameter), `{header.name}`, `{request.method}`,
//! `{request.path}` (the request's path as sent) and `{request.query.name}` (a query
//! parameter, decoded) placeholders, parsed once at load. Used for target URLs,
//! methods and headers, and in `template` transforms.
//! A placeholder with no value is an error for that event, never a panic and never
//! an empty string silently sent on.

use std::borrow::Cow;
use std::fmt::Write as _;

use http::{HeaderMap, Method, Uri};
use serde_json::Value;

use super::path::Path;
use super::percent;
use super::request::PathParams;

/// A placeholder without a value for one event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{$.path}` selects nothing, or null.
    #[error("`{path}` has no value in this event")]
    NoValue {
        /// The path as written.
        path: String,
    },
    /// `{path.name}` names no parameter of the matched route.
    #[error("path parameter `{name}` is not in this route's path")]
    NoParam {
        /// The parameter.
        name: String,
    },
    /// `{header.name}` is absent (or not text).
    #[error("header `{name}` is missing")]
    NoHeader {
        /// The header.
        name: String,
    },
    /// `{request.query.name}` is absent.
    #[error("query parameter `{name}` is missing")]
    NoQuery {
        /// The parameter.
        name: String,
    },
    /// A value cannot be placed where its placeholder is in a URL.
    #[error("{placeholder}: {reason}")]
    UnsafeValue {
        /// The placeholder as written.
        placeholder: String,
        /// Why.
        reason: String,
    },
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Json(Path),
    Param(String),
    Header(String),
    Method,
    RequestPath,
    Query(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    pieces: Vec<Piece>,
}

/// A piece of template text, as [`tokens`] splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// Literal text, `{{` and `}}` already turned into single braces.
    Text(String),
    /// The name inside `{...}`, as written.
    Placeholder(&'a str),
}

/// Splits template `text` into literal text and `{placeholder}` names; `{{` and `}}`
/// are literal braces. The one tokenizer of every template hookgate reads (target
/// URLs and headers, rule templates, HMAC signed content); each gives the names
/// their meaning.
pub fn tokens(text: &str) -> Result<Vec<Token<'_>>, String> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        literal.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            literal.push_str(&tail[..1]);
            rest = after;
            continue;
        }
        if tail.starts_with('}') {
            return Err(format!(
                "unmatched `}}` in `{text}`; write `}}}}` for a literal `}}`"
            ));
        }
        let close = tail
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in `{text}`; write `{{{{` for a literal `{{`"))?;
        if !literal.is_empty() {
            tokens.push(Token::Text(std::mem::take(&mut literal)));
        }
        tokens.push(Token::Placeholder(&tail[1..close]));
        rest = &tail[close + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        tokens.push(Token::Text(literal));
    }
    Ok(tokens)
}

/// What placeholders are filled from.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The event.
    pub event: &'a Value,
    /// Path parameters of the request.
    pub params: &'a PathParams,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The request's method and URI.
    pub request: Line<'a>,
}

/// The request line: what `{request.method}`, `{request.path}` and
/// `{request.query.name}` are filled from.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// Method.
    pub method: &'a Method,
    /// URI (path and query as sent).
    pub uri: &'a Uri,
}

impl Template {
    /// Parses `text`; `{{` and `}}` are literal braces.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        for token in tokens(text)? {
            let name = match token {
                Token::Text(literal) => {
                    pieces.push(Piece::Literal(literal));
                    continue;
                }
                Token::Placeholder(name) => name.trim(),
            };
            pieces.push(if name.starts_with('$') {
                Piece::Json(Path::parse(name)?)
            } else if let Some(param) = name.strip_prefix("path.") {
                Piece::Param(param.to_owned())
            } else if let Some(header) = name.strip_prefix("header.") {
                Piece::Header(header.to_ascii_lowercase())
            } else if name == "request.method" {
                Piece::Method
            } else if name == "request.path" {
                Piece::RequestPath
            } else if let Some(query) = name.strip_prefix("request.query.").filter(|q| !q.is_empty()) {
                Piece::Query(query.to_owned())
            } else {
                return Err(format!(
                    "unknown placeholder `{{{name}}}` in `{text}`; expected `{{$.json.path}}`, `{{path.name}}`, `{{header.name}}`, `{{request.method}}`, `{{request.path}}` or `{{request.query.name}}`"
                ));
            });
        }
        Ok(Template {
            text: text.to_owned(),
            pieces,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it has a `{$.path}` placeholder, filled from the event.
    pub fn reads_event(&self) -> bool {
        self.pieces.iter().any(|piece| matches!(piece, Piece::Json(_)))
    }

    /// Whether it has no placeholders (its text is its value).
    pub fn is_literal(&self) -> bool {
        self.pieces.iter().all(|piece| matches!(piece, Piece::Literal(_)))
    }

    /// The text with every placeholder replaced by `filler` (to check the shape of
    /// what it renders, e.g. that a URL template makes an absolute URL).
    pub fn sample(&self, filler: &str) -> String {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Literal(text) => text.as_str(),
                _ => filler,
            })
            .collect()
    }

    /// Path parameters the template uses.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Param(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Fills the placeholders; an absent or null value is an error naming it.
    pub fn render(&self, scope: Scope<'_>) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.text.len());
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                // A JSON value that is not a string is written as JSON, in place.
                Piece::Json(path) => match json(path, scope.event)? {
                    Value::String(text) => out.push_str(text),
                    other => {
                        let _ = write!(out, "{other}");
                    }
                },
                placeholder => out.push_str(&fill(placeholder, scope)?),
            }
        }
        Ok(out)
    }

    /// Fills a URL template: each value is percent-encoded for the part of the URL it
    /// lands in, so no value can add a path segment, a query parameter or a fragment.
    /// A path parameter is decoded first (it is taken from the request's path as
    /// sent), so `%2e%2e` is `..` too. A value that would be a whole `.` or `..` path
    /// segment, which a backend would resolve against the path around it, or that
    /// does not fit in a host name, is refused.
    pub fn render_url(&self, scope: Scope<'_>) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.text.len());
        let mut part = UrlPart::Scheme;
        for piece in &self.pieces {
            if let Piece::Literal(text) = piece {
                part = part.after(text);
                out.push_str(text);
                continue;
            }
            let value = fill(piece, scope)?;
            // Bytes, not text: a parameter sent as `%FF` reaches the target as `%FF`.
            let value: Cow<'_, [u8]> = match piece {
                Piece::Param(_) => Cow::Owned(percent::decode(value.as_bytes(), false)),
                _ => match value {
                    Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
                    Cow::Owned(text) => Cow::Owned(text.into_bytes()),
                },
            };
            if matches!(piece, Piece::RequestPath) && part == UrlPart::Authority {
                // The request's path begins with `/`: it ends the authority.
                part = UrlPart::Path;
            }
            let unsafe_value = |reason: &str| TemplateError::UnsafeValue {
                placeholder: placeholder_text(piece),
                reason: reason.to_owned(),
            };
            match part {
                UrlPart::Scheme => {
                    return Err(unsafe_value("the scheme of a URL is not filled from a request"))
                }
                UrlPart::Authority => {
                    let host = |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.');
                    if value.is_empty() || !value.iter().all(host) {
                        return Err(unsafe_value(
                            "a host name takes letters, digits, `-` and `.` only",
                        ));
                    }
                    // Only ASCII letters, digits, `-` and `.`: the encoding keeps them all.
                    out.push_str(&String::from_utf8_lossy(&value));
                }
                UrlPart::Path if matches!(piece, Piece::RequestPath) => {
                    // A whole path, as sent (already encoded), kept segment by segment.
                    let dot = |segment: &str| {
                        let decoded = percent::decode(segment.as_bytes(), false);
                        decoded == b"." || decoded == b".."
                    };
                    let path = String::from_utf8_lossy(&value);
                    if path.split('/').any(dot) {
                        return Err(unsafe_value("`.` and `..` are not accepted as a path segment"));
                    }
                    let path = path
                        .strip_prefix('/')
                        .filter(|_| out.ends_with('/'))
                        .unwrap_or(&path);
                    encode(&mut out, path.as_bytes(), percent::PATH);
                }
                UrlPart::Path => {
                    let whole_segment = out.ends_with('/');
                    if whole_segment && (*value == *b"." || *value == *b"..") {
                        return Err(unsafe_value("`.` and `..` are not accepted as a path segment"));
                    }
                    encode(&mut out, &value, percent::SEGMENT);
                }
                UrlPart::Query => encode(&mut out, &value, percent::UNRESERVED),
            }
        }
        Ok(out)
    }
}

/// Appends `bytes` to `out` with every byte of `set`, and every non-ASCII byte,
/// written as `%XX` (as [`percent::encode`] does, in place).
fn encode(out: &mut String, bytes: &[u8], set: &'static percent_encoding::AsciiSet) {
    out.extend(percent_encoding::percent_encode(bytes, set));
}

/// Where in a URL the text written so far ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlPart {
    Scheme,
    Authority,
    Path,
    /// The query or the fragment: values are encoded the same way in both.
    Query,
}

impl UrlPart {
    /// The part after literal `text`.
    fn after(mut self, text: &str) -> Self {
        let mut rest = text;
        loop {
            let (next, skip) = match self {
                UrlPart::Scheme => match rest.find("://") {
                    Some(at) => (UrlPart::Authority, at + 3),
                    None => return self,
                },
                UrlPart::Authority => match rest.find(['/', '?', '#']) {
                    Some(at) if rest.as_bytes()[at] == b'/' => (UrlPart::Path, at + 1),
                    Some(at) => (UrlPart::Query, at + 1),
                    None => return self,
                },
                UrlPart::Path => match rest.find(['?', '#']) {
                    Some(at) => (UrlPart::Query, at + 1),
                    None => return self,
                },
                UrlPart::Query => return self,
            };
            self = next;
            rest = &rest[skip..];
        }
    }
}

/// The value of one placeholder; an absent or null value is an error naming it.
fn fill<'a>(piece: &'a Piece, scope: Scope<'a>) -> Result<Cow<'a, str>, TemplateError> {
    Ok(match piece {
        Piece::Literal(text) => text.into(),
        Piece::Json(path) => match json(path, scope.event)? {
            Value::String(text) => text.as_str().into(),
            other => other.to_string().into(),
        },
        Piece::Param(name) => scope
            .params
            .get(name)
            .ok_or_else(|| TemplateError::NoParam { name: name.clone() })?
            .into(),
        Piece::Header(name) => scope
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| TemplateError::NoHeader { name: name.clone() })?
            .into(),
        Piece::Method => scope.request.method.as_str().into(),
        Piece::RequestPath => scope.request.uri.path().into(),
        Piece::Query(name) => percent::query_pairs(scope.request.uri.query().unwrap_or(""))
            .find_map(|(key, value)| (key == *name).then_some(value))
            .ok_or_else(|| TemplateError::NoQuery { name: name.clone() })?
            .into(),
    })
}

/// The value at `path` in `event`; an absent or null value is an error naming it.
fn json<'a>(path: &Path, event: &'a Value) -> Result<&'a Value, TemplateError> {
    match path.get(event) {
        None | Some(Value::Null) => Err(TemplateError::NoValue {
            path: path.as_str().to_owned(),
        }),
        Some(value) => Ok(value),
    }
}

/// A placeholder as written, for messages.
fn placeholder_text(piece: &Piece) -> String {
    match piece {
        Piece::Literal(text) => text.clone(),
        Piece::Json(path) => format!("{{{}}}", path.as_str()),
        Piece::Param(name) => format!("{{path.{name}}}"),
        Piece::Header(name) => format!("{{header.{name}}}"),
        Piece::Method => "{request.method}".to_owned(),
        Piece::RequestPath => "{request.path}".to_owned(),
        Piece::Query(name) => format!("{{request.query.{name}}}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static POST: Method = Method::POST;

    fn uri() -> &'static Uri {
        static URI: std::sync::OnceLock<Uri> = std::sync::OnceLock::new();
        URI.get_or_init(|| Uri::from_static("/hooks/tradevest/customer-notification?kind=a%20b&n=1"))
    }

    fn scope<'a>(event: &'a Value, params: &'a PathParams, headers: &'a HeaderMap) -> Scope<'a> {
        Scope {
            event,
            params,
            headers,
            request: Line {
                method: &POST,
                uri: uri(),
            },
        }
    }

    #[test]
    fn fills_json_params_and_headers() {
        let template = Template::parse(
            "https://backend/customers/{path.customerId}/events/{$.id}?n={$.n}&h={header.X-Kind}",
        )
        .unwrap();
        let event = json!({"id": "evt_1", "n": 3});
        let params = PathParams(vec![("customerId".into(), "cus_9".into())]);
        let mut headers = HeaderMap::new();
        headers.insert("x-kind", "consent".parse().unwrap());
        assert_eq!(
            template.render(scope(&event, &params, &headers)).unwrap(),
            "https://backend/customers/cus_9/events/evt_1?n=3&h=consent"
        );
        assert_eq!(template.params().collect::<Vec<_>>(), vec!["customerId"]);
    }

    #[test]
    fn missing_values_are_errors_not_panics() {
        let (event, params, headers) = (json!({"id": null}), PathParams::default(), HeaderMap::new());
        for text in ["{$.id}", "{$.absent.deep}", "{path.customerId}", "{header.x}"] {
            let error = Template::parse(text)
                .unwrap()
                .render(scope(&event, &params, &headers))
                .unwrap_err();
            assert!(!error.to_string().is_empty(), "{text}");
        }
    }

    #[test]
    fn literal_braces_and_bad_templates() {
        let (event, params, headers) = (json!({}), PathParams::default(), HeaderMap::new());
        let literal = Template::parse("{{x}}").unwrap();
        assert!(literal.is_literal());
        assert_eq!(literal.render(scope(&event, &params, &headers)).unwrap(), "{x}");
        for bad in ["{", "}", "{nope}", "{$.a[}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_values_are_encoded_for_their_part_and_dot_segments_refused() {
        let template =
            Template::parse("https://{header.region}.backend/p/{path.id}/end?q={$.q}&n={$.n}#{$.n}").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("region", "eu-1".parse().unwrap());
        let url_with = |headers: &HeaderMap, id: &str, event: Value| {
            let params = PathParams(vec![("id".into(), id.into())]);
            template.render_url(scope(&event, &params, headers))
        };
        let url = |id: &str, event: Value| url_with(&headers, id, event);
        assert_eq!(
            url("a%20b", json!({"q": "x&y=z", "n": 3})).unwrap(),
            "https://eu-1.backend/p/a%20b/end?q=x%26y%3Dz&n=3#3"
        );
        assert_eq!(
            url("a/b", json!({"q": "", "n": 1})).unwrap(),
            "https://eu-1.backend/p/a%2Fb/end?q=&n=1#1"
        );
        for traversal in ["..", ".", "%2e%2e", "%2E."] {
            let error = url(traversal, json!({"q": "", "n": 1})).unwrap_err();
            assert!(
                matches!(error, TemplateError::UnsafeValue { .. }),
                "{traversal}: {error}"
            );
        }
        assert_eq!(
            url("%FF%00", json!({"q": "\u{0}é", "n": 1})).unwrap(),
            "https://eu-1.backend/p/%FF%00/end?q=%00%C3%A9&n=1#1",
            "bytes that are not UTF-8 pass as they were sent, not replaced"
        );
        assert_eq!(
            url("..x", json!({"q": "", "n": 1})).unwrap(),
            "https://eu-1.backend/p/..x/end?q=&n=1#1"
        );
        let mut evil = HeaderMap::new();
        evil.insert("region", "evil.com/x".parse().unwrap());
        assert!(
            url_with(&evil, "a", json!({"q": "", "n": 1})).is_err(),
            "a host takes no `/`"
        );
    }

    #[test]
    fn fills_the_request_line() {
        let (event, params, headers) = (json!({}), PathParams::default(), HeaderMap::new());
        let render = |text: &str| {
            Template::parse(text)
                .unwrap()
                .render(scope(&event, &params, &headers))
        };
        assert_eq!(
            render("{request.method} {request.path}").unwrap(),
            "POST /hooks/tradevest/customer-notification"
        );
        assert_eq!(render("{request.query.kind}/{request.query.n}").unwrap(), "a b/1");
        assert_eq!(
            render("{request.query.missing}").unwrap_err(),
            TemplateError::NoQuery {
                name: "missing".into()
            }
        );
        let url = |text: &str| {
            Template::parse(text)
                .unwrap()
                .render_url(scope(&event, &params, &headers))
        };
        assert_eq!(
            url("http://partner{request.path}?kind={request.query.kind}").unwrap(),
            "http://partner/hooks/tradevest/customer-notification?kind=a%20b"
        );
        assert_eq!(
            url("http://partner/base/{request.path}").unwrap(),
            "http://partner/base/hooks/tradevest/customer-notification",
            "one slash between a base and the path"
        );
        assert!(Template::parse("{request.query.}").is_err());
        assert!(Template::parse("{request.host}").is_err());
    }

    #[test]
    fn a_request_path_with_dot_segments_is_refused_in_a_url() {
        let (event, params, headers) = (json!({}), PathParams::default(), HeaderMap::new());
        let template = Template::parse("http://partner{request.path}").unwrap();
        for path in ["/a/../admin", "/a/%2e%2E/admin", "/./a"] {
            let uri: Uri = path.parse().unwrap();
            let scope = Scope {
                request: Line {
                    method: &POST,
                    uri: &uri,
                },
                ..scope(&event, &params, &headers)
            };
            assert!(template.render_url(scope).is_err(), "{path}");
        }
    }

    #[test]
    fn one_tokenizer_for_every_template() {
        assert_eq!(
            tokens("a{{b}}{x}c{ y }").unwrap(),
            [
                Token::Text("a{b}".into()),
                Token::Placeholder("x"),
                Token::Text("c".into()),
                Token::Placeholder(" y ")
            ]
        );
        assert!(tokens("a}").unwrap_err().contains("unmatched `}`"));
        assert!(tokens("{a").unwrap_err().contains("unclosed `{`"));
        assert_eq!(tokens("").unwrap(), []);
    }
}
