//! Inbound verification through the real server: for every scheme, a signed request
//! is forwarded; a wrong secret, a changed body byte, a missing or malformed
//! credential and a stale timestamp are 401 and nothing reaches the target; two
//! secrets rotate. Requests are signed the way `hookgate sign` signs them, whose
//! output the unit tests hold against the providers' published vectors.

use crate::support::{send, Downstream, Hookgate, Reply};
use hookgate::auth::{sign_all, unix_now, Signed};
use hookgate::model::PathParams;
use http::Method;

const BODY: &str = "{\"eventId\":\"evt_1\",\"amount\":\"50.00 EUR\"}";
const OLD: &str = "old-secret-3f9a";
const NEW: &str = "new-secret-81c2";

/// A scheme under test: its `auth` entry for a list of secrets, and what it signs.
struct Scheme {
    name: &'static str,
    auth: fn(&[&str]) -> String,
    /// The signature covers the body, so changing a byte must fail.
    signs_body: bool,
    /// It signs a timestamp with a 300 s tolerance.
    timestamped: bool,
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn list(secrets: &[&str]) -> String {
    secrets
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn schemes() -> Vec<Scheme> {
    vec![
        Scheme {
            name: "hmac",
            auth: |s| {
                format!(
                    "hmac: {{ secrets: [{}], header: x-signature, algorithm: sha512, encoding: base64, prefix: \"v2=\", content: \"{{id}}:{{timestamp}}:{{body}}\", id_header: x-id, timestamp_header: x-ts }}",
                    list(s)
                )
            },
            signs_body: true,
            timestamped: true,
        },
        Scheme {
            name: "standard_webhooks",
            auth: |s| {
                // Standard Webhooks keys are base64 after `whsec_`.
                let keys: Vec<_> = s.iter().map(|k| format!("whsec_{}", b64(k))).collect();
                format!(
                    "standard_webhooks: {{ secrets: [{}] }}",
                    list(&keys.iter().map(String::as_str).collect::<Vec<_>>())
                )
            },
            signs_body: true,
            timestamped: true,
        },
        Scheme {
            name: "stripe",
            auth: |s| format!("stripe: {{ secrets: [{}] }}", list(s)),
            signs_body: true,
            timestamped: true,
        },
        Scheme {
            name: "github",
            auth: |s| format!("github: {{ secrets: [{}] }}", list(s)),
            signs_body: true,
            timestamped: false,
        },
        Scheme {
            name: "shopify",
            auth: |s| format!("shopify: {{ secrets: [{}] }}", list(s)),
            signs_body: true,
            timestamped: false,
        },
        Scheme {
            name: "slack",
            auth: |s| format!("slack: {{ secrets: [{}] }}", list(s)),
            signs_body: true,
            timestamped: true,
        },
        Scheme {
            name: "square",
            auth: |s| {
                format!(
                    "square: {{ secrets: [{}], url: \"https://hooks.example.com/in\" }}",
                    list(s)
                )
            },
            signs_body: true,
            timestamped: false,
        },
        Scheme {
            name: "twilio",
            auth: |s| {
                format!(
                    "twilio: {{ secrets: [{}], url: \"https://hooks.example.com/in\" }}",
                    list(s)
                )
            },
            signs_body: true,
            timestamped: false,
        },
        Scheme {
            name: "klavi",
            auth: |s| format!("klavi: {{ secrets: [{}] }}", list(s)),
            signs_body: true,
            timestamped: false,
        },
        Scheme {
            name: "betterez",
            auth: |s| format!("betterez: {{ secrets: [{}] }}", list(s)),
            signs_body: true,
            timestamped: true,
        },
        Scheme {
            name: "header",
            auth: |s| format!("header: {{ name: api-key, secrets: [{}] }}", list(s)),
            signs_body: false,
            timestamped: false,
        },
        Scheme {
            name: "bearer",
            auth: |s| format!("bearer: {{ secrets: [{}] }}", list(s)),
            signs_body: false,
            timestamped: false,
        },
        Scheme {
            name: "basic",
            auth: |s| {
                let users: Vec<_> = s
                    .iter()
                    .map(|p| format!("{{ username: ops, password: {p:?} }}"))
                    .collect();
                format!("basic: {{ users: [{}] }}", users.join(", "))
            },
            signs_body: false,
            timestamped: false,
        },
        Scheme {
            name: "url_token",
            auth: |s| format!("url_token: {{ query: token, secrets: [{}] }}", list(s)),
            signs_body: false,
            timestamped: false,
        },
        Scheme {
            name: "jwt",
            auth: |s| {
                format!(
                    "jwt: {{ algorithms: [HS256], secrets: [{}], issuer: provider }}",
                    list(s)
                )
            },
            signs_body: false,
            timestamped: false,
        },
    ]
}

fn yaml(auth: &str, downstream: &Downstream) -> String {
    format!(
        "admin: {{ listen: 127.0.0.1:0 }}\ntargets:\n  t: {{ url: {:?} }}\nroutes:\n  - name: r\n    path: /in\n    mode: sync\n    targets: [t]\n    auth:\n      - {auth}\n",
        downstream.url("/backend")
    )
}

/// Signs `body` as route `r` of a config with `auth` would accept it, at `now`.
fn sign_with(auth: &str, body: &[u8], now: u64) -> Signed {
    let config = hookgate::config::parse(&yaml(auth, &dummy()), "sign.yaml", &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let route = config.route("r").expect("route r");
    sign_all(&route.verifiers, body, &PathParams::default(), None, now).expect("signable")
}

fn dummy() -> Downstream {
    // Only its URL shape matters for signing; never started.
    Downstream::unstarted()
}

async fn post(hookgate: &Hookgate, signed: &Signed, body: &[u8]) -> Reply {
    let mut url = hookgate.url("/in");
    for (index, (name, value)) in signed.query.iter().enumerate() {
        url.push_str(&format!("{}{name}={value}", if index == 0 { '?' } else { '&' }));
    }
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    headers.extend(signed.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    send(Method::POST, &url, &headers, body.to_vec()).await
}

fn assert_refused(reply: &Reply, case: &str) {
    assert_eq!(
        reply.status,
        401,
        "{case}: {:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let problem = reply.assert_problem(401, "unauthenticated");
    assert_eq!(
        problem["detail"], "The request could not be authenticated.",
        "{case}: says nothing specific"
    );
}

#[tokio::test]
async fn every_scheme_accepts_valid_and_refuses_forged_requests() {
    for scheme in schemes() {
        let name = scheme.name;
        let downstream = Downstream::start().await;
        let auth = (scheme.auth)(&[OLD, NEW]);
        let hookgate = Hookgate::start(&yaml(&auth, &downstream)).await;
        let now = unix_now();
        let body = BODY.as_bytes();

        // Rotation: either secret alone signs an accepted request.
        for secret in [OLD, NEW] {
            let signed = sign_with(&(scheme.auth)(&[secret]), body, now);
            let reply = post(&hookgate, &signed, body).await;
            assert_eq!(
                reply.status,
                200,
                "{name} with {secret}: {:?}",
                String::from_utf8_lossy(&reply.body)
            );
        }
        let received = downstream.wait_for(2).await;
        assert!(
            received.iter().all(|r| r.body == body),
            "{name}: body forwarded unchanged"
        );

        let good = sign_with(&(scheme.auth)(&[NEW]), body, now);
        let wrong = sign_with(&(scheme.auth)(&["not-the-secret"]), body, now);
        assert_refused(
            &post(&hookgate, &wrong, body).await,
            &format!("{name}: wrong secret"),
        );

        let missing = Signed::default();
        assert_refused(
            &post(&hookgate, &missing, body).await,
            &format!("{name}: missing credential"),
        );

        let mut malformed = good.clone();
        for (_, value) in malformed.headers.iter_mut().chain(malformed.query.iter_mut()) {
            *value = "t=%%%,v1=".to_owned();
        }
        assert_refused(
            &post(&hookgate, &malformed, body).await,
            &format!("{name}: malformed credential"),
        );

        if scheme.signs_body {
            let mut flipped = body.to_vec();
            flipped[12] ^= 0x01;
            assert_refused(
                &post(&hookgate, &good, &flipped).await,
                &format!("{name}: flipped body byte"),
            );
        }
        if scheme.timestamped {
            for skew in [-400i64, 400] {
                let stale = sign_with(&(scheme.auth)(&[NEW]), body, now.saturating_add_signed(skew));
                assert_refused(
                    &post(&hookgate, &stale, body).await,
                    &format!("{name}: timestamp {skew:+} s"),
                );
            }
        }
        assert_eq!(
            downstream.received().len(),
            2,
            "{name}: a refused request reached the target"
        );
    }
}

#[tokio::test]
async fn rejections_are_counted_per_route_and_reason() {
    let downstream = Downstream::start().await;
    // Its own route name: the metrics registry is per process, shared by tests
    // when they run in one.
    let config = yaml("bearer: { secrets: [s3cret] }", &downstream).replace("name: r\n", "name: counted\n");
    let hookgate = Hookgate::start(&config).await;
    for _ in 0..3 {
        let reply = send(
            Method::POST,
            &hookgate.url("/in"),
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer nope"),
            ],
            BODY,
        )
        .await;
        assert_eq!(reply.status, 401);
    }
    let reply = send(
        Method::POST,
        &hookgate.url("/in"),
        &[("content-type", "application/json")],
        BODY,
    )
    .await;
    assert_eq!(reply.status, 401);
    let metrics = send(Method::GET, &hookgate.admin_url("/metrics"), &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(r#"hookgate_auth_rejections_total{route="counted",reason="bad_credential"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"hookgate_auth_rejections_total{route="counted",reason="missing_credential"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn ip_allow_list_checks_the_peer_and_trusted_proxies_only() {
    let downstream = Downstream::start().await;
    let allowed = Hookgate::start(&yaml("ip_allow: { networks: [127.0.0.0/8] }", &downstream)).await;
    let reply = send(
        Method::POST,
        &allowed.url("/in"),
        &[("content-type", "application/json")],
        BODY,
    )
    .await;
    assert_eq!(reply.status, 200);

    let elsewhere = Hookgate::start(&yaml("ip_allow: { networks: [10.0.0.0/8] }", &downstream)).await;
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let reply = send(
        Method::POST,
        &elsewhere.url("/in"),
        &[
            ("content-type", "application/json"),
            ("x-forwarded-for", "10.1.1.1"),
        ],
        BODY,
    )
    .await;
    assert_refused(&reply, "ip_allow: spoofed x-forwarded-for");

    let behind_proxy = Hookgate::start(&yaml(
        "ip_allow: { networks: [10.0.0.0/8], trusted_proxies: [127.0.0.1] }",
        &downstream,
    ))
    .await;
    let reply = send(
        Method::POST,
        &behind_proxy.url("/in"),
        &[
            ("content-type", "application/json"),
            ("x-forwarded-for", "10.1.1.1"),
        ],
        BODY,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(downstream.wait_for(2).await.len(), 2);
}

/// Each route names the JWT algorithms it accepts, RS256 alone when it names none;
/// a token signed any other way, including HS256 keyed with the public key, is 401.
#[tokio::test]
async fn jwt_algorithms_are_an_allow_list_per_route_defaulting_to_rs256() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let fixture = |name: &str| {
        std::fs::read(format!(
            "{}/tests/fixtures/jwt/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let (rsa_private, rsa_public) = (fixture("rsa-private.pem"), fixture("rsa-public.pem"));
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let quoted = |pem: &str| serde_json::to_string(pem).unwrap();
    let downstream = Downstream::start().await;
    let route = |name: &str, jwt: String| {
        format!("  - {{ name: {name}, path: /{name}, targets: [t], auth: [{{ jwt: {{ {jwt} }} }}] }}\n")
    };
    let rsa = quoted(std::str::from_utf8(&rsa_public).unwrap());
    let yaml = format!(
        "targets:\n  t: {{ url: \"{}\" }}\nroutes:\n{}{}{}{}",
        downstream.url("/t"),
        route("rs", format!("keys: [{rsa}]")),
        route("ps", format!("algorithms: [PS256, PS512], keys: [{rsa}]")),
        route(
            "es",
            format!("algorithms: [ES384], keys: [{}]", quoted(&ec.public_key_pem()))
        ),
        route(
            "ed",
            format!("algorithms: [EdDSA], keys: [{}]", quoted(&ed.public_key_pem()))
        ),
    );
    let hookgate = Hookgate::start(&yaml).await;
    let claims = serde_json::json!({"iss": "p", "exp": unix_now() + 300});
    let rsa_key = EncodingKey::from_rsa_pem(&rsa_private).unwrap();
    let token = |algorithm: Algorithm| {
        let key = match algorithm {
            Algorithm::ES384 => EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap(),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap(),
            // Algorithm confusion: the public key used as an HMAC secret.
            Algorithm::HS256 => EncodingKey::from_secret(&rsa_public),
            _ => rsa_key.clone(),
        };
        jsonwebtoken::encode(&Header::new(algorithm), &claims, &key).unwrap()
    };
    let cases = [
        ("rs", Algorithm::RS256, 202),
        ("rs", Algorithm::RS384, 401),
        ("rs", Algorithm::PS256, 401),
        ("rs", Algorithm::HS256, 401),
        ("ps", Algorithm::PS256, 202),
        ("ps", Algorithm::PS512, 202),
        ("ps", Algorithm::RS256, 401),
        ("es", Algorithm::ES384, 202),
        ("ed", Algorithm::EdDSA, 202),
        ("ed", Algorithm::ES384, 401),
    ];
    let mut accepted = 0;
    for (route, algorithm, status) in cases {
        let reply = send(
            Method::POST,
            &hookgate.url(&format!("/{route}")),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", token(algorithm))),
            ],
            format!(r#"{{"route":"{route}","alg":"{algorithm:?}"}}"#).into_bytes(),
        )
        .await;
        assert_eq!(reply.status.as_u16(), status, "{route} with {algorithm:?}");
        accepted += usize::from(status == 202);
    }
    let received = downstream.wait_for(accepted).await;
    assert_eq!(received.len(), accepted, "only accepted tokens are delivered");
}
