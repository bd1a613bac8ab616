//! Writes the seed corpora under `corpus/<target>/`: requests signed for every
//! scheme's route at the fuzz clock, the examples' payloads (the providers' real
//! bodies), events shaped for the rule features, and every config file of the
//! project. `run` calls it before fuzzing.

use std::path::{Path, PathBuf};

use hookgate::auth::{sign_all, Signed};
use hookgate::model::PathParams;
use hookgate_fuzz::{root, signature_routes, Raw, NOW};
use http::{HeaderMap, HeaderValue, Method};

fn main() {
    let corpus = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("fuzz/corpus"));
    let payloads = payloads();
    let signed = signed_requests(&payloads);
    let shaped = shaped_events();
    let rule_requests = rule_requests(&shaped, &payloads);

    write(&corpus.join("signatures"), "signed", &signed);
    write(&corpus.join("front"), "signed", &signed);
    write(&corpus.join("front"), "rules", &rule_requests);
    write(&corpus.join("front"), "wire", &wire_oddities());
    write(&corpus.join("rules"), "payload", &payloads);
    write(&corpus.join("rules"), "shaped", &shaped);
    write(&corpus.join("config"), "config", &configs());
}

fn write(dir: &Path, prefix: &str, seeds: &[Vec<u8>]) {
    std::fs::create_dir_all(dir).expect("create the corpus directory");
    for (index, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("{prefix}-{index:03}")), seed).expect("write a seed");
    }
    println!("{}: {} {prefix} seeds", dir.display(), seeds.len());
}

/// The examples' payloads, and the shared fixtures when they sit beside the project.
fn payloads() -> Vec<Vec<u8>> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for base in [root().join("examples"), root().join("../shared/fixtures/seeds")] {
        if let Ok(entries) = std::fs::read_dir(&base) {
            for entry in entries.flatten() {
                let path = entry.path();
                dirs.push(if path.join("payloads").is_dir() {
                    path.join("payloads")
                } else {
                    path
                });
            }
        }
    }
    let mut payloads = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            if file.extension().is_some_and(|ext| ext == "json") {
                payloads.push(std::fs::read(&file).expect("read a payload"));
            }
        }
    }
    payloads.sort();
    payloads.dedup();
    assert!(!payloads.is_empty(), "no payloads found under examples/");
    payloads
}

/// A request for every route of `configs/signatures.yaml`, signed as the route
/// expects, for a few of the payloads (and a form body for Twilio).
fn signed_requests(payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let form = b"CallSid=CA1234&From=%2B15551234567&To=%2B15557654321&Body=hello+world".to_vec();
    let mut requests = Vec::new();
    for live in &signature_routes().routes {
        let route = &live.route;
        let params = PathParams(
            [("customerId", "cus_7f3c2a"), ("token", "fuzz-secret")]
                .iter()
                .filter(|(name, _)| route.path.contains(&format!("{{{name}}}")))
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        );
        let mut path = route.path.clone();
        for (name, value) in &params.0 {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        let bodies: Vec<(&[u8], &str)> = match route.name.as_str() {
            "twilio" => vec![
                (&form, "application/x-www-form-urlencoded"),
                (&payloads[0], "application/json"),
            ],
            _ => payloads
                .iter()
                .step_by(7)
                .map(|p| (p.as_slice(), "application/json"))
                .collect(),
        };
        for (body, content_type) in bodies {
            let signed = sign_all(&live.verifiers, body, &params, None, NOW).unwrap_or_else(|_| Signed {
                headers: vec![
                    ("x-extra".into(), "extra".into()),
                    ("x-signature".into(), "00".into()),
                ],
                query: Vec::new(),
            });
            let mut uri = path.clone();
            for (index, (name, value)) in signed.query.iter().enumerate() {
                uri.push(if index == 0 { '?' } else { '&' });
                uri.push_str(&format!("{name}={value}"));
            }
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_static("hooks.example.com"));
            headers.insert("content-type", HeaderValue::from_str(content_type).unwrap());
            headers.insert("content-length", body.len().into());
            if route.name == "ip-allow" {
                headers.insert(
                    "x-forwarded-for",
                    HeaderValue::from_static("203.0.113.9, 10.1.2.3"),
                );
            }
            for (name, value) in &signed.headers {
                headers.append(
                    http::HeaderName::try_from(name.as_str()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            let raw = Raw {
                method: Method::POST,
                uri: uri.parse().expect("a seed URI"),
                headers,
                body: body.to_vec(),
            };
            requests.push(raw.write());
        }
    }
    requests
}

/// Events shaped for `configs/rules.yaml`: each reaches some of its rules.
fn shaped_events() -> Vec<Vec<u8>> {
    let events = [
        r#"{"events":[{"id":"e1","modifiedOn":"2026-01-01T00:00:00Z","status":"SETTLED","amount":250,"flag":true,"secret":"s","items":[1,2],"uuid":"7d444840-9dc0-11d1-b245-5ffdce74fad2","at":"2026-12-01T10:00:00Z","ids":["7d444840-9dc0-11d1-b245-5ffdce74fad2"]}]}"#,
        r#"{"events":[{"id":"e2","type":"consent_authorised","host":"backend","segment":"s1","query":"a&b=c","fragment":"f","method":"PUT","nested":{"deep":[{"id":"d1"}]}}],"param":"acme"}"#,
        r#"{"more":[{"keep":true,"id":"m1","type":"abc","ids":["a","b","c"]},{"keep":false,"id":"m2"}]}"#,
        r#"{"wrapper":{"items":[{"id":"i1","status":"NEW"},{"id":"i2","status":"FAILED"}]}}"#,
        r#"{"event_id":"obp-1","event_name":"OnBalanceChange","bank_id":"gh.29.uk","type":"x","nested":{"deep":[{"id":"../.."}]}}"#,
        r#"[{"kind":"a","id":"k1","type":"t"},{"kind":"b","id":"k2"}]"#,
        r#"{"events":[{"id":"..","segment":"..","host":"a.b","type":"."}],"param":".."}"#,
    ];
    events.iter().map(|e| e.as_bytes().to_vec()).collect()
}

/// Requests to the rule routes of the `front` config.
fn rule_requests(shaped: &[Vec<u8>], payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut requests = Vec::new();
    let paths = ["/rules/acme", "/cloud", "/by-header", "/hashed", "/sync/acme"];
    for (index, body) in shaped.iter().chain(payloads.iter().step_by(5)).enumerate() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("hooks.example.com"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("content-length", body.len().into());
        headers.insert("x-kind", HeaderValue::from_static("consent"));
        headers.insert(
            "webhook-id",
            HeaderValue::from_str(&format!("msg_{index}")).unwrap(),
        );
        let raw = Raw {
            method: Method::POST,
            uri: paths[index % paths.len()].parse().unwrap(),
            headers,
            body: body.clone(),
        };
        requests.push(raw.write());
    }
    requests
}

/// What the wire allows beyond one plain request: chunked bodies, pipelining,
/// HTTP/2 with prior knowledge, smuggling attempts, an absolute-form target.
fn wire_oddities() -> Vec<Vec<u8>> {
    let body = r#"{"id":"w1"}"#;
    let plain = format!(
        "POST /hashed HTTP/1.1\r\nhost: h\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    vec![
        format!("POST /hashed HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len()).into_bytes(),
        format!("{plain}{plain}").into_bytes(),
        format!("POST /hashed HTTP/1.1\r\nhost: h\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n").into_bytes(),
        format!("POST /hashed HTTP/1.1\r\nhost: h\r\ncontent-length: 11\r\ncontent-length: 3\r\n\r\n{body}").into_bytes(),
        format!("POST http://hooks.example.com/hashed?x=1 HTTP/1.1\r\nhost: h\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_bytes(),
        b"GET /rules/acme HTTP/1.0\r\n\r\n".to_vec(),
        // HTTP/2 prior knowledge: the preface and an empty SETTINGS frame.
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00".to_vec(),
    ]
}

/// Every config file of the project: the default, the examples', the fuzz configs.
fn configs() -> Vec<Vec<u8>> {
    let mut files = vec![root().join("config/hookgate.yaml")];
    for dir in ["examples", "fuzz/configs"] {
        for entry in std::fs::read_dir(root().join(dir))
            .expect("list configs")
            .flatten()
        {
            let path = entry.path();
            let path = if path.is_dir() {
                path.join("hookgate.yaml")
            } else {
                path
            };
            if path.extension().is_some_and(|ext| ext == "yaml") && path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("read a config"))
        .collect()
}
