//! Twilio (`- twilio: {...}`): `X-Twilio-Signature: <base64>`, an HMAC-SHA1 under the
//! account's Auth Token of the URL Twilio called followed by the POST parameters.
//! For form-encoded bodies, each parameter's name and value are appended sorted
//! by name, with the values of a repeated name sorted. For JSON bodies Twilio instead
//! appends `bodySHA256=<hex SHA-256 of the body>` to the URL's query and signs the URL
//! alone, so the body is checked against that hash.
//!
//! The URL is configured because hookgate, behind a load balancer, does not see the
//! one Twilio called; the request's query string is appended to it. Like Twilio's
//! SDKs, the URL is also tried with the default port added (or its port removed),
//! because Twilio is not consistent about which one it signs. No timestamp is signed;
//! deduplicate on `MessageSid`, `CallSid` and the like.

use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::HeaderName;
use serde_yaml::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::context::{Context, UrlConfig};
use super::mac::{self, Algorithm, Encoding};
use super::{header, percent_decode, AuthRequest, Reason, Rejection, SignRequest, Verifier};
use crate::model::{percent, Secret};

const TWILIO_SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");

/// The query parameter carrying the hash of a JSON body.
const BODY_HASH: &[u8] = b"bodySHA256";

/// A built Twilio check.
#[derive(Debug)]
pub struct TwilioVerifier {
    tokens: Vec<Secret>,
    /// The configured URL, then the same with the default port added or removed.
    urls: Vec<String>,
}

/// Builds `- twilio: { secrets: [...], url: ... }`: the account's Auth Tokens (the
/// secondary can be promoted without downtime), and the public URL Twilio calls as
/// configured in its console, without a query string (the request's own is
/// appended).
pub(super) fn build(value: Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: UrlConfig = cx.settings(value)?;
    let tokens = cx.secrets(config.secrets);
    let url = cx.public_url("url", &config.url)?;
    if url.contains(['?', '#']) {
        cx.report(
            "url",
            format!(
                "expected the URL without a query or fragment, e.g. `https://hooks.example.com/twilio/sms`: \
                 the request's query string is appended to it, found `{url}`"
            ),
        );
        return None;
    }
    Some(Arc::new(TwilioVerifier::new(tokens, &url)))
}

impl TwilioVerifier {
    /// A check accepting signatures under any of `tokens` for requests Twilio makes to
    /// `url` (absolute, without a query).
    pub fn new(tokens: Vec<Secret>, url: &str) -> Self {
        let mut urls = vec![url.to_owned()];
        urls.extend(port_variant(url));
        Self { tokens, urls }
    }
}

impl Verifier for TwilioVerifier {
    fn scheme(&self) -> &'static str {
        "twilio"
    }

    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        let signature = Encoding::Base64
            .decode(header(request, &TWILIO_SIGNATURE)?)
            .ok_or_else(|| {
                Rejection::new(
                    Reason::MalformedCredential,
                    "header `x-twilio-signature` is not base64",
                )
            })?;
        let query = request.uri.query();
        let body_hash = query
            .and_then(|query| form_pairs(query.as_bytes()).find(|(name, _)| name == BODY_HASH))
            .map(|(_, value)| {
                hex::decode(value).map_err(|_| {
                    Rejection::new(
                        Reason::MalformedCredential,
                        "query parameter `bodySHA256` is not hex",
                    )
                })
            })
            .transpose()?;
        let params = if body_hash.is_some() {
            Vec::new()
        } else if is_form(request) {
            form_pairs(request.body).collect()
        } else if request.body.is_empty() {
            Vec::new()
        } else {
            // Signing the URL alone would leave such a body unauthenticated.
            return Err(Rejection::new(
                Reason::MalformedCredential,
                "body is neither form-encoded nor covered by a `bodySHA256` query parameter",
            ));
        };
        let params = sorted_params(params);
        let (separator, query) = match query {
            Some(query) => (&b"?"[..], query.as_bytes()),
            None => (&b""[..], &b""[..]),
        };
        let signed = self.urls.iter().any(|url| {
            let parts = [url.as_bytes(), separator, query, &params];
            self.tokens
                .iter()
                .any(|token| mac::verify(Algorithm::Sha1, token.expose(), &parts, &signature))
        });
        if !signed {
            return Err(Rejection::new(
                Reason::BadSignature,
                format!(
                    "header `x-twilio-signature` matches the URL and parameters under none of the {} configured tokens",
                    self.tokens.len()
                ),
            ));
        }
        if let Some(expected) = body_hash {
            let actual = Sha256::digest(request.body);
            if !(expected.len() == actual.len() && bool::from(expected.ct_eq(&actual))) {
                return Err(Rejection::new(
                    Reason::BadSignature,
                    "query parameter `bodySHA256` does not match the body",
                ));
            }
        }
        Ok(())
    }

    /// A body that parses as JSON is signed the JSON way (`bodySHA256` added to the
    /// query), anything else as form parameters. The signed URL is the configured one
    /// plus `query` as `hookgate sign` appends it (in order, percent-encoded), so a
    /// check listed after this one must not add query parameters.
    fn sign(&self, request: &mut SignRequest<'_>) -> Result<(), String> {
        let token = self.tokens.first().ok_or("no secret configured")?;
        let params = if serde_json::from_slice::<serde::de::IgnoredAny>(request.body).is_ok() {
            let hash = hex::encode(Sha256::digest(request.body));
            request.query.push(("bodySHA256".to_owned(), hash));
            Vec::new()
        } else {
            sorted_params(form_pairs(request.body).collect())
        };
        let query = encode_query(&request.query);
        let separator: &[u8] = if query.is_empty() { b"" } else { b"?" };
        let parts = [self.urls[0].as_bytes(), separator, query.as_bytes(), &params];
        let signature = mac::compute(Algorithm::Sha1, token.expose(), &parts);
        request
            .headers
            .push((TWILIO_SIGNATURE.to_string(), Encoding::Base64.encode(&signature)));
        Ok(())
    }
}

fn is_form(request: &AuthRequest<'_>) -> bool {
    request
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Names and values concatenated, sorted by name then value, each distinct pair
/// once, as Twilio's SDKs build them.
fn sorted_params(mut params: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    params.sort();
    params.dedup();
    params
        .into_iter()
        .flat_map(|(name, value)| name.into_iter().chain(value))
        .collect()
}

/// The decoded `name=value` pairs of form-encoded `bytes` (`+` is a space, `%XX` a
/// byte, malformed escapes kept as they are).
fn form_pairs(bytes: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    bytes
        .split(|&byte| byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&byte| byte == b'=') {
            Some(at) => (percent_decode(&pair[..at]), percent_decode(&pair[at + 1..])),
            None => (percent_decode(pair), Vec::new()),
        })
}

/// `pairs` form-encoded: unreserved characters kept, everything else `%XX`.
fn encode_query(pairs: &[(String, String)]) -> String {
    let encode = |text: &str| percent::encode(text, percent::UNRESERVED);
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `url` with its port removed, or with the scheme's default port added when it has
/// none, as Twilio's SDK validators try both.
fn port_variant(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host_at = authority.rfind('@').map_or(0, |at| at + 1);
    let (userinfo, host_port) = authority.split_at(host_at);
    // The last `:` starts a port unless it is inside an IPv6 literal `[...]`.
    let port_at = host_port.rfind(':').filter(|&at| !host_port[at..].contains(']'));
    let host_port = match port_at {
        Some(at) => host_port[..at].to_owned(),
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            format!("{host_port}:{port}")
        }
    };
    Some(format!("{scheme}://{userinfo}{host_port}{path}"))
}

#[cfg(test)]
mod tests {
    use super::super::hmac::testing::{borrowed, check, reason, sign};
    use super::*;

    // `twilio/twilio-python`, tests/unit/test_request_validator.py.
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php";
    const TARGET: &str = "/myapp.php?foo=1&bar=2";
    const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
    /// The test's params, deliberately not in sorted order.
    const PARAMS: &[u8] =
        b"To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&Caller=%2B14158675309";
    const JSON: &[u8] = br#"{"property": "value", "boolean": true}"#;
    const JSON_TARGET: &str =
        "/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

    fn twilio(tokens: &[&str], url: &str) -> TwilioVerifier {
        TwilioVerifier::new(tokens.iter().map(|s| Secret::new(*s)).collect(), url)
    }

    fn form_headers(signature: &str) -> [(&str, &str); 2] {
        [FORM, ("x-twilio-signature", signature)]
    }

    #[test]
    fn sdk_form_vector() {
        let headers = form_headers("RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_eq!(check(&twilio(&[TOKEN], URL), TARGET, &headers, PARAMS, 0), Ok(()));
    }

    #[test]
    fn sdk_port_vectors() {
        let cases = [
            // Signed with `:443`, configured without a port.
            (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
            // Signed with `:80`.
            ("http://mycompany.com/myapp.php", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
            // Signed with `:1234`, configured the same.
            (
                "http://mycompany.com:1234/myapp.php",
                "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
            ),
            // Signed without a port, configured with `:1234`.
            (
                "https://mycompany.com:1234/myapp.php",
                "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            ),
        ];
        for (url, signature) in cases {
            let headers = form_headers(signature);
            assert_eq!(
                check(&twilio(&[TOKEN], url), TARGET, &headers, PARAMS, 0),
                Ok(()),
                "{url}"
            );
        }
    }

    #[test]
    fn sdk_repeated_parameter_vector() {
        let headers = form_headers("IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        let body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
        assert_eq!(check(&twilio(&[TOKEN], URL), TARGET, &headers, body, 0), Ok(()));
    }

    #[test]
    fn sdk_json_body_vector() {
        let headers = [
            ("content-type", "application/json"),
            ("x-twilio-signature", "a9nBmqA0ju/hNViExpshrM61xv4="),
        ];
        assert_eq!(
            check(&twilio(&[TOKEN], URL), JSON_TARGET, &headers, JSON, 0),
            Ok(())
        );
        // The URL still verifies, but the body is not the one hashed into it.
        let tampered = br#"{"property": "value", "boolean": false}"#;
        assert_eq!(
            reason(&twilio(&[TOKEN], URL), JSON_TARGET, &headers, tampered, 0),
            Reason::BadSignature
        );
        // Without the hash the body would be unsigned.
        let without_hash = [
            ("content-type", "application/json"),
            ("x-twilio-signature", "a9nBmqA0ju/hNViExpshrM61xv4="),
        ];
        assert_eq!(
            reason(&twilio(&[TOKEN], URL), TARGET, &without_hash, JSON, 0),
            Reason::MalformedCredential
        );
    }

    #[test]
    fn wrong_token_changed_param_missing_and_malformed() {
        let headers = form_headers("RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_eq!(
            reason(&twilio(&["12346"], URL), TARGET, &headers, PARAMS, 0),
            Reason::BadSignature
        );
        let mut body = PARAMS.to_vec();
        body[30] ^= 1;
        assert_eq!(
            reason(&twilio(&[TOKEN], URL), TARGET, &headers, &body, 0),
            Reason::BadSignature
        );
        let other_query = "/myapp.php?foo=1&bar=3";
        assert_eq!(
            reason(&twilio(&[TOKEN], URL), other_query, &headers, PARAMS, 0),
            Reason::BadSignature
        );
        assert_eq!(
            reason(&twilio(&[TOKEN], URL), TARGET, &[FORM], PARAMS, 0),
            Reason::MissingCredential
        );
        let garbled = form_headers("not base64!");
        assert_eq!(
            reason(&twilio(&[TOKEN], URL), TARGET, &garbled, PARAMS, 0),
            Reason::MalformedCredential
        );
    }

    #[test]
    fn sign_reproduces_the_form_vector_after_other_query_parameters() {
        let params = crate::model::PathParams::default();
        let mut request = SignRequest {
            body: PARAMS,
            now: 0,
            id: String::new(),
            params: &params,
            private_key: None,
            headers: Vec::new(),
            query: vec![
                ("foo".to_owned(), "1".to_owned()),
                ("bar".to_owned(), "2".to_owned()),
            ],
        };
        twilio(&[TOKEN], URL).sign(&mut request).unwrap();
        assert_eq!(
            request.headers,
            [(
                "x-twilio-signature".to_owned(),
                "RSOYDt4T1cUTdK1PDd93/VVr8B8=".to_owned()
            )]
        );
    }

    #[test]
    fn sign_round_trips_form_and_json_and_rotation() {
        let rotating = twilio(&["old", TOKEN], URL);
        let (headers, query) = sign(&twilio(&[TOKEN], URL), PARAMS, 0);
        assert!(query.is_empty());
        let mut headers = borrowed(&headers);
        headers.push(FORM);
        assert_eq!(check(&rotating, "/myapp.php", &headers, PARAMS, 0), Ok(()));
        let (headers, _) = sign(&twilio(&["old"], URL), PARAMS, 0);
        let mut headers = borrowed(&headers);
        headers.push(FORM);
        assert_eq!(check(&rotating, "/myapp.php", &headers, PARAMS, 0), Ok(()));

        let (headers, query) = sign(&twilio(&[TOKEN], URL), JSON, 0);
        assert_eq!(query[0].0, "bodySHA256");
        let target = format!("/myapp.php?{}", encode_query(&query));
        assert_eq!(check(&rotating, &target, &borrowed(&headers), JSON, 0), Ok(()));
    }

    #[test]
    fn port_variants() {
        assert_eq!(
            port_variant("https://a.com/x").as_deref(),
            Some("https://a.com:443/x")
        );
        assert_eq!(port_variant("http://a.com").as_deref(), Some("http://a.com:80"));
        assert_eq!(
            port_variant("https://a.com:8443/x").as_deref(),
            Some("https://a.com/x")
        );
        assert_eq!(
            port_variant("https://u:p@a.com/x").as_deref(),
            Some("https://u:p@a.com:443/x")
        );
        assert_eq!(
            port_variant("http://[::1]/x").as_deref(),
            Some("http://[::1]:80/x")
        );
        assert_eq!(
            port_variant("http://[::1]:8080/x").as_deref(),
            Some("http://[::1]/x")
        );
    }

    #[test]
    fn form_decoding() {
        let pairs: Vec<_> = form_pairs(b"a+b=%2B1&empty&c=100%&d=%zz&&e=%C3%A9").collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"a b".to_vec(), b"+1".to_vec()),
            (b"empty".to_vec(), Vec::new()),
            (b"c".to_vec(), b"100%".to_vec()),
            (b"d".to_vec(), b"%zz".to_vec()),
            (b"e".to_vec(), "é".as_bytes().to_vec()),
        ];
        assert_eq!(pairs, expected);
    }
}
