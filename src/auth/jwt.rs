//! JWT bearer tokens (Toqio): signature by an allow-listed algorithm with PEM keys, a
//! JWKS document or HMAC secrets; `exp`/`nbf` with leeway; `iss`/`sub`/`aud`; custom
//! claims that must equal configured values or path parameters.
//!
//! Algorithm confusion (RFC 8725 §2.1) is closed at load: an allow-list may not mix
//! HMAC and public-key algorithms, and each key only verifies algorithms of its own
//! family. `none` cannot be configured and never verifies.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::context::Context;
use super::{header, AuthRequest, Reason, Rejection, SignRequest, Verifier};
use crate::model::{resolve_secret as resolve, Secret};

/// `- jwt: {...}` as written in the file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Accepted algorithms, e.g. `[PS256, PS512]` (default `[RS256]`); all of one
    /// family (HMAC `HS*`, RSA `RS*`/`PS*`, EC `ES*`, or `EdDSA`). `none` is never
    /// accepted.
    pub algorithms: Option<Vec<String>>,
    /// PEM public keys (RSA, EC or Ed25519), inline or `file:/path`, for RS/PS/ES/EdDSA.
    #[serde(default)]
    pub keys: Vec<String>,
    /// A JWKS document (`file:/path` or inline JSON); the token's `kid` selects the key.
    pub jwks: Option<String>,
    /// HMAC secrets (`${ENV}` or `file:`), for HS256/384/512.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Header carrying `Bearer <token>` (default `authorization`).
    pub header: Option<String>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `sub`.
    pub subject: Option<String>,
    /// Accepted `aud` values; when set, a token must carry one of them.
    #[serde(default)]
    pub audience: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf` (default `60s`).
    #[serde(default)]
    #[schemars(schema_with = "crate::config::schema::duration")]
    pub leeway: Option<String>,
    /// Claims that must be present (e.g. `[exp]`); `exp` and `nbf` are checked
    /// whenever present.
    #[serde(default)]
    pub require: Vec<String>,
    /// Claims that must equal these values, e.g. `{ apiKey: "${TOQIO_API_KEY}" }`.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    /// Claims that must equal a path parameter: claim → parameter, e.g.
    /// `{ customerID: customerId }` for `/customers/{customerId}/...`.
    #[serde(default)]
    pub path_claims: BTreeMap<String, String>,
}

/// One verification key, with the `kid` a JWKS gave it.
struct Key {
    kid: Option<String>,
    key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(kid: {:?})", self.kid)
    }
}

/// A built JWT check.
#[derive(Debug)]
pub struct JwtVerifier {
    header: HeaderName,
    family: AlgorithmFamily,
    algorithms: Vec<Algorithm>,
    keys: Vec<Key>,
    /// Kept for `hookgate sign` with HS* algorithms.
    secrets: Vec<Secret>,
    pub(crate) validation: Validation,
    claims: Vec<(String, Secret)>,
    path_claims: Vec<(String, String)>,
    issuer: Option<String>,
    subject: Option<String>,
    audience: Option<String>,
}

/// Builds `- jwt: {...}`.
pub(super) fn build(value: serde_yaml::Value, cx: &mut Context<'_>) -> Option<Arc<dyn Verifier>> {
    let config: JwtConfig = cx.settings(value)?;
    config
        .build(cx)
        .map(|verifier| Arc::new(verifier) as Arc<dyn Verifier>)
}

impl JwtConfig {
    fn build(self, cx: &mut Context<'_>) -> Option<JwtVerifier> {
        let before = cx.problems();
        // A route that names no algorithms accepts RS256 alone.
        let default = [String::from("RS256")];
        let algorithms = parse_algorithms(self.algorithms.as_deref().unwrap_or(&default), cx);
        let family = algorithms.first().map(|alg| alg.family());
        if let Some(family) = family {
            if algorithms.iter().any(|alg| alg.family() != family) {
                cx.report("algorithms",
                    "expected algorithms of one family (HS*, RS*/PS*, ES* or EdDSA); mixing HMAC and public-key algorithms allows algorithm confusion (RFC 8725 §2.1)",
                );
            }
        }
        let (keys, secrets) = match family {
            Some(family) => self.keys_of(family, before, cx),
            None => (Vec::new(), Vec::new()),
        };
        let header = match HeaderName::try_from(self.header.as_deref().unwrap_or("authorization")) {
            Ok(name) => name,
            Err(_) => {
                cx.report("header", "expected a header name such as `authorization`");
                HeaderName::from_static("authorization")
            }
        };
        let leeway = cx.duration("leeway", self.leeway.clone(), Duration::from_secs(60));
        let validation = self.validation(&algorithms, leeway);
        let claims = self
            .claims
            .into_iter()
            .map(|(name, value)| {
                // A claim value is compared like a secret (e.g. an API key).
                cx.note_secret(&format!("claims.{name}"));
                (name, Secret::new(value.into_bytes()))
            })
            .collect();
        if cx.problems() > before {
            return None;
        }
        Some(JwtVerifier {
            header,
            family: family.unwrap_or(AlgorithmFamily::Rsa),
            algorithms,
            keys,
            secrets,
            validation,
            claims,
            path_claims: self.path_claims.into_iter().collect(),
            issuer: self.issuer,
            subject: self.subject,
            audience: self.audience.into_iter().next(),
        })
    }

    /// The verification keys for `family` (and the HMAC secrets, kept for signing),
    /// refusing keys of the other family: that would allow algorithm confusion.
    fn keys_of(
        &self,
        family: AlgorithmFamily,
        before: usize,
        cx: &mut Context<'_>,
    ) -> (Vec<Key>, Vec<Secret>) {
        let mut keys = Vec::new();
        let mut secrets = Vec::new();
        if family == AlgorithmFamily::Hmac {
            if !self.keys.is_empty() {
                cx.report(
                    "keys",
                    "HS* algorithms verify with `secrets` (or `oct` keys in `jwks`), not public keys",
                );
            }
            if self.jwks.is_none() || !self.secrets.is_empty() {
                secrets = cx.secrets(self.secrets.clone());
            }
            keys.extend(secrets.iter().map(|secret| Key {
                kid: None,
                key: DecodingKey::from_secret(secret.expose()),
            }));
        } else {
            if !self.secrets.is_empty() {
                cx.report(
                    "secrets",
                    "public-key algorithms verify with `keys` or `jwks`; HMAC `secrets` would allow algorithm confusion",
                );
            }
            for (index, text) in self.keys.iter().enumerate() {
                match resolve(text).and_then(|pem| pem_key(family, pem.expose())) {
                    Ok(key) => keys.push(Key { kid: None, key }),
                    Err(message) => cx.report(&format!("keys[{index}]"), message),
                }
            }
        }
        if let Some(jwks) = &self.jwks {
            match load_jwks(jwks, family) {
                Ok(found) => keys.extend(found),
                Err(message) => cx.report("jwks", message),
            }
        }
        if family != AlgorithmFamily::Hmac && keys.is_empty() && cx.problems() == before {
            cx.report(
                "keys",
                "expected at least one public key (`keys: [\"file:/etc/hookgate/provider.pub.pem\"]`) or a `jwks` document",
            );
        }
        (keys, secrets)
    }

    /// What jsonwebtoken checks: algorithms, `exp`/`nbf` with `leeway`, required
    /// claims, issuer, subject and audience.
    fn validation(&self, algorithms: &[Algorithm], leeway: Duration) -> Validation {
        let mut validation = Validation::new(algorithms.first().copied().unwrap_or(Algorithm::RS256));
        validation.algorithms = algorithms.to_vec();
        validation.leeway = leeway.as_secs();
        validation.validate_nbf = true;
        validation.required_spec_claims = self.require.iter().cloned().collect::<HashSet<_>>();
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".to_owned());
        }
        if let Some(subject) = &self.subject {
            validation.sub = Some(subject.clone());
            validation.required_spec_claims.insert("sub".to_owned());
        }
        if self.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audience);
            validation.required_spec_claims.insert("aud".to_owned());
        }
        validation
    }
}

fn parse_algorithms(names: &[String], cx: &mut Context<'_>) -> Vec<Algorithm> {
    if names.is_empty() {
        cx.report(
            "algorithms",
            "expected an allow-list of algorithms, e.g. `[RS256]`",
        );
    }
    names
        .iter()
        .enumerate()
        .filter_map(|(index, name)| match name.parse::<Algorithm>() {
            Ok(algorithm) => Some(algorithm),
            Err(_) => {
                cx.report(&format!("algorithms[{index}]"),
                    format!("unknown algorithm `{name}`; expected one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA (`none` is never accepted)"),
                );
                None
            }
        })
        .collect()
}

fn pem_key(family: AlgorithmFamily, pem: &[u8]) -> Result<DecodingKey, String> {
    let parsed = match family {
        AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem),
        AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem),
        AlgorithmFamily::Ed => DecodingKey::from_ed_pem(pem),
        AlgorithmFamily::Hmac => return Err("HMAC keys are `secrets`".to_owned()),
    };
    parsed.map_err(|error| format!("expected a PEM public key for the configured algorithms: {error}"))
}

fn load_jwks(source: &str, family: AlgorithmFamily) -> Result<Vec<Key>, String> {
    let text = resolve(source)?;
    let set: JwkSet = serde_json::from_slice(text.expose())
        .map_err(|error| format!("expected a JWKS document ({{\"keys\": [...]}}): {error}"))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        // Keys marked for encryption are not for verifying signatures.
        let usable = jwk
            .common
            .public_key_use
            .as_ref()
            .is_none_or(|usage| *usage == jsonwebtoken::jwk::PublicKeyUse::Signature);
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        if usable && key.family() == family {
            keys.push(Key {
                kid: jwk.common.key_id.clone(),
                key,
            });
        }
    }
    if keys.is_empty() {
        return Err("the JWKS document has no signing key of the configured algorithms' family".to_owned());
    }
    Ok(keys)
}

impl Verifier for JwtVerifier {
    fn scheme(&self) -> &'static str {
        "jwt"
    }

    fn verify(&self, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        let value = header(request, &self.header)?;
        let token = bearer_token(value).ok_or_else(|| {
            Rejection::new(
                Reason::MalformedCredential,
                format!("header `{}` is not `Bearer <token>`", self.header),
            )
        })?;
        let head = jsonwebtoken::decode_header(token)
            .map_err(|error| Rejection::new(Reason::InvalidToken, format!("token header: {error}")))?;
        if !self.algorithms.contains(&head.alg) {
            return Err(Rejection::new(
                Reason::InvalidToken,
                format!("algorithm {:?} is not in the allow-list", head.alg),
            ));
        }
        let candidates = self.keys.iter().filter(|Key { kid, .. }| match (&head.kid, kid) {
            (Some(wanted), Some(kid)) => wanted == kid,
            _ => true,
        });
        let mut last = Rejection::new(Reason::InvalidToken, format!("no key with kid {:?}", head.kid));
        for Key { key, .. } in candidates {
            match jsonwebtoken::decode::<Value>(token, key, &self.validation) {
                Ok(data) => return self.check_claims(&data.claims, request),
                Err(error) => last = rejection(&error),
            }
        }
        Err(last)
    }

    fn sign(&self, request: &mut SignRequest<'_>) -> Result<(), String> {
        let algorithm = self
            .algorithms
            .first()
            .copied()
            .ok_or("no algorithm configured")?;
        let key = match self.family {
            AlgorithmFamily::Hmac => {
                let secret = self.secrets.first().ok_or("no secret configured")?;
                EncodingKey::from_secret(secret.expose())
            }
            family => {
                let pem = request
                    .private_key
                    .ok_or("a JWT check needs the provider's private key: pass --private-key PEM")?;
                let parsed = match family {
                    AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(pem),
                    AlgorithmFamily::Ec => EncodingKey::from_ec_pem(pem),
                    _ => EncodingKey::from_ed_pem(pem),
                };
                parsed.map_err(|error| {
                    format!("--private-key is not a PEM private key for {algorithm:?}: {error}")
                })?
            }
        };
        let mut claims = serde_json::Map::new();
        claims.insert("iat".into(), request.now.into());
        claims.insert("exp".into(), (request.now + 300).into());
        if let Some(issuer) = &self.issuer {
            claims.insert("iss".into(), issuer.clone().into());
        }
        if let Some(subject) = &self.subject {
            claims.insert("sub".into(), subject.clone().into());
        }
        if let Some(audience) = &self.audience {
            claims.insert("aud".into(), audience.clone().into());
        }
        for (name, value) in &self.claims {
            claims.insert(name.clone(), value.expose_str().into());
        }
        for (claim, param) in &self.path_claims {
            let value = request.params.get(param).ok_or_else(|| {
                format!("the token needs path parameter `{param}`: pass --param {param}=VALUE")
            })?;
            claims.insert(claim.clone(), value.into());
        }
        let token = jsonwebtoken::encode(&Header::new(algorithm), &Value::Object(claims), &key)
            .map_err(|error| format!("signing the token failed: {error}"))?;
        request
            .headers
            .push((self.header.to_string(), format!("Bearer {token}")));
        Ok(())
    }
}

impl JwtVerifier {
    fn check_claims(&self, claims: &Value, request: &AuthRequest<'_>) -> Result<(), Rejection> {
        for (name, expected) in &self.claims {
            let matches = claims
                .get(name)
                .and_then(Value::as_str)
                .is_some_and(|actual| expected.ct_eq(actual.as_bytes()));
            if !matches {
                return Err(Rejection::new(
                    Reason::ClaimMismatch,
                    format!("claim `{name}` does not match"),
                ));
            }
        }
        for (claim, param) in &self.path_claims {
            let actual = claims.get(claim).map(|value| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            });
            if actual.as_deref() != request.params.get(param) {
                return Err(Rejection::new(
                    Reason::ClaimMismatch,
                    format!("claim `{claim}` does not equal path parameter `{param}`"),
                ));
            }
        }
        Ok(())
    }
}

/// `Bearer <token>`, scheme matched case-insensitively.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn rejection(error: &jsonwebtoken::errors::Error) -> Rejection {
    use jsonwebtoken::errors::ErrorKind;
    let reason = match error.kind() {
        ErrorKind::InvalidIssuer
        | ErrorKind::InvalidSubject
        | ErrorKind::InvalidAudience
        | ErrorKind::MissingRequiredClaim(_) => Reason::ClaimMismatch,
        _ => Reason::InvalidToken,
    };
    Rejection::new(reason, format!("token rejected: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::context::testing::Recorded;
    use crate::model::PathParams;
    use base64::Engine;
    use http::{HeaderMap, HeaderValue, Method, Uri};

    /// RFC 7515 A.1: HS256 with the JWK `k` below.
    const A1_JWKS: &str = r#"{"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]}"#;
    const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    /// RFC 7515 A.2: RS256 with the RSA public key below.
    const A2_JWKS: &str = r#"{"keys":[{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}]}"#;
    const A2_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

    const PUBLIC_PEM: &str = include_str!("../../tests/fixtures/jwt/rsa-public.pem");
    const PRIVATE_PEM: &str = include_str!("../../tests/fixtures/jwt/rsa-private.pem");

    fn build(yaml: &str) -> Result<JwtVerifier, Vec<(String, String)>> {
        let config: JwtConfig = serde_yaml::from_str(yaml).unwrap();
        let mut recorded = Recorded::default();
        let built = config.build(&mut Context::new(&mut recorded, "jwt".to_owned()));
        match built {
            Some(verifier) if recorded.0.is_empty() => Ok(verifier),
            _ => Err(recorded.0),
        }
    }

    fn verify_with(verifier: &JwtVerifier, token: &str, params: &[(&str, &str)]) -> Result<(), Rejection> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let params = PathParams(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let uri = Uri::from_static("/");
        verifier.verify(&AuthRequest {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body: b"",
            params: &params,
            peer: None,
            now: unix_now_for_tests(),
        })
    }

    fn unix_now_for_tests() -> u64 {
        super::super::unix_now()
    }

    fn sign(verifier: &JwtVerifier, params: &[(&str, &str)], key: Option<&str>) -> String {
        let params = PathParams(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let mut request = SignRequest {
            body: b"",
            now: unix_now_for_tests(),
            id: String::new(),
            params: &params,
            private_key: key.map(str::as_bytes),
            headers: Vec::new(),
            query: Vec::new(),
        };
        verifier.sign(&mut request).unwrap();
        request.headers[0].1.trim_start_matches("Bearer ").to_owned()
    }

    fn toqio() -> JwtVerifier {
        let yaml = format!(
            "algorithms: [RS256]\nkeys: [{:?}]\nissuer: Toqio\nsubject: Toqio-integration-hub Authorization\npath_claims: {{ customerID: customerId }}\n",
            PUBLIC_PEM
        );
        build(&yaml).unwrap()
    }

    #[test]
    fn rfc_7515_a1_hs256() {
        let mut verifier = build(&format!("algorithms: [HS256]\njwks: {A1_JWKS:?}\n")).unwrap();
        verifier.validation.validate_exp = false; // the example expired in 2011
        assert_eq!(verify_with(&verifier, A1_TOKEN, &[]), Ok(()));
        let tampered = A1_TOKEN.replace("dBjf", "dBjg");
        assert_eq!(
            verify_with(&verifier, &tampered, &[]).unwrap_err().reason,
            Reason::InvalidToken
        );
    }

    #[test]
    fn rfc_7515_a2_rs256() {
        let mut verifier = build(&format!("algorithms: [RS256]\njwks: {A2_JWKS:?}\n")).unwrap();
        verifier.validation.validate_exp = false;
        assert_eq!(verify_with(&verifier, A2_TOKEN, &[]), Ok(()));
        verifier.validation.validate_exp = true;
        assert_eq!(
            verify_with(&verifier, A2_TOKEN, &[]).unwrap_err().reason,
            Reason::InvalidToken,
            "expired"
        );
    }

    #[test]
    fn toqio_token_with_matching_customer_is_accepted() {
        let verifier = toqio();
        let token = sign(&verifier, &[("customerId", "cus_1")], Some(PRIVATE_PEM));
        assert_eq!(verify_with(&verifier, &token, &[("customerId", "cus_1")]), Ok(()));
        let rejected = verify_with(&verifier, &token, &[("customerId", "cus_2")]).unwrap_err();
        assert_eq!(rejected.reason, Reason::ClaimMismatch);
    }

    #[test]
    fn alg_none_is_rejected() {
        let verifier = toqio();
        // {"alg":"none"} . {"iss":"Toqio","sub":"Toqio-integration-hub Authorization","customerID":"cus_1"} .
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"iss":"Toqio","sub":"Toqio-integration-hub Authorization","customerID":"cus_1"}"#);
        for token in [format!("{header}.{payload}."), format!("{header}.{payload}")] {
            let rejected = verify_with(&verifier, &token, &[("customerId", "cus_1")]).unwrap_err();
            assert_eq!(rejected.reason, Reason::InvalidToken);
        }
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_rejected() {
        // Algorithm confusion: an attacker signs HS256 using the RSA public key bytes.
        let verifier = toqio();
        let claims = serde_json::json!({
            "iss": "Toqio", "sub": "Toqio-integration-hub Authorization", "customerID": "cus_1",
            "exp": unix_now_for_tests() + 300,
        });
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(PUBLIC_PEM.as_bytes()),
        )
        .unwrap();
        let rejected = verify_with(&verifier, &forged, &[("customerId", "cus_1")]).unwrap_err();
        assert_eq!(rejected.reason, Reason::InvalidToken);
    }

    #[test]
    fn expired_and_wrong_issuer_are_rejected() {
        let verifier = toqio();
        let key = EncodingKey::from_rsa_pem(PRIVATE_PEM.as_bytes()).unwrap();
        let now = unix_now_for_tests();
        let token = |claims: serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
        };
        let expired = token(serde_json::json!({
            "iss": "Toqio", "sub": "Toqio-integration-hub Authorization", "customerID": "c", "exp": now - 3600,
        }));
        assert_eq!(
            verify_with(&verifier, &expired, &[("customerId", "c")])
                .unwrap_err()
                .reason,
            Reason::InvalidToken
        );
        let impostor = token(serde_json::json!({
            "iss": "NotToqio", "sub": "Toqio-integration-hub Authorization", "customerID": "c", "exp": now + 300,
        }));
        assert_eq!(
            verify_with(&verifier, &impostor, &[("customerId", "c")])
                .unwrap_err()
                .reason,
            Reason::ClaimMismatch
        );
        let future = token(serde_json::json!({
            "iss": "Toqio", "sub": "Toqio-integration-hub Authorization", "customerID": "c", "nbf": now + 3600,
        }));
        assert_eq!(
            verify_with(&verifier, &future, &[("customerId", "c")])
                .unwrap_err()
                .reason,
            Reason::InvalidToken
        );
    }

    #[test]
    fn mixed_families_and_none_are_config_errors() {
        let errors = build("algorithms: [HS256, RS256]\nsecrets: [x]\n").unwrap_err();
        assert!(
            errors
                .iter()
                .any(|(_, message)| message.contains("algorithm confusion")),
            "{errors:?}"
        );
        let errors = build("algorithms: [none]\nkeys: [x]\n").unwrap_err();
        assert!(
            errors.iter().any(|(path, _)| path == "jwt.algorithms[0]"),
            "{errors:?}"
        );
        let errors = build("algorithms: [RS256]\nsecrets: [x]\n").unwrap_err();
        assert!(errors.iter().any(|(path, _)| path == "jwt.secrets"), "{errors:?}");
    }

    #[test]
    fn missing_or_malformed_bearer_header() {
        let verifier = toqio();
        let uri = Uri::from_static("/");
        let params = PathParams::default();
        let mut headers = HeaderMap::new();
        let request = |headers: &HeaderMap| {
            verifier.verify(&AuthRequest {
                method: &Method::POST,
                uri: &uri,
                headers,
                body: b"",
                params: &params,
                peer: None,
                now: 0,
            })
        };
        assert_eq!(request(&headers).unwrap_err().reason, Reason::MissingCredential);
        headers.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(request(&headers).unwrap_err().reason, Reason::MalformedCredential);
        headers.insert("authorization", HeaderValue::from_static("Bearer not.a.jwt"));
        assert_eq!(request(&headers).unwrap_err().reason, Reason::InvalidToken);
    }
}
